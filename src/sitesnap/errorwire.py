"""Errors read back from their JSON shape (:meth:`SitesnapError.to_dict`), e.g. another process's reply."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

from sitesnap.errors import SitesnapError, all_errors

__all__ = ["error_from_dict"]


def error_from_dict(data: Mapping[str, Any]) -> SitesnapError:
    """The error :meth:`SitesnapError.to_dict` described, e.g. in another process's reply.

    It is an instance of the class named by ``error`` (so exit code and HTTP
    status are the same), reads exactly ``message`` and has ``hint``.  An
    unknown code gives a :class:`SitesnapError` with that message and exit code 1.
    """
    code, message = str(data.get("error", "")), str(data.get("message", ""))
    hint = str(data.get("hint") or "")
    cls = next((c for c in all_errors() if c.code == code), SitesnapError)
    for kwargs in _readings(cls, message):
        error = cls(hint=hint, **kwargs)
        if error.message == message:
            return error
    return cls(message, hint=hint)


def _readings(cls: type[SitesnapError], message: str) -> Iterator[dict[str, str]]:
    """Keyword arguments that may have made ``message`` from the class's template (its docstring's first line)."""
    template = (cls.__doc__ or "{detail}").strip().splitlines()[0]
    pattern, seen = "", set()
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is None:
            continue
        if not name.isidentifier():
            return
        pattern += f"(?P={name})" if name in seen else f"(?P<{name}>.*)"
        seen.add(name)
    if "detail" not in seen:
        pattern += "(?:: (?P<detail>.*))?"
    match = re.fullmatch(pattern, message, re.DOTALL)
    if match is not None:
        yield {k: v for k, v in match.groupdict().items() if v is not None}
