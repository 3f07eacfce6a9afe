"""An in-process backend for tests and dry runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from sitesnap.errors import ObjectExists, ObjectNotFound
from sitesnap.storage.base import Buffer, ObjectInfo, StorageProperties, check_name

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """Objects in a dict guarded by a lock.  ``objects`` is public so tests can damage it."""

    def __init__(self, name: str = "memory") -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.properties = StorageProperties(kind="memory", url=f"memory://{name}")

    def create(self) -> None:
        """Nothing to create."""

    def stat(self, name: str) -> ObjectInfo:
        with self._lock:
            data = self.objects.get(check_name(name))
        if data is None:
            raise ObjectNotFound(name)
        return ObjectInfo(name, len(data))

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        with self._lock:
            data = self.objects.get(check_name(name))
        if data is None:
            raise ObjectNotFound(name)
        end = len(data) if length is None else offset + length
        return data[offset:end]

    def write(self, name: str, data: Buffer, *, exclusive: bool = False) -> None:
        check_name(name)
        with self._lock:
            if exclusive and name in self.objects:
                raise ObjectExists(name)
            self.objects[name] = bytes(data)

    def delete(self, name: str) -> None:
        with self._lock:
            self.objects.pop(check_name(name), None)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            items = [ObjectInfo(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)]
        return iter(items)

    def close(self) -> None:
        """Nothing to close."""
