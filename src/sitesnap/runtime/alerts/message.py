"""Render a :class:`Notification` as plain text, Markdown or HTML.

Every rendering carries the site, the rule, the severity, the values and the
console link, with bilingual (English / 简体中文) labels so one message serves
both audiences.  Pure functions; channels choose the rendering they need.
"""

from __future__ import annotations

import html
from typing import Any

from sitesnap.runtime.alerts.state import Notification, NotificationKind

__all__ = ["render_html", "render_markdown", "render_text", "title"]

_KIND_LABEL = {
    NotificationKind.FIRING: "FIRING 告警",
    NotificationKind.RESOLVED: "RESOLVED 已恢复",
    NotificationKind.TEST: "TEST 测试",
}


def title(n: Notification) -> str:
    """One line for a subject or a chat title, e.g. ``[FIRING 告警] blog: rpo_exceeded``."""
    label = _KIND_LABEL[n.kind] + (" · repeat 重复" if n.repeat else "")
    rule = f"{n.rule} ({n.subject})" if n.subject else n.rule
    return f"[{label}] {n.site}: {rule}"


def _fields(n: Notification) -> list[tuple[str, str]]:
    rows = [
        ("Site 站点", n.site),
        ("Rule 规则", n.rule + (f" ({n.subject})" if n.subject else "")),
        ("Severity 级别", n.severity.value),
        ("Since 开始于", n.since.isoformat(timespec="seconds")),
    ]
    if n.kind is NotificationKind.RESOLVED:
        rows.append(("Resolved 恢复于", n.at.isoformat(timespec="seconds")))
    return rows


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def render_text(n: Notification) -> str:
    """Plain text: title, summary, labelled fields, values, console link."""
    lines = [title(n), "", n.summary, ""]
    lines += [f"{label}: {value}" for label, value in _fields(n)]
    if n.values:
        lines.append("Values 数值:")
        lines += [f"  {k}: {_value(v)}" for k, v in n.values.items()]
    if n.console_url:
        lines.append(f"Console 控制台: {n.console_url}")
    return "\n".join(lines) + "\n"


def render_markdown(n: Notification) -> str:
    """Markdown understood by DingTalk, WeCom and most chat tools."""
    lines = [f"### {title(n)}", "", n.summary, ""]
    lines += [f"- **{label}**: {value}" for label, value in _fields(n)]
    lines += [f"- `{k}`: {_value(v)}" for k, v in n.values.items()]
    if n.console_url:
        lines += ["", f"[Open console 打开控制台]({n.console_url})"]
    return "\n".join(lines)


def render_html(n: Notification) -> str:
    """A small self-contained HTML body for email (every value escaped)."""
    esc = html.escape
    rows = [(label, value) for label, value in _fields(n)]
    rows += [(k, _value(v)) for k, v in n.values.items()]
    table = "".join(
        f"<tr><th align=\"left\">{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows
    )
    link = ""
    if n.console_url:
        link = f'<p><a href="{esc(n.console_url)}">Open console 打开控制台</a></p>'
    return (
        "<!doctype html><html><body>"
        f"<h3>{esc(title(n))}</h3><p>{esc(n.summary)}</p>"
        f"<table>{table}</table>{link}</body></html>"
    )
