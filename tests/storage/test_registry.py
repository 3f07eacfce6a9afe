"""Opening storage from repository URLs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitesnap.errors import ConfigError, UsageError
from sitesnap.storage.local import LocalStorage
from sitesnap.storage.memory import MemoryStorage
from sitesnap.storage.registry import open_storage, scheme_of, schemes
from sitesnap.storage.wrappers import AppendOnlyStorage, LimitedStorage, RetryStorage


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("/srv/backup", "file"),
        ("relative/repo", "file"),
        ("file:///srv/backup", "file"),
        ("memory://t", "memory"),
        ("S3://bucket/prefix", "s3"),
        ("sftp://u@h:2222/p", "sftp"),
    ],
)
def test_scheme_of(url: str, scheme: str) -> None:
    assert scheme_of(url) == scheme


def test_plain_path_and_file_url(tmp_path: Path) -> None:
    plain = open_storage(str(tmp_path / "a"))
    assert isinstance(plain, LocalStorage) and plain.root == tmp_path / "a"
    url = open_storage(f"file://{tmp_path}/b%20c")
    assert isinstance(url, LocalStorage) and url.root == tmp_path / "b c"
    url.create()
    url.write("config", b"1")
    assert (tmp_path / "b c" / "config").read_bytes() == b"1"


def test_file_url_with_host_is_refused() -> None:
    with pytest.raises(ConfigError, match="host"):
        open_storage("file://server/share")


def test_memory_url() -> None:
    store = open_storage("memory://unit")
    assert isinstance(store, MemoryStorage)
    assert store.properties.url == "memory://unit"


def test_unknown_scheme_is_a_clear_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        open_storage("gopher://host/x")
    assert "unknown storage URL scheme 'gopher'" in info.value.message
    assert "s3://" in info.value.hint
    with pytest.raises(UsageError, match="no repository"):
        open_storage("")


def test_unknown_option_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regoin"):
        open_storage(str(tmp_path), {"regoin": "x"})


def test_wrapper_options(tmp_path: Path) -> None:
    store = open_storage(
        str(tmp_path),
        {"retries": 3, "limit_upload": "1000000", "limit_download": 2e6, "append_only": True},
    )
    assert isinstance(store, AppendOnlyStorage) and store.properties.append_only
    retry = store.inner
    assert isinstance(retry, RetryStorage) and retry.attempts == 3
    limited = retry.inner
    assert isinstance(limited, LimitedStorage)
    assert limited.upload is not None and limited.upload.rate == 1e6
    assert limited.download is not None and limited.download.rate == 2e6
    assert isinstance(limited.inner, LocalStorage)
    with pytest.raises(ConfigError):
        open_storage(str(tmp_path), {"limit_upload": -5})
    with pytest.raises(ConfigError):
        open_storage(str(tmp_path), {"retries": 0})


def test_cloud_libraries_load_only_when_used() -> None:
    assert set(schemes()) >= {"file", "memory", "s3", "sftp"}
    code = (
        "import sys; from sitesnap.storage.registry import open_storage; "
        "open_storage('memory://x'); open_storage('/tmp/x'); "
        "print(sorted(m for m in ('obstore', 'boto3', 'asyncssh') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
