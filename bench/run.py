#!/usr/bin/env python3
"""Benchmark sitesnap against restic and Borg on the same data, machine and run.

For every tool and every repetition, on the same copy of a generated tree
(``bench/gen_site.py``) and a fresh repository on local disk:

1. initial backup (time, MiB/s, peak RSS, repository size);
2. re-backup of the unchanged tree (time, bytes added);
3. re-backup after a 1 % mutation (time, bytes added);
4. restore of the latest snapshot into an empty directory (time, MiB/s); the
   first repetition also checks that the restored tree equals the source.

The mutation is undone after each run (originals are hard-linked aside, so
nothing is copied), restores and old repositories are moved to a trash that is
emptied only at the end. The cache is warm: nothing is dropped, the tree is
read once before the first backup, and ``sync`` runs (untimed) between steps
so write-back of one step does not land in the next. Tools run interleaved within each repetition and
the median of ``--repeat`` runs is reported. Peak RSS comes from
``/usr/bin/time`` (GNU time's maximum resident set size of the process).

Settings: restic with its defaults (repository version 2, compression
``auto``); Borg ``repokey-blake2`` with ``--compression zstd,3`` (change with
``--borg-compression``); sitesnap with its defaults. Encryption is on for
all. Passwords go through RESTIC_PASSWORD, BORG_PASSPHRASE and
SITESNAP_PASSWORD; each tool gets its own empty HOME, so no cache survives
from an earlier run.

restic, Borg and GNU time come from Debian: when one is missing and this runs
as root, it is installed with apt-get; otherwise that tool is skipped with a
note. Results are printed as Markdown tables (with the ratios of sitesnap to
the best peer against DESIGN.md section 12's targets) and written as JSON
under ``bench/results/``.

Usage::

    .venv/bin/python bench/run.py [--size 1G] [--repeat 3] [--tools sitesnap,restic,borg]
    .venv/bin/python bench/run.py --small-files [--files 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import gen_site  # noqa: E402

MIB = 1024 * 1024
PASSWORD = "bench-password-not-secret"
GNU_TIME = "/usr/bin/time"
STEPS = ("initial", "unchanged", "mutated", "restore")


# ------------------------------------------------------------------- tools


@dataclass
class Tool:
    """How one program initialises, backs up and restores.

    ``restored_root`` says where the backed-up tree lands below the restore
    target, since each tool lays out paths differently.
    """

    name: str
    binary: str
    env: dict[str, str]
    init: Callable[[Path], list[str]]
    backup: Callable[[Path, Path, int], list[str]]
    restore: Callable[[Path, Path], list[str]]
    restored_root: Callable[[Path, Path], Path]
    version_args: list[str] = field(default_factory=lambda: ["--version"])
    restore_in_target: bool = False
    note: str = ""

    def version(self) -> str:
        out = subprocess.run([self.binary, *self.version_args], capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]


def sitesnap_tool(binary: str) -> Tool:
    return Tool(
        name="sitesnap",
        binary=binary,
        env={"SITESNAP_PASSWORD": PASSWORD},
        init=lambda repo: [binary, "-r", str(repo), "init"],
        backup=lambda repo, tree, n: [binary, "-r", str(repo), "-q", "backup", str(tree)],
        restore=lambda repo, target: [binary, "-r", str(repo), "-q", "restore", "latest", "--target", str(target)],
        restored_root=lambda target, tree: target / tree.name,
        note="defaults (zstd per blob, incompressible data stored raw), argon2id key",
    )


def restic_tool(binary: str) -> Tool:
    return Tool(
        name="restic",
        binary=binary,
        env={"RESTIC_PASSWORD": PASSWORD},
        version_args=["version"],
        init=lambda repo: [binary, "-r", str(repo), "init"],
        backup=lambda repo, tree, n: [binary, "-r", str(repo), "backup", "-q", "--host", "bench", str(tree)],
        restore=lambda repo, target: [binary, "-r", str(repo), "restore", "latest", "-q", "--target", str(target)],
        restored_root=lambda target, tree: target / tree.relative_to("/"),
        note="defaults: repository v2, compression auto",
    )


def borg_tool(binary: str, compression: str) -> Tool:
    return Tool(
        name="borg",
        binary=binary,
        env={"BORG_PASSPHRASE": PASSWORD, "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"},
        init=lambda repo: [binary, "init", "--encryption", "repokey-blake2", str(repo)],
        # Relative path, run from the tree's parent, so it extracts as ./<name>.
        backup=lambda repo, tree, n: [binary, "create", "--compression", compression, f"{repo}::b{n}", tree.name],
        restore=lambda repo, target: [binary, "extract", f"{repo}::b3"],
        restored_root=lambda target, tree: target / tree.name,
        restore_in_target=True,
        note=f"repokey-blake2, --compression {compression}",
    )


def ensure_debian(packages: dict[str, str], notes: list[str]) -> dict[str, str | None]:
    """Path of each wanted binary; apt-get installs missing ones when root."""
    found: dict[str, str | None] = {b: shutil.which(b) for b in packages}
    missing = [pkg for b, pkg in packages.items() if not found[b]]
    if missing and os.geteuid() == 0:
        print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=False, capture_output=True)
        found = {b: shutil.which(b) for b in packages}
    for b, pkg in packages.items():
        if not found[b]:
            notes.append(f"{b} not found and not installable (need root for apt-get install {pkg}): skipped")
    return found


# --------------------------------------------------------------- measuring


@dataclass
class Measure:
    seconds: float
    max_rss_kib: int
    cpu_seconds: float


def run_timed(cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> Measure:
    """Run cmd under GNU time; wall time by the clock here, peak RSS and CPU time (user + sys) from time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        started = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M %U %S", "-o", tf.name, *cmd], env=env, cwd=cwd,
                              capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        rss, user, system = Path(tf.name).read_text().strip().splitlines()[-1].split()
    return Measure(elapsed, int(rss), float(user) + float(system))


