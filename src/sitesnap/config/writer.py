"""Write a :class:`SiteConfig` back to TOML (the API's ``PUT config``).

Keys left at their defaults are omitted, paths inside the config's directory
are written relative to it, and secrets stay references (``{ env = ... }``;
inline secrets stay inline, as they were given).  :func:`save_config` checks
that the text it is about to write reads back, then replaces the file
atomically (temp file, fsync, rename), keeping its permissions, so a crash
or a bad config never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from sitesnap.config.loader import loads_config
from sitesnap.config.site import SiteConfig
from sitesnap.config.tomltext import toml_key as _key
from sitesnap.config.tomltext import toml_value as _value
from sitesnap.errors import ConfigError

__all__ = ["dump_config", "save_config", "write_config_text"]

_INLINE_KEYS = frozenset({"object_lock", "headers"})
_HEADER = "# sitesnap site configuration; every key is described in docs/config.md\n\n"


def dump_config(config: SiteConfig, *, base_dir: Path | None = None) -> str:
    """TOML text for ``config``; relative paths are relative to ``base_dir`` (default: its own)."""
    root = (base_dir or config.base_dir).absolute()
    context = {"base_dir": root}
    data = config.model_dump(mode="python", by_alias=True, exclude_defaults=True, context=context)
    data["site"] = {"name": config.site.name, **data.get("site", {})}
    # Defaults that depend on the directory (state_dir, catalog_url) differ from
    # the declared default before serialization; drop them when their text is the default.
    baseline = SiteConfig.model_validate({"site": {"name": config.site.name}}, context=context)
    residue = baseline.model_dump(mode="python", by_alias=True, exclude_defaults=True, context=context)
    for table, values in residue.items():
        if table != "site" and isinstance(values, dict) and isinstance(data.get(table), dict):
            for key, value in values.items():
                if data[table].get(key) == value:
                    del data[table][key]
    lines: list[str] = [_HEADER.rstrip("\n")]
    _emit(_prune(data), (), lines, array=False)
    return "\n".join(lines).strip("\n") + "\n"


def save_config(config: SiteConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` to ``path`` atomically; returns the path.

    Raises ConfigError, leaving the old file untouched, if the text would not
    read back as a valid config.
    """
    target = Path(path).absolute()
    text = dump_config(config, base_dir=target.parent)
    loads_config(text, path=target)  # never write what we could not read
    return write_config_text(target, text)


def write_config_text(path: str | os.PathLike[str], text: str) -> Path:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, rename), keeping its mode.

    New files get mode 0600: configurations name where secrets live.
    Raises ConfigError and leaves the old file untouched on any failure.
    """
    target = Path(path).absolute()
    mode = _mode_of(target)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise ConfigError(f"{target}: cannot write: {exc.strerror}") from None
    _fsync_dir(target.parent)
    return target


def _emit(table: dict[str, Any], name: tuple[str, ...], lines: list[str], *, array: bool) -> None:
    """Append ``table`` as TOML: its plain keys, then sub-tables, then arrays of tables."""
    plain = [(k, v) for k, v in table.items() if not _is_table(k, v) and not _is_table_array(v)]
    if not name and not plain:  # the top level: keep the schema's order of tables
        for key, value in table.items():
            for item in value if _is_table_array(value) else [value]:
                _emit(item, (key,), lines, array=_is_table_array(value))
        return
    nested = [(k, v) for k, v in table.items() if _is_table(k, v)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    if name and (array or plain or not (nested or arrays)):
        header = ".".join(_key(part) for part in name)
        lines.extend(["", f"[[{header}]]" if array else f"[{header}]"])
    lines.extend(f"{_key(key)} = {_value(value)}" for key, value in _ordered(plain))
    for key, value in nested:
        _emit(value, (*name, key), lines, array=False)
    for key, items in arrays:
        for item in items:
            _emit(item, (*name, key), lines, array=True)


def _ordered(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``name`` and ``type`` first: they say what a table is."""
    first = {"name": 0, "type": 1}
    return sorted(items, key=lambda item: first.get(item[0], 2))


def _is_table(key: str, value: Any) -> bool:
    return isinstance(value, dict) and not _inline(key, value)


def _inline(key: str, value: dict[str, Any]) -> bool:
    """Secrets, object_lock and headers read best as one-line inline tables."""
    return set(value) <= {"env", "file"} or key in _INLINE_KEYS


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _prune(value: Any) -> Any:
    """Drop None values and empty tables, which TOML cannot or need not hold."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            pruned = _prune(item)
            if pruned is None or (isinstance(pruned, dict) and not pruned):
                continue
            out[key] = pruned
        return out
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def _mode_of(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o600


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
