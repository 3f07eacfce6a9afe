"""The SFTP backend against OpenSSH's sshd on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sitesnap.errors import ConfigError, StorageError
from sitesnap.storage.registry import open_storage
from sitesnap.storage.sftp import SFTPStorage, parse_options

from .conformance import StorageConformance
from .servers import SSHServer


def _open(server: SSHServer, path: str, **extra: object) -> SFTPStorage:
    options: dict[str, object] = {
        "key_file": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "retries": 1,
        **extra,
    }
    url = f"sftp://{server.user}@{server.host}:{server.port}{path}"
    store = open_storage(url, options)
    assert isinstance(store, SFTPStorage)
    return store


class TestSFTPConformance(StorageConformance):
    @pytest.fixture
    def storage(self, ssh_server: SSHServer) -> Iterator[SFTPStorage]:
        store = _open(ssh_server, f"{ssh_server.root}/conf-{uuid.uuid4().hex}")
        store.create()
        yield store
        store.close()


def test_objects_land_as_files_and_temp_files_are_hidden(ssh_server: SSHServer) -> None:
    store = _open(ssh_server, f"{ssh_server.root}/files")
    try:
        store.create()
        store.write("data/ab/pack", b"bytes")
        assert (ssh_server.root / "files" / "data" / "ab" / "pack").read_bytes() == b"bytes"
        (ssh_server.root / "files" / "data" / "ab" / ".tmp-pack.dead").write_bytes(b"crash")
        assert [i.name for i in store.list()] == ["data/ab/pack"]
    finally:
        store.close()


def test_unknown_host_key_is_refused(ssh_server: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = tmp_path_factory.mktemp("kh") / "known_hosts"
    empty.write_text("")
    store = _open(ssh_server, f"{ssh_server.root}/x", known_hosts=str(empty))
    try:
        with pytest.raises(StorageError) as info:
            store.create()
        assert not info.value.transient
        assert "known_hosts" in info.value.hint
    finally:
        store.close()


def test_wrong_key_is_permission_denied(ssh_server: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    import asyncssh

    other = tmp_path_factory.mktemp("key") / "other"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    store = _open(ssh_server, f"{ssh_server.root}/x", key_file=str(other))
    try:
        with pytest.raises(StorageError, match="ermission") as info:
            store.create()
        assert not info.value.transient
    finally:
        store.close()


def test_server_gone_is_transient_and_reconnects(ssh_server: SSHServer) -> None:
    store = _open(ssh_server, f"{ssh_server.root}/reconnect")
    try:
        store.create()
        store.write("a", b"1")
        conn = store._conn
        assert conn is not None
        store._loop.call_soon_threadsafe(conn.abort)  # the connection drops
        try:
            store.read("a")
        except StorageError as exc:
            assert exc.transient
        assert store.read("a") == b"1"  # a new connection
    finally:
        store.close()


def test_unreachable_server_is_transient(ssh_server: SSHServer) -> None:
    from .servers import free_port

    store = open_storage(
        f"sftp://u@127.0.0.1:{free_port()}/x",
        {"known_hosts": str(ssh_server.known_hosts), "retries": 1},
    )
    try:
        with pytest.raises(StorageError) as info:
            store.create()
        assert info.value.transient
    finally:
        store.close()


def test_url_parsing() -> None:
    opts = parse_options("sftp://backup@host.example:2222/srv/repo", {})
    assert (opts.username, opts.host, opts.port, opts.path) == ("backup", "host.example", 2222, "/srv/repo")
    assert parse_options("sftp://h/~/repos/site", {}).path == "repos/site"
    with pytest.raises(ConfigError, match="password"):
        parse_options("sftp://u:secret@h/p", {})
    with pytest.raises(ConfigError):
        parse_options("sftp:///p", {})
    with pytest.raises(ConfigError, match="unknown"):
        parse_options("sftp://h/p", {"prot": 22})
