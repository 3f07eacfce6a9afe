"""How an open repository seals what it writes and opens what it reads.

The choice between a password holder and a write-only host (docs/format/v1.md
section 13) is made once, when the repository opens, by picking one of two
objects behind the :class:`Sealer` protocol:

- :class:`PasswordSealer` holds the master key (with its older generations,
  section 14): it encrypts with the current key and opens everything,
  including what write-only hosts sealed to the public key.
- :class:`WriteOnlySealer` holds a :class:`WriteOnlyKey`: it seals new
  blobs, pack headers and snapshots to the public key, index files and
  locks with the index key, and refuses every read of data or snapshots
  with WriteOnlyError.

Everything else in the repository calls the sealer and never asks which one
it has.  Both are thread-safe: they hold keys only (``shared_index`` is set
before writers start).
"""

from __future__ import annotations

from typing import NoReturn, Protocol, cast

from sitesnap.errors import WriteOnlyError
from sitesnap.format.blob import EncodedBlob, decode_blob, encode_blob
from sitesnap.format.compress import Compressor
from sitesnap.format.crypto import Aead, MasterKey, PrivateKey, aead_for, content_id
from sitesnap.format.envelope import (
    KIND_SNAPSHOT,
    open_envelope,
    seal_envelope,
    seal_envelope_public,
    seal_envelope_shared,
)
from sitesnap.format.pack import PackEntry, decode_pack_header
from sitesnap.repository.writeonly import WriteOnlyKey

__all__ = ["PasswordSealer", "Sealer", "WriteOnlySealer"]


class Sealer(Protocol):
    """The keys of an open repository, as the operations that need them.

    ``shared_index``: index files and locks go into version 2 envelopes
    (readable with the index key), on write-only hosts and once a
    write-only key exists for the repository.
    """

    shared_index: bool

    @property
    def write_only(self) -> WriteOnlyKey | None:
        """The write-only key the repository was opened with, None with a password."""

    @property
    def master(self) -> MasterKey:
        """The master key; WriteOnlyError on a write-only host, which has none."""

    @property
    def aead(self) -> Aead:
        """AES-GCM with the master key (a refusing stand-in on a write-only host)."""

    @property
    def index_aead(self) -> Aead: ...

    @property
    def public_key(self) -> bytes: ...

    @property
    def private_key(self) -> PrivateKey | None: ...

    @property
    def pack_public_key(self) -> bytes | None:
        """The public key new blobs and pack headers are sealed to; None: sealed with the master key."""

    def require_read(self, what: str) -> None:
        """WriteOnlyError (naming ``what``) unless this sealer can read data and snapshots."""

    def content_id(self, data: bytes | memoryview) -> bytes: ...

    def seal_blob(self, compressor: Compressor, blob_type: int, data: bytes | memoryview,
                  blob_id: bytes) -> EncodedBlob: ...

    def open_blob(self, blob_type: int, blob_id: bytes, sealed: bytes | memoryview, plain_size: int, *,
                  write_only: bool) -> bytes: ...

    def open_pack_header(self, sealed: bytes, header_offset: int, what: str) -> list[PackEntry]: ...

    def seal_snapshot(self, compressor: Compressor, payload: bytes) -> bytes: ...

    def open_snapshot(self, raw: bytes, what: str) -> bytes: ...

    def seal_shared(self, compressor: Compressor, kind: int, payload: bytes, *, host_readable: bool = False) -> bytes:
        """An index file or lock; ``host_readable`` forces the index key (an index naming write-only blobs)."""

    def open_shared(self, raw: bytes, kind: int, what: str) -> bytes:
        """An index file or lock, of either version this sealer holds the key for."""


