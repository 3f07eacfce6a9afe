#!/usr/bin/env python3
"""Backup and restore throughput to a local S3 server: sitesnap against restic, same data, same run.

A tree is generated once with ``bench/gen_site.py`` (media, a SQLite file
and text; about ``--size`` bytes), one ``moto_server`` is started on
127.0.0.1, and for every repetition each tool, in turn and with a fresh
bucket, does:

1. ``init`` (untimed);
2. an initial backup of the tree (timed);
3. a restore of that snapshot into an empty directory (timed); the first
   repetition also checks that the restored files equal the source.  The
   GET requests the restore sent to its bucket (ranged reads and listings
   alike) are counted from the server's request log.

The bucket is deleted afterwards so the in-memory server does not grow.
Throughput is the tree's size in MB (10^6 bytes) divided by the wall time of
the command, start-up included; the median over ``--repeat`` runs is
reported, with the ratio sitesnap / restic (above 1: sitesnap is faster).

This measures the client over loopback HTTP against moto, which keeps
objects in memory in one Python process: it is not a real cloud.  The server
is often the bottleneck, and it is the same server for both tools.

Settings: restic with its defaults (repository version 2, compression auto,
``-o s3.connections`` default); sitesnap with its defaults (16 MiB multipart
parts, 4 parts at once).  Credentials reach both through the usual
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``; sitesnap gets the endpoint
from a site configuration file.  Each tool runs with its own empty HOME.

Usage::

    .venv/bin/python bench/s3.py [--size 300M] [--repeat 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
ACCESS_KEY = "bench-key"
SECRET_KEY = "bench-secret"
PASSWORD = "bench password"
MB = 1_000_000


@dataclass
class Result:
    tool: str
    backup_s: list[float] = field(default_factory=list)
    restore_s: list[float] = field(default_factory=list)
    restore_gets: list[int] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    """moto on loopback; its request log (one line per request) goes to ``log`` for counting GETs."""
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


_ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def count_gets(log: Path, start: int, bucket: str) -> int:
    """GET requests for ``bucket`` in the server log after byte ``start`` (colour codes stripped)."""
    with log.open("rb") as fh:
        fh.seek(start)
        text = _ANSI.sub(b"", fh.read())
    prefix = f'"GET /{bucket}'.encode()
    return sum(1 for line in text.splitlines() if prefix + b"/" in line or prefix + b"?" in line
               or prefix + b" " in line)


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def drop_bucket(client, bucket: str) -> None:  # type: ignore[no-untyped-def]
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


def manifest(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return out


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SITESNAP_", "RESTIC_", "AWS_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_REGION="us-east-1")
    return env


def sitesnap_steps(endpoint: str, bucket: str, work: Path) -> tuple[list[str], list[str], Callable[[Path], list[str]],
                                                                    dict[str, str]]:
    cfg = work / "sitesnap.toml"
    cfg.write_text(
        '[site]\nname = "bench"\n\n[[repositories]]\nname = "s3"\n'
        f'url = "s3://{bucket}/repo"\n[repositories.s3]\nendpoint = "{endpoint}"\nregion = "us-east-1"\n'
        'addressing_style = "path"\naccess_key_id = { env = "AWS_ACCESS_KEY_ID" }\n'
        'secret_access_key = { env = "AWS_SECRET_ACCESS_KEY" }\n'
        f'[runtime]\nstate_dir = "{work / "state"}"\n'
    )
    exe = SITESNAP[0]
    env = base_env(work / "home") | {"SITESNAP_PASSWORD": PASSWORD}
    return ([exe, "-c", str(cfg), "init"], [exe, "-q", "-c", str(cfg), "backup"],
            lambda out: [exe, "-c", str(cfg), "restore", "latest", "--target", str(out)], env)


def restic_steps(endpoint: str, bucket: str, work: Path) -> tuple[list[str], list[str], Callable[[Path], list[str]],
                                                                  dict[str, str]]:
    repo = f"s3:{endpoint}/{bucket}/repo"
    env = base_env(work / "home") | {"RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": str(work / "cache")}
    return (["restic", "-r", repo, "init"], ["restic", "-r", repo, "backup", "-q"],
            lambda out: ["restic", "-r", repo, "restore", "latest", "--target", str(out)], env)


SITESNAP = [str(BIN / "sitesnap")]
"""The sitesnap executable (``--sitesnap``)."""

TOOLS = {"sitesnap": sitesnap_steps, "restic": restic_steps}


def run_once(tool: str, tree: Path, endpoint: str, work: Path, rep: int, verify: bool, result: Result,
             log: Path) -> None:
    client = s3_client(endpoint)
    bucket = f"bench-{tool}-{rep}-{os.getpid()}"
    client.create_bucket(Bucket=bucket)
    tool_work = work / f"{tool}-{rep}"
    tool_work.mkdir()
    try:
        init, backup, restore, env = TOOLS[tool](endpoint, bucket, tool_work)
        timed(init, env)
        subprocess.run(["sync"], check=False)
        result.backup_s.append(timed([*backup, str(tree)], env))
        out = tool_work / "restored"
        subprocess.run(["sync"], check=False)
        time.sleep(0.2)  # the backup's last log lines reach the file
        log_start = log.stat().st_size
        result.restore_s.append(timed(restore(out), env))
        time.sleep(0.2)
        result.restore_gets.append(count_gets(log, log_start, bucket))
        if verify:
            restored = next(p for p in out.rglob(tree.name) if p.is_dir())
            if manifest(restored) != manifest(tree):
                raise SystemExit(f"{tool}: the restored tree differs from the source")
    finally:
        drop_bucket(client, bucket)
        shutil.rmtree(tool_work, ignore_errors=True)


def git_commit() -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def tool_version(tool: str) -> str:
    exe = SITESNAP[0] if tool == "sitesnap" else tool
    args = ["--version"] if tool == "sitesnap" else ["version"]
    return subprocess.run([exe, *args], capture_output=True, text=True).stdout.strip().splitlines()[0]


def markdown(results: dict[str, Result], size: int, repeat: int) -> str:
    mb = size / MB
    rows = ["| tool | backup s | backup MB/s | restore s | restore MB/s | restore GETs |",
            "|---|---:|---:|---:|---:|---:|"]
    rates: dict[str, tuple[float, float]] = {}
    for tool, res in results.items():
        b, r = statistics.median(res.backup_s), statistics.median(res.restore_s)
        rates[tool] = (mb / b, mb / r)
        gets = statistics.median(res.restore_gets) if res.restore_gets else float("nan")
        rows.append(f"| {tool} | {b:.2f} | {mb / b:.1f} | {r:.2f} | {mb / r:.1f} | {gets:.0f} |")
    if {"sitesnap", "restic"} <= rates.keys():
        s, o = rates["sitesnap"], rates["restic"]
        rows.append(f"| **sitesnap / restic** | | **{s[0] / o[0]:.2f}×** | | **{s[1] / o[1]:.2f}×** | |")
    return "\n".join(rows) + f"\n\nTree: {mb:.0f} MB; median of {repeat} run(s) per tool.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="300M", help="tree size for gen_site.py (default 300M)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default="sitesnap,restic")
    parser.add_argument("--sitesnap", default=SITESNAP[0], help="sitesnap executable")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the raw timings here")
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    SITESNAP[0] = args.sitesnap
    if "restic" in tools and shutil.which("restic") is None:
        raise SystemExit("restic is not installed (apt-get install -y restic)")
    work = Path(tempfile.mkdtemp(prefix="sitesnap-s3-bench-"))
    port = free_port()
    log = work / "moto.log"
    server = start_moto(port, log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        tree = work / "site"
        subprocess.run([sys.executable, str(HERE / "gen_site.py"), str(tree), "--size", args.size,
                        "--seed", str(args.seed)], check=True, stdout=subprocess.DEVNULL)
        size = tree_bytes(tree)
        manifest(tree)  # warm the page cache: both tools read from memory
        results = {t: Result(t) for t in tools}
        for rep in range(args.repeat):
            order = tools if rep % 2 == 0 else tools[::-1]
            for tool in order:
                run_once(tool, tree, endpoint, work, rep, rep == 0, results[tool], log)
                print(f"rep {rep + 1} {tool}: backup {results[tool].backup_s[-1]:.2f}s, "
                      f"restore {results[tool].restore_s[-1]:.2f}s, {results[tool].restore_gets[-1]} GETs",
                      file=sys.stderr)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"commit {git_commit()}; " + "; ".join(tool_version(t) for t in tools) + f"; moto_server on {endpoint}")
    print(markdown(results, size, args.repeat))
    if args.json_out:
        args.json_out.write_text(json.dumps({"size": size, "commit": git_commit(), "results": {
            t: {"backup_s": r.backup_s, "restore_s": r.restore_s, "restore_gets": r.restore_gets}
            for t, r in results.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
