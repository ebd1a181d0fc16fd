"""Supervision: something must follow within a time, or an alarm goes out.

"after a start cmd on X the feedback Y = true has to come within 5 s; if it doesn't, publish
START FAILED on Z" and "every 30 s publish a request on X; if no answer comes back on Y
within 3 s raise NO RESPONSE on Z" are one pattern: a start (a topic or a schedule) arms a
`trigger` node that sends the alarm text after the time unless the awaited message resets
it first. Code builds it; there is nothing for a model to write.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from assistant.extract import Extracted

if TYPE_CHECKING:
    from assistant.generate.skeleton import Skeleton, _Builder

_EXPECTS = re.compile(
    r"\b(?:has to|must|should|needs? to)\s+(?:come|arrive|answer|respond|report)|"
    r"\bno (?:answer|reply|response|feedback|confirmation)\b|\bif it (?:does ?n[o']t|doesnt)\b|"
    r"\bif not\b|\botherwise\b", re.IGNORECASE)
_PAYLOAD_IS = re.compile(r"\(payload\s+[\"']?(?P<word>[\w-]+)[\"']?\)|\bpayload\s*(?:=|==|is)\s*"
                         r"[\"']?(?P<word2>[\w-]+)", re.IGNORECASE)


def _equals(b: _Builder, key: str, value: Any, kind: str, why: str) -> str:
    """A switch that lets only `value` through, after `key`."""
    rule = {"t": "eq", "v": str(value).lower() if kind == "bool" else str(value), "vt": kind}
    check = b.add("switch", "only", why, name=f"== {value}", property="payload",
                  propertyType="msg", rules=[rule], checkall="true", outputs=1)
    b.plan.wire(key, check)
    return check


def build_watchdog(b: _Builder, found: Extracted) -> Skeleton | None:
    """The supervision flow, or None when the request is not one."""
    from assistant.generate.skeleton import Skeleton

    u = b.u
    timeouts = [i for i in found.intervals if i.kind == "timeout"]
    alarms = [lit for lit in found.literals if not lit.example]
    if len(timeouts) != 1 or len(alarms) != 1 or not _EXPECTS.search(u.request) \
            or u.registers or u.opcua_nodes or u.served or u.calls or u.files:
        return None
    alarm_text = alarms[0].value
    after = u.request[alarms[0].end:]
    alarm_topics = [t for t in u.topics_out if t in after]
    if len(alarm_topics) != 1:
        return None
    alarm_topic = alarm_topics[0]
    others_out = [t for t in u.topics_out if t != alarm_topic]
    seconds = timeouts[0].seconds
    if len(u.topics_in) == 2 and not u.interval_s and not others_out:
        starter_topic, awaited_topic = u.topics_in
        starter = b.mqtt_in(starter_topic)
        said = _PAYLOAD_IS.search(u.request, 0, u.request.find(awaited_topic))
        if said:
            starter = _equals(b, starter, said.group("word") or said.group("word2"), "str",
                              "only this command arms the supervision")
        starts = [starter]
    elif len(u.topics_in) == 1 and u.interval_s and len(others_out) == 1:
        awaited_topic = u.topics_in[0]
        timer = b.add("inject", "every", f"asks every {u.interval_s:g} s",
                      name=f"every {u.interval_s:g} s", repeat=f"{u.interval_s:g}",
                      once=True, onceDelay=0.5, payload="", payloadType="date")
        ask = b.add("mqtt out", "pub", f"publishes the request on {others_out[0]}",
                    name=others_out[0], topic=others_out[0], qos="1", retain="false")
        b.plan.node(ask).configs["broker"] = b.broker()
        b.plan.wire(timer, ask)
        starts = [timer]
    else:
        return None
    awaited = b.mqtt_in(awaited_topic)
    at = u.request.find(awaited_topic)
    if re.match(r"\s*(?:=|==|is)\s*true\b", u.request[at + len(awaited_topic):]):
        awaited = _equals(b, awaited, "true", "bool", "only the awaited value stops the alarm")
    reset = b.add("change", "reset", "the awaited message stops the timer",
                  name="reset", rules=[{"t": "set", "p": "reset", "pt": "msg", "to": "true",
                                        "tot": "bool"}])
    b.plan.wire(awaited, reset)
    watch = b.add("trigger", "wd", f"sends the alarm unless reset within {seconds:g} s",
                  name=f"{seconds:g} s watchdog", op1="", op2=alarm_text, op1type="nul",
                  op2type="str", duration=f"{seconds:g}", extend=False,
                  overrideDelay=False, units="s", reset="", bytopic="all", topic="topic",
                  outputs=1)
    for start in starts:
        b.plan.wire(start, watch)
    b.plan.wire(reset, watch)
    out = b.add("mqtt out", "alarm", f"publishes the alarm on {alarm_topic}", name=alarm_topic,
                topic=alarm_topic, qos="1", retain="false")
    b.plan.node(out).configs["broker"] = b.broker()
    b.plan.wire(watch, out)
    return Skeleton(b.plan, {})
