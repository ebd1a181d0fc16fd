"""What each node does to a message, in one deterministic phrase from its type and settings.

`describe_step` covers the core, network, sequence, storage, Modbus, OPC UA and Plumb nodes
by name; any other type falls back to the first sentence of its catalog description.
Protocol and I/O nodes also return an `Action`, which the summary turns into a verb phrase.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from assistant.explain.actions import Action, Context, Describer, Description
from assistant.explain.describe_io import IO_DESCRIBERS
from assistant.explain.describe_seq import SEQUENCE_DESCRIBERS
from assistant.explain.graph import FlowGraph
from assistant.explain.text import (
    duration,
    join_words,
    label,
    msg_path,
    node_name,
    number,
    plural,
    quote,
    shorten,
    show,
    text_of,
    truthy,
    typed_value,
)
from flowschema.catalog import SUBFLOW_PREFIX

# -- switch -----------------------------------------------------------------------------

_OPERATORS = {"eq": "==", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_TESTS = {
    "true": "is true",
    "false": "is false",
    "null": "is null",
    "nnull": "is not null",
    "empty": "is empty",
    "nempty": "is not empty",
}
NUMERIC_TESTS = frozenset({"lt", "lte", "gt", "gte", "btwn", "btw"})


def _switch_subject(node: Mapping[str, Any]) -> str:
    return msg_path(node.get("property"), node.get("propertyType") or "msg")


def rule_condition(rule: Any, subject: str) -> str:
    if not isinstance(rule, dict):
        return "a malformed rule"
    kind = text_of(rule.get("t"))
    value = typed_value(rule.get("v"), rule.get("vt") or "str")
    if kind == "else":
        return "otherwise"
    if kind in _OPERATORS:
        return f"{subject} {_OPERATORS[kind]} {value}"
    if kind in _TESTS:
        return f"{subject} {_TESTS[kind]}"
    if kind in ("btwn", "btw"):
        high = typed_value(rule.get("v2"), rule.get("v2t") or "num")
        return f"{subject} is between {value} and {high}"
    if kind == "cont":
        return f"{subject} contains {value}"
    if kind == "regex":
        case = " (ignoring case)" if truthy(rule.get("case")) else ""
        return f"{subject} matches the pattern {quote(text_of(rule.get('v')), 40)}{case}"
    if kind == "istype":
        return f"{subject} is of type {show(text_of(rule.get('v')) or '?')}"
    if kind == "hask":
        return f"{subject} has the key {value}"
    if kind == "jsonata_exp":
        return f"the JSONata expression {quote(text_of(rule.get('v')), 40)} is true"
    if kind in ("head", "tail"):
        which = "first" if kind == "head" else "last"
        return f"the message is among the {which} {value} of its sequence"
    if kind == "index":
        high = typed_value(rule.get("v2"), rule.get("v2t") or "num")
        return f"its sequence index is between {value} and {high}"
    return f"{subject} passes the test {show(kind or '?')}"


def switch_rules(node: Mapping[str, Any]) -> list[Any]:
    rules = node.get("rules")
    return rules if isinstance(rules, list) else []


def _switch(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    subject = _switch_subject(node)
    rules = switch_rules(node)
    if not rules:
        return Description(f"tests {subject} but has no rules, so it passes nothing on")
    if len(rules) == 1:
        return Description(f"passes the message on only if {rule_condition(rules[0], subject)}")
    shown = [
        f"output {i + 1} if {rule_condition(r, subject)}".replace("if otherwise", "otherwise")
        for i, r in enumerate(rules[:6])
    ]
    more = f" and {plural(len(rules) - 6, 'more rule')}" if len(rules) > 6 else ""
    first = "" if truthy(node.get("checkall"), True) else "; stops at the first match"
    return Description(f"routes on {subject}: {'; '.join(shown)}{more}{first}")


# -- change -----------------------------------------------------------------------------


def _change_rule(rule: Any) -> str:
    if not isinstance(rule, dict):
        return "a malformed rule"
    kind = text_of(rule.get("t"))
    target = msg_path(rule.get("p"), rule.get("pt") or "msg")
    if kind == "set":
        return f"sets {target} to {typed_value(rule.get('to'), rule.get('tot') or 'str')}"
    if kind == "delete":
        return f"deletes {target}"
    if kind == "move":
        return f"moves {target} to {msg_path(rule.get('to'), rule.get('tot') or 'msg')}"
    if kind == "change":
        old = typed_value(rule.get("from"), rule.get("fromt") or "str")
        new = typed_value(rule.get("to"), rule.get("tot") or "str")
        return f"replaces {old} with {new} in {target}"
    return f"applies a {show(kind or '?')} rule to {target}"


def _change(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    rules = node.get("rules")
    if not isinstance(rules, list) or not rules:
        action = text_of(node.get("action"))
        if action:
            legacy = {"t": "set" if action == "replace" else action, "p": node.get("property")}
            legacy.update({"to": node.get("to"), "from": node.get("from")})
            return Description(_change_rule(legacy))
        return Description("has no rules and passes the message on unchanged")
    parts = [_change_rule(r) for r in rules[:4]]
    if len(rules) > 4:
        parts.append(plural(len(rules) - 4, "more rule"))
    topic = ctx.topic
    for rule in rules:
        if (
            isinstance(rule, dict)
            and rule.get("t") == "set"
            and rule.get("p") == "topic"
            and (rule.get("tot") or "str") == "str"
        ):
            topic = text_of(rule.get("to"))
    new_ctx = replace(ctx, topic=topic) if topic != ctx.topic else None
    stores = sorted(
        {
            str(r.get("pt"))
            for r in rules
            if isinstance(r, dict) and r.get("pt") in ("flow", "global")
        }
    )
    keeps = f"keeps {{obj}} in {' and '.join(stores)} context"
    return Description(
        "; ".join(parts), action=Action("store", keeps) if stores else None, context=new_ctx
    )


# -- function and friends ---------------------------------------------------------------


CONTEXT_WRITE = re.compile(r"\b(flow|global|context)\.set\s*\(")


def stores_context(node: Mapping[str, Any]) -> bool:
    """Whether the node's work is to keep something in flow/global context."""
    if node.get("type") == "function":
        return bool(CONTEXT_WRITE.search(str(node.get("func") or "")))
    rules = node.get("rules")
    if node.get("type") != "change" or not isinstance(rules, list):
        return False
    return any(isinstance(r, dict) and r.get("pt") in ("flow", "global") for r in rules)


