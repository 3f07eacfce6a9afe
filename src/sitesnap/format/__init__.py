"""Sans-IO codecs of the repository format: chunking, crypto, compression, objects (layer 1)."""
