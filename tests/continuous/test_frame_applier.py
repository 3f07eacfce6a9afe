"""Applying commits' frames: whole commits only, the last version of a page wins, the file has the committed size."""

from __future__ import annotations

import io
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesnap.capture.sqlite import pack_frame
from sitesnap.capture.sqlitereplay import FrameApplier, write_base
from sitesnap.errors import IntegrityError

PAGE = 512

Commit = list[tuple[int, int]]  # (page number, fill byte); the database size follows the commit


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[tuple[Commit, int]]]:
    base_pages = draw(st.integers(1, 6))
    commits = []
    for _ in range(draw(st.integers(0, 8))):
        size = draw(st.integers(1, 10))
        pages = draw(st.lists(st.tuples(st.integers(1, size), st.integers(1, 255)), min_size=1, max_size=6))
        commits.append((pages, size))
    return base_pages, commits


def _payload(commits: list[tuple[Commit, int]]) -> bytes:
    out = bytearray()
    for pages, size in commits:
        for i, (page, fill) in enumerate(pages):
            last = i == len(pages) - 1
            out += pack_frame(page, size if last else 0, bytes([fill]) * PAGE)
    return bytes(out)


def _model(base_pages: int, commits: list[tuple[Commit, int]]) -> bytes:
    pages = {p: bytes([0xEE]) * PAGE for p in range(1, base_pages + 1)}
    size = base_pages
    for written, size in commits:
        for page, fill in written:
            pages[page] = bytes([fill]) * PAGE
        pages = {p: d for p, d in pages.items() if p <= size}
    return b"".join(pages.get(p, bytes(PAGE)) for p in range(1, size + 1))


@given(histories(), st.data())
def test_applying_n_commits_matches_the_model(history: tuple[int, list[tuple[Commit, int]]],
                                              data: st.DataObject) -> None:
    base_pages, commits = history
    wanted = data.draw(st.integers(0, len(commits)))
    cut = data.draw(st.integers(1, 4096))  # blob boundaries fall anywhere
    payload = _payload(commits)
    with tempfile.TemporaryFile() as fh:  # a real file: truncate() also extends it, as SQLite's files need
        write_base(fh, [bytes([0xEE]) * PAGE * base_pages])
        FrameApplier(fh, PAGE).apply((payload[i : i + cut] for i in range(0, len(payload), cut)), wanted)
        fh.seek(0)
        assert fh.read() == _model(base_pages, commits[:wanted])


def test_a_payload_short_of_its_commits_is_damage() -> None:
    payload = _payload([([(1, 7)], 1), ([(1, 8), (2, 9)], 2)])
    fh = io.BytesIO(bytes(PAGE))
    with pytest.raises(IntegrityError, match="after 1 of 2 commits"):
        FrameApplier(fh, PAGE).apply([payload[: -PAGE]], 2)
