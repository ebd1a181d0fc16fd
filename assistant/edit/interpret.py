"""Instruction -> operations. Families are tried in a fixed order: restructuring ones
(duplicate for other machines, replace the source, read another register/item, catch
errors), additions (endpoint, new output, filter, rate limit, arithmetic), removal, and last
the property changes, which may combine ("every 10 s and retained").

Facts come from `parse.extract`; swapping in `assistant.extract` means adapting `_facts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.edit import (
    change,
    endpoint,
    errors,
    filters,
    graph,
    outputs,
    readings,
    settings,
    structure,
)
from assistant.edit.context import Context
from assistant.edit.model import Flow, Op, Plan, Unresolved
from assistant.edit.parse import Facts, extract
from flowschema.catalog import Catalog, default_catalog

Family = Callable[[Context], Plan | None]
FAMILIES: tuple[Family, ...] = (
    structure.duplicate,
    structure.replace_source,
    readings.add_reading,
    errors.catch_errors,
    endpoint.endpoint,
    outputs.add_output,
    filters.filter_output,
    filters.rate_limit,
    filters.transform,
    structure.remove,
)
PropertyFamily = Callable[[Context], list[Op] | None]
PROPERTY_FAMILIES: tuple[PropertyFamily, ...] = (
    change.interval,
    change.schedule,
    change.topic,
    change.qos_retain,
    settings.threshold,
    settings.server,
    settings.register,
    settings.opcua_item,
    settings.file_path,
    settings.url,
    settings.rename,
)
KNOWN = (
    "polling interval, schedule, topic, qos/retain, threshold, server address, register, "
    "OPC UA item, file path, URL, node name; add a debug, alarm, file, HTTP call, GET endpoint, "
    "change filter, value filter, rate limit, arithmetic, error catching, another register; "
    "duplicate for other machines, replace the source, remove a node"
)


def _facts(text: str) -> Facts:
    return extract(text)


_QUOTED_NODE = re.compile(
    r"(?:\b(?:the|named|called|node)\s+[\"'“‘`](?P<a>[^\"'”’`]{1,80})[\"'”’`])"
    r"|(?:[\"'“‘`](?P<b>[^\"'”’`]{1,80})[\"'”’`]\s+(?:node|block)\b)",
    re.I,
)


def _check_quoted_names(ctx: Context) -> None:
    """A node named in quotes ("the 'Boiler 7' node") must exist: never edit another."""
    labels = {graph.label(n).lower() for n in ctx.flow} | {
        str(n.get("name", "")).strip().lower() for n in ctx.flow
    }
    for m in _QUOTED_NODE.finditer(ctx.text):
        name = (m.group("a") or m.group("b") or "").strip()
        before = ctx.text[max(0, m.start() - 20) : m.start()].lower()
        after = ctx.text[m.end() : m.end() + 12].lower()
        if re.search(r"\b(?:send|sends|publish|write|text|message|payload|string)\b", before) or (
            re.match(r"\s*(?:text|message|string|payload|word)", after)
        ):
            continue  # a payload text, not a node name
        if name and name.lower() not in labels and name not in graph.by_id(ctx.flow):
            raise Unresolved(f"no node named '{name}' (the flow has: {ctx.inventory()})")


def interpret(flow: Flow, instruction: str, catalog: Catalog | None = None) -> Plan:
    """The operations that carry out `instruction` on `flow`; raises Unresolved with the
    reason when it cannot be mapped."""
    catalog = catalog or default_catalog()
    text = " ".join(instruction.split())
    if len(re.findall(r"[A-Za-z]{2,}", text)) < 2:
        raise Unresolved("the instruction is too short to tell what to change")
    if not graph.canvas_nodes(flow, catalog):
        raise Unresolved("the flow has no nodes to edit")
    ctx = Context(flow, text, catalog, _facts(text), graph.IdMaker(flow, text))
    _check_quoted_names(ctx)
    for family in FAMILIES:
        plan = family(ctx)
        if plan is not None and plan.ops:
            plan.notes = ctx.notes + plan.notes
            return plan
    ops: list[Op] = []
    for prop_family in PROPERTY_FAMILIES:
        found = prop_family(ctx)
        if found:
            ops.extend(o for o in found if o not in ops)
    if ops:
        return Plan(ops, ctx.notes)
    raise Unresolved(f"could not map the instruction to an edit; I can change or add: {KNOWN}")
