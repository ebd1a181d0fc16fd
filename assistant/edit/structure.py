"""Families that restructure a flow: duplicate a chain for other machines, replace the data
source (MQTT <-> Modbus), remove a node."""

from __future__ import annotations

import re
from collections import Counter

from assistant.edit import graph, locate, readings
from assistant.edit.context import READERS, Context, op
from assistant.edit.model import Node, Plan, Unresolved
from assistant.edit.nodes import mqtt_broker

# --- duplicate for other machines -----------------------------------------------------------------

_SAME = re.compile(
    r"\b(?:same|identical|likewise|duplicate|copy|clone|replicate|repeat (?:this|it)|extend\w*"
    r"|also for|as well for|do (?:this|it|that) for|one (?:more|each) for)\b",
    re.I,
)
_ITEM = r"[A-Za-z][A-Za-z_-]*?[ _-]?\d+[A-Za-z]?|\d+"
_LIST = re.compile(
    rf"\b(?:for|to|on|add|adding|include|including|with|machines?|also)\s+(?:the\s+)?"
    rf"(?:(?P<noun>[A-Za-z]+s),?\s+)?(?P<items>(?:{_ITEM})"
    rf"(?:\s*(?:,|and|&|\+|/|or|-|–|\.\.|to|through|thru)\s*(?:{_ITEM}))*)",
    re.I,
)
_RANGE = re.compile(
    r"^(?P<prefix>[A-Za-z_]*?)[ _]?(?P<a>\d+)\s*(?:-|–|\.\.|to|through|thru)\s*"
    r"(?:[A-Za-z_]+)?[ _]?(?P<b>\d+)$",
    re.I,
)


def _new_items(text: str, start: int = 0) -> list[tuple[str, str]]:
    """[(prefix, digits)] of the machines named after "for": m2 and m3 -> [(m, 2), (m, 3)]."""
    for m in _LIST.finditer(text, start):
        items: list[tuple[str, str]] = []
        prefix = ""
        for piece in re.split(r"\s*(?:,|\band\b|&|\+|/|\bor\b)\s*", m.group("items")):
            ranged = _RANGE.match(piece.strip())
            if ranged and 0 < int(ranged.group("b")) - int(ranged.group("a")) < 50:
                prefix = ranged.group("prefix") or prefix
                low, high = int(ranged.group("a")), int(ranged.group("b"))
                items += [(prefix, str(i)) for i in range(low, high + 1)]
                continue
            pm = re.fullmatch(r"([A-Za-z][A-Za-z_-]*?)?[ _-]?(\d+)[A-Za-z]?", piece.strip())
            if pm is None:
                continue
            prefix = pm.group(1) or prefix
            items.append((prefix, pm.group(2)))
        noun = _singular(m.group("noun") or "")
        if items and not all(p for p, _ in items) and noun:
            items = [(p or noun, d) for p, d in items]
        if items and all(p for p, _ in items):
            return items
    return []


_TOKEN = re.compile(r"(?<![\w/.])([A-Za-z][A-Za-z_]*?)[ _-]?(\d+)(?![\w/.])")


def _loose_items(ctx: Context) -> list[tuple[str, str]]:
    """Machines named anywhere ("two more machines, m2 and m3, copy the flow for them"):
    prefix+number tokens whose prefix the flow uses with other numbers."""
    text = ctx.text
    for value in (*ctx.facts.topics, *ctx.facts.urls, *ctx.facts.files):
        text = text.replace(value, " ")
    found: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        prefix, digits = m.group(1), m.group(2)
        forms = _forms(ctx, prefix)
        if forms and digits not in {d for _, d in forms} and (prefix, digits) not in found:
            found.append((prefix, digits))
    return found


def _singular(word: str) -> str:
    if word.lower().endswith("ies"):
        return word[:-3] + "y"
    if word.lower().endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1] if word.lower().endswith("s") else word


def _forms(ctx: Context, prefix: str) -> Counter[tuple[str, str]]:
    """Spellings of prefix+number in the flow's text: {("m1", "1"): 4, ("M1", "1"): 1};
    abbreviations count too ("conv2" for "conveyor 3")."""
    stem = prefix.lower().rstrip("s") if len(prefix) > 3 else prefix.lower()
    shortest = min(len(stem), 3)
    heads = "|".join(re.escape(stem[:n]) for n in range(len(stem), shortest - 1, -1))
    pattern = re.compile(rf"(?<![A-Za-z0-9])((?:{heads})s?[ _-]?)(\d+)(?![0-9])", re.I)
    counts: Counter[tuple[str, str]] = Counter()
    ids = set(graph.by_id(ctx.flow))
    for node in graph.canvas_nodes(ctx.flow, ctx.catalog):
        for key, value in node.items():
            if key in ("id", "type", "z", "wires", "x", "y", "g"):
                continue
            for text in graph.string_values(value):
                if text in ids:
                    continue
                for m in pattern.finditer(text):
                    counts[(m.group(0), m.group(2))] += 1
    return counts


