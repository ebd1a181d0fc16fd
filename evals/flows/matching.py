"""Loose value comparison, node matchers and message paths over a flow."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "milliseconds": 0.001,
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def loosely_equal(actual: Any, expected: Any) -> bool:
    """Equality as an engineer means it: 100 == "100", true == "true", " a " == "a"."""
    if isinstance(expected, Mapping) and len(expected) == 1:
        ((op, arg),) = expected.items()
        if op == "any":
            return any(loosely_equal(actual, option) for option in arg)
        if op == "regex":
            return actual is not None and re.search(arg, _text(actual)) is not None
        if op == "contains":
            return actual is not None and str(arg).lower() in _text(actual).lower()
        if op == "near":
            number = _number(actual)
            return number is not None and abs(number - float(arg)) <= 1e-6
    if isinstance(expected, Mapping) and set(expected) == {"near", "tol"}:
        number = _number(actual)
        return number is not None and abs(number - float(expected["near"])) <= float(
            expected["tol"]
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return _text(actual).lower() == _text(expected).lower()
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return abs(a - e) <= 1e-9 * max(1.0, abs(e))
    if isinstance(expected, (dict, list)) or isinstance(actual, (dict, list)):
        return json_equal(actual, expected)
    return _text(actual) == _text(expected)


def json_equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(actual) == set(expected)
            and all(loosely_equal(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(loosely_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(actual, (dict, list)):
        return False  # a structure never equals a plain value
    return loosely_equal(actual, expected)


def json_subset(actual: Any, expected: Any) -> bool:
    """Every key of `expected` is in `actual` with a loosely equal value (recursively)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and json_subset(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(json_subset(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return loosely_equal(actual, expected)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def interval_seconds(node: Mapping[str, Any]) -> float | None:
    """How often a node fires by itself, in seconds, when it does."""
    kind = node.get("type")
    if kind == "inject":
        return _number(node.get("repeat"))
    if kind == "modbus-read":
        rate = _number(node.get("rate"))
        unit = _UNIT_SECONDS.get(str(node.get("rateUnit", "s")))
        return rate * unit if rate is not None and unit is not None else None
    if kind == "OpcUa-Client":
        time_value = _number(node.get("time"))
        unit = _UNIT_SECONDS.get(str(node.get("timeUnit", "s")))
        return time_value * unit if time_value is not None and unit is not None else None
    return None


def node_matches(node: Mapping[str, Any], matcher: Mapping[str, Any]) -> bool:
    if "any" in matcher:
        return any(node_matches(node, option) for option in matcher["any"])
    types = matcher.get("type")
    if types is not None and node.get("type") not in types:
        return False
    for prop, expected in (matcher.get("props") or {}).items():
        if prop not in node or not loosely_equal(node[prop], expected):
            return False
    if "interval_s" in matcher:
        seconds = interval_seconds(node)
        if seconds is None or abs(seconds - float(matcher["interval_s"])) > 1e-6:
            return False
    return "cron" not in matcher or (
        " ".join(str(node.get("crontab", "")).split()) == " ".join(matcher["cron"].split())
    )


def matching_ids(flow: Iterable[Mapping[str, Any]], matcher: Mapping[str, Any]) -> list[str]:
    return [
        str(n["id"])
        for n in flow
        if isinstance(n, Mapping) and "id" in n and node_matches(n, matcher)
    ]


def successors(flow: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Where a message can go next from each node: wires, and link out/call to link in."""
    graph: dict[str, set[str]] = {}
    for node in flow:
        if not isinstance(node, Mapping) or not isinstance(node.get("id"), str):
            continue
        targets = graph.setdefault(node["id"], set())
        for port in node.get("wires") or []:
            if isinstance(port, list):
                targets.update(t for t in port if isinstance(t, str))
        if node.get("type") in ("link out", "link call") and isinstance(node.get("links"), list):
            targets.update(t for t in node["links"] if isinstance(t, str))
    return graph


def path_exists(
    graph: Mapping[str, set[str]], sources: Iterable[str], targets: Iterable[str]
) -> bool:
    wanted = set(targets)
    seen = set(sources)
    if seen & wanted:
        return True
    queue = deque(seen)
    while queue:
        for nxt in graph.get(queue.popleft(), ()):
            if nxt in wanted:
                return True
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return False
