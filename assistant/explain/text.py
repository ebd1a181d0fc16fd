"""Small text helpers: quoting flow text safely, numbers, durations, lists, labels.

Everything a flow author typed (names, comments, topics, code) reaches the output only
through `quote` or `show`, which escape control and invisible format characters, so a
name cannot forge extra lines, terminal escapes or right-to-left tricks in the report.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

PLACEHOLDER_NAMES = frozenset({"", "_DEFAULT_"})


def _escape_invisible(text: str) -> str:
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Zl", "Zp") and char not in "\n\t":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)].rstrip() + "…"


def quote(value: Any, limit: int = 80) -> str:
    """Flow text as a double-quoted, escaped literal: always one line, never markup."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    dumped = json.dumps(shorten(text, limit), ensure_ascii=False)
    return _escape_invisible(dumped)


def show(value: Any, limit: int = 80) -> str:
    """Flow text shown bare where it reads better (topics, paths, addresses), still escaped:
    text with spaces, quotes or anything odd falls back to `quote`."""
    text = value if isinstance(value, str) else str(value)
    plain = all(c.isprintable() and not c.isspace() and c not in '"\\' for c in text)
    if text and len(text) <= limit and plain:
        return _escape_invisible(text)
    return quote(text, limit)


def text_of(value: Any) -> str:
    """A property as text: strings stripped, numbers without a trailing .0, others empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return ""


def number(value: Any) -> float | None:
    """A numeric property (Node-RED stores many as strings), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip():
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def num(value: float) -> str:
    value = float(value)  # ints have no is_integer() before Python 3.12
    return str(int(value)) if value.is_integer() else f"{value:g}"


def truthy(value: Any, default: bool = False) -> bool:
    """Node-RED's booleans arrive as true/false or "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no", ""):
            return False if lowered else default
    if isinstance(value, (int, float)):
        return bool(value)
    return default


_UNIT_SECONDS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}


def unit_seconds(unit: Any, default: float = 1.0) -> float:
    return _UNIT_SECONDS.get(str(unit).strip().lower(), default) if unit is not None else default


def duration(seconds: float) -> str:
    """5 -> "5 s", 300 -> "5 min", 0.25 -> "250 ms", 7200 -> "2 h"."""
    if seconds <= 0:
        return "0 s"
    if seconds < 1:
        return f"{num(round(seconds * 1000, 3))} ms"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and (seconds / size).is_integer():
            return f"{num(seconds / size)} {unit}"
    return f"{num(round(seconds, 3))} s"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def join_words(items: Iterable[str], last: str = "and") -> str:
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def node_name(node: Mapping[str, Any]) -> str | None:
    key = "label" if node.get("type") == "tab" else "name"
    name = node.get(key)
    if isinstance(name, str) and name.strip() not in PLACEHOLDER_NAMES:
        return name.strip()
    return None


def label(node: Mapping[str, Any]) -> str:
    """How a node is named in prose: its type, then its quoted name when it has one."""
    node_type = node.get("type")
    shown_type = node_type if isinstance(node_type, str) else "node"
    if shown_type.startswith("subflow:"):
        shown_type = "subflow"
    name = node_name(node)
    return f"{shown_type} {quote(name, 60)}" if name else shown_type


def msg_path(path: Any, kind: Any = "msg") -> str:
    """A property reference such as msg.payload, flow context x, env var NAME."""
    text = text_of(path) or "payload"
    kind = str(kind or "msg")
    if kind == "msg":
        return f"msg.{show(text, 60)}"
    if kind in ("flow", "global"):
        return f"{kind} context {show(text, 60)}"
    if kind == "env":
        return f"env var {show(text, 60)}"
    if kind == "jsonata":
        return f"the JSONata expression {quote(text, 60)}"
    return show(text, 60)


def typed_value(value: Any, kind: Any) -> str:
    """A value written with its Node-RED "typed input" type (str, num, msg, json, ...)."""
    kind = str(kind or "str")
    text = text_of(value) if not isinstance(value, (dict, list)) else json.dumps(value)
    if kind == "num":
        return show(text or "0", 30)
    if kind == "bool":
        return "true" if truthy(value) else "false"
    if kind in ("msg", "flow", "global", "env", "jsonata"):
        return msg_path(value, kind)
    if kind == "date":
        return "the current time"
    if kind == "json":
        return f"the JSON {quote(text, 50)}"
    if kind == "bin":
        return "a byte buffer"
    if kind == "prev":
        return "the previous value"
    if kind in ("nul", "none"):
        return "nothing"
    return quote(text, 50)
