"""Catching errors: a catch node (for the whole tab or the nodes named) feeding a report to
an MQTT topic, a file, an HTTP call or the debug sidebar."""

from __future__ import annotations

from assistant.edit.context import Context, op
from assistant.edit.model import Node, Op, Plan
from assistant.edit.outputs import broker_for, set_payload

_ERRORS = r"\b(?:errors?|failures?|fail(?:s|ed|ing)?|exceptions?)\b"
_HANDLE = (
    r"\b(?:catch\w*|handl\w*|log\w*|report\w*|publish\w*|send|forward\w*|notify|alert\w*|writ\w*"
    r"|record\w*|captur\w*|trap\w*|post\w*|push\w*|show\w*|display\w*|see|debug)\b"
)
_SOURCE = "(error.source.name ? error.source.name : error.source.type)"
_REPORT = '{"error": error.message, "node": ' + _SOURCE + ', "time": $now()}'
_LINE = '$now() & " " & ' + _SOURCE + ' & ": " & error.message'


def catch_errors(ctx: Context) -> Plan | None:
    """ "catch errors of the modbus read and publish them to plant/errors", "log all errors
    to /var/log/nodered-errors.log"."""
    if not (ctx.has(_ERRORS) and ctx.has(_HANDLE)):
        return None
    if not ctx.has(
        r"\b(?:catch\w*|handl\w*|(?:all|any|the|its|their|on|of|with) (?:errors?|failures?)"
        r"|errors? (?:of|from|in)|if (?:it|the \w+) fails|when (?:it|the \w+) fails)\b"
    ):
        return None
    scope = _scope(ctx)
    catch = ctx.make(
        "catch", scope[0] if scope else None, name="errors",
        scope=[n["id"] for n in scope] if scope else None, uncaught=False,
    )  # fmt: skip
    ops: list[Op] = []
    chain: list[Node] = [catch]
    facts = ctx.facts
    new_topics = [t for t in facts.topics if t not in ctx.flow_topics() and not set(t) & set("+#")]
    urls = [u for u in facts.urls if u.lower().startswith("http")]
    if new_topics:
        chain.append(set_payload(ctx, catch, "error report", _REPORT, "jsonata"))
        host, port = facts.hosts[0] if facts.hosts else (None, None)
        broker = broker_for(ctx, host, port, ops)
        chain.append(ctx.make("mqtt out", catch, name="", topic=new_topics[0], broker=broker))
    elif facts.files:
        path = facts.files[0]
        chain.append(set_payload(ctx, catch, "error line", _LINE, "jsonata"))
        chain.append(
            ctx.make(
                "file", catch, name=path.rsplit("/", 1)[-1], filename=path, filenameType="str",
                appendNewline=True, createDir=True, overwriteFile="false",
            )
        )  # fmt: skip
    elif urls:
        chain.append(set_payload(ctx, catch, "error report", _REPORT, "jsonata"))
        chain.append(ctx.make("http request", catch, name="POST error", method="POST", url=urls[0]))
        chain.append(ctx.make("debug", catch, name="http answer", complete="false"))
    else:
        chain.append(ctx.make("debug", catch, name="errors", complete="error", targetType="msg"))
    ops.append(op("add_branch", nodes=chain, after=None))
    return Plan(ops)


def _scope(ctx: Context) -> list[Node]:
    """The nodes whose errors are meant, when named ("errors of the modbus read")."""
    target = ctx.target()
    if target is None:
        return []
    return [n for n in target if n.get("type") not in ("catch", "debug")]
