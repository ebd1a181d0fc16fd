"""JavaScript's rules for values, for the nodes that must follow them.

Flows are written and tested against Node-RED, whose nodes are JavaScript: a switch rule
`== 5` matches the string "5", a join node prints 0.000001 rather than 1e-06, a delay reads
"0x10" as 16. For a flow to behave here as it does there, the nodes convert, compare and
print values as JavaScript would, and they all do it through this module: String() and
Number(), parseFloat(), `==`, `===`, `<`, truthiness, Array.join, JSON.parse, and regular
expressions with `String.replace`. Nothing here knows about nodes or messages.

Python has one None where JavaScript has `undefined` and `null`. Here None means
`undefined` (what a missing property gives) unless a caller says otherwise: `to_number`
takes what None should count as, since Number(null) is 0 where Number(undefined) is NaN.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any


class JSError(ValueError):
    """What JavaScript would throw: an invalid regular expression or JSON, a template that
    mustache.js refuses (an unclosed or unopened section)."""


# -- conversions -----------------------------------------------------------------------------
_NUMERIC = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_LEADING_NUMBER = re.compile(r"\s*([+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))")


def to_number(value: Any, none: float = math.nan) -> float:
    """Number(value) in JavaScript (NaN where JavaScript gives NaN). `none` is what None
    gives: NaN as for `undefined`, or 0 where the caller's None stands for `null`."""
    if value is None:
        return none
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if _RADIX.fullmatch(text):
            return float(int(text, 0))
        if _NUMERIC.fullmatch(text):
            return float(text.replace("Infinity", "inf"))
        return math.nan
    if isinstance(value, list | bytes | bytearray):
        return to_number(js_string(value))
    return math.nan


def parse_float(value: Any) -> float:
    """parseFloat(value) in JavaScript: the number the text starts with, else NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _LEADING_NUMBER.match(js_string(value))
    return float(match.group(1).replace("Infinity", "inf")) if match else math.nan


def tidy(number: float) -> int | float:
    """A whole finite float as an int, so that 50.0 reads (and serialises) as 50."""
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    return number


def format_number(value: float) -> str:
    """A number as JavaScript prints it: `1` not `1.0`, `1e+21`, `1e-7`, `NaN`."""
    if isinstance(value, int):
        value = float(value) if abs(value) >= 10 ** 21 else value
        if isinstance(value, int):
            return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), len(digits) + int(exponent)
    text = ("-" if value < 0 else "")
    if k <= n <= 21:
        return text + digits + "0" * (n - k)
    if 0 < n <= 21:
        return text + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return text + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{text}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def js_string(value: Any) -> str:
    """String(value) in JavaScript; None stands for `undefined`."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return array_join(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def array_join(values: Iterable[Any], separator: Any = None) -> str:
    """`values.join(separator)` in JavaScript: None elements as "", and "," when no
    separator is given."""
    text = "," if separator is None else js_string(separator)
    return text.join("" if v is None else js_string(v) for v in values)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: 0, NaN, "", false, null are falsy; {} and [] are not."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float):
        return not (value == 0 or math.isnan(value))
    return True


# -- comparisons -----------------------------------------------------------------------------
def _primitive(value: Any) -> Any:
    return js_string(value) if isinstance(value, dict | list | bytes | bytearray) else value


def loose_equal(a: Any, b: Any) -> bool:
    """`a == b` in JavaScript."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return loose_equal(int(a) if isinstance(a, bool) else a, int(b) if isinstance(b, bool)
                           else b)
    objects = (dict, list, bytes, bytearray)
    if isinstance(a, objects) and isinstance(b, objects):
        return a is b
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return to_number(a) == to_number(b)


def strict_equal(a: Any, b: Any) -> bool:
    """`a === b` in JavaScript, but deep for objects and arrays, as Node-RED compares
    payloads (1 and true differ, 1 and 1.0 do not, NaN differs from itself)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 as JavaScript's `<` would see `a` and `b`; None where it says neither
    (a NaN)."""
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


# -- JSON and regular expressions ------------------------------------------------------------
def parse_json(text: Any) -> Any:
    """JSON.parse: strict JSON (no NaN or Infinity), the argument read as a string."""

    def refuse(name: str) -> Any:
        raise ValueError(f"Unexpected token {name}")

    return json.loads(js_string(text), parse_constant=refuse)


def js_regex(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A JavaScript regular expression in Python's dialect (named groups renamed)."""
    source = re.sub(r"\(\?<(?![=!])", "(?P<", source)
    source = re.sub(r"\\k<(\w+)>", r"(?P=\1)", source)
    try:
        return re.compile(source, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise JSError(f"Invalid regular expression: /{source}/: {exc}") from exc


_DOLLAR = re.compile(r"\$(\$|&|`|'|\d{1,2}|<[^>]*>)")


def js_replace(pattern: re.Pattern[str], text: str, replacement: str) -> str:
    """`text.replace(/pattern/g, replacement)` with JavaScript's `$&`, `$1`, `$<name>`."""

    def expand(match: re.Match[str]) -> str:
        def one(token: re.Match[str]) -> str:
            code = token.group(1)
            if code == "$":
                return "$"
            if code == "&":
                return match.group(0)
            if code == "`":
                return match.string[:match.start()]
            if code == "'":
                return match.string[match.end():]
            if code.startswith("<"):
                if not pattern.groupindex:
                    return token.group(0)
                return (match.group(code[1:-1]) or "") if code[1:-1] in pattern.groupindex \
                    else ""
            if len(code) == 2 and 1 <= int(code) <= pattern.groups:
                return match.group(int(code)) or ""
            if 1 <= int(code[0]) <= pattern.groups:
                return (match.group(int(code[0])) or "") + code[1:]
            return token.group(0)

        return _DOLLAR.sub(one, replacement)

    return pattern.sub(expand, text)
