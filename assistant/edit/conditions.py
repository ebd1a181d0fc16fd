"""Conditions put in front of an output: value limits (a switch), report by exception
(an rbe node), and the helpers that find where a new branch hangs off the flow."""

from __future__ import annotations

import re
from typing import Any

from assistant.edit import graph
from assistant.edit.context import Context, op
from assistant.edit.model import Node, Op
from assistant.edit.parse import Threshold, number_text

DEADBAND = re.compile(
    r"(?:dead ?band(?: of)?|by more than|by over"
    r"|change[sd]? (?:of |by )?(?:more|greater|bigger|larger) than"
    r"|by at least|differs? by|changes? of at least)\s*(\d+(?:\.\d+)?)\s*(%)?",
    re.I,
)
ONLY_CHANGES = (
    r"\bonly\b[^.]*\b(?:when|if|on)\b[^.]*\bchang|\bonly\b[^.]*\b(?:changes|changed values)\b"
    r"|\bchanges only\b|\bdiffers? from the (?:last|previous)\b|\bonly new values\b"
    r"|\b(?:suppress|skip|ignore|filter out|drop|block)\w* (?:the )?(?:repeat|duplicate|unchanged)"
    r"|\bwhen it changes\b|\bon change\b|\bif (?:it|the value)"
    r" (?:has )?changed\b|\bdifferent from the (?:last|previous)\b|report[\s-]*by[\s-]*exception|"
    r"\brbe\b|\bde-?dup\w*|\bduplicates?\b|\brepeat(?:ed|s)? (?:values|counts|readings)\b"
    r"|\bsame (?:value|count|reading)s? (?:again|twice)"
)


def condition_nodes(ctx: Context, near: Node | None) -> list[Node]:
    limits = value_limits(ctx)
    return [switch_node(ctx, limits, near)] if limits else []


def first_limit(ctx: Context) -> Threshold | None:
    limits = value_limits(ctx)
    return limits[0] if limits else None


_BETWEEN = re.compile(
    r"\b(?P<kind>between|outside(?: of)?(?: the range)?|out of(?: the range)?|within|inside)\s+"
    r"(?P<a>-?\d+(?:\.\d+)?)\s*(?:and|-|–|to|\.\.)\s*(?P<b>-?\d+(?:\.\d+)?)",
    re.I,
)


def value_limits(ctx: Context) -> list[Threshold]:
    """The value limits: one, or two joined by "or" (both kept as separate rules) or by
    "and"/"between" (a range). A deadband ("changes by more than 0.5") is no limit."""
    m = _BETWEEN.search(ctx.text)
    if m is not None:
        low, high = sorted((float(m.group("a")), float(m.group("b"))))
        if m.group("kind").lower().startswith(("outside", "out of")):
            return [Threshold("lt", low, "", m.start()), Threshold("gt", high, "", m.start())]
        return [Threshold("btwn", low, "", m.start()), Threshold("btwn", high, "", m.start())]
    bands = [m.span() for m in DEADBAND.finditer(ctx.text)]
    limits = [t for t in ctx.facts.thresholds if not any(a <= t.start < b for a, b in bands)]
    if len(limits) >= 2:
        first, second = limits[:2]
        gap = ctx.text[first.start : second.start].lower()
        lower = {"gt", "gte"}
        if " or " in gap or "either" in gap:
            return [first, second]
        if " and " in gap and {first.op in lower, second.op in lower} == {True, False}:
            bottom, top = (first, second) if first.op in lower else (second, first)
            return [
                Threshold("btwn", bottom.value, bottom.unit, bottom.start),
                Threshold("btwn", top.value, top.unit, top.start),
            ]
    return limits[:1]


def value_property(ctx: Context) -> str:
    m = re.search(r"\b(?:msg\.)?(payload(?:\.[A-Za-z_]\w*)+)\b", ctx.text)
    return m.group(1) if m else "payload"


SYMBOL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "neq": "!="}
_FLIP = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt", "eq": "neq"}


def rules_for(limits: list[Threshold], negate: bool) -> list[dict[str, str]]:
    if limits[0].op == "btwn":
        low, high = number_text(limits[0].value), number_text(limits[1].value)
        if negate:
            return [{"t": "lt", "v": low, "vt": "num"}, {"t": "gt", "v": high, "vt": "num"}]
        return [{"t": "btwn", "v": low, "vt": "num", "v2": high, "v2t": "num"}]
    if negate and len(limits) == 2:
        ordered = sorted(limits, key=lambda t: t.value)
        low, high = number_text(ordered[0].value), number_text(ordered[1].value)
        return [{"t": "btwn", "v": low, "vt": "num", "v2": high, "v2t": "num"}]
    return [
        {"t": _FLIP[t.op] if negate else t.op, "v": number_text(t.value), "vt": "num"}
        for t in limits
    ]


def switch_node(
    ctx: Context, limits: list[Threshold], near: Node | None, negate: bool = False
) -> Node:
    """A switch passing values within `limits` (outside them with `negate`); with two
    alternative rules it has two outputs, both meant to feed the same next node."""
    rules = rules_for(limits, negate)
    unit = f" {limits[0].unit}" if limits[0].unit else ""
    names = [
        f"{r['v']}..{r['v2']}" if r["t"] == "btwn" else f"{SYMBOL[r['t']]} {r['v']}{unit}"
        for r in rules
    ]
    return ctx.make(
        "switch",
        near,
        name=" or ".join(names),
        property=value_property(ctx),
        rules=rules,
        outputs=len(rules),
        checkall="false",
    )


def extra_ports(switch: Node, target: str) -> list[Op]:
    """Wire a multi-rule switch's further outputs to the same next node."""
    return [
        op("wire", source=switch["id"], target=target, port=p) for p in range(1, switch["outputs"])
    ]


def rbe_node(ctx: Context, near: Node | None) -> Node:
    props: dict[str, Any] = {"name": "only changes", "func": "rbe"}
    m = DEADBAND.search(ctx.text)
    if m:
        at_least = "at least" in m.group(0).lower()
        props["func"] = "deadbandEq" if at_least else "deadband"
        props["gap"] = m.group(1) + (m.group(2) or "")
        props["name"] = f"change {'>=' if at_least else '>'} {props['gap']}"
    elif ctx.has(r"\b(?:ignore|skip|block|drop|not) the (?:first|initial)\b"):
        props["func"] = "rbei"
    return ctx.make("rbe", near, **props)


def attach_points(ctx: Context) -> list[tuple[str, int]]:
    target = ctx.target()
    if target is not None:
        points: list[tuple[str, int]] = []
        for node in target:
            if graph.output_count(node, ctx.catalog) == 0:  # "the same as goes to X"
                points += [(p, port) for p, port in graph.predecessors(ctx.flow, node["id"])]
            else:
                points.append((str(node["id"]), port_of(ctx)))
        return list(dict.fromkeys(points))
    return ctx.value_points()


def port_of(ctx: Context) -> int:
    m = re.search(r"\b(?:output|port|outlet)\s*(?:#|no\.?)?\s*(\d)\b", ctx.text, re.I)
    if m:
        return max(0, int(m.group(1)) - 1)
    ordinals = {"first": 0, "second": 1, "third": 2, "fourth": 3}
    m = re.search(r"\b(first|second|third|fourth) (?:output|port)\b", ctx.text, re.I)
    return ordinals[m.group(1).lower()] if m else 0
