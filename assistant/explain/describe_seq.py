"""Descriptions of the timing and sequence nodes: range, delay, trigger, rbe, join, split,
batch and sort."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.explain.actions import Context, Describer, Description
from assistant.explain.graph import FlowGraph
from assistant.explain.text import (
    duration,
    join_words,
    msg_path,
    number,
    plural,
    quote,
    show,
    text_of,
    truthy,
    typed_value,
    unit_seconds,
)


def _range(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    values = [text_of(node.get(k)) or "?" for k in ("minin", "maxin", "minout", "maxout")]
    target = msg_path(node.get("property") or "payload")
    action = {
        "clamp": ", limited to that range",
        "roll": ", wrapping around",
        "drop": ", dropping values outside it",
    }.get(text_of(node.get("action")), "")
    rounding = ", rounded" if truthy(node.get("round")) else ""
    return Description(
        f"scales {target} from {values[0]}..{values[1]} to {values[2]}..{values[3]}"
        f"{action}{rounding}"
    )


def _seconds(value: Any, unit: Any, default_unit: str = "s") -> float | None:
    amount = number(value)
    if amount is None:
        return None
    return amount * unit_seconds(unit or default_unit)


def _delay(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    mode = text_of(node.get("pauseType")) or "delay"
    if mode == "delay":
        wait = _seconds(node.get("timeout"), node.get("timeoutUnits"), "seconds")
        return Description(f"delays each message by {duration(wait or 0)}")
    if mode == "delayv":
        return Description("delays each message by msg.delay milliseconds")
    if mode == "random":
        unit = node.get("randomUnits") or "seconds"
        low = _seconds(node.get("randomFirst"), unit) or 0
        high = _seconds(node.get("randomLast"), unit) or 0
        return Description(f"delays each message by a random {duration(low)} to {duration(high)}")
    rate = number(node.get("rate")) or 1
    window = (number(node.get("nbRateUnits")) or 1) * unit_seconds(node.get("rateUnits"))
    per = f"per {duration(window)}" if window != 1 else "per second"
    if mode == "timed":
        return Description(f"sends the latest message of each topic once {per}, dropping the rest")
    fate = "drops the excess" if truthy(node.get("drop")) else "queues the excess"
    scope = " of each topic" if mode == "queue" else ""
    count = plural(int(rate), "message")
    return Description(f"lets through at most {count}{scope} {per} and {fate}")


def _trigger(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    first = _trigger_value(node.get("op1"), node.get("op1type"))
    second = _trigger_value(node.get("op2"), node.get("op2type"))
    wait = _seconds(node.get("duration"), node.get("units") or "ms") or 0
    if wait <= 0:
        return Description(f"sends {first}, then ignores further messages until it is reset")
    restart = " (each new message restarts the timer)" if truthy(node.get("extend")) else ""
    if first == "nothing":
        return Description(f"waits {duration(wait)}, then sends {second}{restart}")
    return Description(f"sends {first} at once, then {second} after {duration(wait)}{restart}")


def _trigger_value(value: Any, kind: Any) -> str:
    kind = text_of(kind) or "val"
    if kind == "pay":
        return "the incoming message"
    if kind == "payl":
        return "the latest message"
    if kind == "nul":
        return "nothing"
    return typed_value(value, "str" if kind == "val" else kind)


def _rbe(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    target = msg_path(node.get("property") or "payload")
    mode = text_of(node.get("func")) or "rbe"
    per_topic = " (per topic)" if truthy(node.get("septopics"), True) else ""
    gap = text_of(node.get("gap")) or "0"
    if mode in ("rbe", "rbei"):
        ignore = ", ignoring the first value" if mode == "rbei" else ""
        return Description(f"passes the message only when {target} changes{ignore}{per_topic}")
    compare = "the last value sent" if text_of(node.get("inout")) != "in" else "the last input"
    if mode.startswith("deadband"):
        more = "at least" if mode.endswith("Eq") else "more than"
        return Description(
            f"passes the message only when {target} moves by {more} {show(gap)} "
            f"from {compare}{per_topic}"
        )
    return Description(
        f"blocks the message when {target} moves by more than {show(gap)} from {compare}{per_topic}"
    )


def join_bounded(node: Mapping[str, Any]) -> bool:
    """Whether a join in custom mode has a count or a timeout (or uses msg.parts)."""
    if text_of(node.get("mode")) != "custom":
        return True
    count = number(node.get("count")) or 0
    timeout = number(node.get("timeout")) or 0
    return count > 0 or timeout > 0 or truthy(node.get("useparts"))


def _join(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    mode = text_of(node.get("mode")) or "auto"
    if mode == "auto":
        return Description("reassembles the pieces of a split message (uses msg.parts)")
    if mode == "reduce":
        expression = quote(text_of(node.get("reduceExp")), 40)
        return Description(f"reduces each message sequence with the expression {expression}")
    build = text_of(node.get("build")) or "object"
    shape = {"merged": "a merged object", "object": "an object keyed by msg.topic"}.get(
        build, f"a{'n' if build[:1] in 'aeiou' else ''} {build}"
    )
    conditions = []
    count = number(node.get("count"))
    timeout = number(node.get("timeout"))
    if count:
        conditions.append(f"after {plural(int(count), 'message')}")
    if timeout:
        conditions.append(f"{duration(timeout)} after the first message")
    if truthy(node.get("useparts")):
        conditions.append("when msg.parts says the sequence is complete")
    when = join_words(conditions, "or") if conditions else "only when a message has msg.complete"
    return Description(f"collects messages into {shape} and sends it {when}")


def _split(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    target = msg_path(node.get("property") or "payload")
    return Description(f"splits {target} into one message per element, line or key")


def _batch(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    mode = text_of(node.get("mode")) or "count"
    if mode == "interval":
        window = number(node.get("interval")) or 0
        return Description(f"groups the messages of each {duration(window)} window")
    if mode == "concat":
        return Description("concatenates complete sequences in topic order")
    count = int(number(node.get("count")) or 0)
    return Description(f"groups every {plural(count, 'message')} into a sequence")


def _sort(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    order = "descending" if text_of(node.get("order")) == "descending" else "ascending"
    return Description(f"sorts the message sequence in {order} order")


SEQUENCE_DESCRIBERS: dict[str, Describer] = {
    "range": _range,
    "delay": _delay,
    "trigger": _trigger,
    "rbe": _rbe,
    "join": _join,
    "split": _split,
    "batch": _batch,
    "sort": _sort,
}
