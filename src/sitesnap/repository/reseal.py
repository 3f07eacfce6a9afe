"""Telling the current key generation from older ones, and re-sealing with the current key.

After ``key rotate`` (docs/format/v1.md section 14) objects sealed with an
older master key stay readable through the key chain.  Two writers turn
them into current ones: ``prune``, which re-seals every older blob it
repacks anyway (so a pack whose header is sealed with the current key holds
only current blobs), and ``key reencrypt``, which does it for everything.

A blob's plaintext (``mode || payload``) is re-sealed as it is, without
decompressing and compressing again; one sealed to an older write-only
public key becomes an ordinary version 1 blob.  Every result is verified
(decrypted, decompressed, hash-checked) before it is used.
"""

from __future__ import annotations

from sitesnap.errors import IntegrityError
from sitesnap.format.blob import decode_blob, type_name
from sitesnap.format.crypto import MasterKey, open_sealed, open_sealed_by, seal
from sitesnap.format.envelope import open_envelope
from sitesnap.format.pack import PackEntry, type_byte

__all__ = ["Resealer"]


class Resealer:
    """Current-generation tests and re-sealing for ``master`` (which carries its older generations).

    Thread-safe: it holds keys only.
    """

    def __init__(self, master: MasterKey) -> None:
        self.master = master
        self.current = master.current
        self._aead = self.current.aead()
        self._index_aead = self.current.index_aead()
        self._private = self.current.private_key
        self._older = [(k.aead(), k.private_key) for k in master.older]

    @property
    def has_older(self) -> bool:
        return bool(self._older)

    def envelope_is_current(self, raw: bytes | memoryview, kind: int, what: str) -> bool:
        """Whether the current generation alone opens the envelope (False: an older one, or damage)."""
        try:
            open_envelope(self._aead, raw, kind, what, index_aead=self._index_aead, private_key=self._private)
        except IntegrityError:
            return False
        return True

    def blob(self, e: PackEntry, sealed: bytes | memoryview) -> bytes | None:
        """None when the blob verifies with the current generation; else the blob re-sealed with it.

        Raises IntegrityError when no generation opens the blob or it fails
        verification (damaged).
        """
        try:
            decode_blob(self.current, self._aead, e.type, e.id, sealed, e.plain_size, write_only=e.write_only)
            return None
        except IntegrityError:
            if not self._older:
                raise
        what = f"{type_name(e.type)} blob {e.id.hex()[:16]}"
        aad = bytes([type_byte(e.type, e.write_only)]) + e.id
        for aead, private_key in self._older:
            try:
                if e.write_only:
                    plaintext = open_sealed_by(private_key, sealed, aad, what)
                else:
                    plaintext = open_sealed(aead, sealed, aad, what)
            except IntegrityError:
                continue
            resealed = seal(self._aead, plaintext, bytes([e.type]) + e.id)
            decode_blob(self.current, self._aead, e.type, e.id, resealed, e.plain_size)
            return resealed
        raise IntegrityError(f"{what} failed authentication with every key generation (damaged or tampered)")
