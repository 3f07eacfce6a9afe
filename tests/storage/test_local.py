"""The local backend: the conformance suite plus what only a file system can do."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesnap.errors import NoSpace, ObjectNotFound, PermissionDenied, StorageError
from sitesnap.storage.local import TEMP_PREFIX, LocalStorage, translate_os_error

from .conformance import StorageConformance


class TestLocalConformance(StorageConformance):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[LocalStorage]:
        backend = LocalStorage(tmp_path / "repo")
        backend.create()
        yield backend
        backend.close()


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    backend = LocalStorage(tmp_path / "repo")
    backend.create()
    return backend


def test_create_makes_nested_root(tmp_path: Path) -> None:
    backend = LocalStorage(tmp_path / "a" / "b" / "repo")
    backend.create()
    assert (tmp_path / "a" / "b" / "repo").is_dir()


def test_create_on_a_file_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="not a directory"):
        LocalStorage(tmp_path / "file").create()


def test_write_into_missing_root_fails_instead_of_creating_it(tmp_path: Path) -> None:
    backend = LocalStorage(tmp_path / "unmounted")
    with pytest.raises(StorageError, match="does not exist"):
        backend.write("data/00/x", b"1")
    assert not (tmp_path / "unmounted").exists()


def test_objects_are_plain_files(local: LocalStorage) -> None:
    local.write("data/ab/cdef", b"payload")
    assert (local.root / "data" / "ab" / "cdef").read_bytes() == b"payload"
    assert [p.name for p in (local.root / "data" / "ab").iterdir()] == ["cdef"]


def test_leftover_temp_files_are_invisible_and_removable(local: LocalStorage) -> None:
    local.write("data/ab/real", b"1")
    leftover = local.root / "data" / "ab" / f"{TEMP_PREFIX}crashed.1234"
    leftover.write_bytes(b"half a pack")
    assert [i.name for i in local.list()] == ["data/ab/real"]
    assert local.remove_temp_files(older_than=3600) == 0  # too young: maybe in progress
    os.utime(leftover, (0, 0))
    assert local.remove_temp_files(older_than=3600) == 1
    assert not leftover.exists()
    assert local.read("data/ab/real") == b"1"


def test_temp_prefix_is_reserved(local: LocalStorage) -> None:
    with pytest.raises(ValueError):
        local.write(f"data/{TEMP_PREFIX}x", b"1")


def test_failed_write_leaves_no_temp_and_no_object(local: LocalStorage) -> None:
    (local.root / "data").write_bytes(b"a file where a directory should be")
    with pytest.raises(StorageError):
        local.write("data/ab/x", b"1")
    assert sorted(p.name for p in local.root.iterdir()) == ["data"]


def test_real_enospc_maps_to_no_space() -> None:
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as info:
            os.write(fd, b"x")
            os.fsync(fd)
    finally:
        os.close(fd)
    err = translate_os_error(info.value, "data/x")
    assert isinstance(err, NoSpace)
    assert err.exit_code == 16
    assert not err.transient


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (errno.EDQUOT, NoSpace),
        (errno.EACCES, PermissionDenied),
        (errno.EPERM, PermissionDenied),
        (errno.EROFS, PermissionDenied),
        (errno.ENOENT, ObjectNotFound),
        (errno.EIO, StorageError),
    ],
)
def test_os_error_mapping(code: int, kind: type[StorageError]) -> None:
    err = translate_os_error(OSError(code, os.strerror(code)), "keys/k")
    assert type(err) is kind
    assert "keys/k" in err.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_object_is_permission_denied(local: LocalStorage) -> None:
    local.write("keys/k", b"1")
    (local.root / "keys" / "k").chmod(0)
    with pytest.raises(PermissionDenied):
        local.read("keys/k")
