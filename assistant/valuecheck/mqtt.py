"""MQTT: topics in the right role, brokers, QoS and retain."""

from __future__ import annotations

import re

from assistant.extract import Endpoint, Extracted, Topic
from assistant.valuecheck.flow import (
    Flow,
    Mismatch,
    Node,
    covers,
    has,
    host_port,
    id_list,
    num,
    num_eq,
    quote,
)


def _fixed_parts(topic: Topic) -> list[str]:
    parts = re.split(r"<[^>]*>|\{\w+\}|\+|#|\.\.\.|…", topic.text)
    return [p.strip("/") for p in parts if p.strip("/")]


def _rewritten(topic: str, feeders: str, in_topics: list[str]) -> bool:
    """Whether code upstream plausibly builds `topic` from a received one: a literal prefix
    added to a subscribed topic ("dlq/" & topic), or a subscribed topic with its last level
    replaced (temp_raw -> temp)."""
    levels = topic.split("/")
    for k in range(1, len(levels)):
        head, tail = "/".join(levels[:k]), "/".join(levels[k:])
        if head in feeders and any(covers(f, tail) for f in in_topics if f):
            return True
    last = levels[-1]
    return bool(re.search(rf"/{re.escape(last)}\b", feeders)) and any(
        f
        and len(f.split("/")) == len(levels)
        and covers("/".join(f.split("/")[:-1]), "/".join(levels[:-1]))
        for f in in_topics
    )


def check_topic(t: Topic, f: Flow) -> list[Mismatch]:
    ins, outs = f.of("mqtt in"), f.of("mqtt out")
    in_topics = [str(n.get("topic") or "") for n in ins]
    out_topics = [str(n.get("topic") or "") for n in outs]
    subscribed = [n for n in ins if n.get("topic") and covers(str(n["topic"]), t.wildcard)]
    published = [
        n
        for n in outs
        if n.get("topic") and (str(n["topic"]) == t.text or covers(t.wildcard, str(n["topic"])))
    ]
    dynamic = [n for n in outs if not str(n.get("topic") or "").strip()]
    cue = f' ("{t.cue}")' if t.cue else ""
    if t.replaced:
        users = [n for n in ins + outs if n.get("topic") == t.text]
        if users:
            return [
                Mismatch(
                    "topic",
                    t.text,
                    in_topics + out_topics,
                    f"the request says topic {t.text} is no longer used, but "
                    f"{', '.join(str(n['type']) for n in users)} still uses it",
                    id_list(users),
                )
            ]
        return []
    if t.role == "in":
        if subscribed:
            return []
        if any(not n.get("topic") and str(n.get("inputs")) == "1" for n in ins) and has(
            f.all_text(), t.text
        ):
            return []
        if published and not t.strong:
            return []  # a weak guess; the flow publishing it is plausible
        where = (
            f"; it is only published, by mqtt out {quote(id_list(published))}" if published else ""
        )
        return [
            Mismatch(
                "topic",
                t.text,
                in_topics,
                f"the request names topic {t.text} as an input{cue}, but no mqtt in node "
                f"subscribes to it{where}; mqtt in topics: {quote(in_topics)}",
                id_list(published),
                "error" if t.strong or not published else "warning",
            )
        ]
    if t.role == "out":
        if published:
            return []
        feeders = f.text_of(i for n in dynamic for i in f.upstream(str(n["id"])))
        parts = _fixed_parts(t)
        if dynamic and (
            has(feeders, t.text)
            or t.is_pattern
            or t.example
            or _rewritten(t.text, feeders, in_topics)
        ):
            return []
        if t.text.startswith(("...", "…")) and any(
            p and p in " ".join(out_topics) + feeders for p in parts
        ):
            return []
        if dynamic:
            return [
                Mismatch(
                    "topic",
                    t.text,
                    out_topics,
                    f"the request names topic {t.text} as an output{cue}; no mqtt out has "
                    f"it and it is not set as msg.topic upstream of the mqtt out nodes "
                    f"without a topic ({quote(id_list(dynamic))}); it may be computed at run "
                    "time",
                    id_list(dynamic),
                    "warning",
                )
            ]
        if subscribed and not t.strong:
            return []
        where = (
            f"; it is only subscribed to, by mqtt in {quote(id_list(subscribed))}"
            if subscribed
            else ""
        )
        return [
            Mismatch(
                "topic",
                t.text,
                out_topics,
                f"the request names topic {t.text} as an output{cue}, but no mqtt out node "
                f"publishes to it{where}; mqtt out topics: {quote(out_topics)}",
                id_list(subscribed),
                "error" if t.strong or not subscribed else "warning",
            )
        ]
    if subscribed or published or has(f.all_text(), t.text):
        return []
    return [
        Mismatch(
            "topic",
            t.text,
            in_topics + out_topics,
            f"the request names topic {t.text}, but no mqtt node uses it; mqtt topics: "
            f"{quote(in_topics + out_topics)}",
            [],
            "warning",
        )
    ]

