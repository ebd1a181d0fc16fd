"""Syntax check for inject-node cron expressions, as Node-RED's scheduler accepts them.

Node-RED 4 schedules with cronosjs: 5 fields (minute hour day-of-month month day-of-week),
6 (seconds first) or 7 (a year last), the usual `*`, lists, ranges and steps, month and
weekday names, the Quartz extras `?`, `L`, `W` and `#`, and the @-shortcuts.
"""

from __future__ import annotations

import re

_SHORTCUTS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

# (name, low, high, names) per field, for the 5/6/7-field layouts.
_SECOND = ("second", 0, 59, None)
_MINUTE = ("minute", 0, 59, None)
_HOUR = ("hour", 0, 23, None)
_DOM = ("day of month", 1, 31, None)
_MONTH = ("month", 1, 12, _MONTHS)
_DOW = ("day of week", 0, 7, _DAYS)
_YEAR = ("year", 1970, 2099, None)
_LAYOUTS = {
    5: (_MINUTE, _HOUR, _DOM, _MONTH, _DOW),
    6: (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW),
    7: (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW, _YEAR),
}
_DOM_SPECIAL = re.compile(r"^(L(-\d{1,2})?|LW|\d{1,2}W)$", re.IGNORECASE)
_DOW_SPECIAL = re.compile(r"^(\w{1,3}L|\w{1,3}#[1-5])$", re.IGNORECASE)


class CronError(ValueError):
    pass


def _value(text: str, field: tuple[str, int, int, dict[str, int] | None]) -> int:
    name, low, high, names = field
    if names and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"{name} field: {text!r} is not a number" + (" or a name" if names else ""))
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{name} field: {number} is outside {low}-{high}")
    return number


def _check_field(text: str, field: tuple[str, int, int, dict[str, int] | None]) -> None:
    name = field[0]
    if text == "":
        raise CronError(f"{name} field is empty")
    for part in text.split(","):
        if part in ("*", "?"):
            if part == "?" and field not in (_DOM, _DOW):
                raise CronError("'?' is only allowed for day of month or day of week")
            continue
        if field is _DOM and _DOM_SPECIAL.match(part):
            continue
        if field is _DOW and _DOW_SPECIAL.match(part):
            base = re.split(r"[L#]", part, maxsplit=1, flags=re.IGNORECASE)[0]
            _value(base, field)
            continue
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise CronError(f"{name} field: step {step!r} must be a positive whole number")
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first = _value(start, field)
        if dash:
            last = _value(end, field)
            if last < first:
                raise CronError(f"{name} field: range {base!r} runs backwards")


def check_cron(expression: str) -> None:
    """Raise CronError with a precise reason when `expression` would not schedule."""
    text = expression.strip()
    if text.lower() in _SHORTCUTS:
        return
    fields = text.split()
    layout = _LAYOUTS.get(len(fields))
    if layout is None:
        raise CronError(
            f"expected 5 fields (minute hour day month weekday), 6 (seconds first) or 7, "
            f"found {len(fields)}"
        )
    for part, field in zip(fields, layout, strict=True):
        _check_field(part, field)
