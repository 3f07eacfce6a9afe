"""The Catalog API on SQLite, PostgreSQL and MariaDB: CRUD, filters, pagination,
run lifecycle, and concurrent updates from threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitesnap.catalog import Catalog, open_catalog
from sitesnap.errors import RecordNotFound, SourceError, UsageError

T0 = datetime(2026, 11, 1, 2, 0, 0, 123456, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def catalog(catalog_url: str, clock: FakeClock) -> Iterator[Catalog]:
    cat = open_catalog(catalog_url, clock=clock)
    yield cat
    cat.close()


def _records(catalog: Catalog) -> None:
    """Thirty records: two sites, four types, every sixth failed, 6 hours apart."""
    types = ["incremental", "incremental", "full", "realtime", "snapshot"]
    for i in range(30):
        catalog.upsert_backup_record(
            f"{i:02d}" + "ab" * 31, site="blog" if i % 3 else "shop", backup_type=types[i % 5],
            status="failed" if i % 6 == 5 else "completed",
            created_at=T0 + timedelta(hours=6 * i), file_size=1000 * i,
            location="s3://bucket/blog", hostname=f"web{i % 2}",
            metadata={"tags": ["升级前"] if i == 7 else ["nightly"], "sources": ["db"]},
        )


def test_backup_record_round_trip(catalog: Catalog) -> None:
    record = catalog.upsert_backup_record(
        "a" * 64, site="blog", backup_type="full", status="running", created_at=T0,
        location="sftp://backup:hunter2@nas.example/srv/repo", file_size=10_000,
        compression_ratio=0.42, dedup_ratio=3.5, encryption_enabled=True,
        storage_providers={"local": {"ok": True, "bytes_sent": 10_000}},
        metadata={"sources": ["db", "files"], "rows": {"post": 12}}, duration=1.5,
    )
    assert record.location == "sftp://backup:***@nas.example/srv/repo"
    assert record.created_at == T0  # microseconds and time zone survive
    done = catalog.upsert_backup_record(
        "a" * 64, status="completed", completed_at=T0 + timedelta(seconds=90),
        storage_providers={"s3": {"ok": False, "error": "timeout", "bytes_sent": 0}})
    assert done.status == "completed"
    assert done.file_size == 10_000 and done.backup_type == "full"  # untouched fields stay
    assert set(done.storage_providers) == {"local", "s3"}
    got = catalog.get_backup_record("a" * 64)
    assert got == done
    assert got is not None and got.metadata["rows"] == {"post": 12}
    assert got.to_dict()["completed_at"] == "2026-11-01T02:01:30.123456+00:00"
    assert catalog.delete_backup_record("a" * 64) is True
    assert catalog.delete_backup_record("a" * 64) is False
    assert catalog.get_backup_record("a" * 64) is None


def test_new_record_needs_site_and_type(catalog: Catalog) -> None:
    with pytest.raises(UsageError, match="needs a site"):
        catalog.upsert_backup_record("b" * 64, status="completed")
    with pytest.raises(UsageError, match="backup type"):
        catalog.upsert_backup_record("b" * 64, site="blog", backup_type="differential")


def test_record_filters_search_and_pagination(catalog: Catalog) -> None:
    _records(catalog)
    every = catalog.list_backup_records(per_page=100)
    assert every.total == 30
    assert [r.created_at for r in every.items] == sorted(
        (r.created_at for r in every.items), reverse=True)
    blog = catalog.list_backup_records(site="blog", per_page=100)
    assert blog.total == 20 and all(r.site == "blog" for r in blog.items)
    fulls = catalog.list_backup_records(type="full", status="completed", per_page=100)
    assert sorted(int(r.backup_id[:2]) for r in fulls.items) == [2, 7, 12, 22, 27]  # 17 failed
    window = catalog.list_backup_records(since=T0 + timedelta(hours=12),
                                         until=T0 + timedelta(hours=30), sort="created_at")
    assert [int(r.backup_id[:2]) for r in window.items] == [2, 3, 4]
    assert [int(r.backup_id[:2]) for r in
            catalog.list_backup_records(text="升级前").items] == [7]
    assert catalog.list_backup_records(text="NIGHTLY").total == 29
    assert catalog.list_backup_records(text="07AB").items[0].backup_id.startswith("07")
    assert catalog.list_backup_records(text="100%").total == 0  # wildcards are literal
    by_size = catalog.list_backup_records(sort="-file_size", per_page=3)
    assert [r.file_size for r in by_size.items] == [29000, 28000, 27000]
    pages = [catalog.list_backup_records(page=p, per_page=7) for p in (1, 2, 3, 4, 5)]
    assert [len(p.items) for p in pages] == [7, 7, 7, 7, 2]
    assert pages[0].pages == 5 and all(p.total == 30 for p in pages)
    seen = [r.backup_id for p in pages for r in p.items]
    assert len(set(seen)) == 30


@pytest.mark.parametrize("kwargs", [
    {"sort": "password"}, {"page": 0}, {"per_page": 501}, {"status": "done"},
])
def test_record_listing_rejects_bad_input(catalog: Catalog, kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        catalog.list_backup_records(**kwargs)  # type: ignore[arg-type]


def test_run_lifecycle(catalog: Catalog, clock: FakeClock) -> None:
    run = catalog.start_run("backup", site="blog", repository="s3://k:secret@host/b",
                            triggered_by="scheduler", status="queued")
    assert run.status == "queued" and run.started_at is None
    assert "secret" not in run.repository
    clock.now = T0 + timedelta(seconds=5)
    catalog.mark_run_started(run.id, worker="celery@w1", host="w1", pid=4242)
    catalog.update_run_progress(run.id, {"phase": "files", "bytes_done": 10})
    catalog.append_run_log(run.id, "started\n")
    catalog.append_run_log(run.id, "x" * 250_000)
    clock.now = T0 + timedelta(seconds=65)
    done = catalog.finish_run(run.id, "failed",
                              error=SourceError("pg_dump exited 1", hint="check"))
    assert done.status == "failed" and done.error_code == "source"
    assert done.error_message == "Cannot read source: pg_dump exited 1"
    assert done.started_at == T0 + timedelta(seconds=5)
    assert done.finished_at == T0 + timedelta(seconds=65)
    assert done.progress == {"phase": "files", "bytes_done": 10}
    assert (done.worker, done.host, done.pid) == ("celery@w1", "w1", 4242)
    assert done.log.startswith("[earlier lines dropped]\n") and len(done.log) < 201_000
    ok = catalog.finish_run(catalog.start_run("prune", site="blog").id, "completed",
                            result={"removed_packs": 3})
    assert ok.result == {"removed_packs": 3} and ok.error_code is None
    with pytest.raises(RecordNotFound):
        catalog.update_run_progress("no-such-run", {})
    with pytest.raises(UsageError):
        catalog.finish_run(ok.id, "running")
    with pytest.raises(UsageError):
        catalog.start_run("defrag")


def test_run_listing(catalog: Catalog, clock: FakeClock) -> None:
    for i, kind in enumerate(["backup", "backup", "restore", "check", "backup"]):
        clock.now = T0 + timedelta(minutes=i)
        run = catalog.start_run(kind, site="shop" if i == 4 else "blog", triggered_by="api")
        catalog.finish_run(run.id, "completed" if i != 1 else "failed")
    assert catalog.list_runs().total == 5
    backups = catalog.list_runs(kind="backup", site="blog")
    assert [r.created_at for r in backups.items] == [T0 + timedelta(minutes=1), T0]
    assert catalog.list_runs(status="failed").items[0].created_at == T0 + timedelta(minutes=1)
    assert catalog.list_runs(since=T0 + timedelta(minutes=3)).total == 2
    assert len(catalog.list_runs(page=2, per_page=2).items) == 2


def test_concurrent_run_updates_from_threads(catalog: Catalog) -> None:
    runs = [catalog.start_run("backup", site=f"site{i}") for i in range(4)]
    errors: list[BaseException] = []

    def work(run_id: str) -> None:
        try:
            for step in range(25):
                catalog.update_run_progress(run_id, {"step": step})
                catalog.append_run_log(run_id, f"{step}\n")
            catalog.add_audit("worker", "progress", run_id)
            catalog.finish_run(run_id, "completed", result={"steps": 25})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r.id,)) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    for run in runs:
        final = catalog.get_run(run.id)
        assert final is not None and final.status == "completed"
        assert final.progress == {"step": 24}
        assert final.log == "".join(f"{s}\n" for s in range(25))
    assert catalog.list_audit(action="progress").total == 4


def test_concurrent_upserts_of_one_record(catalog: Catalog) -> None:
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            catalog.upsert_backup_record("c" * 64, site="blog", backup_type="full",
                                         storage_providers={name: {"ok": True}})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"repo{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert catalog.list_backup_records().total == 1


def test_audit(catalog: Catalog, clock: FakeClock) -> None:
    for i in range(5):
        clock.now = T0 + timedelta(minutes=i)
        catalog.add_audit("alice" if i % 2 else "bob", "restore" if i == 3 else "backup",
                          "blog", source_ip="192.0.2.7", details={"n": i})
    assert catalog.list_audit().total == 5
    restore = catalog.list_audit(action="restore").items
    assert len(restore) == 1 and restore[0].actor == "alice" and restore[0].details == {"n": 3}
    assert [e.details["n"] for e in catalog.list_audit(actor="bob").items] == [4, 2, 0]
    assert catalog.list_audit(until=T0 + timedelta(minutes=2)).total == 2


def test_alert_states(catalog: Catalog, clock: FakeClock) -> None:
    assert catalog.get_alert_state("blog", "consecutive_failures") is None
    first = catalog.set_alert_state("blog", "consecutive_failures", "firing",
                                    details={"failures": 2}, last_sent=T0)
    clock.now = T0 + timedelta(hours=1)
    again = catalog.set_alert_state("blog", "consecutive_failures", "firing",
                                    details={"failures": 3})
    assert again.since == first.since == T0 and again.last_sent == T0
    assert again.details == {"failures": 3}
    resolved = catalog.set_alert_state("blog", "consecutive_failures", "resolved")
    assert resolved.since == T0 + timedelta(hours=1)
    catalog.set_alert_state("shop", "rpo", "firing")
    assert [(a.site, a.state) for a in catalog.list_alert_states()] == [
        ("blog", "resolved"), ("shop", "firing")]
    assert [a.site for a in catalog.list_alert_states(state="firing")] == ["shop"]
    with pytest.raises(UsageError):
        catalog.set_alert_state("blog", "rpo", "pending")


def test_drill_results(catalog: Catalog, clock: FakeClock) -> None:
    run = catalog.start_run("drill", site="blog")
    catalog.add_drill_result("blog", "d" * 64, True, rto_seconds=12.5, run_id=run.id,
                             checks=[{"name": "integrity_check", "ok": True}])
    clock.now = T0 + timedelta(days=1)
    catalog.add_drill_result("blog", "e" * 64, False, checks=[{"name": "rows", "ok": False}])
    results = catalog.list_drill_results(site="blog")
    assert [d.ok for d in results.items] == [False, True]
    assert results.items[1].run_id == run.id and results.items[1].rto_seconds == 12.5
    assert catalog.list_drill_results(ok=True).items[0].checks == [
        {"name": "integrity_check", "ok": True}]


def test_configs(catalog: Catalog, clock: FakeClock) -> None:
    assert catalog.get_config("blog") is None
    text = '[site]\nname = "blog"\n# 站点\n'
    first = catalog.save_config("blog", text, updated_by="alice")
    assert first.version == 1 and first.updated_at == T0
    clock.now = T0 + timedelta(days=1)
    second = catalog.save_config("blog", text + "[schedule]\n", updated_by="bob")
    assert second.version == 2 and second.updated_by == "bob"
    assert catalog.get_config("blog") == second
    catalog.save_config("shop", "", updated_by="bob")
    assert catalog.list_config_sites() == ["blog", "shop"]


def test_naive_times_are_refused(catalog: Catalog) -> None:
    with pytest.raises(Exception, match="timezone-aware"):
        catalog.upsert_backup_record("f" * 64, site="blog", backup_type="full",
                                     created_at=datetime(2026, 1, 1))


def test_new_sqlite_catalog_is_private(tmp_path: Path) -> None:
    """Password hashes and session keys live in the catalog: a new file is 0600 in a new 0700 directory."""
    import stat

    from sitesnap.catalog import open_catalog

    path = tmp_path / "state" / "catalog.db"
    catalog = open_catalog(f"sqlite:///{path}")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    finally:
        catalog.close()
