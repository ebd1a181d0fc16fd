"""Values inside properties: numeric text in range, cron schedules, JavaScript, MQTT topics,
OPC UA node ids, URLs, JSON payloads, switch rules and canvas positions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from flowschema.catalog import NodeSpec, PropertySpec
from flowschema.checks.shape import range_finding
from flowschema.cron import CronError, check_cron
from flowschema.findings import Finding
from flowschema.javascript import check_javascript
from flowschema.model import FlowIndex, node_ref

_OPCUA_NODEID = re.compile(
    r"^(?:(?:ns=\d+|nsu=[^;]+);)?"
    r"(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|b=[A-Za-z0-9+/=]+|br=.+)"
    r"(?:;datatype=\w+)?$"
)
_URL_SCHEMES = {"http", "https", "ws", "wss", "opc.tcp", "mqtt", "mqtts", "tcp"}


def check_values(index: FlowIndex) -> Iterator[Finding]:
    for node in index.nodes:
        spec = index.spec_of(node)
        if spec is None:
            continue
        for name, prop in spec.properties.items():
            value = node.get(name)
            if value is None:
                continue
            if prop.type == "numeric" and isinstance(value, str):
                yield from _numeric_text_range(node, name, value, prop)
            if prop.format and isinstance(value, str) and value.strip():
                yield from _format(node, spec, name, value, prop.format)
        if node["type"] == "switch":
            yield from _switch_outputs(node)
        if node["type"] == "inject":
            yield from _inject_json(node)
        if index.is_flow_node(node) and not _has_position(node):
            yield Finding(
                "position-missing",
                "has no x/y position",
                node=node_ref(node),
                property="x",
                hint="give every flow node numeric x and y canvas coordinates",
            )


def _has_position(node: dict[str, Any]) -> bool:
    return all(
        isinstance(node.get(k), (int, float)) and not isinstance(node.get(k), bool)
        for k in ("x", "y")
    )


def _numeric_text_range(
    node: dict[str, Any], name: str, value: str, prop: PropertySpec
) -> Iterator[Finding]:
    if not value.strip() or (prop.minimum is None and prop.maximum is None):
        return
    try:
        number = float(value)
    except ValueError:
        return  # not numeric at all: the shape check reports it
    if (prop.minimum is not None and number < prop.minimum) or (
        prop.maximum is not None and number > prop.maximum
    ):
        yield range_finding(node, name, value, prop)


def _format(
    node: dict[str, Any], spec: NodeSpec, name: str, value: str, fmt: str
) -> Iterator[Finding]:
    ref = node_ref(node)
    if fmt == "cron":
        try:
            check_cron(value)
        except CronError as exc:
            yield Finding(
                "cron-syntax",
                f"{name} {value!r}: {exc}",
                node=ref,
                property=name,
                expected="minute hour day-of-month month day-of-week",
                found=value,
                hint='e.g. "*/5 * * * *" (every 5 minutes) or "0 6 * * 1-5" (06:00 on weekdays)',
            )
    elif fmt == "javascript":
        problem = check_javascript(value)
        if problem is not None:
            at = f" at line {problem.line}" if problem.line else ""
            yield Finding(
                "function-syntax",
                f"{name}{at}: {problem.message}",
                node=ref,
                property=name,
                found=_line(value, problem.line),
                hint="the code runs as the body of an async function(msg): end with return msg;",
            )
    elif fmt in ("mqtt-topic", "mqtt-topic-filter"):
        topic_problem = _mqtt_topic_problem(value, fmt == "mqtt-topic-filter")
        if topic_problem:
            yield Finding(
                "mqtt-topic-invalid",
                f"{name} {value!r}: {topic_problem}",
                node=ref,
                property=name,
                found=value,
                hint="levels are separated by '/'; '+' matches one level and '#' the rest, "
                "only when subscribing",
            )
    elif fmt == "opcua-nodeid":
        if not _OPCUA_NODEID.match(value.strip()):
            yield Finding(
                "opcua-nodeid-invalid",
                f"{name} {value!r} is not an OPC UA node id",
                node=ref,
                property=name,
                expected="ns=<index>;<i|s|g|b>=<identifier>",
                found=value,
                hint="e.g. ns=2;s=Line1.Temperature or ns=0;i=2258",
            )
    elif fmt == "url":
        url_problem = _url_problem(value)
        if url_problem:
            yield Finding(
                "url-invalid",
                f"{name} {value!r}: {url_problem}",
                node=ref,
                property=name,
                found=value,
                hint="e.g. http://192.168.1.20:8080/api or opc.tcp://plc:4840",
            )


def _mqtt_topic_problem(topic: str, is_filter: bool) -> str | None:
    if "\x00" in topic:
        return "contains a NUL character"
    if len(topic.encode("utf-8")) > 65535:
        return "is longer than 65,535 bytes"
    levels = topic.split("/")
    for position, level in enumerate(levels):
        if ("+" in level or "#" in level) and not is_filter:
            return "wildcards '+' and '#' are not allowed when publishing"
        if "+" in level and level != "+":
            return "'+' must occupy a whole level, e.g. plant/+/temp"
        if "#" in level and (level != "#" or position != len(levels) - 1):
            return "'#' must be the whole last level, e.g. plant/#"
    return None


def _url_problem(value: str) -> str | None:
    if "{{" in value or "${" in value:
        return None  # a template filled at run time
    if any(c.isspace() for c in value.strip()):
        return "contains white space"
    if "://" in value:
        scheme = urlsplit(value.strip()).scheme.lower()
        if scheme not in _URL_SCHEMES:
            return f"scheme {scheme!r} is not one of {', '.join(sorted(_URL_SCHEMES))}"
        if not urlsplit(value.strip()).netloc:
            return "has no host"
    return None


def _switch_outputs(node: dict[str, Any]) -> Iterator[Finding]:
    rules = node.get("rules")
    outputs = node.get("outputs")
    if not isinstance(rules, list) or outputs is None:
        return
    try:
        count = int(outputs)
    except (TypeError, ValueError):
        return
    if count != len(rules):
        yield Finding(
            "switch-rules-outputs",
            f"has {len(rules)} rule{'s' if len(rules) != 1 else ''} but outputs is {count}",
            node=node_ref(node),
            property="outputs",
            expected=len(rules),
            found=count,
            hint="a switch has one output per rule: set outputs to the number of rules",
        )


def _inject_json(node: dict[str, Any]) -> Iterator[Finding]:
    candidates: list[tuple[str, Any, Any]] = [
        ("payload", node.get("payload"), node.get("payloadType"))
    ]
    props = node.get("props")
    if isinstance(props, list):
        for prop in props:
            if isinstance(prop, dict) and "v" in prop:
                candidates.append((f"props[{prop.get('p')}]", prop.get("v"), prop.get("vt")))
    for where, value, value_type in candidates:
        if value_type != "json" or not isinstance(value, str) or not value.strip():
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            yield Finding(
                "json-syntax",
                f"{where} is typed JSON but does not parse: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno})",
                node=node_ref(node),
                property="payload" if where == "payload" else "props",
                found=value,
                hint='use double quotes around keys and strings, e.g. {"setpoint": 72}',
            )


def _line(source: str, line: int | None) -> str | None:
    if line is None:
        return None
    lines = source.splitlines()
    return lines[line - 1].strip()[:120] if 0 < line <= len(lines) else None
