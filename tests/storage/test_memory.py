"""The in-process backend against the conformance suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitesnap.storage.memory import MemoryStorage

from .conformance import StorageConformance


class TestMemoryConformance(StorageConformance):
    @pytest.fixture
    def storage(self) -> Iterator[MemoryStorage]:
        backend = MemoryStorage("conformance")
        backend.create()
        yield backend
        backend.close()
