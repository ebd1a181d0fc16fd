"""When a crontab fires next: 5 fields (minute hour day-of-month month day-of-week) or 6
(seconds first), with `*`, lists, ranges, steps and month/day names, in local time.
`flowschema.cron.check_cron` validates the expression first, so errors read the same."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from flowschema.cron import check_cron

_NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
          "sep": 9, "oct": 10, "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3,
          "thu": 4, "fri": 5, "sat": 6}


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = int(_NAMES.get(a, a)), int(_NAMES.get(b, b))
        else:
            start = int(_NAMES.get(part, part))
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    if high == 7 and 7 in values:  # day of week: 7 is Sunday too
        values.add(0)
    return frozenset(values)


class CronSchedule:
    def __init__(self, expression: str) -> None:
        check_cron(expression)
        fields = expression.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        self.seconds = _field(fields[0], 0, 59)
        self.minutes = _field(fields[1], 0, 59)
        self.hours = _field(fields[2], 0, 23)
        self.days = _field(fields[3], 1, 31)
        self.months = _field(fields[4], 1, 12)
        self.weekdays = _field(fields[5], 0, 7)
        self._any_day = fields[3] in ("*", "?")
        self._any_weekday = fields[5] in ("*", "?")

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Monday=1 ... Sunday=0, as cron counts
        if self._any_day or self._any_weekday:
            return moment.day in self.days and weekday in self.weekdays
        return moment.day in self.days or weekday in self.weekdays  # cron's OR rule

    def next_after(self, timestamp: float | None = None) -> float:
        """The first matching time strictly after `timestamp` (epoch seconds)."""
        start = datetime.fromtimestamp(timestamp if timestamp is not None else time.time())
        moment = start.replace(microsecond=0) + timedelta(seconds=1)
        limit = moment + timedelta(days=366 * 5)
        while moment < limit:
            if moment.month not in self.months or not self._day_matches(moment):
                moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if moment.hour not in self.hours:
                moment = (moment + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if moment.minute not in self.minutes:
                moment = (moment + timedelta(minutes=1)).replace(second=0)
                continue
            if moment.second not in self.seconds:
                moment += timedelta(seconds=1)
                continue
            return moment.timestamp()
        raise ValueError("the schedule never fires")
