"""Rendering for the CLI: human text, JSON documents, JSON-lines progress, progress bars.

One ``Output`` per invocation.  ``--json`` makes every command print JSON:
a single document for quick commands, JSON lines (``message_type`` =
``status`` then ``summary``) for long ones.  A progress bar is drawn on
stderr only when stderr is a terminal; piped output stays quiet.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console

from sitesnap.progress import Progress, ProgressSink

__all__ = ["Output", "human_bytes"]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


class Output:
    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self._lock = threading.Lock()

    # --- plain output -----------------------------------------------------------

    def print(self, text: str = "", **kwargs: Any) -> None:
        if not self.json_mode and not self.quiet:
            self.console.print(text, **kwargs)

    def always(self, text: str) -> None:
        if not self.json_mode:
            self.console.print(text, markup=False)

    def warn(self, text: str) -> None:
        if self.json_mode:
            self.json_line({"message_type": "warning", "message": text})
        else:
            self.err.print(f"[yellow]warning:[/] {text}", markup=True, highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()

    def json_line(self, data: Any) -> None:
        with self._lock:
            sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    # --- progress ---------------------------------------------------------------

    @contextmanager
    def progress(self, operation: str) -> Iterator[ProgressSink]:
        """A sink for the engine: JSON lines, a rich bar on a terminal, or nothing."""
        if self.json_mode:

            def json_sink(p: Progress) -> None:
                self.json_line({"message_type": "status", **p.to_dict()})

            yield json_sink
            return
        if self.quiet or not self.err.is_terminal:
            yield lambda _p: None
            return
        # Loaded only for a bar on a terminal: a backup started by cron does not pay for it.
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[files]} files"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )
        task = bar.add_task(operation, total=None, files=0)

        def bar_sink(p: Progress) -> None:
            bar.update(
                task,
                completed=p.bytes_done,
                total=p.bytes_total or None,
                description=f"{operation} {p.phase}".strip(),
                files=p.files_done,
            )

        with bar:
            yield bar_sink