def duplicate(ctx: Context) -> Plan | None:
    """ "same for m2 and m3", "duplicate this for pump 3 and 4"."""
    cue = _SAME.search(ctx.text)
    if cue is None:
        return None
    items = _new_items(ctx.text, cue.start()) or _new_items(ctx.text) or _loose_items(ctx)
    if not items:
        return None
    prefix = items[0][0]
    forms = _forms(ctx, prefix)
    wanted = {digits for _, digits in items}
    olds = Counter({digits: 0 for _, digits in forms})
    for (_, digits), count in forms.items():
        olds[digits] += count
    explicit = [
        d
        for d in re.findall(
            rf"(?<![A-Za-z0-9]){re.escape(prefix)}[ _-]?(\d+)(?![0-9])", ctx.text, re.I
        )
        if d not in wanted and d in olds
    ]
    candidates = [d for d, _ in olds.most_common() if d not in wanted]
    if not candidates:
        raise Unresolved(
            f"the flow mentions no '{prefix}<number>' to replace with "
            + ", ".join(prefix + d for _, d in items)
        )
    old = explicit[0] if explicit else candidates[0]
    spellings = [text for text, digits in forms if digits == old]
    members = _members(ctx, spellings)
    if not members:
        raise Unresolved(f"no node of the flow mentions {prefix}{old}")
    if not any(_produces_data(ctx, n) for n in members):
        raise Unresolved(
            f"no source or reader of the flow is specific to {spellings[0]} (only "
            + ", ".join(graph.describe(n) for n in members)
            + f" mention it), so I cannot tell where the data of {prefix} "
            + " and ".join(d for _, d in items)
            + " comes from; name the topic, register or node to read"
        )
    plan = Plan([])
    for _, digits in items:
        if digits == old:
            continue
        subs = {s: s[: len(s) - len(old)] + digits for s in spellings}
        plan.ops.append(
            op(
                "duplicate_chain",
                node_ids=[n["id"] for n in members],
                substitutions=subs,
                new_ids={n["id"]: ctx.new_id() for n in members},
            )
        )
    readers = [
        n
        for n in members
        if n.get("type") in ("modbus-read", "modbus-getter", "OpcUa-Item", "OpcUa-Client")
    ]
    if readers:
        plan.notes.append(
            "note: the copies read the same addresses/items as the original "
            f"({', '.join(graph.describe(n) for n in readers)}); "
            "adjust them if the other machines differ"
        )
    return plan


def _produces_data(ctx: Context, node: Node) -> bool:
    """A node where data enters: a source or a reader a trigger starts."""
    if not graph.predecessors(ctx.flow, node["id"]):
        return graph.output_count(node, ctx.catalog) > 0
    return node.get("type") in READERS


