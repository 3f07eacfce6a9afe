"""docs/config.md documents every key of every table, with its default."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sitesnap.config import SiteConfig
from sitesnap.config.base import ConfigModel
from sitesnap.config.units import format_duration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def tables(model: type[BaseModel]) -> Iterator[type[ConfigModel]]:
    """Every table model reachable from ``model``, union members included."""
    seen: list[type[ConfigModel]] = []

    def visit(annotation: Any) -> Iterator[type[ConfigModel]]:
        if isinstance(annotation, type) and issubclass(annotation, ConfigModel):
            if annotation not in seen:
                seen.append(annotation)
                yield annotation
                for field in annotation.model_fields.values():
                    yield from visit(field.annotation)
            return
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            yield from visit(typing.get_args(annotation)[0])
        elif origin in (list, dict, typing.Union, types.UnionType):
            for arg in typing.get_args(annotation):
                yield from visit(arg)

    yield from visit(model)


def section(text: str, table: str) -> str:
    """The text under the heading that names ``table`` in backticks, subsections included."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"(#+) ", line)
        if match and f"`{table}`" in line:
            level = len(match.group(1))
            body = []
            for following in lines[index + 1 :]:
                heading = re.match(r"(#+) ", following)
                if heading and len(heading.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body)
    raise AssertionError(f"docs/config.md has no heading naming `{table}`")


def default_text(field: FieldInfo) -> tuple[str, ...]:
    """The spellings the default may have in its table row; empty when not checked."""
    if field.is_required():
        return ("required",)
    default = field.get_default(call_default_factory=True)
    if isinstance(default, bool):
        return (f"`{str(default).lower()}`",)
    if isinstance(default, str):
        return (f'`"{default}"`',)
    if isinstance(default, int):
        return (f"`{default}`",)
    if isinstance(default, float):
        return (f"`{default}`", f"`{default:g}`")
    if isinstance(default, timedelta):
        return (f"`{format_duration(default)}`",)
    if isinstance(default, list):
        return ("`[]`",) if not default else ()
    if isinstance(default, Path):
        return (f"`{default}`",)
    return ()


def documented_fields() -> Iterator[tuple[str, str, FieldInfo]]:
    for model in tables(SiteConfig):
        if model is SiteConfig:
            continue
        for name, field in model.model_fields.items():
            yield model.doc_table, field.alias or name, field


@pytest.mark.parametrize(
    ("table", "key", "field"),
    [pytest.param(*item, id=f"{item[0]} {item[1]}") for item in documented_fields()],
)
def test_every_key_is_documented_with_its_default(table: str, key: str, field: FieldInfo) -> None:
    body = section(DOCS.read_text(encoding="utf-8"), table)
    rows = [line for line in body.splitlines() if line.startswith(f"| `{key}` |")]
    assert rows, f"docs/config.md: `{key}` is not documented under `{table}`"
    expected = default_text(field)
    if expected:
        assert any(text in row for text in expected for row in rows), (
            f"docs/config.md: `{table}` `{key}` should show its default {expected}"
        )


def test_the_walk_finds_every_table() -> None:
    names = {model.doc_table for model in tables(SiteConfig)}
    assert {"[site]", "[[sources]]", "[[repositories]]", "[repositories.s3]",
            "[repositories.s3.object_lock]", "[repositories.sftp]", "[schedule]",
            "[retention]", "[alerts]", "[[alerts.channels]]", "[runtime]", "[web]"} <= names
    assert sum(1 for _ in documented_fields()) > 80


def test_documented_keys_exist() -> None:
    """The reverse: a documented key that no table accepts is a stale doc."""
    known = {key for _, key, _ in documented_fields()}
    text = DOCS.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_-]+)` \|", text, flags=re.MULTILINE)
    assert rows and set(rows) <= known, sorted(set(rows) - known)


def test_defaults_are_undefined_only_for_required_fields() -> None:
    for _, key, field in documented_fields():
        if field.default is PydanticUndefined and field.default_factory is None:
            assert field.is_required(), key
