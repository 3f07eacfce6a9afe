"""The scheduler's memory of when each job last fired, so a restart can run what it missed.

One small JSON file per site in the state directory, rewritten atomically
(temp file, then rename); unreadable or missing means "nothing fired yet".
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path

__all__ = ["FireLog"]


class FireLog:
    """The last fire time of each job, in a JSON file written atomically; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, datetime]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {job: datetime.fromisoformat(text) for job, text in data.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def mark(self, job: str, when: datetime) -> None:
        with self._lock:
            data = {k: v.isoformat() for k, v in self.load().items()}
            data[job] = when.isoformat()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