def tree_stats(root: Path) -> tuple[int, int]:
    """(files, apparent bytes) of the regular files below root."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            files += 1
            size += st.st_size
    return files, size


def repo_bytes(root: Path) -> int:
    return tree_stats(root)[1]


def warm_up(root: Path) -> None:
    """Read every file once so all tools start from the same warm page cache."""
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as fh:
                while fh.read(8 * MIB):
                    pass


def manifest(root: Path) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            h = hashlib.blake2b(digest_size=16)
            with open(p, "rb") as fh:
                while chunk := fh.read(8 * MIB):
                    h.update(chunk)
            out[os.path.relpath(p, root)] = (os.path.getsize(p), h.hexdigest())
    return out


def sync() -> float:
    started = time.perf_counter()
    os.sync()
    return time.perf_counter() - started


def rmtree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def copy_tree(src: Path, dst: Path) -> None:
    rmtree(dst)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


# ------------------------------------------------------------- one session


@dataclass
class Run:
    """One repetition of the four steps for one tool."""

    tool: str
    rep: int
    seconds: dict[str, float] = field(default_factory=dict)
    rss_kib: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    cpu_pressure: dict[str, float] = field(default_factory=dict)
    repo_bytes: dict[str, int] = field(default_factory=dict)
    init_seconds: float = 0.0
    restore_sync_seconds: float = 0.0
    verified: bool | None = None


def cpu_pressure() -> float:
    """Share of the last 10 s in which some runnable task waited for a CPU (PSI), in percent."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return float("nan")
    return float(dict(kv.split("=") for kv in first.split()[1:])["avg10"])


def record(run: Run, step: str, m: Measure) -> None:
    run.seconds[step], run.rss_kib[step], run.cpu_seconds[step] = m.seconds, m.max_rss_kib, m.cpu_seconds
    run.cpu_pressure[step] = cpu_pressure()


def trash(path: Path, work: Path) -> None:
    """Move path out of the way; the trash is emptied after the last measurement, not between them."""
    if path.exists():
        bin_ = work / "trash"
        bin_.mkdir(exist_ok=True)
        path.rename(bin_ / f"{path.name}-{time.monotonic_ns()}")


