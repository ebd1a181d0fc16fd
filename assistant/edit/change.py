"""Families that change properties of existing nodes: polling interval, topic, qos/retain."""

from __future__ import annotations

import re
from typing import Any

from assistant.edit import graph
from assistant.edit.context import Context, op
from assistant.edit.model import Node, Op, Unresolved
from assistant.edit.parse import Interval, number_text

CUE = (
    r"\b(?:instead|rather than|change|changed|set|make|use|now|switch|move|moved|rename|replace"
    r"|update|from now on|any ?more|no longer|new|point|go to)\b"
)


def set_op(node: Node, prop: str, value: Any) -> Op:
    return op("set_property", node_id=node["id"], prop=prop, value=value)


def choose(ctx: Context, candidates: list[Node], what: str) -> list[Node]:
    named = ctx.target()
    if named is not None:
        chosen = [n for n in named if n in candidates]
        if chosen:
            return chosen
    return ctx.pick(candidates, what)


# --- polling interval -----------------------------------------------------------------------------


_FASTER = (
    r"\b(?:twice as (?:often|fast|frequently)|double the (?:poll(?:ing)? )?(?:rate|frequency))\b"
)
_SLOWER = (
    r"\b(?:half as (?:often|fast|frequently)|halve the (?:poll(?:ing)? )?(?:rate|frequency)"
    r"|double the (?:poll(?:ing)? )?(?:interval|period|time))\b"
)


def interval(ctx: Context) -> list[Op] | None:
    new = ctx.facts.new_interval
    factor = 0.5 if ctx.has(_FASTER) else 2.0 if ctx.has(_SLOWER) else None
    if new is None and factor is not None:
        return _relative_interval(ctx, factor)
    if new is None or not ctx.has(
        r"\b(?:poll\w*|every|each|interval|rate|frequency|often|period|cycle|sample\w*|scan\w*|"
        r"refresh\w*|read\w*|query|queries|tick|trigger\w*|fire|inject\w*|subscri\w*)\b"
    ):
        return None
    pollers = [n for n in ctx.nodes("inject", "modbus-read", "OpcUa-Client") if _polls(n)]
    if not pollers:
        pollers = ctx.nodes("inject")
    if not pollers:
        raise Unresolved(
            "the flow has no node that polls or repeats (inject, modbus-read, OpcUa-Client)"
        )
    old = ctx.facts.old_interval
    targets = _interval_targets(ctx, pollers, old)
    ops: list[Op] = []
    for node in targets:
        ops += _interval_ops(node, new, old)
    return ops


def _relative_interval(ctx: Context, factor: float) -> list[Op]:
    pollers = [n for n in ctx.nodes("inject", "modbus-read", "OpcUa-Client") if _polls(n)]
    timed = [n for n in pollers if _seconds(n) is not None]
    if not timed:
        raise Unresolved("the flow has no node that polls at a fixed interval")
    targets = _interval_targets(ctx, timed, None)
    ops: list[Op] = []
    for node in targets:
        seconds = (_seconds(node) or 0.0) * factor
        if seconds >= 1:
            every = Interval(seconds, seconds, "s", 0)
        else:
            every = Interval(seconds, seconds * 1000, "ms", 0)
        ops += _interval_ops(node, every, None)
    return ops


def _polls(node: Node) -> bool:
    if node.get("type") == "inject":
        return (
            str(node.get("repeat", "")).strip() != "" or str(node.get("crontab", "")).strip() != ""
        )
    if node.get("type") == "OpcUa-Client":
        return node.get("action") in ("subscribe", "monitor", "events")
    return True


def _interval_targets(ctx: Context, pollers: list[Node], old: Interval | None) -> list[Node]:
    named = ctx.target()
    mentioned = [n for n in (named or ctx.mentioned()) if n in pollers]
    if mentioned:
        return mentioned
    if old is not None:
        same = [n for n in pollers if _near(_seconds(n), old.seconds)]
        if same:
            return same
        if len(pollers) > 1:
            raise Unresolved(
                f"no node repeats every {number_text(old.value)} {old.unit}; the pollers are: "
                + ", ".join(f"{graph.describe(n)} ({_every(n)})" for n in pollers)
            )
        ctx.notes.append(
            f"note: {graph.describe(pollers[0])} ran {_every(pollers[0])}, "
            f"not every {number_text(old.value)} {old.unit}"
        )
        return pollers
    rates = {_seconds(n) for n in pollers}
    if len(rates) == 1:
        return pollers
    raise Unresolved(
        "several nodes poll at different rates: "
        + ", ".join(f"{graph.describe(n)} ({_every(n)})" for n in pollers)
        + "; say which one to change"
    )


