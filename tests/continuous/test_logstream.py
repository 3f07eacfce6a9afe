"""Log segments in a real repository on disk: write order, listing, timeline, damage."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from sitesnap.errors import IntegrityError
from sitesnap.format.logseg import BASE, LOG, Commit, LogSegment
from sitesnap.repository import logstream
from sitesnap.repository.logcheck import check_log_segments, log_segment_blobs
from sitesnap.repository.logtimeline import build_timelines
from sitesnap.repository.repository import Repository

GEN = b"\x01" * 16


def _seg(seq: int, start: int, end: int, t0: int, t1: int, gen: bytes = GEN, source: str = "db") -> LogSegment:
    kind = BASE if seq == 0 else LOG
    return LogSegment(source, gen, seq, kind, start, end, t0, t1, 0, params={"frame": end})


def _save_chain(repo: Repository, n: int, gen: bytes = GEN, t0: int = 1000) -> list[LogSegment]:
    out = [_seg(0, 0, 0, t0, t0, gen)]
    logstream.save_segment(repo, out[0], os.urandom(3000))
    for i in range(1, n + 1):
        seg = _seg(i, (i - 1) * 10, i * 10, t0 + (i - 1) * 100, t0 + i * 100, gen)
        payload = os.urandom(500) * 3
        seg.commits = [Commit(t0 + i * 100 - 50, 700), Commit(t0 + i * 100, len(payload))]
        logstream.save_segment(repo, seg, payload)
        out.append(seg)
    return out


def test_segments_round_trip_with_their_payload(make_repo: Callable[..., Repository]) -> None:
    repo = make_repo()
    payload = os.urandom(200_000)
    seg = _seg(0, 0, 0, 5, 5)
    seg_id = logstream.save_segment(repo, seg, payload)
    reopened = Repository.open(repo.storage, "correct horse battery staple")
    reopened.load_index()
    [loaded] = logstream.load_segments(reopened, "db")
    assert loaded.id == seg_id and loaded.blobs == seg.blobs and loaded.payload_size == len(payload)
    assert b"".join(logstream.read_payload(reopened, loaded)) == payload
    assert logstream.segment_blobs([loaded]) == {(0, b) for b in seg.blobs}


def test_a_crash_before_the_segment_leaves_nothing_visible(make_repo: Callable[..., Repository]) -> None:
    """Packs and index are written first; without the segment object no reader sees anything."""
    repo = make_repo()
    repo.save_blob(0, os.urandom(5000), dump=True)
    repo.flush()
    assert logstream.load_segments(repo) == []


def test_timeline_chains_generations_and_reports_gaps(make_repo: Callable[..., Repository]) -> None:
    repo = make_repo()
    _save_chain(repo, 3, GEN, t0=1000)
    _save_chain(repo, 2, b"\x02" * 16, t0=2000)
    timeline = build_timelines(logstream.load_segments(repo))["db"]
    assert [(g.oldest_ns, g.newest_ns) for g in timeline.generations] == [(1000, 1300), (2000, 2200)]
    assert timeline.gaps() == [(1300, 2000)]
    assert timeline.generation_at(1250) is timeline.generations[0]
    assert timeline.generation_at(1500) is None


def test_a_missing_segment_breaks_the_chain(make_repo: Callable[..., Repository]) -> None:
    repo = make_repo()
    chain = _save_chain(repo, 4)
    logstream.delete_segment(repo, chain[2].id)
    logstream.delete_segment(repo, chain[2].id)  # idempotent
    [gen] = build_timelines(logstream.load_segments(repo))["db"].generations
    assert gen.newest_ns == chain[1].end_time_ns
    assert "segment 2 is missing" in gen.broken


def test_a_damaged_segment_is_named(make_repo: Callable[..., Repository]) -> None:
    repo = make_repo()
    [base] = _save_chain(repo, 0)
    path = repo.storage.root / "logs" / base.id  # type: ignore[attr-defined]
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="does not match its name"):
        logstream.load_segments(repo)
    errors: list[str] = []
    assert logstream.load_segments(repo, errors=errors) == [] and len(errors) == 1


def test_check_names_missing_blobs_and_broken_chains(make_repo: Callable[..., Repository]) -> None:
    repo = make_repo()
    chain = _save_chain(repo, 3)
    assert check_log_segments(repo) == ([], [])
    assert log_segment_blobs(repo) == logstream.segment_blobs(chain)
    logstream.delete_segment(repo, chain[1].id)
    errors, warnings = check_log_segments(repo)
    assert errors == [] and warnings and "segment 1 is missing" in warnings[0]

    fresh = Repository.open(repo.storage, "correct horse battery staple")
    for name in [i.name for i in fresh.storage.list("index/")]:
        fresh.storage.delete(name)  # the packs stay, but no index names the segments' blobs
    errors, _ = check_log_segments(fresh)
    assert len(errors) == 3 and all("not in the index" in e for e in errors)


def test_prune_refuses_to_guess_around_a_damaged_segment(make_repo: Callable[..., Repository]) -> None:
    repo = make_repo()
    [base] = _save_chain(repo, 0)
    repo.storage.write("logs/" + "0" * 64, b"not a segment")
    with pytest.raises(IntegrityError, match="cannot prune"):
        log_segment_blobs(repo)
    assert base.id


def test_prune_keeps_what_segments_use_and_check_reads_them(make_repo: Callable[..., Repository]) -> None:
    """No snapshot references a log segment's blobs: prune must keep them all, check must look at them."""
    from sitesnap.repository.check import check_repository
    from sitesnap.repository.prune import prune

    repo = make_repo()
    chain = _save_chain(repo, 3)
    payloads = {seg.id: b"".join(logstream.read_payload(repo, seg)) for seg in chain}
    plan = prune(repo)
    assert not plan.delete and not plan.repack
    fresh = Repository.open(repo.storage, "correct horse battery staple")
    fresh.load_index()
    assert {seg.id: b"".join(logstream.read_payload(fresh, seg)) for seg in chain} == payloads
    assert check_repository(fresh, read_data=True).ok
    fresh.storage.write("logs/" + "0" * 64, b"not a segment")
    report = check_repository(fresh)
    assert not report.ok and any("log segment" in e or "logs/" in e for e in report.errors), report.errors
    with pytest.raises(IntegrityError, match="cannot prune"):
        prune(fresh)
