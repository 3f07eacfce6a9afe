"""A repository's storage options are the backend's own: what docs/storage.md lists, the config accepts.

And a storage type registered by an installed package (entry point group
``sitesnap.storage``) is accepted in ``sitesnap.toml``, with its options.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sitesnap.config import loads_config
from sitesnap.engine.opening import open_target, target_of
from sitesnap.errors import ConfigError
from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.secrets import SecretRef

SITE = '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "{url}"\n'


def test_every_documented_s3_option_is_accepted_and_reaches_the_backend(tmp_path: Path) -> None:
    text = SITE.format(url="s3://bucket/prefix") + (
        "[repositories.s3]\n"
        'endpoint = "http://127.0.0.1:9000"\n'
        "part_size = 8388608\n"
        'conditional_put = "none"\n'
        "create_bucket = true\n"
        'timeout = "30s"\n'
        'session_token = { env = "S3_TOKEN" }\n'
        'object_lock_mode = "governance"\n'
        "object_lock_days = 2\n"
        'addressing = "path"\n'
    )
    cfg = loads_config(text, path=tmp_path / "sitesnap.toml")  # S3_TOKEN need not be set to load
    options = target_of(cfg.primary).options
    assert options["part_size"] == 8 << 20 and options["conditional_put"] == "none"
    assert options["create_bucket"] is True and options["timeout"] == "30s"
    assert options["object_lock_mode"] == "governance" and options["addressing"] == "path"
    assert options["session_token"] == {"env": "S3_TOKEN"} and options["allow_http"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("part_size = 1024\n", "part_size must be at least 5 MiB"),
        ('object_lock_mode = "governance"\n', "object_lock_days must be at least 1"),
        ('conditional_put = "maybe"\n', "conditional_put must be"),
        ("part_sise = 8388608\n", "did you mean 'part_size'"),
        ('addressing_style = "path"\naddressing = "virtual"\n', "not both"),
    ],
)
def test_the_backend_validates_the_options_when_the_file_loads(tmp_path: Path, extra: str, message: str) -> None:
    text = SITE.format(url="s3://bucket/prefix") + "[repositories.s3]\n" + extra
    with pytest.raises(ConfigError, match=message):
        loads_config(text, path=tmp_path / "sitesnap.toml")


def test_sftp_options_are_the_backends_too(tmp_path: Path) -> None:
    text = SITE.format(url="sftp://backup@host/srv/r") + (
        '[repositories.sftp]\nport = 2222\nconnect_timeout = 5\nkey_passphrase = { env = "KP" }\nknown_hosts = "kh"\n'
    )
    options = target_of(loads_config(text, path=tmp_path / "sitesnap.toml").primary).options
    assert options["port"] == 2222 and options["connect_timeout"] == 5
    assert options["key_passphrase"] == {"env": "KP"} and options["known_hosts"] == str(tmp_path / "kh")
    with pytest.raises(ConfigError, match="bad SFTP option"):
        loads_config(SITE.format(url="sftp://h/srv/r") + '[repositories.sftp]\nport = "ssh"\n',
                     path=tmp_path / "sitesnap.toml")


def test_config_spellings_still_load(tmp_path: Path) -> None:
    text = SITE.format(url="s3://bucket/p") + (
        '[repositories.s3]\naddressing_style = "virtual"\nobject_lock = { mode = "compliance", days = 3 }\n'
        'access_key_id = { env = "K" }\nsecret_access_key = { env = "S" }\n'
    )
    cfg = loads_config(text, path=tmp_path / "sitesnap.toml")
    options = cfg.primary.s3.backend_options()
    assert options["addressing"] == "virtual" and options["object_lock_mode"] == "compliance"
    assert options["object_lock_days"] == 3 and isinstance(options["access_key_id"], SecretRef)


def _install_plugin(root: Path) -> None:
    """A package registering the ``vault`` scheme: an in-memory store remembering its options."""
    root.mkdir()
    (root / "vault_backend.py").write_text(
        "from sitesnap.storage.memory import MemoryStorage\n"
        "STORES = {}\n"
        "def from_url(url, options):\n"
        "    store = STORES.setdefault(url, MemoryStorage(url))\n"
        "    store.seen_options = dict(options)\n"
        "    return store\n"
    )
    dist = root / "vault_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vault-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sitesnap.storage]\nvault = vault_backend:from_url\n")


def test_a_storage_type_of_an_installed_package_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SITE.format(url="vault://team/site") + '[repositories.options]\nshelf = "b2"\n'
    with pytest.raises(ConfigError, match="unsupported URL scheme 'vault'"):
        loads_config(text, path=tmp_path / "sitesnap.toml")
    _install_plugin(tmp_path / "site-packages")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    cfg = loads_config(text, path=tmp_path / "sitesnap.toml")
    assert cfg.primary.kind == "plugin"
    target = target_of(cfg.primary)
    Repository.init(_storage(target.url, target.options), "pw", kdf=FAST_TEST_KDF).close()
    with open_target(target, [lambda: "pw"]) as repo:
        assert repo.config.id
    assert sys.modules["vault_backend"].STORES["vault://team/site"].seen_options == {"shelf": "b2"}


def test_plugin_options_are_refused_for_built_in_kinds(tmp_path: Path) -> None:
    text = SITE.format(url="/srv/r") + '[repositories.options]\nshelf = "b2"\n'
    with pytest.raises(ConfigError, match="installed packages"):
        loads_config(text, path=tmp_path / "sitesnap.toml")


def _storage(url: str, options: object) -> object:
    from sitesnap.storage.registry import open_storage

    return open_storage(url, options)  # type: ignore[arg-type]
