"""Nodes put in front of an output (or behind a named node): report by exception, value
limits, rate limits, arithmetic."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from assistant.edit import graph
from assistant.edit.conditions import (
    DEADBAND,
    ONLY_CHANGES,
    extra_ports,
    rbe_node,
    switch_node,
    value_limits,
)
from assistant.edit.context import Context, op
from assistant.edit.model import Node, Op, Plan, Unresolved
from assistant.edit.parse import number_text

_FORWARD = (
    r"\b(?:forward|send|publish|pass|report|write|log|output|emit|push|let through|update)\w*"
)
_DROP = r"\b(?:ignore|drop|discard|filter out|skip|block|suppress|throw away)\b"


def filter_output(ctx: Context) -> Plan | None:
    """ "only forward changes", "only publish when the value is above 10", "drop values below 0"."""
    changes = ctx.has(ONLY_CHANGES) or DEADBAND.search(ctx.text) is not None
    limits = value_limits(ctx)
    only = ctx.has(r"\bonly\b") and ctx.has(_FORWARD)
    dropping = ctx.has(_DROP) and bool(limits)
    if not changes and not (limits and (only or dropping)):
        return None

    def build(near: Node) -> Node:
        return rbe_node(ctx, near) if changes else switch_node(ctx, limits, near, dropping)

    return Plan(_insert(ctx, build))


_AFTER = r"\b(?:after|behind|following|downstream of|outputs? of|coming out of)\b"


def _insert(ctx: Context, build: Callable[[Node], Node]) -> list[Op]:
    """Put a node made by `build` behind the node named after "after ...", else in front of
    each meant output. A switch with two rules gets both outputs wired on."""
    ops: list[Op] = []
    named = ctx.target()
    if named is not None and ctx.has(_AFTER):
        for node in named:
            if graph.output_count(node, ctx.catalog) == 0:
                raise Unresolved(f"{graph.describe(node)} has no output to put anything after")
            new = build(node)
            ops.append(op("insert_after", node_id=node["id"], node=new, port=0))
            if new["type"] == "switch":
                nxt = graph.wires_of(node)[0] if graph.wires_of(node) else []
                ops += [o for t in nxt for o in extra_ports(new, t)]
        return ops
    for target in _filter_targets(ctx):
        new = build(target)
        ops.append(op("insert_before", target=target["id"], node=new))
        if new["type"] == "switch":
            ops += extra_ports(new, target["id"])
    return ops


_RATE = re.compile(
    r"\b(?:at most|max(?:imum)?|no more than|not more than|limit(?:ed)?(?: it)? to|throttle\w*"
    r"(?: it)?(?: to)?|rate[- ]limit\w*(?: it)?(?: to)?|only)\s+(?P<n>one|once|1|two|twice|\d+)\s*"
    r"(?:messages?|msgs?|times?|values?|updates?|readings?)?\s*(?:per|a|an|every|each|/|in)\s*"
    r"(?P<num>\d+(?:\.\d+)?\s*)?(?P<unit>ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?"
    r"|hours?|day)\b",
    re.I,
)
_EVERY_ONLY = re.compile(
    r"\bonly (?:publish|send|forward|pass|report|write|log|update)?\s*(?:it |the value )?"
    r"(?:once )?every (?P<num>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>ms|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b",
    re.I,
)
_RATE_UNITS = {"m": "minute", "h": "hour", "d": "day"}


def rate_limit(ctx: Context) -> Plan | None:
    """ "at most one message per 10 s", "throttle to once a minute", "only publish every 30 s"."""
    m = _RATE.search(ctx.text) or _EVERY_ONLY.search(ctx.text)
    if m is None:
        return None
    polling = ctx.has(r"\b(?:read\w*|poll\w*|sampl\w*|scan\w*|quer\w*|fetch\w*)\b")
    if polling and any(graph.interval_seconds(n) for n in ctx.flow):
        return None  # "read it only every 10 s": the polling interval, not a rate limit
    count = m.groupdict().get("n") or "1"
    count = {"one": "1", "once": "1", "two": "2", "twice": "2"}.get(count.lower(), count)
    number = (m.group("num") or "1").strip()
    unit = m.group("unit").lower()
    if unit.startswith("ms") or unit.startswith("milli"):
        seconds = float(number) / 1000
        number, rate_unit = number_text(max(seconds, 0.001)), "second"
    else:
        rate_unit = _RATE_UNITS.get(unit[0], "second")

    def build(near: Node) -> Node:
        plural = "" if number == "1" else "s"
        return ctx.make(
            "delay", near, name=f"max {count} per {number} {rate_unit}{plural}", pauseType="rate",
            rate=count, nbRateUnits=number, rateUnits=rate_unit, drop=True, outputs=1,
        )  # fmt: skip

    return Plan(_insert(ctx, build))


_NUM = r"(?P<num>-?\d+(?:\.\d+)?)"
_MATH = (
    ("/", re.compile(rf"\bdivid\w*(?:\s+[\w°%]+){{0,3}}?\s+by\s+{_NUM}", re.I)),
    ("*", re.compile(rf"\bmultipl\w*(?:\s+[\w°%]+){{0,3}}?\s+(?:by|with)\s+{_NUM}", re.I)),
    ("*", re.compile(rf"\btimes\s+{_NUM}", re.I)),
    ("+", re.compile(rf"\b(?:add\s+{_NUM}\s+to\b|plus\s+{_NUM.replace('num', 'num2')})", re.I)),
    ("-", re.compile(rf"\b(?:subtract\s+{_NUM}|minus\s+{_NUM.replace('num', 'num2')})", re.I)),
)
_ROUND = re.compile(
    r"\bround\w*(?: it| the value)?(?: to)? (?P<num>\d+|one|two|three) (?:decimal|digit|place)",
    re.I,
)
_SCALE = re.compile(
    r"\bscal\w*[^0-9-]{0,40}?(?P<a>-?\d+(?:\.\d+)?)\s*(?:-|–|\.\.|to)\s*(?P<b>-?\d+(?:\.\d+)?)"
    r"\s*(?:\w+\s*)?(?:to|into|->|onto)\s*(?P<c>-?\d+(?:\.\d+)?)\s*(?:-|–|\.\.|to)\s*"
    r"(?P<d>-?\d+(?:\.\d+)?)",
    re.I,
)
_UNITS = (
    (r"\b(?:to|into|in) (?:°\s*f|fahrenheit|degrees f)\b", "payload * 9 / 5 + 32", "°C -> °F"),
    (r"\b(?:to|into|in) (?:°\s*c|celsius|degrees c)\b", "(payload - 32) * 5 / 9", "°F -> °C"),
    (
        r"\b(?:to|into|in) (?:bar)\b.*\bfrom (?:mbar|millibar)|\bmbar to bar\b",
        "payload / 1000",
        "mbar -> bar",
    ),
)


def transform(ctx: Context) -> Plan | None:
    """ "divide by 10 before publishing", "scale 0-4095 to 0-100", "round to 1 decimal",
    "convert to fahrenheit"."""
    node_props = _transform_props(ctx)
    if node_props is None:
        return None
    kind, props = node_props

    def build(near: Node) -> Node:
        return ctx.make(kind, near, **props)

    return Plan(_insert(ctx, build))


def _transform_props(ctx: Context) -> tuple[str, dict[str, Any]] | None:
    m = _SCALE.search(ctx.text)
    if m is not None:
        a, b, c, d = (m.group(k) for k in "abcd")
        props = {"name": f"{a}..{b} -> {c}..{d}", "minin": a, "maxin": b, "minout": c,
                 "maxout": d, "action": "scale", "round": False, "property": "payload"}  # fmt: skip
        return "range", props
    expr = name = None
    for symbol, pattern in _MATH:
        found = pattern.search(ctx.text)
        if found is not None:
            num = found.group("num") or found.groupdict().get("num2")
            expr, name = f"$number(payload) {symbol} {num}", f"{symbol} {num}"
            break
    m = _ROUND.search(ctx.text)
    if m is not None:
        digits = {"one": "1", "two": "2", "three": "3"}.get(m.group("num").lower(), m.group("num"))
        expr = f"$round({expr or '$number(payload)'}, {digits})"
        name = f"{name + ', ' if name else ''}round {digits}"
    for unit_pattern, formula, label in _UNITS:
        if expr is None and ctx.has(unit_pattern) and ctx.has(r"\bconver\w*|\bin\b"):
            expr, name = formula.replace("payload", "$number(payload)"), label
    if expr is None or name is None:
        return None
    rule = {"t": "set", "p": "payload", "pt": "msg", "to": expr, "tot": "jsonata"}
    return "change", {"name": name, "rules": [rule]}


def _filter_targets(ctx: Context) -> list[Node]:
    named = ctx.target()
    if named is None:
        mentioned = [n for n in ctx.mentioned() if n.get("type") in _OUTPUT_TYPES]
        named = mentioned or None
    if named is not None:
        fed = [n for n in named if graph.predecessors(ctx.flow, n["id"])]
        if not fed:
            raise Unresolved(f"nothing is wired into {', '.join(graph.describe(n) for n in named)}")
        return fed
    outputs = [n for n in ctx.outputs() if graph.predecessors(ctx.flow, n["id"])]
    if not outputs:
        raise Unresolved("the flow has no output to put the filter in front of")
    if len({n.get("type") for n in outputs}) > 1 and len(outputs) > 1:
        for verb, kinds in _VERB_OUTPUTS:
            hinted = [n for n in outputs if n.get("type") in kinds]
            if ctx.has(verb) and hinted:
                return hinted if len({n.get("type") for n in hinted}) == 1 else [hinted[0]]
        best = ctx.best_by_words(outputs)
        if best is None:
            raise Unresolved(
                "several outputs could be meant: "
                + ", ".join(graph.describe(n) for n in outputs)
                + "; name the one to filter"
            )
        return [best]
    return outputs


_VERB_OUTPUTS = (
    (r"\b(?:publish\w*|mqtt|topic)\b", ("mqtt out",)),
    (r"\b(?:writ\w*|log\w*|file|csv|append\w*)\b", ("file",)),
    (r"\b(?:post\w*|http|webhook|api|call)\b", ("http request",)),
    (r"\b(?:repl\w*|respon\w*|answer\w*)\b", ("http response",)),
)
_OUTPUT_TYPES = (
    "mqtt out",
    "http request",
    "file",
    "websocket out",
    "modbus-write",
    "http response",
)
