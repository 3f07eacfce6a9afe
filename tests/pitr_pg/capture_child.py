"""Run a PostgreSQL capture until killed: ``python capture_child.py REPO PASSWORD URL NAME SPOOL``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

from sitesnap.engine.pgpitr import open_capture
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage


def main(repo_path: str, password: str, url: str, name: str, spool: str) -> None:
    repo = Repository.open(LocalStorage(Path(repo_path)), password)
    cfg = SimpleNamespace(name=name, type="postgres", url=url, password=None, continuous=True)
    cap = open_capture(repo, cfg, spool=Path(spool))
    with repo.lock(operation="capture"):
        repo.load_index()
        cap.start()
        print("started", flush=True)
        while True:
            cap.tick()
            time.sleep(0.2)


if __name__ == "__main__":
    main(*sys.argv[1:6])
