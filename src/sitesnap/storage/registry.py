"""Open a storage backend from a repository URL.

Each backend module exposes ``from_url(url, options) -> Storage``; this module
only knows which module serves which URL scheme, and imports it when a URL
with that scheme is opened, so cloud libraries (obstore, boto3, asyncssh)
load only when used.  Third-party backends register themselves through the
``sitesnap.storage`` entry-point group (name = scheme, value =
``module:factory``).

Besides backend options, ``options`` may hold these, applied as wrappers:

- ``retries`` (int): attempts per call for transient errors; default 6 for
  network backends, 1 (no retry) for local and memory.
- ``deadline`` (seconds, or text such as ``"90s"``): the longest one storage
  call may keep retrying; default 300 for network backends.  With the
  backend's own per-request ``timeout`` a call ends within
  ``deadline + timeout`` however long the storage stays silent.
- ``limit_upload`` / ``limit_download`` (bytes per second).
- ``append_only`` (bool): refuse deletes and overwrites except of locks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from sitesnap.errors import ConfigError, UsageError
from sitesnap.storage.base import Storage
from sitesnap.storage.memory import MemoryStorage
from sitesnap.storage.options import RETRY_OPTIONS, reject_unknown
from sitesnap.storage.wrappers import AppendOnlyStorage, LimitedStorage, RetryStorage

__all__ = [
    "BUILTIN_BACKENDS",
    "Factory",
    "memory_from_url",
    "open_storage",
    "scheme_of",
    "schemes",
    "seconds",
]

Factory = Callable[[str, Mapping[str, Any]], Storage]

BUILTIN_BACKENDS: Mapping[str, str] = MappingProxyType(
    {
        "file": "sitesnap.storage.local:from_url",
        "memory": "sitesnap.storage.registry:memory_from_url",
        "s3": "sitesnap.storage.s3:from_url",
        "sftp": "sitesnap.storage.sftp:from_url",
    }
)
"""Scheme → ``module:function`` of the built-in backends."""

NETWORK_KINDS = frozenset({"s3", "sftp"})
WRAPPER_OPTIONS = RETRY_OPTIONS | {"limit_upload", "limit_download", "append_only"}
DEFAULT_DEADLINE = 300.0
ENTRY_POINT_GROUP = "sitesnap.storage"


def scheme_of(url: str) -> str:
    """``s3`` for ``s3://b/p``; ``file`` for a plain path (absolute or relative)."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        return "file"
    return scheme.lower()


def schemes() -> dict[str, str]:
    """Every known scheme → ``module:function`` (built-ins, then entry points)."""
    from importlib.metadata import entry_points  # 50 ms of imports: only when a plug-in is looked for

    found = dict(BUILTIN_BACKENDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def _load(target: str) -> Factory:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the storage backend {module_name} needs a package that is not installed: {exc.name}",
            hint="Install the cloud extras: pip install 'sitesnap[cloud]'.",
        ) from None
    return cast(Factory, getattr(module, attr))


def open_storage(url: str, options: Mapping[str, Any] | None = None) -> Storage:
    """Open (not create) the storage at ``url``, wrapped as ``options`` ask.

    Raises :class:`UsageError` for an unknown scheme or a missing backend
    package, :class:`ConfigError` for bad options.  The result is not created:
    call ``create()`` when initialising a repository.
    """
    if not url:
        raise UsageError("no repository given", hint="Pass -r/--repo or set SITESNAP_REPOSITORY.")
    opts = dict(options or {})
    scheme = scheme_of(url)
    known = BUILTIN_BACKENDS if scheme in BUILTIN_BACKENDS else schemes()
    if scheme not in known:
        raise UsageError(
            f"unknown storage URL scheme {scheme!r} in {url!r}",
            hint="Use a path, file:///path, memory://name, s3://bucket/prefix or sftp://user@host[:port]/path.",
        )
    wrapper_opts = {k: opts.pop(k) for k in list(opts) if k in WRAPPER_OPTIONS}
    storage = _load(known[scheme])(url, opts)
    return _wrap(storage, wrapper_opts)


def _wrap(storage: Storage, opts: Mapping[str, Any]) -> Storage:
    try:
        default_retries = 6 if storage.properties.kind in NETWORK_KINDS else 1
        retries = int(opts.get("retries", default_retries))
        deadline = seconds(opts.get("deadline", DEFAULT_DEADLINE))
        up = _rate(opts.get("limit_upload"))
        down = _rate(opts.get("limit_download"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad storage option: {exc}") from None
    if retries < 1:
        raise ConfigError("retries must be at least 1")
    if deadline <= 0:
        raise ConfigError("deadline must be positive")
    if up or down:
        storage = LimitedStorage(storage, upload_bps=up, download_bps=down)
    if retries > 1:
        storage = RetryStorage(storage, attempts=retries, deadline=deadline)
    if opts.get("append_only"):
        storage = AppendOnlyStorage(storage)
    return storage


def seconds(value: Any) -> float:
    """A duration option given as a number of seconds or as text: ``90``, ``"90s"``, ``"2m"``."""
    text = str(value).strip().lower()
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale[suffix]
    return float(text)


def _rate(value: Any) -> float | None:
    if value in (None, "", 0):
        return None
    rate = float(value)
    if rate <= 0:
        raise ValueError(f"a bandwidth limit must be positive, got {value!r}")
    return rate


def memory_from_url(url: str, options: Mapping[str, Any]) -> Storage:
    """``memory://name``: a fresh, empty in-process store (tests, dry runs)."""
    reject_unknown(options, frozenset(), "memory")
    return MemoryStorage(url.partition("://")[2] or "memory")
