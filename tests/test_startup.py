"""Plain repository commands start fast: they load neither the configuration models nor the catalog.

A ``sitesnap -r REPO backup PATH`` started by cron pays Python's start-up on
every run; pydantic (the site configuration) and SQLAlchemy (the catalog)
cost more than the rest of the command line put together on a small machine
(docs/performance.md), so only commands that read a site configuration load them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

PROBE = """
import json, sys
from sitesnap.cli.main import main
sys.argv = ["sitesnap", "-q", "-r", sys.argv[1], *sys.argv[2:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("pydantic", "sqlalchemy", "sitesnap.config", "sitesnap.catalog", "flask", "celery")
               if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def run(repo: Path, *args: str) -> dict[str, object]:
    env = {**os.environ, "SITESNAP_PASSWORD": "pw"}
    env.pop("SITESNAP_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", PROBE, str(repo), *args], env=env, capture_output=True,
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