def _near(value: float | None, wanted: float) -> bool:
    return value is not None and abs(value - wanted) < 1e-6


def _seconds(node: Node) -> float | None:
    return graph.interval_seconds(node)


def _every(node: Node) -> str:
    seconds = _seconds(node)
    if seconds is None:
        return f"cron {node.get('crontab')}" if node.get("crontab") else "no interval"
    return f"every {number_text(seconds)} s"


def _interval_ops(node: Node, new: Interval, old: Interval | None) -> list[Op]:
    kind = node.get("type")
    ops: list[Op] = []
    if kind == "inject":
        ops.append(set_op(node, "repeat", number_text(round(new.seconds, 3))))
        if node.get("crontab"):
            ops.append(set_op(node, "crontab", ""))
    else:
        value, unit = new.value, new.unit
        if not float(value).is_integer():
            value, unit = new.seconds * 1000, "ms"
        rate_key, unit_key = ("rate", "rateUnit") if kind == "modbus-read" else ("time", "timeUnit")
        number: Any = number_text(value)
        if isinstance(node.get(rate_key), (int, float)):
            number = int(value) if float(value).is_integer() else value
        ops.append(set_op(node, rate_key, number))
        ops.append(set_op(node, unit_key, unit))
    name = node.get("name")
    if isinstance(name, str) and name:
        renamed = _rename_interval(name, _seconds(node), new)
        if renamed != name:
            ops.append(set_op(node, "name", renamed))
    return ops


def _rename_interval(name: str, seconds: float | None, new: Interval) -> str:
    """ "every 5 s" -> "every 10 s" in a node's name, when the name states the old rate."""
    if seconds is None:
        return name
    pattern = re.compile(
        r"(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?|min|mins|minutes?|m|h|hours?)\b", re.I
    )
    factors = {
        "ms": 0.001,
        "s": 1,
        "sec": 1,
        "secs": 1,
        "second": 1,
        "seconds": 1,
        "min": 60,
        "mins": 60,
        "minute": 60,
        "minutes": 60,
        "m": 60,
        "h": 3600,
        "hour": 3600,
        "hours": 3600,
    }

    def swap(m: re.Match[str]) -> str:
        if abs(float(m.group(1)) * factors[m.group(2).lower()] - seconds) > 1e-6:
            return m.group(0)
        unit = {"m": "min"}.get(new.unit, new.unit)
        return f"{number_text(new.value)} {unit}"

    return pattern.sub(swap, name)


# --- topic ----------------------------------------------------------------------------------------


def topic(ctx: Context) -> list[Op] | None:
    facts = ctx.facts
    if not facts.topics:
        return None
    existing = ctx.flow_topics()
    old = [t for t in facts.topics if t in existing]
    new = [t for t in facts.topics if t not in existing]
    if not new:
        return None
    if old:
        return _retopic(ctx, old[0], new[0])
    prefix = _prefix_change(ctx, new)
    if prefix is not None:
        return prefix
    if len(new) > 1:
        raise Unresolved(
            f"neither {new[0]} nor {new[1]} is a topic of the flow; say which topic to change"
        )
    return _retopic_by_role(ctx, new[0])


def _retopic(ctx: Context, old: str, new: str) -> list[Op]:
    nodes = [n for n in graph.canvas_nodes(ctx.flow, ctx.catalog) if n.get("topic") == old]
    ops = []
    for node in nodes:
        _check_topic(node, new)
        ops.append(set_op(node, "topic", new))
    return ops


def _check_topic(node: Node, topic: str) -> None:
    if node.get("type") == "mqtt out" and any(c in topic for c in "+#"):
        raise Unresolved(
            f"{graph.describe(node)} cannot publish to {topic}: no wildcards when publishing"
        )


def _prefix_change(ctx: Context, new: list[str]) -> list[Op] | None:
    """ "move everything from plant/line1 to site/line1": an old prefix of existing topics."""
    if len(ctx.facts.topics) != 2:
        return None
    first, second = ctx.facts.topics
    for old, fresh in ((first, second), (second, first)):
        hits = [
            n
            for n in graph.canvas_nodes(ctx.flow, ctx.catalog)
            if isinstance(n.get("topic"), str) and n["topic"].startswith(old.rstrip("/") + "/")
        ]
        if hits and fresh in new:
            return [
                set_op(n, "topic", fresh.rstrip("/") + n["topic"][len(old.rstrip("/")) :])
                for n in hits
            ]
    return None


