"""Where a restore writes: making the target directory, with a one-line error when that is not allowed."""

from __future__ import annotations

import os

from sitesnap.errors import RestoreError

__all__ = ["make_target"]


def make_target(directory: str) -> None:
    """Create ``directory`` and its parents; a place that cannot be written is a :class:`RestoreError` with a hint.

    Idempotent.  A read-only parent, ``/proc/...`` or a file in the way is
    the user's to fix, so it is said in one line rather than as a traceback.
    """
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise RestoreError(f"cannot create target {directory}: {exc.strerror or exc}",
                           hint="Restore into a directory you can write to (--target, --to NAME=DIR), "
                                "or create it with the right owner first.") from None
