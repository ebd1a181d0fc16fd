"""What Node-RED adds around JSONata, for Plumb's jsonata-python wrapper.

Node-RED does more than hand an expression to JSONata (see docs/runtime-jsonata.md):

* an expression that names `msg` as a word (`msg.payload * 2`) is evaluated against
  `{"msg": message}` instead of the message itself: `uses_msg_prefix`, `evaluation_input`;
* it registers `$flowContext(key[, store])`, `$globalContext(key[, store])`, `$env(name)`
  and `$moment(...)` (moment-timezone): `node_red_bindings`, `moment`;
* a JSON null in the message stays null, a null result sets the property to null.

Plumb keeps JSON null and `undefined` both as None. jsonata-python reads a None inside the
input as null when it looks a key up, but as `undefined` when it iterates an array or an
object ($map, $each, predicates): `to_jsonata` hands it Utils.NULL_VALUE instead, and
`from_jsonata` turns the result back into Plumb's values. `evaluate` does the whole round
trip and says whether the result was null (a change node then writes null, not delete).

`moment` covers the part of moment.js that flows use: parsing (numbers, ISO text, a
format), format tokens in the English locale, time zones by IANA name, add/subtract,
startOf/endOf, diff, comparisons and getters. Anything else is "not a function" there, as
a misspelt method is in Node-RED.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# -- the message, in and out ------------------------------------------------------------------
# `msg` as a word of its own: not part of a longer name, not in quotes, not a field (`a.msg`).
_MSG_WORD = re.compile(r"(?<![A-Za-z0-9_'\".])msg(?![A-Za-z0-9_'\"])")


def uses_msg_prefix(expression: str) -> bool:
    """True where Node-RED evaluates `expression` against {"msg": message}."""
    return _MSG_WORD.search(expression) is not None


def evaluation_input(expression: str, msg: Any) -> Any:
    """What Node-RED evaluates `expression` against: the message, or {"msg": message}."""
    return {"msg": msg} if uses_msg_prefix(expression) else msg


def _null() -> Any:
    from jsonata import utils

    return utils.Utils.NULL_VALUE


def to_jsonata(value: Any) -> Any:
    """A copy of `value` for jsonata-python: a None inside a dict or list (a JSON null in
    Plumb's values) becomes the library's null. A None at the top stays None (undefined).
    Values that are not dicts or lists (bytes, request objects) pass through unchanged:
    evaluate with input validation off so that they do not fail the whole expression."""
    null = _null()

    def convert(item: Any) -> Any:
        if item is None:
            return null
        if isinstance(item, dict) and not isinstance(item, Moment):
            return {key: convert(sub) for key, sub in item.items()}
        if isinstance(item, list | tuple):
            return [convert(sub) for sub in item]
        return item

    return None if value is None else convert(value)


def from_jsonata(value: Any) -> Any:
    """A jsonata-python result as Plumb's plain values: lists instead of the library's
    sequences, None for null, bytes for bytearray, an ISO text for a moment (what a moment
    turns into when Node-RED serialises it). Always a copy."""
    null = _null()
    if value is None or value is null:
        return None
    if isinstance(value, Moment):
        return value.to_iso()
    if isinstance(value, dict):
        return {key: from_jsonata(sub) for key, sub in value.items()}
    if isinstance(value, list | tuple):
        return [from_jsonata(sub) for sub in value]
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def prepare(compiled: Any) -> Any:
    """Set a parsed `jsonata.Jsonata` up for `evaluate`: no input validation (a message may
    hold bytes or request objects), nulls kept in the result. Returns it."""
    compiled.set_validate_input(False)
    compiled.set_output_convert_nulls(False)
    return compiled


def evaluate(compiled: Any, expression: str, msg: Any,
             bindings: Mapping[str, Any] | None = None) -> tuple[Any, bool]:
    """Evaluate a `prepare`d expression as Node-RED does: (Plumb value, result was null)."""
    raw = compiled.evaluate(to_jsonata(evaluation_input(expression, msg)),
                            dict(bindings) if bindings is not None else None)
    return from_jsonata(raw), raw is _null()


def node_red_bindings(flow: Callable[[str], Any], global_: Callable[[str], Any],
                      env: Callable[[str], Any]) -> dict[str, Any]:
    """$flowContext, $globalContext (a second argument, the store, is accepted and ignored:
    Plumb has one store), $env and $moment, for `evaluate`'s bindings."""
    from jsonata import jsonata as jsonata_module

    lam = jsonata_module.Jsonata.JLambda

    def flow_context(key: Any, store: Any = None) -> Any:
        return to_jsonata(flow(str(key)))

    def global_context(key: Any, store: Any = None) -> Any:
        return to_jsonata(global_(str(key)))

    def env_value(name: Any) -> Any:
        value = env(str(name))
        return "" if value is None else to_jsonata(value)

    return {"flowContext": lam(flow_context), "globalContext": lam(global_context),
            "env": lam(env_value), "moment": lam(moment)}


# -- $moment ----------------------------------------------------------------------------------
_MONTHS = [calendar.month_name[i] for i in range(1, 13)]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_LOCAL_FORMATS = {  # the English locale's long date formats
    "LTS": "h:mm:ss A", "LT": "h:mm A", "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "LLL": "MMMM D, YYYY h:mm A", "LL": "MMMM D, YYYY", "L": "MM/DD/YYYY",
    "llll": "ddd, MMM D, YYYY h:mm A", "lll": "MMM D, YYYY h:mm A", "ll": "MMM D, YYYY",
    "l": "M/D/YYYY",
}
_LOCAL_TOKENS = re.compile(r"\[[^\]]*\]|LTS|LT|L{1,4}|l{1,4}")
_TOKENS = re.compile(
    r"\[[^\]]*\]|YYYY|YY|Y|gggg|GGGG|Qo|Q|MMMM|MMM|MM|Mo|M|DDDD|DDDo|DDD|Do|DD|D|dddd|ddd|dd"
    r"|do|d|E|e|wo|ww|w|Wo|WW|W|HH|H|hh|h|kk|k|mm|m|ss|s|S{1,9}|A|a|ZZ|Z|zz|z|X|x")
_UNITS = {
    "y": "year", "year": "year", "years": "year", "Q": "quarter", "quarter": "quarter",
    "quarters": "quarter", "M": "month", "month": "month", "months": "month", "w": "week",
    "week": "week", "weeks": "week", "isoWeek": "isoWeek", "d": "day", "day": "day",
    "days": "day", "date": "day", "h": "hour", "hour": "hour", "hours": "hour",
    "m": "minute", "minute": "minute", "minutes": "minute", "s": "second",
    "second": "second", "seconds": "second", "ms": "millisecond",
    "millisecond": "millisecond", "milliseconds": "millisecond",
}
_FIXED_MS = {"week": 604_800_000, "day": 86_400_000, "hour": 3_600_000, "minute": 60_000,
             "second": 1000, "millisecond": 1}


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _unit(name: Any) -> str:
    unit = _UNITS.get(str(name)) or _UNITS.get(str(name).lower())
    if unit is None:
        raise ValueError(f"$moment: unknown unit {name!r}")
    return unit


def _locale_week(day: datetime) -> tuple[int, int]:
    """(week, week-year) in the English locale: weeks start on Sunday, and week 1 is the
    one holding 1 January, so a week belongs to the year of its Saturday."""
    saturday = day.date() + timedelta(days=6 - (day.weekday() + 1) % 7)
    first = saturday.replace(month=1, day=1)
    first_saturday = first + timedelta(days=(5 - first.weekday()) % 7)
    return (saturday - first_saturday).days // 7 + 1, saturday.year


class Moment(dict[str, Any]):
    """A moment: an instant in milliseconds (None when invalid) and a zone, "local",
    "utc" or a ZoneInfo. A dict of the methods, so that `$moment(x).format(...)` finds
    them as keys the way JSONata finds a JavaScript object's methods."""

    def __init__(self, ms: int | None, zone: str | tzinfo = "local") -> None:
        super().__init__()
        from jsonata import jsonata as jsonata_module

        lam = jsonata_module.Jsonata.JLambda
        self.ms = ms
        self.zone = zone
        methods: dict[str, Callable[..., Any]] = {
            "format": self.format, "tz": self.tz, "utc": self.utc, "local": self.local,
            "add": self.add, "subtract": self.subtract, "startOf": self.start_of,
            "endOf": self.end_of, "valueOf": self.value_of, "unix": self.unix,
            "toISOString": self.to_iso, "toJSON": self.to_iso, "isValid": self.is_valid,
            "diff": self.diff, "isBefore": self.is_before, "isAfter": self.is_after,
            "isSame": self.is_same, "clone": self.clone,
            "year": lambda: self._get("year"), "month": lambda: self._get("month"),
            "date": lambda: self._get("date"), "day": lambda: self._get("day"),
            "hour": lambda: self._get("hour"), "minute": lambda: self._get("minute"),
            "second": lambda: self._get("second"),
            "millisecond": lambda: self._get("millisecond"),
        }
        for name, method in methods.items():
            self[name] = lam(method)

    # -- the zone -------------------------------------------------------------------------
    def _wall(self) -> datetime:
        """The instant as an aware datetime in this moment's zone."""
        assert self.ms is not None
        instant = datetime.fromtimestamp(self.ms / 1000, UTC)
        if self.zone == "utc":
            return instant
        if self.zone == "local":
            return instant.astimezone()
        assert isinstance(self.zone, tzinfo)
        return instant.astimezone(self.zone)

    def _from_wall(self, wall: datetime) -> Moment:
        """The moment whose wall-clock time in this zone is `wall` (naive)."""
        if self.zone == "utc":
            aware = wall.replace(tzinfo=UTC)
        elif self.zone == "local":
            aware = wall.astimezone()
        else:
            assert isinstance(self.zone, tzinfo)
            aware = wall.replace(tzinfo=self.zone)
        return Moment(round(aware.timestamp() * 1000), self.zone)

    def tz(self, name: Any) -> Moment:
        try:
            return Moment(self.ms, ZoneInfo(str(name)))
        except (ZoneInfoNotFoundError, ValueError):
            return self.clone()  # moment-timezone, too, leaves the zone as it was

    def utc(self) -> Moment:
        return Moment(self.ms, "utc")

    def local(self) -> Moment:
        return Moment(self.ms, "local")

    def clone(self) -> Moment:
        return Moment(self.ms, self.zone)

    # -- reading --------------------------------------------------------------------------
    def is_valid(self) -> bool:
        return self.ms is not None

    def value_of(self) -> float:
        return math.nan if self.ms is None else self.ms

    def unix(self) -> float:
        return math.nan if self.ms is None else self.ms // 1000

    def to_iso(self) -> Any:
        if self.ms is None:
            return None
        return Moment(self.ms, "utc").format("YYYY-MM-DDTHH:mm:ss.SSS[Z]")

    def _get(self, part: str) -> int:
        wall = self._wall()
        return {"year": wall.year, "month": wall.month - 1, "date": wall.day,
                "day": (wall.weekday() + 1) % 7, "hour": wall.hour, "minute": wall.minute,
                "second": wall.second, "millisecond": wall.microsecond // 1000}[part]

    # -- formatting -----------------------------------------------------------------------
    def format(self, pattern: Any = None) -> str:
        if self.ms is None:
            return "Invalid date"
        if pattern is None:
            pattern = "YYYY-MM-DDTHH:mm:ss[Z]" if self.zone == "utc" else "YYYY-MM-DDTHH:mm:ssZ"
        text = _LOCAL_TOKENS.sub(
            lambda m: m.group(0) if m.group(0).startswith("[") else _LOCAL_FORMATS[m.group(0)],
            str(pattern))
        wall = self._wall()
        return _TOKENS.sub(lambda m: self._token(m.group(0), wall), text)

    def _offset(self, wall: datetime, colon: bool) -> str:
        offset = wall.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        hours, mins = divmod(abs(minutes), 60)
        return f"{sign}{hours:02d}{':' if colon else ''}{mins:02d}"

    def _token(self, token: str, wall: datetime) -> str:
        if token.startswith("["):
            return token[1:-1]
        if token.startswith("S"):
            return f"{wall.microsecond // 1000:03d}000000"[:len(token)]
        day_of_year = wall.timetuple().tm_yday
        week, week_year = _locale_week(wall)
        iso_year, iso_week, iso_day = wall.isocalendar()
        hour12 = wall.hour % 12 or 12
        quarter = (wall.month - 1) // 3 + 1
        weekday = (wall.weekday() + 1) % 7
        zone_name = ("UTC" if self.zone == "utc" else
                     "" if self.zone == "local" else (wall.tzname() or ""))
        values: dict[str, Callable[[], str]] = {
            "YYYY": lambda: f"{wall.year:04d}", "YY": lambda: f"{wall.year % 100:02d}",
            "Y": lambda: str(wall.year), "gggg": lambda: f"{week_year:04d}",
            "GGGG": lambda: f"{iso_year:04d}", "Q": lambda: str(quarter),
            "Qo": lambda: _ordinal(quarter), "MMMM": lambda: _MONTHS[wall.month - 1],
            "MMM": lambda: _MONTHS[wall.month - 1][:3], "MM": lambda: f"{wall.month:02d}",
            "Mo": lambda: _ordinal(wall.month), "M": lambda: str(wall.month),
            "DDDD": lambda: f"{day_of_year:03d}", "DDDo": lambda: _ordinal(day_of_year),
            "DDD": lambda: str(day_of_year), "Do": lambda: _ordinal(wall.day),
            "DD": lambda: f"{wall.day:02d}", "D": lambda: str(wall.day),
            "dddd": lambda: _DAYS[weekday], "ddd": lambda: _DAYS[weekday][:3],
            "dd": lambda: _DAYS[weekday][:2], "do": lambda: _ordinal(weekday),
            "d": lambda: str(weekday), "E": lambda: str(iso_day), "e": lambda: str(weekday),
            "wo": lambda: _ordinal(week), "ww": lambda: f"{week:02d}", "w": lambda: str(week),
            "Wo": lambda: _ordinal(iso_week), "WW": lambda: f"{iso_week:02d}",
            "W": lambda: str(iso_week), "HH": lambda: f"{wall.hour:02d}",
            "H": lambda: str(wall.hour), "hh": lambda: f"{hour12:02d}",
            "h": lambda: str(hour12), "kk": lambda: f"{wall.hour or 24:02d}",
            "k": lambda: str(wall.hour or 24), "mm": lambda: f"{wall.minute:02d}",
            "m": lambda: str(wall.minute), "ss": lambda: f"{wall.second:02d}",
            "s": lambda: str(wall.second), "A": lambda: "AM" if wall.hour < 12 else "PM",
            "a": lambda: "am" if wall.hour < 12 else "pm",
            "ZZ": lambda: self._offset(wall, False), "Z": lambda: self._offset(wall, True),
            "z": lambda: zone_name,
            "zz": lambda: "Coordinated Universal Time" if self.zone == "utc" else zone_name,
            "X": lambda: str(self.unix()), "x": lambda: str(self.ms),
        }
        return values[token]()

    # -- arithmetic -----------------------------------------------------------------------
    def add(self, amount: Any, unit: Any = "ms") -> Moment:
        if self.ms is None:
            return self
        count, name = float(amount), _unit(unit)
        if name in ("year", "quarter", "month"):
            months = round(count) * {"year": 12, "quarter": 3, "month": 1}[name]
            wall = self._wall().replace(tzinfo=None)
            index = wall.year * 12 + wall.month - 1 + months
            year, month = divmod(index, 12)
            day = min(wall.day, calendar.monthrange(year, month + 1)[1])
            return self._from_wall(wall.replace(year=year, month=month + 1, day=day))
        if name in ("week", "day"):  # calendar days: the wall-clock time is kept over DST
            days = round(count) * (7 if name == "week" else 1)
            return self._from_wall(self._wall().replace(tzinfo=None) + timedelta(days=days))
        return Moment(self.ms + round(count * _FIXED_MS[name]), self.zone)

    def subtract(self, amount: Any, unit: Any = "ms") -> Moment:
        return self.add(-float(amount), unit)

    def start_of(self, unit: Any) -> Moment:
        if self.ms is None:
            return self
        name = _unit(unit)
        wall = self._wall().replace(tzinfo=None)
        if name == "millisecond":
            return self.clone()
        wall = wall.replace(microsecond=0)
        if name == "second":
            return self._from_wall(wall)
        wall = wall.replace(second=0)
        if name == "minute":
            return self._from_wall(wall)
        wall = wall.replace(minute=0)
        if name == "hour":
            return self._from_wall(wall)
        wall = wall.replace(hour=0)
        if name == "day":
            return self._from_wall(wall)
        if name == "week":
            return self._from_wall(wall - timedelta(days=(wall.weekday() + 1) % 7))
        if name == "isoWeek":
            return self._from_wall(wall - timedelta(days=wall.weekday()))
        if name == "month":
            return self._from_wall(wall.replace(day=1))
        if name == "quarter":
            return self._from_wall(wall.replace(month=(wall.month - 1) // 3 * 3 + 1, day=1))
        return self._from_wall(wall.replace(month=1, day=1))

    def end_of(self, unit: Any) -> Moment:
        if self.ms is None:
            return self
        name = _unit(unit)
        following = self.start_of(name).add(1, "isoWeek" if name == "isoWeek" else name)
        assert following.ms is not None
        return Moment(following.ms - 1, self.zone)

    def diff(self, other: Any, unit: Any = "ms", precise: Any = False) -> float:
        that = moment(other)
        if self.ms is None or that.ms is None:
            return math.nan
        name = _unit(unit)
        if name in ("year", "quarter", "month"):
            value = self._month_diff(that) / {"year": 12, "quarter": 3, "month": 1}[name]
        else:
            value = (self.ms - that.ms) / _FIXED_MS["week" if name == "isoWeek" else name]
        if precise:
            return value
        return math.trunc(value)  # whole units, towards zero

    def _month_diff(self, other: Moment) -> float:
        """Months from `other` to this moment: whole calendar months, plus the fraction of
        the month in which the difference ends (as moment.js counts them)."""
        that = Moment(other.ms, self.zone)
        a, b = self._wall(), that._wall()
        whole = (a.year - b.year) * 12 + (a.month - b.month)
        anchor = that.add(whole, "month")
        assert self.ms is not None and anchor.ms is not None
        if self.ms < anchor.ms:
            before = that.add(whole - 1, "month")
            assert before.ms is not None
            fraction = (self.ms - anchor.ms) / (anchor.ms - before.ms)
        else:
            after = that.add(whole + 1, "month")
            assert after.ms is not None
            fraction = (self.ms - anchor.ms) / (after.ms - anchor.ms)
        return whole + fraction

    def is_before(self, other: Any, unit: Any = None) -> bool:
        that = moment(other)
        return self.ms is not None and that.ms is not None and self.ms < that.ms

    def is_after(self, other: Any, unit: Any = None) -> bool:
        that = moment(other)
        return self.ms is not None and that.ms is not None and self.ms > that.ms

    def is_same(self, other: Any, unit: Any = None) -> bool:
        that = moment(other)
        if unit is not None and self.ms is not None and that.ms is not None:
            return self.start_of(unit).ms == Moment(that.ms, self.zone).start_of(unit).ms
        return self.ms is not None and self.ms == that.ms


# -- parsing --------------------------------------------------------------------------------
_PARSE_TOKENS = re.compile(r"\[[^\]]*\]|YYYY|YY|MMMM|MMM|MM|M|Do|DD|D|HH|H|hh|h|kk|k|mm|m"
                           r"|ss|s|S{1,9}|A|a|ZZ|Z|X|x|dddd|ddd")
_PARSE_PATTERNS = {
    "YYYY": r"(?P<year>\d{4})", "YY": r"(?P<yy>\d{2})",
    "MMMM": r"(?P<mon>[A-Za-z]+)", "MMM": r"(?P<mon>[A-Za-z]{3})",
    "MM": r"(?P<month>\d\d?)", "M": r"(?P<month>\d\d?)",
    "Do": r"(?P<day>\d\d?)(?:st|nd|rd|th)", "DD": r"(?P<day>\d\d?)", "D": r"(?P<day>\d\d?)",
    "HH": r"(?P<hour>\d\d?)", "H": r"(?P<hour>\d\d?)", "hh": r"(?P<hour>\d\d?)",
    "h": r"(?P<hour>\d\d?)", "kk": r"(?P<hour>\d\d?)", "k": r"(?P<hour>\d\d?)",
    "mm": r"(?P<minute>\d\d?)", "m": r"(?P<minute>\d\d?)",
    "ss": r"(?P<second>\d\d?)", "s": r"(?P<second>\d\d?)",
    "A": r"(?P<ampm>[AaPp][Mm])", "a": r"(?P<ampm>[AaPp][Mm])",
    "ZZ": r"(?P<offset>Z|[+-]\d\d:?\d\d)", "Z": r"(?P<offset>Z|[+-]\d\d:?\d\d)",
    "X": r"(?P<unix>-?\d+(?:\.\d+)?)", "x": r"(?P<ms>-?\d+)",
    "dddd": r"[A-Za-z]+", "ddd": r"[A-Za-z]{3}",
}


def _parse_with(text: str, pattern: str) -> Moment:
    """moment(text, pattern), forgiving as moment.js is: separators match any run of
    non-alphanumeric characters, case is ignored, and text may follow the match."""
    parts, used = [], set()
    position = 0
    for match in _PARSE_TOKENS.finditer(pattern):
        parts.append(re.sub(r"[^0-9A-Za-z]+", r"[^0-9A-Za-z]*",
                            re.escape(pattern[position:match.start()])))
        token = match.group(0)
        if token.startswith("["):
            parts.append(re.escape(token[1:-1]))
        elif token.startswith("S"):
            parts.append(r"(?P<fraction>\d{1,9})" if "fraction" not in used else r"\d+")
            used.add("fraction")
        else:
            regex = _PARSE_PATTERNS[token]
            group = re.match(r"\(\?P<(\w+)>", regex)
            if group is not None and group.group(1) in used:  # a field given twice
                regex = re.sub(r"\(\?P<\w+>", "(?:", regex)
            elif group is not None:
                used.add(group.group(1))
            parts.append(regex)
        position = match.end()
    found = re.match("[^0-9A-Za-z]*" + "".join(parts), text.strip(), re.IGNORECASE)
    if found is None:
        return Moment(None)
    fields = {k: v for k, v in found.groupdict().items() if v is not None}
    if "ms" in fields:
        return Moment(int(fields["ms"]))
    if "unix" in fields:
        return Moment(round(float(fields["unix"]) * 1000))
    try:
        year = int(fields["year"]) if "year" in fields else (
            int(fields["yy"]) + (2000 if int(fields["yy"]) <= 68 else 1900)
            if "yy" in fields else datetime.now().year)
        if "mon" in fields:
            names = [m.lower() for m in _MONTHS]
            word = fields["mon"].lower()
            month = next(i for i, name in enumerate(names, 1)
                         if name == word or name[:3] == word)
        else:
            month = int(fields.get("month", 1))
        hour = int(fields.get("hour", 0))
        if "ampm" in fields:
            hour = hour % 12 + (12 if fields["ampm"].lower() == "pm" else 0)
        fraction = fields.get("fraction", "0")
        wall = datetime(year, month, int(fields.get("day", 1)), hour,
                        int(fields.get("minute", 0)), int(fields.get("second", 0)),
                        int((fraction + "000000")[:6]))
    except (ValueError, StopIteration):
        return Moment(None)
    if "offset" in fields:
        offset = fields["offset"]
        minutes = 0 if offset == "Z" else (
            int(offset[1:3]) * 60 + int(offset[-2:])) * (-1 if offset[0] == "-" else 1)
        instant = wall.replace(tzinfo=UTC) - timedelta(minutes=minutes)
        return Moment(round(instant.timestamp() * 1000))
    return Moment(round(wall.timestamp() * 1000))


_ISO_DATE = re.compile(r"^(\d{4})-?(\d\d)-?(\d\d)")


def _parse_iso(text: str) -> Moment:
    """moment(text): ISO 8601 (a date, a date and time, with or without an offset; a time
    without an offset is local). Other text is an invalid moment."""
    stripped = text.strip()
    if not _ISO_DATE.match(stripped):
        return Moment(None)
    candidate = stripped.replace(" ", "T", 1)
    if re.fullmatch(r"\d{8}", candidate):
        candidate = f"{candidate[:4]}-{candidate[4:6]}-{candidate[6:]}"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return Moment(None)
    # timestamp() reads a naive datetime as local time, as moment.js reads such text
    return Moment(round(parsed.timestamp() * 1000))


def moment(value: Any = None, pattern: Any = None, *_locale_and_strict: Any) -> Moment:
    """$moment(...) as Node-RED registers it (moment-timezone): now, a millisecond count,
    ISO 8601 text, text with a format, or another moment; shown in local time."""
    from jsonata import utils

    if value is None or value is utils.Utils.NULL_VALUE:
        return Moment(int(time.time() * 1000)) if value is None else Moment(None)
    if isinstance(value, Moment):
        return value.clone()
    if pattern is not None and isinstance(value, str):
        return _parse_with(value, str(pattern))
    if isinstance(value, bool):
        return Moment(None)
    if isinstance(value, int | float):
        return Moment(None) if not math.isfinite(value) else Moment(round(value))
    if isinstance(value, str):
        return _parse_iso(value)
    raise ValueError(f"$moment: cannot read {type(value).__name__} values in Plumb")
