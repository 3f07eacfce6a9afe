"""Find and read ``sitesnap.toml`` into a validated :class:`SiteConfig`.

Every failure is a :class:`~sitesnap.errors.ConfigError` whose message names
the file, the line and the key (``sitesnap.toml:12: sources[1].type: must be
one of ...``), so the CLI prints one line and no traceback.  Reading has no
side effects: nothing is created, no secret is resolved.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sitesnap.config.diagnostics import describe_errors, find_warnings
from sitesnap.config.locator import KeyLocator
from sitesnap.config.site import SiteConfig
from sitesnap.errors import ConfigError

__all__ = ["CONFIG_ENV", "CONFIG_NAME", "build_config", "find_config", "load_config", "loads_config"]

CONFIG_NAME = "sitesnap.toml"
CONFIG_ENV = "SITESNAP_CONFIG"
_MAX_SHOWN = 3
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use: ``explicit`` (``-c``), else ``$SITESNAP_CONFIG``, else ``./sitesnap.toml``.

    Returns None when none is given and ``./sitesnap.toml`` does not exist;
    raises ConfigError when an explicitly named file does not exist.
    """
    if explicit is not None and str(explicit):
        return _existing(Path(explicit), "-c")
    from_env = os.environ.get(CONFIG_ENV, "")
    if from_env:
        return _existing(Path(from_env), CONFIG_ENV)
    default = Path(CONFIG_NAME)
    return default if default.is_file() else None


def _existing(path: Path, given_by: str) -> Path:
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such file (given by {given_by})",
            hint="Create it with 'sitesnap init-site', or fix the path.",
        )
    return path


def load_config(path: str | os.PathLike[str]) -> SiteConfig:
    """Read, parse and validate the config file at ``path``."""
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    return loads_config(text, path=file)


def loads_config(text: str, *, path: str | os.PathLike[str]) -> SiteConfig:
    """Parse ``text`` as if read from ``path`` (relative paths start at its directory)."""
    file = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_error(str(exc), file, text)) from None
    return build_config(data, path=file, text=text)


def build_config(
    data: Mapping[str, Any], *, path: str | os.PathLike[str], text: str | None = None
) -> SiteConfig:
    """Validate already-parsed data (e.g. JSON from the API) as the config at ``path``.

    ``text``, when given, is the TOML source used to find line numbers.
    """
    file = Path(path)
    absolute = Path(os.path.normpath(file.absolute()))
    locator = KeyLocator(text) if text is not None else None
    context = {"base_dir": absolute.parent}
    try:
        config = SiteConfig.model_validate(dict(data), context=context)
    except ValidationError as exc:
        problems = describe_errors(exc, data, str(file), locator)
        raise _config_error(problems) from None
    config.attach(absolute, find_warnings(config, str(file), locator))
    return config


def _config_error(problems: list[str]) -> ConfigError:
    shown = "; ".join(problems[:_MAX_SHOWN])
    if len(problems) > _MAX_SHOWN:
        shown += f"; and {len(problems) - _MAX_SHOWN} more"
    return ConfigError(shown, problems=problems, hint="See docs/config.md for every key.")


def _syntax_error(message: str, file: Path, text: str) -> str:
    match = _TOML_POSITION.search(message)
    if match is not None:
        reason = message[: match.start()]
        return f"{file}:{match.group(1)}: TOML syntax error: {reason} (column {match.group(2)})"
    if message.endswith("(at end of document)"):
        line = max(1, len(text.splitlines()))
        return f"{file}:{line}: TOML syntax error: {message.removesuffix(' (at end of document)')}"
    return f"{file}: TOML syntax error: {message}"
