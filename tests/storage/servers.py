"""Real servers on loopback for the backend tests: a moto S3 server and OpenSSH's sshd.

Both bind 127.0.0.1 only, on a free port, and are stopped by the fixture that
started them (by process id).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = "testing-key"
    secret_key: str = "testing-secret"
    region: str = "us-east-1"

    def options(self, **extra: object) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "addressing": "path",
            "allow_http": True,
            **extra,
        }

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


def start_moto() -> tuple[subprocess.Popen[bytes], S3Server]:
    exe = Path(sys.executable).with_name("moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc, "moto_server")
    return proc, S3Server(f"http://127.0.0.1:{port}")


@dataclass(frozen=True)
class SSHServer:
    host: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    root: Path


def find_sshd() -> str | None:
    for candidate in ("/usr/sbin/sshd", shutil.which("sshd")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def start_sshd(workdir: Path, root: Path) -> tuple[subprocess.Popen[bytes], SSHServer]:
    """Run sshd in the foreground (-D) on a free loopback port with keys in ``workdir``."""
    import getpass

    import asyncssh

    sshd = find_sshd()
    if sshd is None:
        raise FileNotFoundError("sshd")
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)
    host_key = workdir / "host_ed25519"
    client_key = workdir / "client_ed25519"
    for path in (host_key, client_key):
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(path))
        key.write_public_key(str(path) + ".pub")
        path.chmod(0o600)
    authorized = workdir / "authorized_keys"
    authorized.write_bytes((workdir / "client_ed25519.pub").read_bytes())
    authorized.chmod(0o600)
    port = free_port()
    user = getpass.getuser()
    sftp_server = next(
        (p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")
         if Path(p).exists()),
        "internal-sftp",
    )  # fmt: skip
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\n"
        f"PidFile {workdir / 'sshd.pid'}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "MaxSessions 50\n"
        "MaxStartups 50:30:100\n"
        f"Subsystem sftp {sftp_server}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "sshd.log").open("wb"),
    )
    wait_for_port(port, proc, "sshd")
    host_pub = (workdir / "host_ed25519.pub").read_text().split()
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    return proc, SSHServer("127.0.0.1", port, user, client_key, known_hosts, root)


class CuttingProxy:
    """A TCP proxy on loopback that resets a connection once ``budget`` bytes were uploaded.

    Placed between a client and a real server, it produces a genuinely dropped
    connection in the middle of an upload.  ``cuts`` is how many connections
    it will still cut; each cut connection is reset (RST) on both sides.
    """

    def __init__(self, upstream_port: int, budget: int, cuts: int = 1) -> None:
        import threading

        self.upstream_port = upstream_port
        self.budget = budget
        self.cuts = cuts
        self.cut_count = 0
        self.sent = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        import struct

        for sock in socks:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            except OSError:
                pass

    def _pump_up(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    cut = self.cuts > 0 and self.sent + len(data) > self.budget
                    if cut:
                        self.cuts -= 1
                        self.cut_count += 1
                    self.sent += len(data)
                if cut:
                    self._reset(src, dst)
                    return
                dst.sendall(data)
        except OSError:
            pass
        self._reset(src, dst)

    def _pump_down(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        self._reset(src, dst)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
