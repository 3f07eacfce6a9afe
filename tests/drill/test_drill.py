"""Restore drills against the real PostgreSQL and MariaDB servers, a real repository and a real webhook receiver."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.drill.sites import PASSWORD, fill_my, fill_pg, flip_byte, packs, write_site
from tests.sources.conftest import my_databases, pg_databases

from sitesnap.catalog import open_catalog
from sitesnap.engine.browse import find_node
from sitesnap.engine.drill import drill_database_name, drop_database, run_drill, verify_file
from sitesnap.engine.opening import open_repository
from sitesnap.engine.site import select_snapshot
from sitesnap.errors import IntegrityError, RestoreError
from sitesnap.runtime.jobs import run_job
from sitesnap.sources.dburl import parse_database_url


def leftovers(pg: str, my: str) -> list[str]:
    """Every database a drill of these sources may have made (drill copies and restore side copies)."""
    return pg_databases(pg + "_") + my_databases(my + "_")


def scratch_dirs(base: Path) -> list[Path]:
    return list(base.glob("sitesnap-drill-*"))


@pytest.fixture
def site(tmp_path: Path, pg_db: Any, my_db: Any, receiver: Any) -> Any:
    pg, my = pg_db(), my_db()
    fill_pg(pg, 1200)
    fill_my(my, 700)
    cfg = write_site(tmp_path / "site", pg=pg, my=my, hook=receiver.url("/hook"))
    catalog = open_catalog(cfg.runtime.catalog_url)
    backup = run_job("backup", cfg, {"type": "full"}, catalog=catalog)
    assert backup.ok, backup.error
    yield cfg, catalog, pg, my
    catalog.close()


def hook_messages(receiver: Any, rule: str) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.requests if r.path == "/hook" and r.json()["rule"] == rule]


def test_drill_passes_on_a_good_snapshot(site: Any, receiver: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, catalog, pg, my = site
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # scratch directories land where we can look
    result = run_job("drill", cfg, {}, catalog=catalog, triggered_by="scheduler")
    assert result.ok, result.error
    report = result.result
    assert report["ok"] is True and report["rto_seconds"] > 0
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"db", "uploads", "main", "shop"}
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert checks["main"]["stats"]["tables"] == {"public.item": 1200, "public.tag": 0}
    assert checks["shop"]["stats"]["tables"] == {"orders": 700}
    assert checks["db"]["stats"] == {"integrity_check": "ok", "tables": {"post": 250}}
    assert checks["uploads"]["stats"]["files"] == 3 and checks["uploads"]["stats"]["bytes"] == 300_006
    assert checks["main"]["target"].rsplit("/", 1)[1].startswith(f"{pg}_drill_")
    # recorded: a drill run and its result, linked
    drills = catalog.list_drill_results(site="blog").items
    assert len(drills) == 1 and drills[0].ok and drills[0].run_id == result.run_id
    assert drills[0].snapshot_id == report["snapshot_id"] and drills[0].rto_seconds == pytest.approx(
        report["rto_seconds"], abs=1e-3)
    assert catalog.get_run(result.run_id).kind == "drill"  # type: ignore[union-attr]
    # nothing left behind, and nothing to alert about
    assert leftovers(pg, my) == []
    assert scratch_dirs(tmp_path) == []
    assert hook_messages(receiver, "integrity_failure") == []


def test_damaged_pack_fails_the_drill_alerts_once_and_resolves(site: Any, receiver: Any) -> None:
    cfg, catalog, pg, my = site
    pack = packs(cfg.base_dir)[0]
    flip_byte(pack)

    failed = run_job("drill", cfg, {}, catalog=catalog)
    assert failed.status == "failed" and isinstance(failed.error, IntegrityError)
    assert failed.result["ok"] is False
    bad = [c for c in failed.result["checks"] if c["status"] == "failed"]
    assert bad and all(c["detail"] for c in bad)
    recorded = catalog.list_drill_results(site="blog").items
    assert [d.ok for d in recorded] == [False]
    assert leftovers(pg, my) == []  # dropped although the drill failed

    fired = hook_messages(receiver, "integrity_failure")
    assert len(fired) == 1
    note = fired[0]
    assert note["kind"] == "firing" and note["site"] == "blog" and note["severity"] == "critical"
    assert note["subject"] == "drill" and note["values"]["kind"] == "drill"
    assert bad[0]["name"] in note["values"]["message"]
    assert note["console_url"] == cfg.site.console_url

    # still damaged: the alert is not sent again
    again = run_job("drill", cfg, {}, catalog=catalog)
    assert again.status == "failed"
    assert len(hook_messages(receiver, "integrity_failure")) == 1
    assert catalog.list_alert_states(site="blog", state="firing")[0].rule == "integrity_failure/drill"

    # repaired: the next drill passes and the alert resolves, once
    flip_byte(pack)
    fixed = run_job("drill", cfg, {}, catalog=catalog)
    assert fixed.ok, fixed.error
    messages = hook_messages(receiver, "integrity_failure")
    assert [m["kind"] for m in messages] == ["firing", "resolved"]
    assert catalog.list_alert_states(site="blog", state="firing") == []
    assert [d.ok for d in catalog.list_drill_results(site="blog").items] == [True, False, False]
    assert leftovers(pg, my) == []


def test_keep_leaves_the_scratch_copies_and_read_data_adds_a_pack_check(site: Any, tmp_path: Path) -> None:
    cfg, _catalog, pg, my = site
    repo = open_repository(str(cfg.primary.local_path), PASSWORD)
    try:
        report = run_drill(repo, cfg, repository="local", keep=True, scratch_dir=tmp_path,
                           read_data_subset=1.0)
    finally:
        repo.close()
    try:
        assert report.ok, report.message
        assert report.checks[-1].name == "repository" and report.checks[-1].stats["packs_read"] > 0
        scratch = Path(report.scratch)
        assert (scratch / "files" / "uploads" / "2026" / "a.jpg").stat().st_size == 300_000
        assert os.readlink(scratch / "files" / "uploads" / "latest") == "notes.txt"
        assert (scratch / "db" / "db.sqlite").is_file()
        kept = set(leftovers(pg, my))
        assert len(kept) == 2 and all("_drill_" in name for name in kept)
        assert set(report.kept) >= {str(scratch)}
    finally:
        shutil.rmtree(report.scratch, ignore_errors=True)
        for name in leftovers(pg, my):
            kind, source = ("postgres", "main") if name.startswith(pg) else ("mysql", "shop")
            drop_database(kind, parse_database_url(cfg.source(source).url, kind=kind).with_database(name))
    assert leftovers(pg, my) == [] and not Path(report.scratch).exists()


def test_verify_file_checks_every_byte_against_the_snapshot(site: Any, tmp_path: Path) -> None:
    cfg, *_ = site
    original = (cfg.base_dir / "uploads" / "2026" / "a.jpg").read_bytes()
    repo = open_repository(str(cfg.primary.local_path), PASSWORD)
    try:
        repo.load_index()
        snap = select_snapshot(repo, "blog", None, None)
        node = find_node(repo, snap.tree, "/files/uploads/2026/a.jpg")
        copy = tmp_path / "a.jpg"
        copy.write_bytes(original)
        assert verify_file(repo, str(copy), node, "a.jpg") == hashlib.sha256(original).hexdigest()
        for damaged in (original[:-1] + bytes([original[-1] ^ 1]), original + b"x", original[:-1]):
            copy.write_bytes(damaged)
            with pytest.raises(IntegrityError, match=r"a\.jpg"):
                verify_file(repo, str(copy), node, "a.jpg")
    finally:
        repo.close()


def test_drill_database_names_fit_the_servers_limits() -> None:
    name = drill_database_name("x" * 80)
    assert len(name.encode()) + len("__sitesnap_") + 8 <= 63
    assert name.startswith("x" * 29 + "_drill_")
    assert drill_database_name("blog") != drill_database_name("blog")
    with pytest.raises(RestoreError, match="not a drill database"):
        drop_database("postgres", parse_database_url("postgresql://postgres@127.0.0.1/blog", kind="postgres"))