def code_lines(code: Any) -> int:
    return sum(1 for line in str(code or "").splitlines() if line.strip())


def _function(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    lines = code_lines(node.get("func"))
    outputs = graph.output_count(node)
    timeout = number(node.get("timeout"))
    parts = [plural(lines, "line"), plural(outputs, "output")]
    parts.append(f"time limit {duration(timeout)}" if timeout else "no time limit")
    extras = []
    if code_lines(node.get("initialize")):
        extras.append("setup code at start")
    if code_lines(node.get("finalize")):
        extras.append("clean-up code at stop")
    libs = node.get("libs")
    if isinstance(libs, list) and libs:
        modules = [show(text_of(lib.get("module"))) for lib in libs if isinstance(lib, dict)]
        extras.append(f"uses the modules {join_words(modules)}")
    extra = f"; {'; '.join(extras)}" if extras else ""
    action = Action("store", "keeps {obj} in context") if stores_context(node) else None
    return Description(f"runs custom JavaScript ({', '.join(parts)}){extra}", action=action)


def _template(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    target = msg_path(node.get("field") or "payload", node.get("fieldType") or "msg")
    text = quote(text_of(node.get("template")), 60)
    output = {"json": " and parses it as JSON", "yaml": " and parses it as YAML"}.get(
        text_of(node.get("output")), ""
    )
    if text_of(node.get("syntax")) == "plain":
        return Description(f"sets {target} to the fixed text {text}{output}")
    return Description(f"fills the template {text} into {target}{output}")


def _json(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    target = msg_path(node.get("property") or "payload")
    action = text_of(node.get("action"))
    if action == "str":
        return Description(f"turns {target} into JSON text")
    if action == "obj":
        return Description(f"parses the JSON text in {target} into an object")
    return Description(f"converts {target} between JSON text and an object")


def _csv(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    columns = text_of(node.get("temp"))
    cols = f" (columns {quote(columns, 60)})" if columns else ""
    sep = text_of(node.get("sep")) or ","
    return Description(
        f"converts msg.payload between CSV text and objects{cols}, separator {quote(sep)}"
    )


def _conversion(kind: str) -> Describer:
    def describe(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
        target = msg_path(node.get("property") or "payload")
        return Description(f"converts {target} between {kind} text and an object")

    return describe


# -- debug, links, structure ------------------------------------------------------------


def _debug(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    complete = node.get("complete")
    if text_of(node.get("targetType")) == "full" or text_of(complete) == "true":
        what = "the complete message"
    elif text_of(node.get("targetType")) == "jsonata":
        what = f"the JSONata expression {quote(text_of(complete), 40)}"
    else:
        what = msg_path(text_of(complete) if text_of(complete) != "false" else "payload")
    where = []
    if truthy(node.get("tosidebar"), True):
        where.append("the debug sidebar")
    if truthy(node.get("console")):
        where.append("the Node-RED log")
    if truthy(node.get("tostatus")):
        where.append("the node's status")
    places = join_words(where) if where else "nowhere (all outputs off)"
    off = " (switched off)" if not truthy(node.get("active"), True) else ""
    action = None if off else Action("show", "shows {obj} in the debug sidebar")
    return Description(f"shows {what} in {places}{off}", action=action)


def _link_out(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    if text_of(node.get("mode")) == "return":
        return Description("returns the message to the link call that called this part")
    targets = [graph.by_id[t] for t in graph.link_targets(node)]
    if not targets:
        return Description("sends the message to no link in node (its links are empty)")
    shown = [_where(graph, t) for t in targets[:4]]
    return Description(f"passes the message to {join_words(shown)}")


def _where(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    container = graph.container_of(node)
    tab = node_name(container) if container is not None else None
    return f"{label(node)} on {quote(tab, 40)}" if tab else label(node)


def _link_call(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    wait = number(node.get("timeout"))
    waits = f"waits up to {duration(wait if wait else 30)} for it to return"
    if text_of(node.get("linkType")) == "dynamic":
        return Description(f"calls the link in node named in msg.target and {waits}")
    targets = [graph.by_id[t] for t in graph.link_targets(node)]
    if not targets:
        return Description("calls no link in node (its links are empty)")
    return Description(f"calls the flow part at {_where(graph, targets[0])} and {waits}")


def _link_in(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    return Description("receives the message from a link out node")


def _subflow_instance(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    subflow = graph.get(node["type"][len(SUBFLOW_PREFIX) :])
    if subflow is None:
        return Description("runs a subflow that this flow does not define")
    inside = [n for n in graph.flow_nodes() if n.get("z") == subflow["id"]]
    kinds = sorted({n["type"] for n in inside})
    env = node.get("env")
    settings = [
        f"{show(text_of(e.get('name')))}={show(text_of(e.get('value')))}"
        for e in (env if isinstance(env, list) else [])
        if isinstance(e, dict)
    ]
    with_env = f" with {join_words(settings[:4])}" if settings else ""
    contents = f" ({plural(len(inside), 'node')}: {', '.join(kinds[:5])})" if kinds else ""
    name = quote(node_name(subflow) or subflow["id"])
    return Description(
        f"runs the subflow {name}{contents}{with_env}",
        Action("process", "passes {obj} through the subflow", "", name),
    )


def _junction(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    return Description("passes the message on unchanged")


def _fallback(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    spec = graph.spec(node)
    if spec is None:
        return Description(
            f"is of the unknown type {quote(node['type'], 40)}; what it does cannot be said"
        )
    first = spec.description.split(". ")[0].rstrip(".")
    return Description(shorten(first[:1].lower() + first[1:], 160))


DESCRIBERS: dict[str, Describer] = {
    "switch": _switch,
    "change": _change,
    "function": _function,
    "template": _template,
    "json": _json,
    "csv": _csv,
    "xml": _conversion("XML"),
    "yaml": _conversion("YAML"),
    "debug": _debug,
    "link out": _link_out,
    "link call": _link_call,
    "link in": _link_in,
    "junction": _junction,
    **IO_DESCRIBERS,
    **SEQUENCE_DESCRIBERS,
}


def describe_step(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    if node["type"].startswith(SUBFLOW_PREFIX):
        return _subflow_instance(graph, node, ctx)
    return DESCRIBERS.get(node["type"], _fallback)(graph, node, ctx)


_PORT_NAMES: dict[str, tuple[str, ...]] = {
    "modbus-read": ("values", "raw reply"),
    "modbus-getter": ("values", "raw reply"),
    "modbus-flex-getter": ("values", "raw reply"),
    "modbus-write": ("after writing", "raw reply"),
    "modbus-flex-write": ("after writing", "raw reply"),
    "OpcUa-Client": ("result", "connection state and errors", "raw responses"),
    "exec": ("standard output", "standard error", "return code"),
    "delay": ("passed", "dropped (over the rate)"),
    "trigger": ("first value", "second value"),
}


def port_label(graph: FlowGraph, node: Mapping[str, Any], port: int) -> str | None:
    """What leaves a node's output `port`, for nodes with several outputs."""
    if graph.output_count(node) <= 1 and len(graph.wires(node)) <= 1:
        return None
    if node.get("type") == "switch":
        rules = switch_rules(node)
        if port < len(rules):
            condition = rule_condition(rules[port], _switch_subject(node))
            return condition if condition == "otherwise" else f"if {condition}"
    names = _PORT_NAMES.get(str(node.get("type")))
    if names and port < len(names):
        return f"output {port + 1}: {names[port]}"
    return f"output {port + 1}"
