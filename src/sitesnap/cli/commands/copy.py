"""``copy``: snapshots from one repository to another, by name or URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sitesnap.cli.context import AppContext, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.cli.targets import passwords_for, target_for

if TYPE_CHECKING:
    pass


@click.command()
@click.argument("snapshot_ids", nargs=-1)
@click.option("--from", "from_spec", metavar="NAME|URL", help="Source repository (default: -r or the primary).")
@click.option("--to", "to_spec", required=True, metavar="NAME|URL", help="Destination repository.")
@click.option("--from-password-file", metavar="FILE", help="Source password.  [env: SITESNAP_FROM_PASSWORD]")
@click.option("--to-password-file", metavar="FILE", help="Destination password.  [env: SITESNAP_TO_PASSWORD]")
@pass_app
def copy(app: AppContext, snapshot_ids: tuple[str, ...], from_spec: str | None, to_spec: str,
         from_password_file: str | None, to_password_file: str | None) -> None:
    """Copy SNAPSHOT_IDS (default: all) to another repository, skipping those already there.

    Only missing data moves when the destination was created with
    'init --copy-chunker-params-from'; otherwise every copied blob is read
    and re-hashed with the destination's key.
    """
    from sitesnap.engine.copy import CopyOutcome, copy_snapshots, record_outcomes
    from sitesnap.engine.opening import open_target

    src_target, dst_target = target_for(app, from_spec), target_for(app, to_spec)
    src_name, dst_name = src_target.name, dst_target.name
    src = open_target(src_target, passwords_for(app, from_password_file, "SITESNAP_FROM_PASSWORD"))
    try:
        dst = open_target(dst_target, passwords_for(app, to_password_file, "SITESNAP_TO_PASSWORD"))
        try:
            with app.output.progress("copy") as sink:
                result = copy_snapshots(src, dst, list(snapshot_ids) or None, sink=sink)
        finally:
            dst.close()
    finally:
        src.close()
    cfg = app.site()
    if cfg is not None and to_spec in {r.name for r in cfg.repositories}:
        record_outcomes(cfg.runtime.state_dir, [
            CopyOutcome(dst_name, sid, "ok", copied_snapshot=new, bytes_sent=result.bytes_sent, source=src_name,
                        site=cfg.site.name)
            for sid, new in {**result.skipped, **result.copied}.items()
        ])
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "summary", "from": src_name, "to": dst_name, **result.to_json()})
        return
    for sid, new in result.copied.items():
        out.always(f"copied snapshot {sid[:8]} -> {new[:8]}")
    mode = "translated IDs (independent keys)" if result.translated else "same blob IDs"
    out.always(f"{len(result.copied)} snapshot(s) copied, {len(result.skipped)} already present; "
               f"{result.blobs_copied} blobs, {human_bytes(result.bytes_sent)} sent; {mode}")


COMMANDS = [copy]
