"""Hand a CLI backup to the site's running scheduler over a Unix socket.

A cold ``sitesnap -c site.toml backup`` spends about a second importing the
config models, the catalog and the database drivers before its dump starts;
the site's embedded scheduler has paid that already.  So while a scheduler
runs, the CLI connects to it as a thin client and the scheduler runs the
backup; otherwise the CLI runs it in-process as before.

Protocol (JSON lines over a Unix stream socket at
``<state_dir>/scheduler-<site>.sock``, beside the scheduler's lock)::

    → {"v": 1, "op": "backup", "params": {"type", "tags", "sources", "copy"},
       "config_digest": "<sha256 of the config file's bytes>"}
    ← {"message_type": "refused", "code": ..., "reason": ...}            (then EOF)
    ← {"message_type": "accepted", "run_id": ..., "pid": ...}
    ← {"message_type": "warning", "message": ...}                       (0 or more)
    ← {"message_type": "status", ...Progress.to_dict()}                 (0 or more)
    ← {"message_type": "result", ...RunResult.to_dict()}                (then EOF)

Security: the socket is created mode 0600 before it listens, and every peer's
uid (``SO_PEERCRED``) must be the scheduler's own or root's.  The scheduler
refuses a request whose config digest differs from the file it loaded, so an
edited configuration never runs with the old one.  A client that goes away
does not stop its backup: writes to it are dropped and the run is recorded.

The client half (:func:`read_site_address`, :func:`hand_off_backup`) imports
neither pydantic, SQLAlchemy nor the config models: that is its point.
"""

from __future__ import annotations

from sitesnap.runtime.handoff.client import Handoff, hand_off_backup, progress_from
from sitesnap.runtime.handoff.protocol import (
    PROTOCOL_VERSION,
    Refused,
    SiteAddress,
    config_digest,
    file_digest,
    read_site_address,
    socket_path,
)
from sitesnap.runtime.handoff.server import BackupHandler, HandoffServer, Reply, peer_allowed

__all__ = ["PROTOCOL_VERSION", "BackupHandler", "Handoff", "HandoffServer", "Refused", "Reply", "SiteAddress",
           "config_digest", "file_digest", "hand_off_backup", "peer_allowed", "progress_from", "read_site_address",
           "socket_path"]
