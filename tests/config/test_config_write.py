from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from config_examples import FULL

from sitesnap.config import (
    SiteConfig,
    build_config,
    dump_config,
    load_config,
    loads_config,
    save_config,
)
from sitesnap.errors import ConfigError


def test_dump_round_trips_the_full_example(load_text: Callable[[str], SiteConfig]) -> None:
    cfg = load_text(FULL)
    text = dump_config(cfg)
    again = loads_config(text, path=cfg.path or "")
    assert again.model_dump() == cfg.model_dump()
    data = tomllib.loads(text)
    # relative stays relative, secrets stay references, defaults are left out
    assert data["sources"][0]["path"] == "instance/blog.db"
    assert data["sources"][2]["password"] == {"env": "PGPASSWORD"}
    assert data["sources"][3]["password"] == {"file": "secrets/mysql"}
    assert data["repositories"][0]["url"] == "backups"
    assert data["repositories"][0]["quota"] == "500GB"
    assert "one_file_system" not in data["sources"][0]
    assert "prune" not in data["schedule"]
    assert "state_dir" not in data.get("runtime", {})
    assert "catalog_url" not in data.get("runtime", {})
    assert 'secret_access_key = { env = "OSS_ACCESS_KEY_SECRET" }' in text


def test_minimal_dump_is_minimal(load_text: Callable[[str], SiteConfig]) -> None:
    cfg = load_text('[site]\nname = "blog"\n')
    assert tomllib.loads(dump_config(cfg)) == {"site": {"name": "blog"}}


def test_forever_and_inline_secrets_survive(load_text: Callable[[str], SiteConfig]) -> None:
    cfg = load_text(
        '[site]\nname = "b"\n[retention]\nfull = "forever"\n'
        '[[repositories]]\nname = "r"\nurl = "/r"\npassword = "p w\\"x"\n'
    )
    again = loads_config(dump_config(cfg), path=cfg.path or "")
    assert again.retention.full is None
    assert again.repositories[0].password == cfg.repositories[0].password
    assert len(again.warnings) == 1


def test_save_config_writes_atomically_and_keeps_the_mode(
    load_text: Callable[[str], SiteConfig], tmp_path: Path
) -> None:
    cfg = load_text(FULL)
    assert cfg.path is not None
    os.chmod(cfg.path, 0o640)
    updated = cfg.model_copy(
        update={"site": cfg.site.model_copy(update={"description": "moved"})}
    )
    updated.attach(cfg.path, [])
    assert save_config(updated, cfg.path) == cfg.path
    assert stat.S_IMODE(cfg.path.stat().st_mode) == 0o640
    assert load_config(cfg.path).site.description == "moved"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_save_to_another_directory_rewrites_relative_paths(
    load_text: Callable[[str], SiteConfig], tmp_path: Path
) -> None:
    cfg = load_text(FULL)
    target = tmp_path / "copy" / "sitesnap.toml"
    target.parent.mkdir()
    save_config(cfg, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    moved = load_config(target)
    assert moved.sources[0].path == cfg.sources[0].path  # still the same file
    assert tomllib.loads(target.read_text())["sources"][0]["path"] == str(cfg.sources[0].path)


def test_save_refuses_what_would_not_load(
    load_text: Callable[[str], SiteConfig], tmp_path: Path
) -> None:
    cfg = load_text(FULL)
    assert cfg.path is not None
    before = cfg.path.read_text()
    broken = cfg.model_copy(update={"repositories": [cfg.repositories[0], cfg.repositories[0]]})
    with pytest.raises(ConfigError, match="duplicate name 'local'"):
        save_config(broken, cfg.path)
    assert cfg.path.read_text() == before
    with pytest.raises(ConfigError, match="cannot write"):
        save_config(cfg, tmp_path / "no" / "such" / "dir" / "sitesnap.toml")


def test_json_round_trip_for_the_api(load_text: Callable[[str], SiteConfig]) -> None:
    """The API sends the config as JSON and validates it back without a TOML text."""
    cfg = load_text(FULL)
    assert cfg.path is not None
    data = cfg.model_dump(mode="json", by_alias=True)
    assert data["sources"][2]["password"] == {"env": "PGPASSWORD"}
    assert data["retention"]["snapshot"] == "forever"
    again = build_config(data, path=cfg.path)
    assert again.model_dump() == cfg.model_dump()
    data["web"]["port"] = "x"
    with pytest.raises(ConfigError) as info:
        build_config(data, path=cfg.path)
    assert info.value.kwargs["problems"] == [
        f'{cfg.path}: web.port: expected an integer, got string "x"'
    ]