def check_broker(e: Endpoint, f: Flow) -> list[Mismatch]:
    brokers = f.of("mqtt-broker")
    found = [str(b.get("broker", "")) for b in brokers]
    same = [b for b in brokers if host_port(str(b.get("broker", "")))[0] == e.host.lower()]
    if not same:
        return [
            Mismatch(
                "broker",
                e.host,
                found,
                f"the request names MQTT broker {e.host}, but no mqtt-broker node connects "
                f"to it; brokers: {quote(found)}",
                id_list(brokers),
            )
        ]
    if e.port is None:
        return []
    ports = [host_port(str(b["broker"]))[1] or num(b.get("port")) or 1883 for b in same]
    if any(num_eq(float(p), float(e.port)) for p in ports):
        return []
    return [
        Mismatch(
            "broker",
            f"{e.host}:{e.port}",
            [f"{e.host}:{p:g}" for p in ports],
            f"the request names broker {e.host} port {e.port}, but the mqtt-broker node "
            f"uses port {quote(f'{p:g}' for p in ports)}",
            id_list(same),
        )
    ]

def _mqtt_targets(topic: str | None, x: Extracted, f: Flow) -> list[Node]:
    roles = {t.text: t.role for t in x.topics}
    if topic and roles.get(topic) == "in":
        return [n for n in f.of("mqtt in") if n.get("topic") and covers(str(n["topic"]), topic)]
    if topic:
        same = [n for n in f.of("mqtt out") if n.get("topic") == topic]
        return same or [n for n in f.of("mqtt out") if not n.get("topic")]
    return f.of("mqtt out", "mqtt in")


def check_mqtt_options(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    text = f.all_text()
    for q in x.qos:
        nodes = _mqtt_targets(q.topic, x, f) or f.of("mqtt out", "mqtt in")
        if any(num_eq(num(n.get("qos")), float(q.level)) for n in nodes):
            continue
        if re.search(rf"qos\W{{0,4}}{q.level}\b", text, re.I):
            continue
        on = f" on {q.topic}" if q.topic else ""
        out.append(
            Mismatch(
                "qos",
                str(q.level),
                [str(n.get("qos")) for n in nodes],
                f"the request wants QoS {q.level}{on}, but the mqtt node(s) use QoS "
                f"{quote(str(n.get('qos')) for n in nodes)}",
                id_list(nodes),
            )
        )
    for r in x.retain:
        nodes = _mqtt_targets(r.topic, x, f) or f.of("mqtt out")
        nodes = [n for n in nodes if n.get("type") == "mqtt out"] or f.of("mqtt out")
        flags = [str(n.get("retain", "")).lower() for n in nodes]
        if r.retain and ("true" in flags or re.search(r"retain\W{0,4}true", text, re.I)):
            continue
        if not r.retain and "true" not in flags:
            continue
        on = f" on {r.topic}" if r.topic else ""
        out.append(
            Mismatch(
                "retain",
                str(r.retain).lower(),
                flags,
                f"the request wants messages{on} {'retained' if r.retain else 'not retained'}"
                f", but the mqtt out node(s) have retain {quote(flags)}",
                id_list(nodes),
            )
        )
    return out