def run_tool(tool: Tool, rep: int, work: Path, mutate_pct: float, seed: int, verify: bool, keep: bool) -> Run:
    """The four steps on ``work/tree``, which is left as it was found (the mutation is undone)."""
    tree, repo, target = work / "tree", work / f"repo-{tool.name}", work / f"restore-{tool.name}"
    home, kept = work / f"home-{tool.name}", work / "mutation-originals"
    for p in (repo, target, home, kept):
        trash(p, work)
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", **tool.env}
    warm_up(tree)
    journal = gen_site.Journal(tree, kept)
    run = Run(tool.name, rep)
    run.init_seconds = run_timed(tool.init(repo), env, cwd=work).seconds
    for n, step in enumerate(("initial", "unchanged", "mutated"), start=1):
        if step == "mutated":
            gen_site.mutate(tree, mutate_pct, seed, journal)
            sync()
            warm_up(tree)
        m = run_timed(tool.backup(repo, tree, n), env, cwd=work)
        sync()
        record(run, step, m)
        run.repo_bytes[step] = repo_bytes(repo)
    target.mkdir()
    m = run_timed(tool.restore(repo, target), env, cwd=target if tool.restore_in_target else work)
    run.restore_sync_seconds = sync()
    record(run, "restore", m)
    if verify:
        got, want = manifest(tool.restored_root(target, tree)), manifest(tree)
        run.verified = got == want
        if not run.verified:
            diff = sorted(set(got.items()) ^ set(want.items()))[:5]
            print(f"  !! {tool.name}: restored tree differs from the source, e.g. {diff}", flush=True)
    trash(target, work)
    gen_site.undo(journal)
    rmtree(kept)
    if not keep:
        trash(repo, work)
        trash(home, work)
    sync()
    return run


# --------------------------------------------------------------- reporting


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[Run], tree_bytes: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r.tool for r in runs):
        rs = [r for r in runs if r.tool == name]
        s: dict[str, float] = {f"{k}_s": median([r.seconds[k] for r in rs]) for k in STEPS}
        s["initial_mibps"] = tree_bytes / MIB / s["initial_s"]
        s["restore_mibps"] = tree_bytes / MIB / s["restore_s"]
        s["peak_rss_mib"] = median([max(r.rss_kib.values()) / 1024 for r in rs])
        for k in STEPS:
            s[f"rss_{k}_mib"] = median([r.rss_kib[k] / 1024 for r in rs])
        s["repo_mib"] = median([r.repo_bytes["initial"] / MIB for r in rs])
        s["unchanged_added_mib"] = median([(r.repo_bytes["unchanged"] - r.repo_bytes["initial"]) / MIB for r in rs])
        s["mutated_added_mib"] = median([(r.repo_bytes["mutated"] - r.repo_bytes["unchanged"]) / MIB for r in rs])
        s["final_repo_mib"] = median([r.repo_bytes["mutated"] / MIB for r in rs])
        s["restore_sync_s"] = median([r.restore_sync_seconds for r in rs])
        s["init_s"] = median([r.init_seconds for r in rs])
        for k in STEPS:
            s[f"cpu_{k}_s"] = median([r.cpu_seconds[k] for r in rs])
        s["cpu_pressure_pct"] = median([max(r.cpu_pressure.values()) for r in rs])
        out[name] = s
    return out


# (label, metric, better, target ratio): "higher" means sitesnap/best >= target.
TARGETS = [
    ("initial backup throughput", "initial_mibps", "higher", 1.2),
    ("unchanged re-backup time", "unchanged_s", "lower", 0.8),
    ("restore throughput", "restore_mibps", "higher", 1.2),
    ("peak RSS", "peak_rss_mib", "lower", 1.0),
    ("repository size", "repo_mib", "lower", 1.0),
]


