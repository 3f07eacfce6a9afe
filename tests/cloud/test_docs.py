"""The configuration shown in docs/storage.md's 3-2-1-1-0 section loads, and means what the text says."""

from __future__ import annotations

import re
from pathlib import Path

from sitesnap.config import load_config
from sitesnap.engine.opening import repository_target

DOC = (Path(__file__).resolve().parents[2] / "docs" / "storage.md").read_text()


def _section() -> str:
    start = DOC.index("## Copies and 3-2-1-1-0")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:] if end < 0 else DOC[start:end]


def test_copies_example_loads(tmp_path: Path) -> None:
    (block,) = re.findall(r"```toml\n(.*?)```", _section(), re.S)
    cfg_path = tmp_path / "sitesnap.toml"
    cfg_path.write_text(block)
    cfg = load_config(str(cfg_path))
    assert [r.name for r in cfg.repositories] == ["main", "cloud", "offsite"]
    cloud, offsite = cfg.repository("cloud"), cfg.repository("offsite")
    assert cloud.append_only and cloud.copy_after_backup and not offsite.copy_after_backup
    assert cloud.s3 is not None and cloud.s3.object_lock is not None and cloud.s3.object_lock.days == 30
    url, options, _ = repository_target(offsite)
    assert url.startswith("sftp://") and options["known_hosts"].endswith("known_hosts")


def test_section_names_the_commands_it_shows() -> None:
    text = _section()
    for phrase in ("copy --from main --to offsite", "--copy-chunker-params-from main", "append_only = true",
                   "object_lock = {", "check --read-data", "SITESNAP_CLOUD_SEEDS"):
        assert phrase in text
