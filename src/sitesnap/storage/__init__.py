"""Byte stores: the storage interface, backends and wrappers (layer 1)."""

from __future__ import annotations

from sitesnap.storage.base import Buffer, ObjectInfo, Storage, StorageProperties
from sitesnap.storage.registry import open_storage

__all__ = ["Buffer", "ObjectInfo", "Storage", "StorageProperties", "open_storage"]