def ratios(summary: dict[str, dict[str, float]]) -> list[dict[str, object]]:
    peers = {k: v for k, v in summary.items() if k != "sitesnap"}
    if "sitesnap" not in summary or not peers:
        return []
    rows: list[dict[str, object]] = []
    for label, key, better, target in TARGETS:
        pick = max if better == "higher" else min
        best = pick(peers, key=lambda n, key=key: peers[n][key])
        ratio = summary["sitesnap"][key] / peers[best][key]
        ok = ratio >= target if better == "higher" else ratio <= target
        rows.append({"metric": label, "key": key, "best_peer": best, "peer_value": peers[best][key],
                     "sitesnap_value": summary["sitesnap"][key], "ratio": ratio,
                     "target": f"{'>=' if better == 'higher' else '<='} {target}", "met": ok})
    return rows


def markdown_tables(summary: dict[str, dict[str, float]], rat: list[dict[str, object]]) -> str:
    head = ("| tool | initial s | initial MiB/s | unchanged s | +1 % s | +1 % added MiB | restore s | restore MiB/s "
            "| peak RSS MiB | repo MiB |")
    lines = [head, "|" + "---|" * 10]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['initial_s']:.2f} | {s['initial_mibps']:.0f} | {s['unchanged_s']:.2f} | "
            f"{s['mutated_s']:.2f} | {s['mutated_added_mib']:.1f} | {s['restore_s']:.2f} | {s['restore_mibps']:.0f} | "
            f"{s['peak_rss_mib']:.0f} | {s['repo_mib']:.0f} |"
        )
    lines += ["", "CPU seconds (user + sys), less sensitive than wall time to other load on the machine:", "",
              "| tool | initial | unchanged | +1 % | restore | max CPU pressure % |", "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['cpu_initial_s']:.2f} | {s['cpu_unchanged_s']:.2f} | {s['cpu_mutated_s']:.2f} | "
                     f"{s['cpu_restore_s']:.2f} | {s['cpu_pressure_pct']:.0f} |")
    if rat:
        lines += ["", "| target (sitesnap / best peer) | best peer | ratio | target | met |", "|---|---|---|---|---|"]
        for r in rat:
            lines.append(f"| {r['metric']} | {r['best_peer']} | {r['ratio']:.3f} | {r['target']} | "
                         f"{'yes' if r['met'] else 'NO'} |")
    return "\n".join(lines)


def machine_facts(workdir: Path) -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = subprocess.run(["df", "-T", str(workdir)], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "filesystem": fs[-1].split()[1] if len(fs) > 1 else "",
        "loadavg_start": os.getloadavg(),
    }


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "src"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return out.stdout.strip() + (" (src/ has uncommitted changes)" if dirty else "")


# -------------------------------------------------------------------- main


