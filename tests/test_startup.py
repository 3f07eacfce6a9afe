"""Plain repository commands start fast: they load neither the configuration models nor the catalog.

A ``sitesnap -r REPO backup PATH`` started by cron pays Python's start-up on
every run; pydantic (the site configuration) and SQLAlchemy (the catalog)
cost more than the rest of the command line put together on a small machine
(docs/performance.md), so only commands that read a site configuration load them,
and ``sitesnap -c site.toml backup`` loads them only when no scheduler of the
site takes the backup over (``sitesnap.runtime.handoff``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PROBE = """
import json, sys
from sitesnap.cli.main import main
sys.argv = ["sitesnap", "-q", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("pydantic", "sqlalchemy", "psycopg", "sitesnap.config", "sitesnap.catalog", "flask",
                           "celery") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def run(repo: Path, *args: str) -> dict[str, object]:
    env = {**os.environ, "SITESNAP_PASSWORD": "pw"}
    env.pop("SITESNAP_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", PROBE, "-r", str(repo), *args], env=env, capture_output=True,
                         text=True, check=True, cwd=repo.parent)
    result: dict[str, object] = json.loads(out.stderr.strip().splitlines()[-1])
    return result


def test_backup_snapshots_restore_load_no_config_or_catalog(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    Repository.init(LocalStorage(str(repo)), "pw", kdf={"name": "scrypt", "n": 1024, "r": 8, "p": 1}).close()
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello\n")
    for args in (("backup", str(src)), ("snapshots",), ("restore", "latest", "--target", str(tmp_path / "out"))):
        result = run(repo, *args)
        assert result == {"code": 0, "heavy": []}, (args, result)
    assert (tmp_path / "out").exists()


def test_site_backup_handed_to_the_scheduler_loads_no_config_or_catalog(tmp_path: Path) -> None:
    kdf = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}
    Repository.init(LocalStorage(str(tmp_path / "repo")), "pw", kdf=kdf).close()
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "a.txt").write_text("hello\n")
    config = tmp_path / "site.toml"
    config.write_text('[site]\nname = "probe"\n[[sources]]\nname = "up"\ntype = "files"\npath = "up"\n'
                      '[[repositories]]\nname = "local"\nurl = "repo"\npassword = { env = "SITESNAP_PASSWORD" }\n'
                      '[schedule]\nincremental = "off"\nfull = "off"\nprune = "off"\ncheck = "off"\ndrill = "off"\n')
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_")}, "SITESNAP_PASSWORD": "pw"}
    sock = tmp_path / ".sitesnap" / "scheduler-probe.sock"
    scheduler = subprocess.Popen([sys.executable, "-m", "sitesnap.cli.main", "-c", str(config), "scheduler"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket(socket.AF_UNIX) as probe:
                if probe.connect_ex(str(sock)) == 0:
                    break
            assert scheduler.poll() is None and time.monotonic() < deadline, "the scheduler did not listen"
            time.sleep(0.05)
        out = subprocess.run([sys.executable, "-c", PROBE, "-c", str(config), "backup"], env=env,
                             capture_output=True, text=True, check=True, cwd=tmp_path)
        result = json.loads(out.stderr.strip().splitlines()[-1])
        assert result == {"code": 0, "heavy": []}, out
        assert "snapshot" in out.stdout
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=60)