class PasswordSealer:
    """The master key's side: seals with the current generation, opens with any (see module docstring)."""

    write_only: WriteOnlyKey | None = None
    pack_public_key: bytes | None = None

    def __init__(self, master: MasterKey, *, shared_index: bool = False) -> None:
        self.master = master
        self.shared_index = shared_index
        self.aead = master.aead()
        self.index_aead = master.index_aead()
        self.public_key = master.public_key
        self.private_key: PrivateKey | None = master.private_key

    def require_read(self, what: str) -> None:
        """Nothing to refuse: the password opens everything."""

    def content_id(self, data: bytes | memoryview) -> bytes:
        return self.master.content_id(data)

    def seal_blob(self, compressor: Compressor, blob_type: int, data: bytes | memoryview,
                  blob_id: bytes) -> EncodedBlob:
        return encode_blob(None, self.aead, compressor, blob_type, data, blob_id)

    def open_blob(self, blob_type: int, blob_id: bytes, sealed: bytes | memoryview, plain_size: int, *,
                  write_only: bool) -> bytes:
        return decode_blob(self.master, self.aead, blob_type, blob_id, sealed, plain_size, write_only=write_only)

    def open_pack_header(self, sealed: bytes, header_offset: int, what: str) -> list[PackEntry]:
        return decode_pack_header(self.aead, sealed, header_offset, what, private_key=self.private_key)

    def seal_snapshot(self, compressor: Compressor, payload: bytes) -> bytes:
        return seal_envelope(self.aead, compressor, KIND_SNAPSHOT, payload)

    def open_snapshot(self, raw: bytes, what: str) -> bytes:
        return open_envelope(self.aead, raw, KIND_SNAPSHOT, what, private_key=self.private_key)

    def seal_shared(self, compressor: Compressor, kind: int, payload: bytes, *, host_readable: bool = False) -> bytes:
        if self.shared_index or host_readable:
            return seal_envelope_shared(self.index_aead, compressor, kind, payload)
        return seal_envelope(self.aead, compressor, kind, payload)

    def open_shared(self, raw: bytes, kind: int, what: str) -> bytes:
        return open_envelope(self.aead, raw, kind, what, index_aead=self.index_aead)


class _NoMasterKey:
    """Stands in for the AES-GCM of the master key on a write-only host: any use is refused loudly."""

    def encrypt(self, *_: object) -> NoReturn:
        raise WriteOnlyError("encrypting with the master key")

    def decrypt(self, *_: object) -> NoReturn:
        raise WriteOnlyError("reading data")


class WriteOnlySealer:
    """A write-only host's side: seals to the public key, reads only index files and locks."""

    private_key: PrivateKey | None = None

    def __init__(self, key: WriteOnlyKey) -> None:
        self.write_only: WriteOnlyKey | None = key
        self._key = key
        self.shared_index = True
        self.aead = cast(Aead, _NoMasterKey())
        self.index_aead = aead_for(key.index_key)
        self.public_key = key.public_key
        self.pack_public_key: bytes | None = key.public_key

    @property
    def master(self) -> MasterKey:
        raise WriteOnlyError("using the master key")

    def require_read(self, what: str) -> None:
        raise WriteOnlyError(what)

    def content_id(self, data: bytes | memoryview) -> bytes:
        return content_id(self._key.id_key, data)

    def seal_blob(self, compressor: Compressor, blob_type: int, data: bytes | memoryview,
                  blob_id: bytes) -> EncodedBlob:
        return encode_blob(None, None, compressor, blob_type, data, blob_id, public_key=self.public_key)

    def open_blob(self, blob_type: int, blob_id: bytes, sealed: bytes | memoryview, plain_size: int, *,
                  write_only: bool) -> bytes:
        raise WriteOnlyError("reading data")

    def open_pack_header(self, sealed: bytes, header_offset: int, what: str) -> list[PackEntry]:
        raise WriteOnlyError(f"reading {what}")

    def seal_snapshot(self, compressor: Compressor, payload: bytes) -> bytes:
        return seal_envelope_public(self.public_key, compressor, KIND_SNAPSHOT, payload)

    def open_snapshot(self, raw: bytes, what: str) -> bytes:
        raise WriteOnlyError("reading snapshots")

    def seal_shared(self, compressor: Compressor, kind: int, payload: bytes, *, host_readable: bool = False) -> bytes:
        return seal_envelope_shared(self.index_aead, compressor, kind, payload)

    def open_shared(self, raw: bytes, kind: int, what: str) -> bytes:
        return open_envelope(None, raw, kind, what, index_aead=self.index_aead)
