"""Byte stores: the storage interface, backends and wrappers (layer 1)."""

from __future__ import annotations

from sitesnap.storage.base import ObjectInfo, Storage, StorageProperties

__all__ = ["ObjectInfo", "Storage", "StorageProperties"]
