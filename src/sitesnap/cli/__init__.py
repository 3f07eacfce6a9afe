"""The ``sitesnap`` command line: thin commands over the engine (layer 5)."""
