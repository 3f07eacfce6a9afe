"""``key rotate`` and ``key reencrypt``: a new master key, and rewriting what the older ones sealed."""

from __future__ import annotations

import sys
from typing import Any

import click

from sitesnap.cli.context import AppContext, given_new_password, pass_app
from sitesnap.cli.output import human_bytes
from sitesnap.errors import UsageError

NEXT_STEPS = [
    "give other people their passwords again: sitesnap key add",
    "print a new recovery code (the old one was removed): sitesnap key recovery",
    "export new keys for write-only backup hosts: sitesnap key write-only export",
    "data written before the rotation stays readable with the old key until: sitesnap key reencrypt",
]


def _confirm(app: AppContext, plan: Any, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("key rotate removes every other key slot and write-only key; confirm with --yes",
                         hint="Read docs/keys.md, 'Changing the master key', then run 'sitesnap key rotate --yes'.")
    err = app.output.err
    err.print(f"A new master key (generation {plan.generation}) replaces the current one. Removed:", markup=False)
    for slot in plan.slots:
        err.print(f"  key slot {slot.id[:8]}  {slot.label}", markup=False)
    for marker in plan.write_only:
        err.print(f"  write-only key {marker.id[:8]}  {marker.label}", markup=False)
    if not click.confirm("Rotate the master key?", default=False, err=True):
        raise UsageError("not confirmed; nothing was changed")


@click.command(name="rotate")
@click.option("--new-password-file", help="The new key slot opens with the password in this file instead of the "
              "current one.  [env: SITESNAP_NEW_PASSWORD]")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before removing the other key slots and write-only keys.")
@pass_app
def key_rotate(app: AppContext, new_password_file: str | None, yes: bool) -> None:
    """Replace the master key for everything written from now on (after a key may have leaked).

    The new key slot opens with the password in use (or the new one); every
    other key slot, recovery code and write-only key is removed, because it
    belongs to the old key.  Blob IDs stay, so the next backup stores only
    new data.  What was written before stays readable with the old key until
    'sitesnap key reencrypt' rewrites it.  Exclusive lock; refused on
    append-only storage.  See docs/keys.md.
    """
    from sitesnap.engine.opening import open_repository
    from sitesnap.repository.rotate import plan_rotate

    password = app.password()
    new_password = given_new_password(new_password_file)
    repo = open_repository(app.repository_url(), password, app.storage_options())
    try:
        plan = plan_rotate(repo)
        _confirm(app, plan, yes)
        result = plan.execute(password, new_password=new_password)
    finally:
        repo.close()
    if app.output.json_mode:
        app.output.json({"message_type": "key_rotated", **result.to_json(), "next_steps": NEXT_STEPS})
        return
    out = app.output
    out.always(f"master key rotated: key generation {result.generation} "
               f"({result.older_generations} older key(s) kept for what was written before)")
    out.always(f"new key slot {result.key_id[:8]} opens with the {'new' if new_password else 'same'} password")
    for slot in result.removed_slots:
        out.always(f"removed key slot {slot.id[:8]}  {slot.label}")
    for marker in result.removed_write_only:
        out.always(f"removed write-only key {marker.id[:8]}  {marker.label}")
    out.always("next:\n" + "\n".join(f"  - {step}" for step in NEXT_STEPS))


@click.command(name="reencrypt")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be rewritten; change nothing.")
@pass_app
def key_reencrypt(app: AppContext, dry_run: bool) -> None:
    """Rewrite everything older master keys sealed, then drop those keys from the repository.

    Packs, index files, snapshots and stale locks sealed before 'key rotate'
    are re-sealed with the current key (new packs and index first, then the
    old ones deleted, as prune does).  Re-sealed snapshots get new IDs;
    the old -> new mapping is printed.  Afterwards an old key opens nothing
    in the repository.  Exclusive lock; refused on append-only storage.
    """
    from sitesnap.repository.reencrypt import reencrypt

    with app.open_repo() as repo, app.output.progress("reencrypt") as sink:
        repo.require_read("key reencrypt")
        plan = reencrypt(repo, dry_run=dry_run, sink=sink)
    out = app.output
    if out.json_mode:
        out.json_line({"message_type": "key_reencrypted", "dry_run": dry_run, **plan.to_json()})
        return
    if plan.empty:
        out.always("nothing is sealed with an older master key")
        return
    out.always(f"older master keys: {plan.older_keys}; packs to rewrite: {len(plan.older_packs)} "
               f"({human_bytes(sum(plan.older_packs.values()))}); snapshots to re-seal: {len(plan.older_snapshots)}; "
               f"index files: {len(plan.older_index)}; locks: {len(plan.older_locks)}")
    if dry_run or plan.result is None:
        out.always("dry run: nothing was changed")
        return
    r = plan.result
    out.always(f"wrote {r.packs_written} pack(s) and {r.index_written} index file(s); deleted {r.packs_deleted} "
               f"pack(s) and {r.index_deleted} index file(s)")
    for old_id, new_id in r.snapshots.items():
        out.always(f"snapshot {old_id[:8]} -> {new_id[:8]}")
    out.always(f"dropped {r.older_keys_dropped} older master key(s): an old key opens nothing in the repository now")
