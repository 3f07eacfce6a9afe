"""Writer parameters in ``config``: dump chunking and dump compression, and their fallbacks."""

from __future__ import annotations

from sitesnap.repository.repository import DUMP_COMPRESSION, RepoConfig, Repository
from sitesnap.storage.memory import MemoryStorage

FAST = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}


def test_new_repository_records_dump_parameters() -> None:
    repo = Repository.init(MemoryStorage("cfg-a"), "pw", kdf=FAST)
    assert repo.config.dump_compression == DUMP_COMPRESSION == 1
    assert repo.config.stream_chunker.avg_size == 8 << 10
    again = RepoConfig.from_json(repo.config.to_json())
    assert again == repo.config
    assert repo.stream_compressor.level == 1 and repo.compressor.level == 3


def test_compression_off_stays_off_for_dumps() -> None:
    repo = Repository.init(MemoryStorage("cfg-b"), "pw", kdf=FAST, compression=0)
    assert repo.config.stream_compression == 0


def test_older_config_falls_back_to_file_settings() -> None:
    doc = {"id": "ab" * 32, "version": 1, "created": "2026-01-01T00:00:00+00:00",
           "chunker": {"avg": 1 << 20, "min": 1 << 18, "max": 1 << 22, "seed": 5}, "compression": 7}
    cfg = RepoConfig.from_json(doc)
    assert cfg.stream_compression == 7
    assert cfg.stream_chunker == cfg.chunker
    assert "dump_compression" not in cfg.to_json()
