"""docs/storage.md must describe every option and URL scheme the code accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef
from sitesnap.storage import registry, s3, sftp
from sitesnap.storage.options import secret_value

DOC = (Path(__file__).resolve().parents[2] / "docs" / "storage.md").read_text()


@pytest.mark.parametrize("option", sorted(s3.OPTIONS | sftp.OPTIONS | registry.WRAPPER_OPTIONS))
def test_every_option_is_documented(option: str) -> None:
    assert f"`{option}`" in DOC


@pytest.mark.parametrize("scheme", sorted(registry.BUILTIN_BACKENDS))
def test_every_scheme_is_documented(scheme: str) -> None:
    assert f"{scheme}://" in DOC


@pytest.mark.parametrize("preset", sorted(s3.PRESETS))
def test_every_preset_is_documented(preset: str) -> None:
    assert f"`{preset}`" in DOC


def test_secret_options_take_references(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SITESNAP_TEST_KEY", "from-env")
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    opts = s3.parse_options(
        "s3://b/p",
        {"access_key_id": {"env": "SITESNAP_TEST_KEY"}, "secret_access_key": SecretRef(file=str(secret_file))},
    )
    assert opts.access_key_id == "from-env"
    assert opts.secret_access_key is not None and opts.secret_access_key.strip() == "from-file"
    assert secret_value("plain", "x") == "plain"
    with pytest.raises(ConfigError):
        secret_value(42, "x")


def _table_options(heading: str) -> set[str]:
    """The option names in the first table under ``heading`` (a row may name several: `a`, `b`)."""
    section = DOC.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    names: set[str] = set()
    for row in rows:
        names.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    return names


@pytest.mark.parametrize(("heading", "options"), [("## S3-compatible", s3.OPTIONS), ("## SFTP", sftp.OPTIONS)])
def test_the_options_table_is_the_option_model(heading: str, options: frozenset[str]) -> None:
    """The backend's option list is the one definition; its table in docs/storage.md lists exactly it."""
    assert _table_options(heading) == set(options)
