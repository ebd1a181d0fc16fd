"""What changed between two snapshots: nodes added, removed and changed (by id, down to
the property), settings, env and modules, and which credential fields changed.

A pure function over two snapshot contents (`flows`, `credentials`, `settings`, `env`,
`modules`). It is handed credentials in clear so that it can tell a changed password from
an unchanged one, and it answers with node ids and field names only: no credential value
ever leaves it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str | int, ...]


def property_name(path: Path) -> str:
    """`("rules", 0, "v")` -> `rules[0].v`: how a person reads a nested property."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _change(path: Path, kind: str, old: Any, new: Any) -> dict[str, Any]:
    return {"property": property_name(path), "path": list(path), "kind": kind,
            "old": old, "new": new}


def _same(old: Any, new: Any) -> bool:
    # Type-aware: 1, 1.0 and true compare equal in Python but are different JSON (and
    # hash to different snapshots), so a diff must show them.
    return type(old) is type(new) and old == new


def value_changes(old: Any, new: Any, path: Path = ()) -> Iterator[dict[str, Any]]:
    """Every difference between two JSON values, as deep as both sides keep the same
    shape. Lists of different lengths are one change of the whole list: comparing them
    index by index would report every element after an insertion as changed."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                yield _change((*path, key), "removed", old[key], None)
            else:
                yield from value_changes(old[key], new[key], (*path, key))
        for key in new:
            if key not in old:
                yield _change((*path, key), "added", None, new[key])
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            yield from value_changes(before, after, (*path, index))
    elif not _same(old, new):
        yield _change(path, "changed", old, new)


def _by_id(flows: Any) -> dict[str, dict[str, Any]]:
    # Stored flows passed the validator, so every node has a unique string id; anything
    # else is keyed by its position so that the diff still says something true about it.
    nodes: dict[str, dict[str, Any]] = {}
    for position, node in enumerate(flows if isinstance(flows, list) else []):
        if not isinstance(node, dict):
            continue
        key = node.get("id")
        nodes[key if isinstance(key, str) else f"#{position}"] = node
    return nodes


def _node_ref(node_id: str, node: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": node.get("type"), "name": node.get("name") or "",
            "z": node.get("z")}


def node_changes(old_flows: Any, new_flows: Any) -> dict[str, Any]:
    old, new = _by_id(old_flows), _by_id(new_flows)
    changed = []
    for node_id, after in new.items():
        if node_id in old:
            changes = list(value_changes(old[node_id], after))
            if changes:
                changed.append({**_node_ref(node_id, after), "changes": changes})
    # Node order matters to Node-RED (tab order, for one) and to the snapshot id, so a
    # reordering alone is reported rather than shown as "nothing changed".
    kept_old = [node_id for node_id in old if node_id in new]
    kept_new = [node_id for node_id in new if node_id in old]
    return {"added": [_node_ref(i, n) for i, n in new.items() if i not in old],
            "removed": [_node_ref(i, n) for i, n in old.items() if i not in new],
            "changed": changed,
            "reordered": kept_old != kept_new}


def credential_changes(old: Any, new: Any) -> list[dict[str, str]]:
    """Which credential fields were added, removed or changed: node id and field name,
    never a value."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    found: list[dict[str, str]] = []
    for node_id in sorted(set(old) | set(new), key=str):
        before = old.get(node_id) if isinstance(old.get(node_id), dict) else {}
        after = new.get(node_id) if isinstance(new.get(node_id), dict) else {}
        for field in sorted(set(before) | set(after), key=str):
            if field not in after:
                kind = "removed"
            elif field not in before:
                kind = "added"
            elif not _same(before[field], after[field]):
                kind = "changed"
            else:
                continue
            found.append({"node": str(node_id), "field": str(field), "kind": kind})
    return found


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """From `old` to `new` (each a mapping with flows, credentials, settings, env and
    modules; missing parts count as empty)."""
    nodes = node_changes(old.get("flows", []), new.get("flows", []))
    settings = list(value_changes(old.get("settings", {}), new.get("settings", {})))
    env = list(value_changes(old.get("env", {}), new.get("env", {})))
    modules = list(value_changes(old.get("modules", {}), new.get("modules", {})))
    credentials = credential_changes(old.get("credentials", {}), new.get("credentials", {}))
    identical = not (nodes["added"] or nodes["removed"] or nodes["changed"]
                     or nodes["reordered"] or settings or env or modules or credentials)
    return {"identical": identical, "nodes": nodes, "settings": settings, "env": env,
            "modules": modules, "credentials": credentials}