def _retopic_by_role(ctx: Context, new: str) -> list[Op]:
    subscribe = ctx.has(
        r"\b(?:subscri\w*|listen\w*|comes? in|incoming|input|source|read (?:it )?from|receiv\w*)\b"
    )
    types = ("mqtt in",) if subscribe else ("mqtt out",)
    candidates = ctx.nodes(*types)
    if not candidates and not subscribe:
        candidates = ctx.nodes("mqtt in")
    if not candidates:
        raise Unresolved(f"the flow has no {types[0]} node whose topic could become {new}")
    chosen = choose(ctx, candidates, f"{types[0]} nodes")
    ops = []
    for node in chosen:
        _check_topic(node, new)
        ops.append(set_op(node, "topic", new))
    return ops


# --- qos / retain ---------------------------------------------------------------------------------


def qos_retain(ctx: Context) -> list[Op] | None:
    qos, retain = ctx.facts.qos, ctx.facts.retain
    if qos is None and retain is None:
        return None
    subscribe = ctx.has(r"\b(?:subscri\w*|mqtt in|incoming)\b") and not ctx.has(r"\bpublish\w*\b")
    candidates = ctx.nodes("mqtt in" if subscribe else "mqtt out")
    if not candidates:
        raise Unresolved(
            f"the flow has no {'mqtt in' if subscribe else 'mqtt out'} node to set qos/retain on"
        )
    if ctx.has(r"\b(?:all|every|each)\b") and len(candidates) > 1:
        chosen = candidates
    else:
        chosen = choose(ctx, candidates, "MQTT nodes")
    ops = []
    for node in chosen:
        if qos is not None:
            ops.append(set_op(node, "qos", str(qos)))
        if retain is not None and node.get("type") == "mqtt out":
            ops.append(set_op(node, "retain", "true" if retain else "false"))
    return ops


# --- schedule ----------------------------------------------------------------------------------

_TIMES = re.compile(
    r"\b(?:at|@)\s+((?:\d{1,2}(?::\d{2})?\s*(?:am|pm|h)?(?:\s*(?:,|and|&)\s*)?)+)", re.I
)
_ONE_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", re.I)
_DAYS = (
    (r"\b(?:weekdays?|mon(?:day)?\s*(?:-|to|through)\s*fri(?:day)?|working days)\b", "1-5"),
    (r"\bweekends?\b", "0,6"),
    (r"\b(?:every day|daily|each day)\b", "*"),
)
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def schedule(ctx: Context) -> list[Op] | None:
    """ "run it at 07:00 instead of 06:00", "every weekday at 6:30"."""
    m = _TIMES.search(ctx.text)
    scheduled = [n for n in ctx.nodes("inject") if str(n.get("crontab") or "").strip()]
    if m is None or not (scheduled or ctx.has(r"\b(?:daily|every day|weekdays?|schedule|cron)\b")):
        return None
    old_part = re.search(r"\b(?:instead of|rather than|not)\s+(?:at\s+)?[\d:]", ctx.text, re.I)
    text = ctx.text[: old_part.start()] if old_part and old_part.start() > m.start() else ctx.text
    found = _TIMES.search(text) or m
    hours: list[str] = []
    minutes: set[str] = set()
    times = list(_ONE_TIME.finditer(found.group(1)))
    for t in times:
        hour = int(t.group(1)) % 24
        if (t.group(3) or "").lower() == "pm" and hour < 12:
            hour += 12
        if not 0 <= int(t.group(2) or 0) < 60:
            return None
        hours.append(str(hour))
        minutes.add(str(int(t.group(2) or 0)))
    if len(minutes) != 1:
        raise Unresolved(
            "times with different minutes need one schedule each; name them separately"
        )
    minute = minutes.pop()
    days = next((d for pattern, d in _DAYS if ctx.has(pattern)), None)
    named = [str(i) for i, day in enumerate(_DAY_NAMES) if ctx.has(rf"\b{day}\w*\b")]
    if days is None and named and not ctx.has(r"\bmon\w*\s*(?:-|to|through)\s*fri"):
        days = ",".join(named)
    candidates = scheduled or [n for n in ctx.nodes("inject") if not str(n.get("repeat") or "")]
    if not candidates:
        raise Unresolved("the flow has no inject to put the schedule on")
    ops: list[Op] = []
    for node in choose(ctx, candidates, "scheduled injects"):
        old_days = (str(node.get("crontab") or "").split() + ["*"] * 5)[4]
        cron = f"{minute} {','.join(hours)} * * {days or old_days}"
        ops.append(set_op(node, "crontab", cron))
        if str(node.get("repeat") or ""):
            ops.append(set_op(node, "repeat", ""))
    return ops
