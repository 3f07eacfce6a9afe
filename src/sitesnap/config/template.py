"""Render a commented ``sitesnap.toml`` for a detected Flask site.

The output is meant to be read and edited by the operator, so it explains
each table and lists the defaults as comments; it is also always accepted by
:func:`~sitesnap.config.load_config` (a test renders and loads it).  Passwords
found in the app's database URI are not copied: the rendered file refers to
an environment variable instead, named in a comment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sitesnap.config.tomltext import toml_value

if TYPE_CHECKING:
    from sitesnap.config.detect import DetectedDatabase, DetectedSite

__all__ = ["password_env_name", "render_config"]

_DEFAULTS = """\
# Defaults, shown for reference (uncomment to change; cron times use [site] timezone):
# [schedule]
# incremental = "0 */6 * * *"   # every 6 hours
# full = "0 2 * * 0"            # Sunday 02:00
# prune = "0 3 * * *"           # daily 03:00
# check = "0 4 * * *"           # read-data check, daily 04:00
# drill = "0 5 * * 6"           # restore drill, Saturday 05:00
#
# [retention]
# full = "3 months"
# incremental = "1 month"
# realtime = "7d"
# snapshot = "forever"          # manual snapshots stay until deleted by hand
# "pre-restore" = "30d"
# keep_daily = 7                # restic-style rules add to the table above
"""


def password_env_name(source: str) -> str:
    """The environment variable the rendered config names for a source's password."""
    return "SITESNAP_" + re.sub(r"[^A-Z0-9]+", "_", source.upper()).strip("_") + "_PASSWORD"


def render_config(
    detected: DetectedSite, repo_url: str, *, config_dir: Path | None = None
) -> str:
    """A commented ``sitesnap.toml`` for ``detected`` with one repository at ``repo_url``.

    Paths inside ``config_dir`` (where the file will be written) are written
    relative to it, so the site can move as a whole.
    """
    lines = [
        f"# sitesnap configuration for the Flask app {detected.spec}",
        "# Every key is described in docs/config.md.  Relative paths start at this file's folder.",
        "",
        "[site]",
        f"name = {toml_value(detected.name)}",
        '# rpo = "24h"                  # alert when no backup succeeded for this long',
        '# console_url = "https://backups.example.com"   # for links in alert messages',
        '# timezone = "UTC"             # for schedules; default: the machine\'s local time',
    ]
    for database in detected.databases:
        lines += ["", *_database(database, config_dir)]
    if detected.upload_folder is not None:
        lines += [
            "",
            "[[sources]]                    # from UPLOAD_FOLDER",
            'name = "uploads"',
            'type = "files"',
            f"path = {toml_value(_path(detected.upload_folder, config_dir))}",
            '# exclude = ["*.tmp", "cache/"]   # gitignore-style patterns',
        ]
    if detected.instance_path is not None:
        lines += [
            "",
            "# The instance folder often holds the app's private config; back it up too?",
            "# [[sources]]",
            '# name = "instance"',
            '# type = "files"',
            f"# path = {toml_value(_path(detected.instance_path, config_dir))}",
        ]
    for note in detected.notes:
        lines.append(f"# note: {note}")
    lines += [
        "",
        "[[repositories]]               # the first repository is the primary",
        'name = "primary"',
        f"url = {toml_value(repo_url)}",
        'password = { env = "SITESNAP_PASSWORD" }   # or { file = "/etc/sitesnap/password" }',
        "",
        _DEFAULTS.rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"


def _database(database: DetectedDatabase, config_dir: Path | None) -> list[str]:
    lines = [
        f"[[sources]]                    # from {database.setting}",
        f"name = {toml_value(database.name)}",
        f"type = {toml_value(database.type)}",
    ]
    if database.path is not None:
        lines.append(f"path = {toml_value(_path(database.path, config_dir))}")
    if database.url is not None:
        lines.append(f"url = {toml_value(database.url)}")
    if database.password is not None:
        env = password_env_name(database.name)
        lines.append(
            f'password = {{ env = "{env}" }}   # the app\'s URI holds a password: export it as {env}'
        )
    return lines


def _path(path: Path, config_dir: Path | None) -> str:
    if config_dir is not None:
        try:
            return path.relative_to(config_dir.absolute()).as_posix() or "."
        except ValueError:
            pass
    return str(path)
