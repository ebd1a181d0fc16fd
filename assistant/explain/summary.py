"""The deterministic summary paragraph: one sentence per walk, trigger first, then what
reaches the outside (publishes, writes, answers, files), with switch conditions.

"This flow polls holding register 100 on the Modbus device 192.168.1.10:502 every 5 s and
publishes the value to MQTT topic plant/line1/temp on broker 10.0.0.5:1883."
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from assistant.explain import devices
from assistant.explain.actions import EFFECT_KINDS, Action
from assistant.explain.graph import FlowGraph, Node
from assistant.explain.paths import MAX_WALKS, Step, Walk
from assistant.explain.text import duration, join_words, number, plural, show, text_of
from assistant.explain.triggers import describe_cron, modbus_poll, scope_text
from flowschema.catalog import SUBFLOW_PREFIX

MAX_SENTENCES = 4
MAX_EFFECTS = 4
SUMMARY_KINDS = EFFECT_KINDS | {"read", "subscribe", "process"}


@dataclass(frozen=True)
class Effect:
    action: Action
    condition: str | None


def _condition(step: Step, ancestors: tuple[Step, ...]) -> str | None:
    for item in (step, *reversed(ancestors)):
        if item.via and (item.via.startswith("if ") or item.via == "otherwise"):
            return item.via
    return None


def _effects(walk: Walk, inner: dict[str, list[Effect]]) -> Iterator[Effect]:
    for step, ancestors in walk.source.walk():
        if step is walk.source or step.ref:
            continue
        if step.action is not None:
            yield Effect(step.action, _condition(step, ancestors))
        if step.type.startswith(SUBFLOW_PREFIX):
            yield from inner.get(step.type[len(SUBFLOW_PREFIX) :], [])


def _timing(node: Node) -> str:
    repeat = number(node.get("repeat"))
    if repeat and repeat > 0:
        return f"every {duration(repeat)}"
    cron = text_of(node.get("crontab"))
    if cron:
        return describe_cron(cron)
    if node.get("once") in (True, "true"):
        return "once at start-up"
    return "when its inject button is clicked"


def _opening(graph: FlowGraph, walk: Walk, node: Node, effects: list[Effect]) -> tuple[str, str]:
    """(clause, noun): what starts the walk, and how to call what it carries."""
    kind = walk.trigger.kind
    first = effects[0] if effects else None
    if (
        kind in ("interval", "cron", "once", "button", "opcua-subscription")
        and first
        and (first.action.kind in ("read", "subscribe") and first.condition is None)
    ):
        effects.pop(0)
        timing = "" if kind == "opcua-subscription" else f" {_timing(node)}"
        return first.action.phrase("") + timing, _read_noun(first.action, kind)
    if kind in ("interval", "cron", "once", "button"):
        return f"runs {_timing(node)}", "the result"
    if kind == "modbus-poll":
        clause = modbus_poll(graph, node)
        unit = devices.modbus_unit(graph, node)
        if unit:
            clause = clause.replace(f" (unit {show(unit)})", "", 1)
        many = devices.register_count(node) > 1
        return clause, "the values" if many else "the value"
    if kind == "mqtt":
        if str(node.get("inputs")) == "1":
            return "takes " + walk.trigger.description, "it"
        topic = show(text_of(node.get("topic")) or "(no topic set)")
        broker = devices.mqtt_broker(graph, node) or "(no broker configured)"
        return f"takes each message on MQTT topic {topic} from broker {broker}", "it"
    if kind == "http":
        method = (text_of(node.get("method")) or "get").upper()
        url = show(text_of(node.get("url")) or "(no URL)")
        noun = "the posted value" if method in ("POST", "PUT", "PATCH") else "the result"
        return f"handles HTTP {method} requests to {url}", noun
    if kind == "file-watch":
        return f"watches {walk.trigger.description.removeprefix('a change to ')} for changes", (
            "the change"
        )
    if kind == "link":
        return "takes messages from link nodes elsewhere", "them"
    if kind in ("tcp", "udp", "websocket"):
        return "receives " + walk.trigger.description, "it"
    return "starts from " + walk.trigger.description, "the result"


def _read_noun(action: Action, kind: str) -> str:
    if action.verb.startswith("subscribes to events"):
        return "each event"
    if kind == "opcua-subscription":
        return "each new value"
    plural_values = any(f"{many} " in action.value for _, many in devices.MODBUS_TABLES.values())
    return "the values" if plural_values else "the value"


def _phrases(effects: list[Effect], noun: str, said: str) -> list[str]:
    """Verb phrases for the effects; `said` is the text before them (to spot a broker
    that was already named)."""
    keep = [e for e in effects if e.action.kind in SUMMARY_KINDS]
    for fallback in ("store", "show"):
        if not keep:
            keep = [e for e in effects if e.action.kind == fallback][:1]
    pronoun = "them" if noun.endswith("values") else "it"
    grouped: dict[object, list[Effect]] = {}
    for effect in keep:
        key = effect.action.group_key() or effect.action.phrase("{obj}", effect.condition)
        grouped.setdefault(key, []).append(effect)
    phrases: list[str] = []
    for group in grouped.values():
        obj = noun if not phrases else pronoun
        values = list(
            dict.fromkeys(
                e.action.value + (f" ({e.condition})" if e.condition else "") for e in group
            )
        )
        action = _same_broker(group[0].action, " ".join([said, *phrases]))
        if len(values) > 1:
            verb = action.verb.replace("{obj}", obj)
            phrases.append(f"{verb} {action.targets} {join_words(values)} {action.place}".strip())
        else:
            phrases.append(action.phrase(obj, group[0].condition))
    if len(phrases) > MAX_EFFECTS:
        rest = len(phrases) - MAX_EFFECTS + 1
        phrases = [*phrases[: MAX_EFFECTS - 1], f"{plural(rest, 'more action')}"]
    return phrases


def _same_broker(action: Action, said: str) -> Action:
    address = action.place.removeprefix("on broker ")
    if action.kind == "publish" and address != action.place and address in said:
        return replace(action, place="on the same broker")
    return action


def _sentence(
    graph: FlowGraph, walk: Walk, before: list[str], inner: dict[str, list[Effect]]
) -> str:
    node = graph.get(walk.source.id) or {}
    effects = list(_effects(walk, inner))
    kind = walk.trigger.kind
    if kind in ("catch", "status", "complete"):
        scope = scope_text(graph, node)
        phrases = _phrases(effects, "the error" if kind == "catch" else "it", " ".join(before))
        does = join_words(phrases) if phrases else "does nothing further with it"
        opening = {
            "catch": f"If {scope} fails,",
            "status": f"When the status of {scope} changes,",
            "complete": f"When {scope} finishes a message,",
        }[kind]
        return f"{opening} it {does}."
    clause, noun = _opening(graph, walk, node, effects)
    phrases = _phrases(effects, noun, " ".join([*before, clause]))
    subject = "It also" if before else "This flow"
    if not phrases:
        return f"{subject} {clause}, but its messages end without reaching any output."
    return f"{subject} {join_words([clause, *phrases])}."


def build_summary(graph: FlowGraph, walks: list[Walk], errors: int, omitted: int = 0) -> str:
    if not graph.nodes:
        return "This flow has no nodes, so it does nothing."
    inner: dict[str, list[Effect]] = {}
    for walk in walks:
        if walk.trigger.kind == "subflow-input":
            inner[walk.source.id] = [
                e for e in _effects(walk, {}) if e.action.kind not in ("show",)
            ]
    main = [w for w in walks if not w.in_subflow and not w.disabled]
    sentences = []
    if not main:
        if not any(True for _ in graph.flow_nodes()):
            sentences.append("This flow only holds configuration and does nothing by itself.")
        else:
            sentences.append("No node in this flow starts messages, so nothing in it runs.")
    said: dict[str, int] = {}  # identical paths (three meters polled alike) are said once
    keys: list[str] = []
    for walk in main:
        key = _sentence(graph, walk, [], inner)  # without context: "the same broker" varies
        if key in said:
            said[key] += 1
        elif len(said) < MAX_SENTENCES:
            said[key] = 1
            keys.append(key)
            sentences.append(_sentence(graph, walk, sentences, inner))
    for index, key in enumerate(keys, start=len(sentences) - len(keys)):
        if said[key] > 1:
            sentences[index] = f"{sentences[index][:-1]} ({said[key]} paths do this)."
    described = sum(said.values())
    if len(main) > described:
        more = len(main) - described
        sentences.append(f"It has {plural(more, 'more path')}, listed below.")
    if omitted:
        sentences.append(
            f"{plural(omitted, 'more message source')} {'is' if omitted == 1 else 'are'} not "
            f"walked (the limit is {MAX_WALKS})."
        )
    if errors:
        sentences.append(
            f"The validator finds {plural(errors, 'error')} in it, so Node-RED may refuse it "
            "or run it differently."
        )
    return " ".join(sentences)