def _members(ctx: Context, spellings: list[str]) -> list[Node]:
    """Nodes that mention the machine, plus those on wires between two of them."""
    pattern = re.compile("|".join(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![0-9])" for s in spellings))
    ids = set(graph.by_id(ctx.flow))
    nodes = graph.canvas_nodes(ctx.flow, ctx.catalog)
    marked = {
        n["id"]
        for n in nodes
        if any(
            pattern.search(t)
            for k, v in n.items()
            if k not in ("id", "type", "z", "wires", "g")
            for t in graph.string_values(v)
            if t not in ids
        )
    }
    between = set()
    for node in nodes:
        if node["id"] in marked:
            continue
        below = set(graph.downstream(ctx.flow, node["id"]))
        above = {m for m in marked if node["id"] in graph.downstream(ctx.flow, m)}
        if below & marked and above:
            between.add(node["id"])
    keep = marked | between
    return [n for n in nodes if n["id"] in keep]


# --- replace the data source ----------------------------------------------------------------------

_REPLACE = (
    r"\b(?:instead|replace\w*|rather than|scrap\w*|straight from|directly from|swap\w*"
    r"|switch(?:ing)? to|no longer|any ?more|from now on|get it from|take it from|read it from"
    r"|remov\w*|decommission\w*"
    r"|retir\w*|gone|going away|drop the (?:mqtt|gateway|broker))\b"
)
_MODBUS = r"\b(?:modbus|holding|input reg\w*|registers?|regs?|coils?|plc|hr\s*\d|ir\s*\d)\b"


def replace_source(ctx: Context) -> Plan | None:
    if not ctx.has(_REPLACE):
        return None
    if (ctx.facts.register is not None or ctx.has(r"\bmodbus\b")) and ctx.has(_MODBUS):
        return _to_modbus(ctx)
    if (
        ctx.facts.topics
        and ctx.has(r"\b(?:mqtt|subscri\w*|topic)\b")
        and ctx.has(r"\b(?:plc|modbus|poll\w*|register)\b")
    ):
        return _to_mqtt(ctx)
    return None


def _old_source(ctx: Context, kinds: tuple[str, ...]) -> Node | None:
    sources = [ctx.origin(n) for n in graph.data_sources(ctx.flow, ctx.catalog)]
    candidates = [n for n in sources if n.get("type") in kinds]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    by_topic = [n for n in candidates if n.get("topic") and str(n["topic"]) in ctx.text]
    if len(by_topic) == 1:
        return by_topic[0]
    return ctx.pick(candidates, "sources")[0]


def _to_modbus(ctx: Context) -> Plan | None:
    old = _old_source(
        ctx,
        (
            "mqtt in",
            "http in",
            "OpcUa-Client",
            "websocket in",
            "tcp in",
            "udp in",
            "file in",
            "watch",
        ),
    )
    if old is None:
        if ctx.nodes("modbus-read", "modbus-getter"):
            return None  # already read over Modbus: a register change, not a new source
        raise Unresolved("found no source (mqtt in, ...) for the Modbus read to replace")
    plan = Plan([])
    client_id = readings.client_for(ctx, plan.ops)
    rate, unit = readings.rate_of(ctx, None, plan.notes)
    old_topic = str(old.get("topic") or "")
    read = ctx.make(
        "modbus-read",
        old,
        topic=old_topic if old_topic and not any(c in old_topic for c in "+#") else "",
        rate=rate,
        rateUnit=unit,
        server=client_id,
        **readings.register_props(ctx),
    )
    plan.ops.append(op("replace_source", old_id=old["id"], node=read))
    if read["quantity"] == "1" and graph.wires_of(old) and graph.wires_of(old)[0]:
        plan.ops.append(op("insert_after", node_id=read["id"], node=readings.unwrap(ctx, old)))
    plan.notes += readings.address_note(ctx)
    return plan


def _to_mqtt(ctx: Context) -> Plan | None:
    old = _old_source(ctx, ("modbus-read", "modbus-getter", "OpcUa-Client", "http request"))
    if old is None:
        return None
    topic = next((t for t in ctx.facts.topics if t not in ctx.flow_topics()), None)
    if topic is None:
        return None
    host, port = ctx.facts.hosts[0] if ctx.facts.hosts else (None, None)
    plan = Plan([])
    broker_id, broker = mqtt_broker(ctx.flow, ctx.catalog, ctx.new_id, host, port)
    if broker is not None:
        plan.ops.append(op("add_node", node=broker))
        if host is None:
            plan.notes.append("note: the flow has no MQTT broker; added one for localhost:1883")
    sub = ctx.make(
        "mqtt in",
        old,
        name=graph.label(old),
        topic=topic,
        qos="1",
        datatype="auto-detect",
        broker=broker_id,
        inputs=0,
    )
    feeders = [ctx.node(p) for p, _ in graph.predecessors(ctx.flow, old["id"])]
    plan.ops.append(op("replace_source", old_id=old["id"], node=sub))
    for feeder in feeders:
        if feeder.get("type") == "inject" and len(graph.successors(feeder)) == 1:
            plan.ops.append(op("remove_node", node_id=feeder["id"]))
    plan.notes.append(
        "note: MQTT delivers the value itself, not an array of registers; "
        "check nodes that read payload[0]"
    )
    return plan


# --- remove ---------------------------------------------------------------------------------------

_REMOVE = re.compile(
    r"\b(?:remove|delete|get rid of|take out|drop|kill|eliminate)\s+(?P<what>[^,.;!?]+)", re.I
)


def remove(ctx: Context) -> Plan | None:
    m = _REMOVE.search(ctx.text)
    if m is None:
        return None
    what = locate.phrase_text(m.group("what"))
    found = locate.find(ctx.flow, what, ctx.catalog)
    if not found:
        raise Unresolved(f"no node matches '{what}' (the flow has: {ctx.inventory()})")
    plural = re.search(r"\b(?:all|every|both)\b|s\b", what, re.I) is not None
    if len(found) > 1 and not plural:
        raise Unresolved(
            f"'{what}' could be {', '.join(graph.describe(n) for n in found)}; which one?"
        )
    return Plan([op("remove_node", node_id=n["id"]) for n in found])


STRUCTURAL = (duplicate, replace_source)
