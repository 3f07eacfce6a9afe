"""Opening a repository's ``config``: with a password (any key slot and generation) or a write-only key.

Key generations (docs/format/v1.md section 14): after ``key rotate`` the
config has format version 2 and names its key generation; the password
opens the key slot whose master key opens ``config``, and the older
generations come from the keyring, so every reader also opens what older
keys sealed (``MasterKey.older``), while everything new is sealed with the
current key.
"""

from __future__ import annotations

from typing import NoReturn

from sitesnap.errors import (
    FormatVersionError,
    IntegrityError,
    ObjectNotFound,
    RepositoryNotFound,
    RetiredKey,
    UsageError,
)
from sitesnap.format.crypto import MasterKey
from sitesnap.format.envelope import FORMAT_VERSION, KIND_CONFIG, decode_json, open_envelope, peek_header
from sitesnap.repository import keyring, writeonly
from sitesnap.repository import keys as keyfiles
from sitesnap.repository.config import CONFIG_NAME, KEY_GENERATIONS_FORMAT, RepoConfig, require_format
from sitesnap.storage.base import Storage

__all__ = ["check_write_only_key", "import_key_file", "unlock_config"]


def _read_config(storage: Storage) -> bytes:
    try:
        return storage.read(CONFIG_NAME)
    except ObjectNotFound:
        raise RepositoryNotFound(location=storage.properties.url) from None


def unlock_config(storage: Storage, password: str) -> tuple[MasterKey, str, RepoConfig]:
    """(master key with its older generations, key id, config) for ``password``.

    A slot that opens but whose key does not open ``config`` wraps a
    retired master key (or the key of a rotation that never completed); if
    only such slots open, RetiredKey.
    """
    raw = _read_config(storage)
    peek_header(raw, "config")
    master, key_id, plain = _open_with_slots(storage, raw, password)
    config = RepoConfig.from_json(decode_json(plain, "config"))
    require_format(config.version)
    if config.version >= KEY_GENERATIONS_FORMAT:
        master = master.with_older(keyring.scan_keyrings(storage, master, config.key_generation).older)
    return master, key_id, config


def _open_with_slots(storage: Storage, raw: bytes, password: str) -> tuple[MasterKey, str, bytes]:
    """(master key, key id, config plaintext) of the first slot ``password`` opens whose key opens ``config``."""
    refused: list[MasterKey] = []
    for master, key_id in keyfiles.open_slots(storage, password, storage.properties.url):
        try:
            return master, key_id, open_envelope(master.aead(), raw, KIND_CONFIG, "config")
        except FormatVersionError:
            raise
        except IntegrityError:
            refused.append(master)
    _refuse_slots(storage, raw, refused)


def _refuse_slots(storage: Storage, config_raw: bytes, refused: list[MasterKey]) -> NoReturn:
    """Why no key the password opens fits ``config``: a damaged config, or only retired keys.

    A key that opens a keyring is current (or was about to become so), and so
    is any key when the repository has no keyring at all (never rotated):
    then the config itself is damaged and its IntegrityError is raised.
    """
    if not keyring.keyring_ids(storage) or any(keyring.opens_a_keyring(storage, m) for m in refused):
        open_envelope(refused[0].aead(), config_raw, KIND_CONFIG, "config")
    raise RetiredKey()


def check_write_only_key(storage: Storage, key: writeonly.WriteOnlyKey) -> RepoConfig:
    """The config a write-only host works with (from its key file; it cannot open ``config``).

    Refuses (UsageError) a repository with no write-only marker for the
    key's public key: the key belongs to another repository, or was retired.
    """
    peek_header(_read_config(storage), "config")
    if key.public_key not in writeonly.marker_public_keys(storage):
        raise UsageError(
            f"this write-only key is not enabled for the repository at {storage.properties.url}",
            hint="It belongs to another repository or was retired; export a new one with "
                 "'sitesnap key write-only export' where the password is known.",
        )
    return RepoConfig(key.repository_id, FORMAT_VERSION, "", key.chunker, key.compression, key.dump_chunker)


def import_key_file(storage: Storage, raw: bytes, password: str) -> str:
    """Restore an exported key file into ``keys/``; returns its key id.

    Works when no key file of the repository is left.  The key file must
    open with ``password`` and its master key must open this repository's
    ``config`` before anything is written, so a key of another repository
    is refused (UsageError) rather than added.
    """
    config_raw = _read_config(storage)
    master = keyfiles.read_key_file(raw, password)
    try:
        open_envelope(master.aead(), config_raw, KIND_CONFIG, "config")
    except FormatVersionError:
        raise
    except IntegrityError:
        raise UsageError(
            "this key file does not open this repository's config",
            hint="It belongs to another repository, or the config is damaged ('sitesnap check').",
        ) from None
    return keyfiles.store_key_file(storage, raw)
