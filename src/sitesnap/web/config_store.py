"""Reading and replacing the served site's configuration.

The file the server was started with stays the truth: a valid new text
replaces it atomically (temp file, fsync, rename — comments kept when TOML
text is sent) and is stored in the catalog as the site's latest version.
An app built from an in-memory config keeps it in the catalog only.
Nothing invalid is ever written: the text goes through the same loader as
``sitesnap -c``, whose errors name file, line and key.

For callers who are not admins, secrets written inline (a password in a URL
or a plain string where ``{ env = ... }`` belongs) are masked line by line,
using the loader's own warnings to find them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sitesnap.config import build_config, dump_config, loads_config
from sitesnap.config.writer import write_config_text
from sitesnap.errors import ConfigError, UsageError
from sitesnap.web.state import WebState

__all__ = ["mask_inline_secrets", "read_site_config", "write_site_config"]

MASK = "***"
_LINE = re.compile(r":(\d+): ")
_URL_PASSWORD = re.compile(r"(://[^:/@\s\"']*:)([^@\s\"']+)(@)")
_WARNED_KEY = re.compile(r":\d+: ([^:]+): ")
# Secrets that cannot be written as references: robot tokens in alert URLs and webhook headers.
_URL_TOKEN = re.compile(r"([?&](?:access_token|token|key|secret|sign|signature)=)[^&\"'\s#]+", re.I)
_SLACK_HOOK = re.compile(r"(https://hooks\.slack\.com/services/)[^\"'\s]+")
_HEADER_SECRET = re.compile(
    r"((?:\"|')?(?:authorization|proxy-authorization|x-api-key|x-auth-token|api[-_]key|token)(?:\"|')?\s*=\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|'[^']*')",
    re.I,
)
_STRING_VALUE = re.compile(r"(=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')")


def _config_file(state: WebState) -> Path:
    return state.config_path or Path.cwd() / "sitesnap.toml"


def mask_inline_secrets(text: str, warnings: list[str]) -> tuple[str, bool]:
    """``text`` with the inline secrets named by ``warnings`` masked; (text, whether anything was)."""
    lines = text.splitlines(keepends=True)
    masked = False
    for warning in warnings:
        match = _LINE.search(warning)
        if match is None or not 0 < int(match.group(1)) <= len(lines):
            continue
        index = int(match.group(1)) - 1
        line = lines[index]
        in_url = "in the URL" in warning
        new = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", line) if in_url else _mask_key(line, warning)
        masked = masked or new != line
        lines[index] = new
    text = "".join(lines)
    for pattern, replacement in ((_URL_TOKEN, rf"\g<1>{MASK}"), (_SLACK_HOOK, rf"\g<1>{MASK}"),
                                 (_HEADER_SECRET, rf'\g<1>"{MASK}"')):
        text, count = pattern.subn(replacement, text)
        masked = masked or count > 0
    return text, masked


def _mask_key(line: str, warning: str) -> str:
    """Mask the value of the key the warning names (several may share a line); else the first string."""
    named = _WARNED_KEY.search(warning)
    if named is not None:
        key = named.group(1).rsplit(".", 1)[-1]
        keyed = re.compile(rf"(\b{re.escape(key)}\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')")
        new, count = keyed.subn(rf'\g<1>"{MASK}"', line, count=1)
        if count:
            return new
    return _STRING_VALUE.sub(rf'\g<1>"{MASK}"', line, count=1)


def read_site_config(state: WebState, *, reveal: bool) -> dict[str, Any]:
    cfg = state.config
    stored = state.catalog.get_config(cfg.site.name)
    text = None
    if state.config_path is not None and state.config_path.is_file():
        text = state.config_path.read_text(encoding="utf-8")
    elif stored is not None:
        text = stored.config_toml
    if text is None:
        text = dump_config(cfg)
    redacted = False
    if not reveal:
        warnings = loads_config(text, path=_config_file(state)).warnings
        text, redacted = mask_inline_secrets(text, warnings)
    return {"site": cfg.site.name, "toml": text, "path": str(state.config_path) if state.config_path else None,
            "version": stored.version if stored is not None else None, "redacted": redacted}


def write_site_config(state: WebState, *, toml: str | None, data: dict[str, Any] | None,
                      actor: str) -> dict[str, Any]:
    """Validate and save; raises ConfigError (with ``problems``) and leaves everything as it was."""
    if (toml is None) == (data is None):
        raise UsageError("send either 'toml' (the file's text) or 'config' (the same as JSON)")
    path = _config_file(state)
    if toml is not None:
        if MASK in toml and re.search(r"(\"\*\*\*\"|:\*\*\*@)", toml):
            raise ConfigError("the text holds masked secrets ('***'); send the real values or references")
        cfg = loads_config(toml, path=path)
        text = toml
    else:
        cfg = build_config(data or {}, path=path)
        text = dump_config(cfg)
    if state.config_path is not None:
        write_config_text(state.config_path, text)
    stored = state.catalog.save_config(cfg.site.name, text, updated_by=actor)
    state.replace_config(cfg)
    return {"site": cfg.site.name, "toml": text, "path": str(state.config_path) if state.config_path else None,
            "version": stored.version, "redacted": False}

