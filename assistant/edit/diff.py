"""A human summary of what changed between two versions of a flow, one line per change."""

from __future__ import annotations

import json
from typing import Any

from assistant.edit import graph
from assistant.edit.model import Flow, Node

_IGNORED = frozenset({"id", "type", "wires", "x", "y", "z", "g"})
_LONG = 60


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if value.strip() else '""'
    else:
        text = json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= _LONG else text[: _LONG - 3] + "..."


def _targets(node: Node) -> set[str]:
    return {t for _, t in graph.successors(node)}


def diff_summary(old: Flow, new: Flow) -> list[str]:
    """Lines such as "added switch '> 80' after 'comp1 oil temp'", "changed mqtt out
    'historian' topic: a -> b", "removed debug 'debug 1'", "rewired 'a': now -> 'c' (was
    -> 'b')"."""
    before, after = graph.by_id(old), graph.by_id(new)
    feeders: dict[str, list[str]] = {}
    for node in new:
        for _, target in graph.successors(node):
            if str(node["id"]) not in feeders.setdefault(target, []):
                feeders[target].append(str(node["id"]))
    lines: list[str] = []
    added = [n for i, n in after.items() if i not in before]
    removed = [n for i, n in before.items() if i not in after]
    replaced = _replacements(added, removed)
    for node in added:
        if node["id"] in replaced:
            gone = replaced[node["id"]]
            details = _details(node)
            lines.append(
                f"replaced {graph.describe(gone)} with {graph.describe(node)}"
                + (f" ({details})" if details else "")
            )
        else:
            lines.append(_added_line(node, feeders.get(node["id"], []), before, after))
    taken = {n["id"] for n in replaced.values()}
    for node in removed:
        if node["id"] not in taken:
            lines.append(f"removed {graph.describe(node)}")
    for node_id, node in after.items():
        if node_id in before:
            lines.extend(_changed_lines(before[node_id], node))
            lines.extend(_rewired_lines(before[node_id], node, before, after))
    return lines


def _replacements(added: list[Node], removed: list[Node]) -> dict[str, Node]:
    """New node id -> the removed node whose place (tab and x/y) it took."""
    spots = {(n.get("z"), n.get("x"), n.get("y")): n for n in removed if "x" in n}
    found = {}
    for node in added:
        gone = spots.get((node.get("z"), node.get("x"), node.get("y")))
        if gone is not None and "x" in node:
            found[node["id"]] = gone
    return found


def _added_line(
    node: Node, feeders: list[str], before: dict[str, Node], after: dict[str, Node]
) -> str:
    text = f"added {graph.describe(node)}"
    details = _details(node)
    if details:
        text += f" ({details})"
    if not feeders:
        return text
    names = ", ".join(f"'{graph.label(after[f])}'" for f in feeders)
    # An insertion: the feeder used to reach one of the new node's targets directly.
    for target in _targets(node):
        if target in before and any(target in _targets(before.get(f, {})) for f in feeders):
            return f"{text} between {names} and '{graph.label(after[target])}'"
    return f"{text} after {names}"


def _details(node: Node) -> str:
    kind = node.get("type")
    keys: tuple[str, ...] = ()
    if kind in ("mqtt in", "mqtt out"):
        keys = ("topic", "qos", "retain")
    elif kind == "mqtt-broker":
        keys = ("broker", "port")
    elif kind == "modbus-client":
        keys = ("tcpHost", "tcpPort")
    elif kind in ("modbus-read", "modbus-getter"):
        keys = ("dataType", "adr", "quantity", "unitid", "rate", "rateUnit")
    elif kind in ("http in", "http request"):
        keys = ("method", "url")
    elif kind == "file":
        keys = ("filename",)
    elif kind == "switch":
        raw = node.get("rules")
        rules: list[Any] = raw if isinstance(raw, list) else []
        return ", ".join(
            f"{r.get('t')} {r.get('v', '')}{'..' + str(r['v2']) if 'v2' in r else ''}".strip()
            for r in rules
            if isinstance(r, dict)
        )
    elif kind == "inject":
        keys = ("repeat", "crontab")
    shown = [f"{k} {_show(node[k])}" for k in keys if node.get(k) not in (None, "")]
    return ", ".join(shown)


def _changed_lines(old: Node, new: Node) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        if key in _IGNORED or old.get(key) == new.get(key):
            continue
        if key not in new:
            lines.append(f"changed {graph.describe(old)}: removed {key}")
        elif key == "func" or (isinstance(new[key], str) and "\n" in new[key]):
            lines.append(f"changed {graph.describe(old)} {key} (code rewritten)")
        else:
            was = _show(old[key]) if key in old else "(unset)"
            lines.append(f"changed {graph.describe(old)} {key}: {was} -> {_show(new[key])}")
    return lines


def _rewired_lines(
    old: Node, new: Node, before: dict[str, Node], after: dict[str, Node]
) -> list[str]:
    """Wires to nodes that existed before and still exist; wires to added or removed nodes
    are told by the added/removed lines."""
    kept = set(before) & set(after)
    was = {t for t in _targets(old) if t in kept}
    now = {t for t in _targets(new) if t in kept}
    if was == now:
        return []
    # Wires now routed through a node the edit added (an insertion) are told by its line.
    via_new = {
        t for a in _targets(new) if a in after and a not in before for t in _targets(after[a])
    }
    dropped = sorted(graph.label(after[t]) for t in was - now - via_new)
    gained = sorted(graph.label(after[t]) for t in now - was)
    parts = []
    if gained:
        parts.append("now -> " + ", ".join(f"'{g}'" for g in gained))
    if dropped:
        parts.append("no longer -> " + ", ".join(f"'{d}'" for d in dropped))
    if not parts:
        return []
    return [f"rewired '{graph.label(new)}': " + "; ".join(parts)]
