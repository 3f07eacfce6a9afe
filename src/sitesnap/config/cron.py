"""Five-field crontab expressions, checked without a scheduler library.

The config speaks standard crontab (``minute hour day-of-month month
day-of-week``; 0 and 7 are Sunday; names ``jan``..``dec`` and ``sun``..``sat``;
``*``, ``a-b``, ``*/n``, ``a-b/n``, lists with ``,``; ``@hourly``, ``@daily``,
``@weekly``, ``@monthly``, ``@yearly``).  :func:`parse_cron` checks every
field and range and returns a :class:`CronSpec`.

APScheduler 3 numbers weekdays from Monday (0 = Monday), unlike crontab, and
ANDs day-of-month with day-of-week where crontab ORs them.  So
:meth:`CronSpec.trigger_fields` spells the weekdays as names, which mean the
same in both, and :func:`parse_cron` refuses expressions that restrict both
day fields, whose meaning would differ.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CronSpec", "parse_cron"]

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names for lowest.. or None)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...] | None], ...] = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


@dataclass(frozen=True)
class CronSpec:
    """A checked crontab expression; ``values`` are the allowed numbers per field."""

    expression: str
    minute: frozenset[int]
    hour: frozenset[int]
    day: frozenset[int]
    month: frozenset[int]
    day_of_week: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    fields: tuple[str, str, str, str, str]

    def trigger_fields(self) -> dict[str, str]:
        """Keyword arguments for ``apscheduler.triggers.cron.CronTrigger`` with crontab meaning.

        Weekdays are given by name (``"sun,tue"``) because APScheduler 3
        reads weekday numbers from Monday.
        """
        minute, hour, day, month, _ = self.fields
        if len(self.day_of_week) == 7:
            days = "*"
        else:
            days = ",".join(_DAYS[d] for d in sorted(self.day_of_week, key=lambda d: (d - 1) % 7))
        return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": days}


def parse_cron(expression: str) -> CronSpec:
    """Check ``expression``; raise :class:`ValueError` naming the bad field."""
    text = " ".join(expression.split())
    text = _MACROS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise ValueError(
            f"cron expression {expression!r} has {len(parts)} fields; "
            'need 5: minute hour day-of-month month day-of-week, e.g. "0 2 * * 0"'
        )
    try:
        values = [_parse_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    except ValueError as exc:
        raise ValueError(f"cron expression {expression!r}: {exc}") from None
    day_of_week = frozenset(d % 7 for d in values[4])
    if not parts[2].startswith("*") and not parts[4].startswith("*"):
        raise ValueError(
            f"cron expression {expression!r} restricts both day of month and day of week; "
            "restrict only one"
        )
    fields = (parts[0], parts[1], parts[2], parts[3].lower(), parts[4].lower())
    return CronSpec(text, values[0], values[1], values[2], values[3], day_of_week, fields)


def _parse_field(
    text: str, name: str, low: int, high: int, names: tuple[str, ...] | None
) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        out.update(_parse_item(item, name, low, high, names))
    return frozenset(out)


def _parse_item(
    item: str, name: str, low: int, high: int, names: tuple[str, ...] | None
) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"{name}: invalid step in {item!r}")
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        start, _, end = base.partition("-")
        first = _number(start, name, low, high, names)
        last = _number(end, name, low, high, names)
        if first > last:
            raise ValueError(f"{name}: range {base!r} runs backwards")
    else:
        first = _number(base, name, low, high, names)
        last = high if slash else first
    return range(first, last + 1, step)


def _number(text: str, name: str, low: int, high: int, names: tuple[str, ...] | None) -> int:
    if names is not None and text.lower() in names:
        return names.index(text.lower()) + low
    if not text.isdigit():
        raise ValueError(f"{name}: {text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is outside {low}-{high}")
    return value
