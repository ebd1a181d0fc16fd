"""Risks: things in a flow that work on the bench and hurt in the plant.

Each check reads the graph (and the walks, for checks about what happens along a path)
and reports at most one Risk per code, naming the nodes involved. docs/explain.md lists
the codes and how each is decided.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.explain.describe import NUMERIC_TESTS, stores_context, switch_rules
from assistant.explain.describe_seq import join_bounded
from assistant.explain.endpoints import node_ref
from assistant.explain.graph import FlowGraph, Node, optional_output
from assistant.explain.paths import Walk, edges
from assistant.explain.text import join_words, label, number, plural, text_of, truthy
from flowschema.validator import ValidationReport

SEVERITIES = ("high", "medium", "low")
RISK_CODES = (
    "validator-errors",
    "mqtt-no-broker",
    "unchecked-plc-write",
    "plain-credentials",
    "http-no-response",
    "no-catch",
    "dangling-output",
    "unbounded-join",
    "unwired-branch",
    "function-no-timeout",
    "debug-complete-msg",
    "disabled-nodes",
)
DEVICE_TYPES = frozenset(
    {
        "modbus-read",
        "modbus-getter",
        "modbus-flex-getter",
        "modbus-write",
        "modbus-flex-write",
        "modbus-flex-connector",
        "OpcUa-Client",
        "OpcUa-Browser",
        "http request",
        "tcp request",
    }
)
EXTERNAL_TRIGGERS = frozenset({"mqtt", "http", "tcp", "udp", "websocket"})
SECRET_NAME = re.compile(
    r"(^|[_-])pass(wd|phrase)?$|password|passwd|^pwd$|secret|token|api[_-]?key|access[_-]?key",
    re.IGNORECASE,
)
LITERAL_TYPES = frozenset({"str", "num", "json", ""})
SECRET_IN_CODE = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key)\w*['\"]?\s*[:=]\s*['\"`][^'\"`\s]{4,}",
    re.IGNORECASE,
)
URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
# Code that bounds or vets a value: comparisons with numbers, Math.min/max, clamp,
# allow-lists (.includes), patterns (.test) and boolean/number type checks.
RANGE_CHECK_CODE = re.compile(
    r"[<>]=?\s*-?\d|\d\s*[<>]|Math\.(min|max)\b|\bclamp|\.includes\s*\(|\.test\s*\("
    r"|typeof\s+[\w.$]+\s*[!=]==?\s*['\"](boolean|number)['\"]",
    re.IGNORECASE,
)
VALUE_TESTS = frozenset({"eq", "regex"})


@dataclass(frozen=True)
class Risk:
    code: str
    severity: str
    message: str
    hint: str
    nodes: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "nodes": list(self.nodes),
        }


def _names(nodes: list[Node], limit: int = 3) -> str:
    shown = [label(n) for n in nodes[:limit]]
    if len(nodes) > limit:
        shown.append(plural(len(nodes) - limit, "more"))
    return join_words(shown)


def _risk(code: str, severity: str, message: str, hint: str, nodes: list[Node]) -> Risk:
    assert code in RISK_CODES and severity in SEVERITIES
    return Risk(code, severity, message, hint, tuple(node_ref(n) for n in nodes))


def _active(graph: FlowGraph) -> list[Node]:
    return [n for n in graph.flow_nodes() if not graph.is_disabled(n)]


# -- individual checks ------------------------------------------------------------------


def _validator(report: ValidationReport) -> Iterator[Risk]:
    errors = report.errors
    if errors:
        first = errors[0]
        where = first.node.label() if first.node else "flow"
        yield Risk(
            "validator-errors",
            "high",
            f"the validator reports {plural(len(errors), 'error')}, first: [{first.code}] "
            f"{where}: {first.message}",
            "run `ask validate FILE` for the full list and fix them before deploying",
            tuple(
                {"id": f.node.id, "type": f.node.type, "name": f.node.name}
                for f in errors[:10]
                if f.node is not None
            ),
        )


def _covered(graph: FlowGraph, node: Node, catches: list[Node], depth: int = 0) -> bool:
    for catch in catches:
        if catch.get("z") != node.get("z"):
            continue
        scope = catch.get("scope")
        if scope is None or scope == "" or (scope == "group" and catch.get("g") == node.get("g")):
            return True
        if isinstance(scope, list) and node["id"] in scope:
            return True
    subflow = graph.in_subflow(node)
    if subflow is not None and depth < 3:
        instances = graph.instances.get(subflow["id"], [])
        return any(_covered(graph, i, catches, depth + 1) for i in instances)
    return False


def _no_catch(graph: FlowGraph) -> Iterator[Risk]:
    active = _active(graph)
    catches = [n for n in active if n["type"] == "catch"]
    uncovered = [n for n in active if n["type"] in DEVICE_TYPES and not _covered(graph, n, catches)]
    if uncovered:
        yield _risk(
            "no-catch",
            "medium",
            f"no catch node handles errors from {_names(uncovered)}: a timeout or a lost "
            "connection only shows up in the Node-RED log",
            "add a catch node scoped to these nodes that logs the error or raises an alarm",
            uncovered,
        )


def _function_timeout(graph: FlowGraph) -> Iterator[Risk]:
    functions = [
        n for n in _active(graph) if n["type"] == "function" and not number(n.get("timeout"))
    ]
    if functions:
        yield _risk(
            "function-no-timeout",
            "low",
            f"{_names(functions)} {'has' if len(functions) == 1 else 'have'} no time limit "
            "(timeout 0 or empty): an endless loop in the code stalls all of Node-RED",
            "set the function's timeout (Setup tab, e.g. 5 s)",
            functions,
        )


def _successors(graph: FlowGraph, node: Node) -> list[Node]:
    return [e.target for e in edges(graph, node)[0]]


def _reaching(graph: FlowGraph, goal_type: str) -> set[str]:
    """Ids of nodes from which a node of `goal_type` can be reached."""
    predecessors: dict[str, set[str]] = {}
    for node in graph.flow_nodes():
        for target in _successors(graph, node):
            predecessors.setdefault(target["id"], set()).add(node["id"])
    found = {n["id"] for n in graph.flow_nodes() if n["type"] == goal_type}
    queue = deque(found)
    while queue:
        for previous in predecessors.get(queue.popleft(), ()):
            if previous not in found:
                found.add(previous)
                queue.append(previous)
    return found


def _forward(graph: FlowGraph, start: Node) -> list[Node]:
    seen = {start["id"]}
    order = [start]
    queue = deque([start])
    while queue:
        for target in _successors(graph, queue.popleft()):
            if target["id"] not in seen:
                seen.add(target["id"])
                order.append(target)
                queue.append(target)
    return order


def _dropping_ports(graph: FlowGraph, node: Node, answers: set[str]) -> list[str]:
    """Descriptions of how a routing node can drop a request before any response."""
    problems = []
    if node["type"] == "switch":
        rules = switch_rules(node)
        if rules and not any(isinstance(r, dict) and r.get("t") == "else" for r in rules):
            problems.append(f"requests that match no rule of {label(node)}")
    # Only a switch routes one way or the other; a function may send on several outputs.
    if node["type"] == "switch" and graph.output_count(node) > 1:
        wires = graph.wires(node)
        for port in range(graph.output_count(node)):
            targets = wires[port] if port < len(wires) else []
            if not any(t in answers for t in targets):
                problems.append(f"output {port + 1} of {label(node)}")
    return problems


def _http_response(graph: FlowGraph) -> Iterator[Risk]:
    answers = _reaching(graph, "http response")
    never: list[Node] = []
    partial: list[str] = []
    involved: list[Node] = []
    for node in _active(graph):
        if node["type"] != "http in":
            continue
        if node["id"] not in answers:
            never.append(node)
            continue
        for step in _forward(graph, node):
            if step["id"] in answers:
                problems = _dropping_ports(graph, step, answers)
                if problems:
                    partial.extend(problems)
                    involved.append(step)
    if never:
        yield _risk(
            "http-no-response",
            "high",
            f"{_names(never)} never reach{'es' if len(never) == 1 else ''} an http response "
            "node: every request hangs until the client times out",
            "wire each path from the http in node to an http response node",
            never,
        )
    if partial:
        yield _risk(
            "http-no-response",
            "medium",
            f"some requests get no answer: {join_words(sorted(set(partial))[:4])} "
            "lead to no http response node",
            "route every outcome (errors and rejections too) to an http response node",
            involved,
        )


def _debug_complete(graph: FlowGraph) -> Iterator[Risk]:
    debugs = [
        n
        for n in _active(graph)
        if n["type"] == "debug"
        and truthy(n.get("active"), True)
        and (text_of(n.get("targetType")) == "full" or text_of(n.get("complete")) == "true")
    ]
    if debugs:
        yield _risk(
            "debug-complete-msg",
            "low",
            f"{_names(debugs)} {'is' if len(debugs) == 1 else 'are'} switched on and "
            f"show{'s' if len(debugs) == 1 else ''} the complete message object: heavy on a "
            "small device and it can expose request or credential data in the editor",
            "show msg.payload only, or switch the debug node off in production",
            debugs,
        )


def _mqtt_broker(graph: FlowGraph) -> Iterator[Risk]:
    missing = [
        n
        for n in _active(graph)
        if n["type"] in ("mqtt in", "mqtt out")
        and (graph.config(n, "broker") or {}).get("type") != "mqtt-broker"
    ]
    if missing:
        yield _risk(
            "mqtt-no-broker",
            "high",
            f"{_names(missing)} {'has' if len(missing) == 1 else 'have'} no mqtt-broker "
            "config node: Node-RED will not deploy them as they are",
            "set the broker property to an mqtt-broker config node included in the flow",
            missing,
        )


def _dangling(graph: FlowGraph) -> Iterator[Risk]:
    dangling: list[Node] = []
    branches: list[Node] = []
    branch_text: list[str] = []
    for node in _active(graph):
        outputs = graph.output_count(node)
        if node["type"] == "link out":
            if node.get("mode") != "return" and not graph.link_targets(node):
                dangling.append(node)
            continue
        if outputs == 0 or optional_output(node) or stores_context(node):
            continue
        wires = graph.wires(node)
        wired = [
            (p < len(wires) and bool(wires[p])) or (node["id"], p) in graph.subflow_out
            for p in range(outputs)
        ]
        if not any(wired):
            dangling.append(node)
        elif node["type"] in ("switch", "function") and not all(wired):
            branches.append(node)
            unwired = [str(p + 1) for p, ok in enumerate(wired) if not ok]
            branch_text.append(f"output {join_words(unwired)} of {label(node)}")
    if dangling:
        yield _risk(
            "dangling-output",
            "medium",
            f"the output of {_names(dangling)} goes nowhere: the work done there is lost",
            "wire the output onward, or delete the node if it is left over",
            dangling,
        )
    if branches:
        yield _risk(
            "unwired-branch",
            "low",
            f"messages sent to {join_words(branch_text[:3])} are dropped (nothing is wired there)",
            "wire the output if those messages matter, e.g. to a debug or alarm node",
            branches,
        )


def _join(graph: FlowGraph) -> Iterator[Risk]:
    joins = [n for n in _active(graph) if n["type"] == "join" and not join_bounded(n)]
    if joins:
        yield _risk(
            "unbounded-join",
            "medium",
            f"{_names(joins)} collect{'s' if len(joins) == 1 else ''} messages with no count "
            "and no timeout: without a msg.complete it holds every message in memory",
            "set a message count or a timeout on the join node",
            joins,
        )


def is_range_check(node: Mapping[str, Any] | None) -> bool:
    if node is None:
        return False
    node_type = node.get("type")
    if node_type == "switch":
        on_payload = text_of(node.get("property") or "payload").startswith("payload")
        tests = {text_of(r.get("t")) for r in switch_rules(node) if isinstance(r, dict)}
        return bool(tests & NUMERIC_TESTS) or (on_payload and bool(tests & VALUE_TESTS))
    if node_type == "range":
        return text_of(node.get("action")) in ("clamp", "drop")
    if node_type == "function":
        return bool(RANGE_CHECK_CODE.search(str(node.get("func") or "")))
    return False


def _plc_writes(graph: FlowGraph, walks: list[Walk]) -> Iterator[Risk]:
    unchecked: dict[str, Node] = {}
    for walk in walks:
        if walk.trigger.kind not in EXTERNAL_TRIGGERS or walk.disabled:
            continue
        for step, ancestors in walk.source.walk():
            if step.ref or step.action is None or step.action.kind != "write":
                continue
            if step.type not in ("modbus-write", "modbus-flex-write", "OpcUa-Client"):
                continue
            if not any(is_range_check(graph.get(a.id)) for a in ancestors[1:]):
                node = graph.get(step.id)
                if node is not None:
                    unchecked.setdefault(step.id, node)
    if unchecked:
        nodes = list(unchecked.values())
        yield _risk(
            "unchecked-plc-write",
            "high",
            f"{_names(nodes)} write{'s' if len(nodes) == 1 else ''} values that arrive over "
            "MQTT/HTTP/network to the PLC with no range check on the way: anyone who can "
            "publish or post there sets the register to any value",
            "check the value first (switch with a numeric rule, range node set to clamp or "
            "drop, or a function that rejects out-of-range values)",
            nodes,
        )


def _secret_spots(graph: FlowGraph) -> Iterator[tuple[Node, str]]:
    for node in graph.nodes:
        spec = graph.spec(node)
        known = spec.properties if spec is not None else {}
        creds = node.get("credentials")
        if isinstance(creds, dict) and any(v not in (None, "", False) for v in creds.values()):
            yield node, "exported credentials"
        for key, value in node.items():
            if not isinstance(value, str) or not value.strip() or key in ("id", "type", "z"):
                continue
            if SECRET_NAME.search(key) and key not in known:
                yield node, f"property {key!r}"
            elif URL_WITH_PASSWORD.match(value.strip()):
                yield node, f"a password inside the URL in {key!r}"
            elif key in ("func", "initialize", "template") and SECRET_IN_CODE.search(value):
                yield node, f"a secret-like literal in {key!r}"
        yield from _secret_rules(node)


def _secret_rules(node: Node) -> Iterator[tuple[Node, str]]:
    rules = node.get("rules") if node.get("type") == "change" else node.get("props")
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        target = text_of(rule.get("p")).split(".")[-1]
        is_change = node.get("type") == "change"
        value = rule.get("to" if is_change else "v")
        kind = text_of(rule.get("tot" if is_change else "vt") or "str")
        secret = SECRET_NAME.search(target) or target.lower() == "authorization"
        if secret and isinstance(value, str) and value.strip() and kind in LITERAL_TYPES:
            yield node, f"a literal value for {target!r}"
    headers = node.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict):
            name = text_of(header.get("keyValue") or header.get("keyType")).lower()
            if (name == "authorization" or SECRET_NAME.search(name)) and text_of(
                header.get("valueValue")
            ):
                yield node, f"a literal {name!r} header"


def _credentials(graph: FlowGraph) -> Iterator[Risk]:
    spots: dict[str, tuple[Node, list[str]]] = {}
    for node, what in _secret_spots(graph):
        spots.setdefault(node["id"], (node, []))[1].append(what)
    if spots:
        nodes = [n for n, _ in spots.values()]
        details = [f"{label(n)} ({', '.join(dict.fromkeys(w))})" for n, w in spots.values()]
        yield _risk(
            "plain-credentials",
            "high",
            f"credentials sit in plain flow properties: {join_words(details[:3])}; anyone "
            "with the flow file or a backup can read them",
            "move them into the config node's credentials (not exported by default) or "
            "environment variables",
            nodes,
        )


def _disabled(graph: FlowGraph) -> Iterator[Risk]:
    nodes = [n for n in graph.flow_nodes() if truthy(n.get("d"))]
    tabs = [t for t in graph.tabs if truthy(t.get("disabled"))]
    if nodes or tabs:
        parts = []
        if tabs:
            parts.append(f"{plural(len(tabs), 'tab')} ({_names(tabs)})")
        if nodes:
            parts.append(f"{plural(len(nodes), 'node')} ({_names(nodes)})")
        yield _risk(
            "disabled-nodes",
            "low",
            f"{join_words(parts)} {'is' if len(nodes) + len(tabs) == 1 else 'are'} disabled: "
            "Node-RED skips them and drops messages sent to them",
            "enable them or delete them so the flow shows what actually runs",
            tabs + nodes,
        )


def find_risks(graph: FlowGraph, walks: list[Walk], report: ValidationReport) -> list[Risk]:
    checks: Iterable[Iterator[Risk]] = (
        _validator(report),
        _mqtt_broker(graph),
        _plc_writes(graph, walks),
        _credentials(graph),
        _http_response(graph),
        _no_catch(graph),
        _dangling(graph),
        _join(graph),
        _function_timeout(graph),
        _debug_complete(graph),
        _disabled(graph),
    )
    risks = [risk for check in checks for risk in check]
    return sorted(risks, key=lambda r: SEVERITIES.index(r.severity))