def prepare_tree(args: argparse.Namespace, workdir: Path) -> Path:
    """The pristine tree for these arguments, generated once and cached."""
    name = (f"small-{args.files}-s{args.seed}" if args.small_files else f"site-{args.size}-s{args.seed}")
    path, stamp = workdir / "trees" / name, workdir / "trees" / f"{name}.done"
    if not stamp.exists():
        rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} ...", flush=True)
        started = time.perf_counter()
        info = (gen_site.gen_small(path, args.files, args.seed) if args.small_files
                else gen_site.gen_site(path, args.size, args.seed))
        print(f"  {info} in {time.perf_counter() - started:.1f} s", flush=True)
        stamp.write_text(json.dumps(info))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=gen_site.parse_size, default=gen_site.GIB, help="site tree size (default 1G)")
    ap.add_argument("--small-files", action="store_true", help="use the small-files tree instead of the site")
    ap.add_argument("--files", type=int, default=100_000, help="files in the small-files tree (default 100000)")
    ap.add_argument("--tools", default="sitesnap,restic,borg", help="comma-separated (default sitesnap,restic,borg)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions; the median is reported (default 3)")
    ap.add_argument("--mutate", type=float, default=1.0, help="percent changed before the third backup (default 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--borg-compression", default="zstd,3")
    ap.add_argument("--sitesnap", default=str(ROOT / ".venv" / "bin" / "sitesnap"), help="sitesnap executable")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sitesnap-bench",
                    help="where trees, repositories and restores go (generated trees are cached here)")
    ap.add_argument("--keep", action="store_true", help="keep the last repositories and tree in the workdir")
    ap.add_argument("--results", type=Path, default=HERE / "results", help="directory for the JSON results")
    args = ap.parse_args(argv)

    notes: list[str] = []
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(wanted) - {"sitesnap", "restic", "borg"}
    if unknown:
        ap.error(f"unknown tools: {', '.join(sorted(unknown))}")
    debian = {"time": "time", **{t: ("borgbackup" if t == "borg" else t) for t in wanted if t != "sitesnap"}}
    found = ensure_debian(debian, notes)
    if not found["time"] or not Path(GNU_TIME).exists():
        ap.error("GNU time (/usr/bin/time) is required: apt-get install time")
    if "sitesnap" in wanted:
        # As an installed wheel has: the byte-code cache, current for the sources measured.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True,
                       stdout=subprocess.DEVNULL)
    tools: list[Tool] = []
    for t in wanted:
        if t == "sitesnap":
            if not Path(args.sitesnap).exists():
                notes.append(f"sitesnap not found at {args.sitesnap}: skipped")
                continue
            tools.append(sitesnap_tool(args.sitesnap))
        elif (binary := found.get(t)) is not None:
            tools.append(restic_tool(binary) if t == "restic" else borg_tool(binary, args.borg_compression))

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    machine = machine_facts(workdir)
    pristine = prepare_tree(args, workdir)
    files, tree_bytes = tree_stats(pristine)
    work = workdir / "run"
    rmtree(work)
    work.mkdir()
    copy_tree(pristine, work / "tree")
    sync()
    versions = {t.name: t.version() for t in tools}
    commit_start = git_commit()
    print(f"tree: {pristine} ({files} files, {tree_bytes / MIB:.0f} MiB); tools: {versions}", flush=True)

    runs: list[Run] = []
    started = time.perf_counter()
    for rep in range(1, args.repeat + 1):
        for tool in tools:
            r = run_tool(tool, rep, work, args.mutate, args.seed, verify=rep == 1,
                         keep=args.keep and rep == args.repeat)
            runs.append(r)
            print(f"  rep {rep} {tool.name:9s} " + " ".join(f"{k}={v:.2f}s" for k, v in r.seconds.items())
                  + f" cpu={sum(r.cpu_seconds.values()):.1f}s psi={max(r.cpu_pressure.values()):.0f}%"
                  + f" peakRSS={max(r.rss_kib.values()) / 1024:.0f}MiB repo={r.repo_bytes['initial'] / MIB:.0f}MiB"
                  + ("" if r.verified is None else f" verified={r.verified}"), flush=True)
    rmtree(work / "trash")
    if not args.keep:
        rmtree(work / "tree")
    summary = summarize(runs, tree_bytes)
    rat = ratios(summary)
    machine["loadavg_end"] = os.getloadavg()
    table = markdown_tables(summary, rat)
    variant = f"small-files {files} files" if args.small_files else "site"
    print(f"\n{variant}: {files} files, {tree_bytes / MIB:.0f} MiB; median of {args.repeat}; "
          f"{time.perf_counter() - started:.0f} s\n")
    print(table)
    for t in tools:
        print(f"- {t.name}: {versions[t.name]}; {t.note}")
    for n in notes:
        print(f"- note: {n}")
    if any(r.verified is False for r in runs):
        notes.append("a restored tree differed from its source (see the log)")
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"{stamp}-{'small' if args.small_files else 'site'}.json"
    out.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "variant": variant, "tree": {"path": str(pristine), "files": files, "bytes": tree_bytes},
        "commit": commit_start, "commit_end": git_commit(), "machine": machine, "versions": versions,
        "settings": {t.name: t.note for t in tools}, "repeat": args.repeat, "mutate_pct": args.mutate,
        "summary": summary, "ratios": rat, "runs": [asdict(r) for r in runs], "notes": notes,
        "markdown": table,
    }, indent=2))
    print(f"\ncommit: {commit_start}" + ("" if commit_start == git_commit() else f", at the end: {git_commit()}"))
    print(f"results: {out}")
    return 1 if any(r.verified is False for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
