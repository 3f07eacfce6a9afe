#!/usr/bin/env python3
"""Generate a deterministic "blog site" tree for benchmarks, or mutate one.

Two shapes, both fully determined by ``--seed``:

* ``site`` (default): a Flask blog of about ``--size`` bytes (default 1 GiB).
  About 65 % is media (incompressible random bytes behind JPEG/PNG/MP4/PDF/ZIP
  magic numbers, 50 KB to 20 MB, log-uniform), 10 % a real SQLite database
  (``instance/blog.sqlite`` with ``posts``, ``comments`` and ``tags`` tables
  and indexes), and the rest compressible text: Markdown sources, rendered
  HTML pages, CSS, JS bundles and access logs.
* ``small``: ``--files`` small files (default 100,000; 100 B to 8 KB, mostly
  text, some thumbnails) spread over 1,000 directories, where walking the tree
  and per-file overhead dominate, not hashing.

``--mutate PCT DIR`` changes about PCT % of an existing tree's bytes the way a
live site does: half of the budget rewrites regions inside existing files,
about a third adds new uploads and pages, a tenth deletes files, and the rest
goes into the database (new comments, edits of the most recent posts).
Modified files are written to a temporary name and renamed over the original.
The same seed and PCT on the same tree give the same result, so every tool
of a benchmark sees identical changes.

Usage::

    python bench/gen_site.py OUT [--size 1G] [--seed 1]
    python bench/gen_site.py OUT --small-files [--files 100000]
    python bench/gen_site.py OUT --mutate 1 [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

MEDIA_MAGIC: dict[str, bytes] = {
    ".jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    ".png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    ".mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    ".pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    ".zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
    ".webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
}
TEXT_EXTS = frozenset({".html", ".md", ".css", ".js", ".log", ".txt", ".json"})
DB_NAME = "blog.sqlite"
# A fixed epoch so generated mtimes do not depend on when the tree was made.
EPOCH = 1_700_000_000

_VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from at or an have not which but "
    "flask python sqlite backup snapshot server deploy nginx gunicorn template route request response "
    "database migration query index cache session cookie login user admin comment post draft publish "
    "image upload thumbnail gallery video markdown render static asset bundle script style layout "
    "theme font color margin padding border header footer sidebar widget archive category tag search "
    "feed rss sitemap robots error debug log warning info trace timeout retry queue worker celery redis "
    "weekend travel coffee recipe garden mountain river city winter summer morning evening friend "
    "family book music photo camera lens light shadow window door street market harbor island forest"
)
WORDS = _VOCABULARY.split()


@dataclass
class Budget:
    """Bytes still to spend on one kind of change."""

    left: int

    def take(self, n: int) -> int:
        n = max(0, min(n, self.left))
        self.left -= n
        return n


@dataclass
class TextFactory:
    """Compressible text built from a seeded pool of sentences.

    Files are assembled from random sentences of the pool, so each file is
    distinct, compresses like prose (about 3-5x with zstd), and is generated
    at hundreds of MB/s instead of word by word.
    """

    rng: random.Random
    sentences: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = self.rng
        for _ in range(20_000):
            words = rng.choices(WORDS, k=rng.randint(6, 22))
            words[0] = words[0].capitalize()
            self.sentences.append(" ".join(words) + rng.choice((". ", ". ", "? ", "! ", ".\n\n")))

    def prose(self, size: int) -> str:
        """About ``size`` characters of prose."""
        n = max(1, size // 80)
        text = "".join(self.rng.choices(self.sentences, k=n))
        return text[:size] if len(text) > size else text

    def html(self, size: int, title: str) -> str:
        head = (
            f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n"
            '<link rel="stylesheet" href="/static/css/site.css"><script src="/static/js/app.js" defer></script>\n'
            f'</head><body><header class="site-header"><nav><a href="/">Home</a> <a href="/archive">Archive</a>'
            f"</nav></header>\n<main><article><h1>{title}</h1>\n"
        )
        body = "".join(f"<p>{p}</p>\n" for p in self.prose(max(0, size - len(head) - 60)).split("\n\n") if p)
        return head + body + "</article></main><footer>&copy; blog</footer></body></html>\n"

    def css(self, size: int) -> str:
        rng, out, n = self.rng, [], 0
        while n < size:
            sel = f".{rng.choice(WORDS)}-{rng.choice(WORDS)}"
            rule = (
                f"{sel} {{ margin: {rng.randint(0, 40)}px {rng.randint(0, 40)}px; color: #{rng.randrange(16**6):06x}; "
                f"font-size: {rng.randint(10, 32)}px; }}\n"
            )
            out.append(rule)
            n += len(rule)
        return "".join(out)

    def js(self, size: int) -> str:
        rng, out, n = self.rng, [], 0
        while n < size:
            name = f"{rng.choice(WORDS)}{rng.choice(WORDS).capitalize()}{rng.randrange(1000)}"
            line = (
                f"function {name}(e,t){{var n=document.querySelector('.{rng.choice(WORDS)}');"
                f"if(!n)return {rng.randrange(100)};n.dataset.{rng.choice(WORDS)}=t;return e+{rng.randrange(9999)}}}\n"
            )
            out.append(line)
            n += len(line)
        return "".join(out)

    def log(self, size: int, start: int) -> str:
        rng, out, n, t = self.rng, [], 0, start
        while n < size:
            t += rng.randint(0, 30)
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
            line = (
                f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - "
                f'[{stamp}] "GET /{rng.choice(WORDS)}/{rng.choice(WORDS)}-{rng.randrange(5000)} HTTP/1.1" '
                f"{rng.choice((200, 200, 200, 304, 404, 301))} {rng.randrange(100000)} "
                f'"-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/{rng.randint(90, 130)}.0"\n'
            )
            out.append(line)
            n += len(line)
        return "".join(out)


def log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    """A size between lo and hi whose logarithm is uniform (many small, few large)."""
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def random_bytes(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def media_bytes(rng: random.Random, ext: str, size: int) -> bytes:
    magic = MEDIA_MAGIC[ext]
    return magic + random_bytes(rng, max(0, size - len(magic)))


def write_file(path: Path, data: bytes | str, mtime: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    path.write_bytes(raw)
    os.utime(path, (mtime, mtime))
    return len(raw)


def slug(rng: random.Random) -> str:
    return "-".join(rng.choices(WORDS, k=3)) + f"-{rng.randrange(100000)}"


# ---------------------------------------------------------------- site tree


def gen_media(root: Path, rng: random.Random, budget: int) -> tuple[int, int]:
    """Uploads: 50 KB - 20 MB incompressible files. Returns (files, bytes)."""
    count = written = 0
    exts = [".jpg"] * 6 + [".png"] * 2 + [".mp4", ".pdf", ".zip", ".webp"]
    while written < budget:
        ext = rng.choice(exts)
        lo, hi = (2 * MIB, 20 * MIB) if ext == ".mp4" else (50 * KIB, 8 * MIB)
        size = min(log_uniform(rng, lo, hi), max(50 * KIB, budget - written))
        year, month = rng.randint(2019, 2024), rng.randint(1, 12)
        path = root / "uploads" / str(year) / f"{month:02d}" / f"{slug(rng)}{ext}"
        mtime = EPOCH - rng.randrange(5 * 365 * 86400)
        written += write_file(path, media_bytes(rng, ext, size), mtime)
        count += 1
    return count, written


def gen_text(root: Path, rng: random.Random, text: TextFactory, budget: int) -> tuple[int, int]:
    """Sources, rendered pages, static assets and logs. Returns (files, bytes)."""
    count = written = 0
    # Static assets and logs first: a few larger files.
    fixed: list[tuple[str, int]] = [
        ("app/static/css/site.css", 180 * KIB),
        ("app/static/css/vendor.min.css", 400 * KIB),
        ("app/static/js/app.js", 350 * KIB),
        ("app/static/js/vendor.bundle.js", 2 * MIB),
        ("app/static/js/editor.bundle.js", 1200 * KIB),
    ]
    n_logs = max(1, budget // (64 * MIB))
    fixed += [(f"logs/access.log.{i}" if i else "logs/access.log", min(24 * MIB, budget // 6 // n_logs)) for i in
              range(n_logs)]
    for rel, size in fixed:
        if written >= budget:
            break
        mtime = EPOCH - rng.randrange(30 * 86400)
        if rel.endswith(".css"):
            data = text.css(size)
        elif rel.endswith(".js"):
            data = text.js(size)
        else:
            data = text.log(size, EPOCH - 400 * 86400)
        written += write_file(root / rel, data, mtime)
        count += 1
    for i in range(40):
        if written >= budget:
            break
        written += write_file(root / "app" / "templates" / f"{rng.choice(WORDS)}_{i}.html",
                              text.html(log_uniform(rng, 1 * KIB, 12 * KIB), "{{ title }}"), EPOCH)
        count += 1
    # Posts: a Markdown source and its rendered page.
    while written < budget:
        year, month = rng.randint(2019, 2024), rng.randint(1, 12)
        name = slug(rng)
        size = log_uniform(rng, 2 * KIB, 400 * KIB)
        mtime = EPOCH - rng.randrange(5 * 365 * 86400)
        title = name.replace("-", " ").title()
        written += write_file(root / "content" / "posts" / str(year) / f"{name}.md",
                              f"---\ntitle: {title}\ndate: {year}-{month:02d}-01\n---\n\n" + text.prose(size // 2),
                              mtime)
        written += write_file(root / "public" / str(year) / f"{month:02d}" / name / "index.html",
                              text.html(size, title), mtime)
        count += 2
    return count, written


def gen_database(path: Path, rng: random.Random, text: TextFactory, budget: int) -> int:
    """A real SQLite blog database of about ``budget`` bytes. Returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(
        """
        PRAGMA page_size = 4096;
        PRAGMA journal_mode = DELETE;
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,
                            password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
        CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES users(id),
                            slug TEXT NOT NULL UNIQUE, title TEXT NOT NULL, body TEXT NOT NULL,
                            created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, views INTEGER NOT NULL);
        CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL REFERENCES posts(id),
                               author TEXT NOT NULL, email TEXT NOT NULL, body TEXT NOT NULL,
                               created_at INTEGER NOT NULL, approved INTEGER NOT NULL);
        CREATE TABLE tags (post_id INTEGER NOT NULL REFERENCES posts(id), tag TEXT NOT NULL,
                           PRIMARY KEY (post_id, tag));
        CREATE INDEX comments_post ON comments(post_id, created_at);
        CREATE INDEX posts_created ON posts(created_at);
        """
    )
    con.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
        [(i, f"user{i}", f"user{i}@example.org", rng.randbytes(32).hex(), EPOCH - rng.randrange(10**8))
         for i in range(1, 201)],
    )
    # About 60 % of the bytes in posts, 40 % in comments.
    n_posts = max(10, int(budget * 0.6 / 4200))
    t = EPOCH - 5 * 365 * 86400
    for start in range(1, n_posts + 1, 1000):
        rows = []
        for pid in range(start, min(n_posts, start + 999) + 1):
            t += rng.randrange(1, 4000)
            rows.append((pid, rng.randint(1, 200), f"{slug(rng)}-{pid}", " ".join(rng.choices(WORDS, k=6)).title(),
                         text.prose(log_uniform(rng, 800, 16000)), t, t, rng.randrange(100000)))
        con.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)",
                        [(r[0], rng.choice(WORDS)) for r in rows for _ in range(3)])
    con.commit()
    cid = 0
    while path.stat().st_size < budget * 0.97:
        rows = []
        for _ in range(2000):
            cid += 1
            pid = rng.randint(1, n_posts)
            rows.append((cid, pid, f"reader{rng.randrange(5000)}", f"r{rng.randrange(5000)}@example.com",
                         text.prose(log_uniform(rng, 60, 1500)), EPOCH - rng.randrange(10**8), rng.randint(0, 1)))
        con.executemany("INSERT INTO comments VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        con.commit()
    con.close()
    os.utime(path, (EPOCH, EPOCH))
    return path.stat().st_size


def gen_site(root: Path, size: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    text = TextFactory(random.Random(seed + 1))
    db_budget = size // 10
    media_budget = int(size * 0.65)
    text_budget = size - db_budget - media_budget
    media_files, media = gen_media(root, random.Random(seed + 2), media_budget)
    text_files, txt = gen_text(root, rng, text, text_budget)
    db = gen_database(root / "instance" / DB_NAME, random.Random(seed + 3), text, db_budget)
    return {"files": media_files + text_files + 1, "media_bytes": media, "text_bytes": txt, "db_bytes": db,
            "bytes": media + txt + db}


def gen_small(root: Path, files: int, seed: int) -> dict[str, int]:
    """``files`` files of 100 B - 8 KB in 1,000 directories."""
    rng = random.Random(seed)
    text = TextFactory(random.Random(seed + 1))
    written = 0
    per_dir = max(1, math.ceil(files / 1000))
    for i in range(files):
        d, n = divmod(i, per_dir)
        folder = root / "content" / f"{d // 10:03d}" / f"{d % 10}"
        size = log_uniform(rng, 100, 8 * KIB)
        mtime = EPOCH - rng.randrange(5 * 365 * 86400)
        if rng.random() < 0.2:
            data: bytes | str = media_bytes(rng, ".webp", size)
            name = f"thumb-{n:04d}.webp"
        else:
            kind = rng.choice((".md", ".html", ".json"))
            if kind == ".html":
                data = text.html(size, f"page {i}")
            elif kind == ".json":
                body = text.prose(size).replace("\n", " ").replace('"', "'")
                data = json.dumps({"id": i, "body": body}) + "\n"
            else:
                data = text.prose(size)
            name = f"item-{n:04d}{kind}"
        if n == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        raw = data.encode() if isinstance(data, str) else data
        with open(path, "wb") as fh:
            fh.write(raw)
        os.utime(path, (mtime, mtime))
        written += len(raw)
    return {"files": files, "bytes": written}


# ----------------------------------------------------------------- mutation


def walk_files(root: Path) -> Iterator[tuple[Path, int]]:
    """Every regular file below root, in a stable (sorted) order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            yield p, p.stat().st_size


@dataclass
class Journal:
    """What a mutation did, so that :func:`undo` can put the tree back without copying it.

    Originals are hard-linked into ``keep`` (same file system) before they
    are replaced or deleted; added files are listed.  Without ``keep`` the
    journal records nothing.
    """

    root: Path
    keep: Path | None = None
    added: list[Path] = field(default_factory=list)

    def save_original(self, path: Path) -> None:
        if self.keep is None:
            return
        dst = self.keep / path.relative_to(self.root)
        if dst.exists():
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, dst)

    def note_added(self, path: Path) -> None:
        if self.keep is not None:
            self.added.append(path)


def replace_file(path: Path, data: bytes, journal: Journal, mtime: int | None = None) -> None:
    """Write data to a temporary name beside path, then rename it over path."""
    tmp = path.with_name(f".{path.name}.mut")
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    journal.save_original(path)
    os.replace(tmp, path)


def undo(journal: Journal) -> None:
    """Put a mutated tree back as it was (file contents, modes and mtimes; inodes of originals)."""
    if journal.keep is None:
        raise ValueError("this mutation kept no originals")
    for path in reversed(journal.added):
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != journal.root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    for dirpath, _dirs, names in os.walk(journal.keep):
        for name in names:
            kept = Path(dirpath) / name
            os.replace(kept, journal.root / kept.relative_to(journal.keep))
    for dirpath, dirs, _names in os.walk(journal.keep, topdown=False):
        for d in dirs:
            (Path(dirpath) / d).rmdir()


def mutate_region(path: Path, size: int, rng: random.Random, text: TextFactory, want: int, journal: Journal) -> int:
    """Rewrite up to ``want`` bytes inside one file; returns the bytes changed."""
    data = bytearray(path.read_bytes())
    n = min(want, size)
    off = rng.randrange(0, max(1, size - n + 1))
    if path.suffix in TEXT_EXTS:
        new = text.prose(n).encode()[:n]
        n = len(new)
    else:
        new = random_bytes(rng, n)
    data[off:off + n] = new
    replace_file(path, bytes(data), journal)
    return n


def mutate_database(path: Path, rng: random.Random, text: TextFactory, want: int, journal: Journal) -> int:
    """New comments appended and the most recent posts edited; about ``want`` bytes of new rows.

    Works on a copy that is renamed over the original, so the original can be kept.
    """
    work = path.with_name(f".{path.name}.mut")
    shutil.copyfile(path, work)
    con = sqlite3.connect(work)
    (max_post,) = con.execute("SELECT max(id) FROM posts").fetchone()
    (max_comment,) = con.execute("SELECT coalesce(max(id), 0) FROM comments").fetchone()
    done = 0
    now = EPOCH + 86400
    edits = max(1, want // 5 // 4000)
    for pid in range(max_post, max(0, max_post - edits), -1):
        body = text.prose(4000)
        con.execute("UPDATE posts SET body = ?, updated_at = ? WHERE id = ?", (body, now, pid))
        done += len(body)
    rows = []
    while done < want:
        max_comment += 1
        body = text.prose(log_uniform(rng, 60, 1500))
        rows.append((max_comment, rng.randint(max(1, max_post - 50), max_post), f"reader{rng.randrange(5000)}",
                     "new@example.com", body, now, 0))
        done += len(body) + 40
    con.executemany("INSERT INTO comments VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    journal.save_original(path)
    os.replace(work, path)
    return done


def mutate(root: Path, pct: float, seed: int, journal: Journal | None = None) -> dict[str, int]:
    """Change about ``pct`` % of the tree's bytes: modify, add, delete, database.

    Pass a :class:`Journal` with ``keep`` set to be able to :func:`undo` it.
    """
    journal = journal or Journal(root)
    rng = random.Random(f"mutate:{seed}:{pct}")
    text = TextFactory(random.Random(f"mutate-text:{seed}"))
    files = list(walk_files(root))
    total = sum(s for _, s in files)
    want = int(total * pct / 100)
    db = [(p, s) for p, s in files if p.name == DB_NAME]
    others = [(p, s) for p, s in files if p.name != DB_NAME]
    stats = {"total_bytes": total, "target_bytes": want}
    modify, add, delete = Budget(want // 2), Budget(want * 35 // 100), Budget(want // 10)
    db_budget = Budget(want - modify.left - add.left - delete.left)
    if not db:
        modify.left += db_budget.left
        db_budget.left = 0

    order = others[:]
    rng.shuffle(order)
    victims: set[Path] = set()
    changed = modified = 0
    for p, s in order:
        if modify.left <= 0:
            break
        n = modify.take(min(s, rng.randint(4 * KIB, 2 * MIB)))
        changed += mutate_region(p, s, rng, text, n, journal)
        victims.add(p)
        modified += 1
    deleted = deleted_bytes = 0
    for p, s in reversed(order):
        if delete.left <= 0:
            break
        if p in victims or s > delete.left:
            continue
        journal.save_original(p)
        p.unlink()
        delete.take(s)
        deleted += 1
        deleted_bytes += s
    added = added_bytes = 0
    small_tree = total / max(1, len(files)) < 64 * KIB
    while add.left > 0:
        if small_tree:
            size = add.take(log_uniform(rng, 100, 8 * KIB))
            path = root / "content" / "new" / f"{added // 100:03d}" / f"item-{added:05d}.md"
            journal.note_added(path)
            added_bytes += write_file(path, text.prose(size), EPOCH + 86400)
        elif rng.random() < 0.5:
            size = add.take(log_uniform(rng, 50 * KIB, 8 * MIB))
            path = root / "uploads" / "2025" / "01" / f"new-{added:05d}-{slug(rng)}.jpg"
            journal.note_added(path)
            added_bytes += write_file(path, media_bytes(rng, ".jpg", size), EPOCH + 86400)
        else:
            size = add.take(log_uniform(rng, 2 * KIB, 200 * KIB))
            path = root / "public" / "2025" / "01" / f"new-{added:05d}" / "index.html"
            journal.note_added(path)
            added_bytes += write_file(path, text.html(size, f"New post {added}"), EPOCH + 86400)
        added += 1
    db_changed = mutate_database(db[0][0], rng, text, db_budget.left, journal) if db and db_budget.left > 0 else 0
    stats.update(modified_files=modified, modified_bytes=changed, added_files=added, added_bytes=added_bytes,
                 deleted_files=deleted, deleted_bytes=deleted_bytes, db_bytes=db_changed)
    return stats


# --------------------------------------------------------------------- main


def parse_size(text: str) -> int:
    """'1G', '512M', '300k' or a plain number of bytes."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": KIB, "M": MIB, "G": GIB, "T": 1024 * GIB}
    if text and text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out", type=Path, help="directory to create (or to mutate with --mutate)")
    ap.add_argument("--size", type=parse_size, default=GIB, help="approximate size of the site tree (default 1G)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--small-files", action="store_true", help="make the small-files tree instead of the site")
    ap.add_argument("--files", type=int, default=100_000, help="number of files with --small-files (default 100000)")
    ap.add_argument("--mutate", type=float, metavar="PCT", help="change about PCT %% of an existing tree's bytes")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    if args.mutate is not None:
        if not args.out.is_dir():
            ap.error(f"{args.out} is not a directory")
        stats = mutate(args.out, args.mutate, args.seed)
    else:
        if args.out.exists() and any(args.out.iterdir()):
            ap.error(f"{args.out} exists and is not empty")
        args.out.mkdir(parents=True, exist_ok=True)
        stats = gen_small(args.out, args.files, args.seed) if args.small_files else gen_site(args.out, args.size,
                                                                                             args.seed)
    stats["seconds_x1000"] = int((time.perf_counter() - started) * 1000)
    print(" ".join(f"{k}={v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
