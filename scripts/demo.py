"""The README's demo: a sample Flask-style blog backed up, damaged and restored.

Runs the real ``sitesnap`` command line on the embedded default (an SQLite
database, uploads and static files, a local repository) and verifies every
restored byte.  Exits non-zero if anything does not match.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "demo-site"
SITESNAP = [str(ROOT / ".venv" / "bin" / "sitesnap")]
ENV = {**os.environ, "SITESNAP_PASSWORD_FILE": str(SITE / "password.txt")}
ENV.pop("SITESNAP_PASSWORD", None)
ENV.pop("SITESNAP_REPOSITORY", None)

CONFIG = """\
[site]
name = "demo-blog"
description = "sample blog created by scripts/demo.py"

[[sources]]
name = "db"
type = "sqlite"
path = "instance/blog.db"

[[sources]]
name = "uploads"
type = "files"
path = "uploads"
exclude = ["*.tmp", "cache/"]

[[sources]]
name = "static"
type = "files"
path = "static"

[[repositories]]
name = "local"
url = "backups"
password = { file = "password.txt" }
"""


def step(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print("$ sitesnap " + " ".join(args), flush=True)
    proc = subprocess.run([*SITESNAP, "-c", str(SITE / "sitesnap.toml"), *args], env=ENV, text=True,
                          capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if check and proc.returncode != 0:
        sys.exit(f"demo failed: sitesnap {' '.join(args)} exited {proc.returncode}")
    return proc


def make_site(rng: random.Random) -> None:
    shutil.rmtree(SITE, ignore_errors=True)
    (SITE / "instance").mkdir(parents=True)
    (SITE / "password.txt").write_text("demo password, keep it safe\n")
    (SITE / "sitesnap.toml").write_text(CONFIG)
    db = sqlite3.connect(SITE / "instance" / "blog.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE post (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
    db.execute("CREATE TABLE comment (id INTEGER PRIMARY KEY, post_id INTEGER, body TEXT)")
    words = ["flask", "sqlite", "backup", "restore", "snapshot", "blog", "post", "comment", "python", "deploy"]
    for i in range(2000):
        body = " ".join(rng.choice(words) for _ in range(120))
        db.execute("INSERT INTO post (title, body) VALUES (?, ?)", (f"Post {i}", body))
        db.executemany("INSERT INTO comment (post_id, body) VALUES (?, ?)",
                       [(i + 1, " ".join(rng.choice(words) for _ in range(20))) for _ in range(3)])
    db.commit()
    db.close()
    for sub in ("uploads/2026/11", "uploads/cache", "static/css", "static/js"):
        (SITE / sub).mkdir(parents=True, exist_ok=True)
    for i in range(40):
        photo = SITE / "uploads" / "2026" / "11" / f"photo-{i:03}.jpg"
        photo.write_bytes(rng.randbytes(rng.randint(20_000, 400_000)))
    (SITE / "uploads" / "cache" / "thumb.bin").write_bytes(rng.randbytes(1000))
    (SITE / "uploads" / "upload.tmp").write_text("partial upload")
    (SITE / "static" / "css" / "site.css").write_text("body { font-family: serif; }\n" * 200)
    (SITE / "static" / "js" / "app.js").write_text("console.log('blog');\n" * 300)


def digest_tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def db_state(path: Path) -> tuple[str, int, int]:
    db = sqlite3.connect(path)
    try:
        return (db.execute("PRAGMA integrity_check").fetchone()[0],
                db.execute("SELECT count(*) FROM post").fetchone()[0],
                db.execute("SELECT count(*) FROM comment").fetchone()[0])
    finally:
        db.close()


def writer(stop: threading.Event) -> None:
    """The site keeps writing while the first backup runs (WAL mode)."""
    db = sqlite3.connect(SITE / "instance" / "blog.db", timeout=30)
    n = 0
    while not stop.is_set():
        db.execute("INSERT INTO comment (post_id, body) VALUES (1, ?)", (f"live comment {n}",))
        db.commit()
        n += 1
    db.close()


def main() -> None:
    rng = random.Random(2026)
    step("1. a sample blog: SQLite database (WAL), uploads, static files")
    make_site(rng)
    print(f"created {SITE}")

    step("2. create the repository and back up while the site writes")
    run("init")
    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(stop,))
    thread.start()
    try:
        run("backup", "--tag", "demo")
    finally:
        stop.set()
        thread.join()

    step("3. change a little and back up again: only new data is stored")
    db = sqlite3.connect(SITE / "instance" / "blog.db")
    db.execute("INSERT INTO post (title, body) VALUES ('Hello again', 'a new post')")
    db.commit()
    db.close()
    (SITE / "uploads" / "2026" / "11" / "new-photo.jpg").write_bytes(rng.randbytes(150_000))
    run("backup")
    expected_files = digest_tree(SITE / "uploads")
    expected_static = digest_tree(SITE / "static")
    expected_db = db_state(SITE / "instance" / "blog.db")

    step("4. list the snapshots")
    run("snapshots")

    step("5. disaster: uploads deleted, database damaged")
    shutil.rmtree(SITE / "uploads" / "2026")
    (SITE / "instance" / "blog.db").write_bytes(b"this is not a database any more")
    for suffix in ("-wal", "-shm"):
        Path(str(SITE / "instance" / "blog.db") + suffix).unlink(missing_ok=True)

    step("6. restore the latest snapshot in place (a pre-restore snapshot is taken first)")
    run("restore", "latest", "--yes")

    step("7. verify")
    got_files = digest_tree(SITE / "uploads")
    problems = []
    kept = {"upload.tmp", "cache/thumb.bin"}
    if {k: v for k, v in got_files.items() if k not in kept} != {
        k: v for k, v in expected_files.items() if k not in kept
    }:
        problems.append("uploads differ from the backup")
    if not kept <= got_files.keys():
        problems.append("excluded files (cache/, *.tmp) were not left in place")
    if digest_tree(SITE / "static") != expected_static:
        problems.append("static files differ")
    state = db_state(SITE / "instance" / "blog.db")
    print(f"database: integrity {state[0]}, {state[1]} posts, {state[2]} comments (expected {expected_db[1:]})")
    if state != expected_db:
        problems.append(f"database state {state} != {expected_db}")

    step("8. restore the first snapshot elsewhere (migration to a test copy)")
    snaps = __import__("json").loads(run("snapshots", "--json").stdout)
    first = snaps[0]["id"][:8]
    copy = SITE / "restored-copy"
    run("restore", first, "--to", f"db={copy / 'blog.db'}", "--to", f"uploads={copy / 'uploads'}",
        "--to", f"static={copy / 'static'}")
    copy_state = db_state(copy / "blog.db")
    print(f"copy: integrity {copy_state[0]}, {copy_state[1]} posts, {copy_state[2]} comments")
    if copy_state[0] != "ok" or copy_state[1] != 2000:
        problems.append("the first snapshot's database copy is wrong")

    step("9. check every byte of the repository")
    run("check", "--read-data")

    step("10. the built-in scheduler (incremental every 6 h, full on Sunday, prune daily) runs a job now")
    run("scheduler", "--once", "incremental")
    run("runs")
    run("status")

    if problems:
        for p in problems:
            print(f"FAILED: {p}")
        sys.exit(1)
    print("\n\033[1;32mdemo passed:\033[0m backed up, restored in place and elsewhere, verified, scheduled.")
    print(f"Explore it: cd {SITE} && {SITESNAP[0]} snapshots")


if __name__ == "__main__":
    main()
