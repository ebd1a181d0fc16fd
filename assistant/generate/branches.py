"""Branches that hang off the main lane of a skeleton: the error branch a catch node feeds,
and the confirmation that follows a write.

Both need the builder the skeleton is laid out with (to add nodes and config nodes), so
`skeleton.build_skeleton` calls them once the main lane and its sinks are known.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from assistant.generate.functions import FunctionSpec

if TYPE_CHECKING:
    from assistant.generate.skeleton import _Builder


def error_branch(b: _Builder, sinks: list[tuple[str, str]],
                  replies: list[tuple[str, str]]) -> None:
    """A catch node for the tab: errors go to the sinks the request named for them, and an
    HTTP caller gets a 500 with the error text instead of a request left hanging."""
    catch = b.add("catch", "catch", "catches errors thrown by any node of this tab",
                  name="errors", scope=None, uncaught=False)
    if replies:
        to_500 = b.add("change", "err500", "answers the caller with 500 and the error",
                       name="500 + error", rules=[
                           {"t": "set", "p": "statusCode", "pt": "msg", "to": "500",
                            "tot": "num"},
                           {"t": "set", "p": "payload", "pt": "msg",
                            "to": '{"error": error.message}', "tot": "jsonata"}])
        b.plan.wire(catch, to_500)
        for reply, _ in replies:
            b.plan.wire(to_500, reply)
    if not sinks:
        return
    feed = catch
    if b.u.rate_limit:
        feed = b.rate_limiter("error report(s)", drop=True)
        b.plan.wire(catch, feed)
        b.u.rate_limit = None  # spent on the error reports
    key = b.add("function", "fnerr", "turns the caught error into the report asked for",
                name="error report", outputs=len(sinks), timeout=5, noerr=0)
    b.plan.wire(feed, key)
    for port, (sink, _) in enumerate(sinks):
        b.plan.wire(key, sink, port)
    b.functions[key] = FunctionSpec(
        task="Report a caught error as the request below asks (this node handles errors "
             "only; other nodes do the normal work).\nRequest: " + b.u.request,
        input="a caught error: msg.error.message is the error text, msg.error.source.id/"
              "type/name the node that failed; msg.payload is still the payload of the "
              "message that failed",
        outputs=[text for _, text in sinks],
        role="errors", source="error", sink_types=[b.sink_type(k) for k, _ in sinks],
        sample={"payload": "bad input", "topic": "t",
                "error": {"message": "boom", "source": {"id": "a1", "type": "function",
                                                        "name": "calc"}}})


_ACK_CUE = re.compile(
    r"(?:\back\w*|\bconfirm\w*|\bonce (?:the |it(?:'s| is| was| has been)? ?)?(?:write|"
    r"written|stored|saved)\w*(?: went| is| has)?(?: thr?u\w*| done| finished)?|"
    r"\b(?:when|after) the write\b[^.;]{0,40})[^.;]{0,80}$", re.IGNORECASE)
_ACK_FAILS = re.compile(r"\b(?:fail\w*|error)\b[^.;]{0,60}\b(?:say|tell|report|publish|"
                        r"send)\w*\b|\b(?:say|tell|report)\w* so\b", re.IGNORECASE)


def acknowledge_writes(b: _Builder, sinks: list[tuple[str, str]],
                        write_ends: dict[str, str]) -> list[tuple[str, str]]:
    """"write it ... and once the write went thru publish 'loaded <code>' on X": the topic
    X hangs off the write's own output, so the confirmation means the write happened. The
    value is kept in msg.written on the way in (an OPC UA write answers with a status)."""
    if len(write_ends) != 1:
        return sinks
    request = b.u.request
    acks = []
    for key, text in sinks:
        node = b.plan.node(key)
        topic = str(node.props.get("topic", ""))
        at = request.find(topic) if node.type == "mqtt out" and topic else -1
        if at >= 0 and _ACK_CUE.search(request[max(0, at - 120):at]):
            acks.append((key, text))
    if len(acks) != 1:
        return sinks
    ack_key = acks[0][0]
    [(write_key, end)] = write_ends.items()
    keep = b.add("change", "keep", "keeps the value to write for the confirmation",
                 name="keep value", rules=[{"t": "set", "p": "written", "pt": "msg",
                                            "to": "payload", "tot": "msg"}])
    b.plan.wire(keep, write_key)
    b.kept[keep] = b.sink_type(write_key)
    texts = list(b.u.literals)
    slot = next((t for t in texts if re.search(r"<[^>]+>", t)), None)
    if slot is not None:
        head, _, tail = re.split(r"(<[^>]+>)", slot, maxsplit=1)
        to = " & ".join(part for part in (json.dumps(head) if head else "",
                                           "$string(written)",
                                           json.dumps(tail) if tail else "") if part)
        rule = {"t": "set", "p": "payload", "pt": "msg", "to": to, "tot": "jsonata"}
    elif len(texts) == 1:
        rule = {"t": "set", "p": "payload", "pt": "msg", "to": texts[0], "tot": "str"}
    else:
        rule = {"t": "set", "p": "payload", "pt": "msg", "to": "OK", "tot": "str"}
    done = b.add("change", "done", "confirms once the write has finished",
                 name="confirm", rules=[rule])
    b.plan.wire(end, done)
    b.plan.wire(done, ack_key)
    at = request.find(str(b.plan.node(ack_key).props.get("topic", "")))
    if _ACK_FAILS.search(request[at:]):
        catch = b.add("catch", "failed", "catches a failed write", name="write failed",
                      scope=[end], uncaught=False)
        failed = b.add("change", "nack", "reports the failure on the same topic",
                       name="failed", rules=[{"t": "set", "p": "payload", "pt": "msg",
                                              "to": '"FAILED: " & error.message',
                                              "tot": "jsonata"}])
        b.plan.chain(catch, failed, ack_key)
    rest = [(k, t) for k, t in sinks if k not in (ack_key, write_key)]
    return [*rest, (keep, dict(sinks)[write_key])]
