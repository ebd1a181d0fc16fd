"""Subflows, flattened before a flow starts.

A subflow is a template: a `subflow` entry (its input and output ports, its env
properties) and the nodes whose `z` is the subflow's id. Each instance (`type:
"subflow:<id>"`) gets its own copy of those nodes, with ids prefixed by the instance id, on
the instance's tab. The instance itself becomes a pass-through node with the instance's id
(so wires into it still work), its input port feeds the copies, and what the copies send to
an output port goes where the instance's output is wired. Env values of the instance (over
the subflow's defaults) travel with every copy as `_env`. Nested subflows are expanded
level by level.
"""

from __future__ import annotations

import copy
from typing import Any

MAX_DEPTH = 8
INSTANCE_TYPE = "link in"  # a pass-through: what arrives is sent on


class SubflowError(ValueError):
    """An instance of a subflow that is not in the flow, or subflows nested too deep."""


def _env_map(entries: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name"):
            out[str(entry["name"])] = {"value": entry.get("value", ""),
                                       "type": entry.get("type", "str")}
    return out


def expand(flow: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flow with every subflow instance replaced by its own copy of the subflow."""
    for _ in range(MAX_DEPTH):
        definitions = {str(n["id"]): n for n in flow if n.get("type") == "subflow"}
        instances = [n for n in flow if str(n.get("type", "")).startswith("subflow:")]
        if not instances:
            return flow
        members: dict[str, list[dict[str, Any]]] = {}
        for entry in flow:
            z = str(entry.get("z") or "")
            if z in definitions:
                members.setdefault(z, []).append(entry)
        expanded = [n for n in flow if not str(n.get("type", "")).startswith("subflow:")]
        for instance in instances:
            expanded.extend(_copy(instance, definitions, members))
        flow = expanded
    if any(str(n.get("type", "")).startswith("subflow:") for n in flow):
        raise SubflowError(f"subflows are nested more than {MAX_DEPTH} deep")
    return flow


def _copy(instance: dict[str, Any], definitions: dict[str, dict[str, Any]],
          members: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    subflow_id = str(instance["type"]).split(":", 1)[1]
    definition = definitions.get(subflow_id)
    if definition is None:
        raise SubflowError(f"node {instance.get('id')} is an instance of subflow "
                           f"{subflow_id!r}, which is not in the flow")
    prefix = f"{instance['id']}-"
    env = {**_env_map(definition.get("env")), **_env_map(instance.get("env"))}
    outgoing = instance.get("wires") or []
    copies: dict[str, dict[str, Any]] = {}
    for member in members.get(subflow_id, []):
        clone = copy.deepcopy(member)
        clone["id"] = prefix + str(member["id"])
        clone["z"] = instance.get("z", "")
        if instance.get("d"):
            clone["d"] = True
        clone["_env"] = {**clone.get("_env", {}), **env}
        clone["wires"] = [[prefix + str(t) for t in port] for port in member.get("wires") or []]
        if isinstance(clone.get("scope"), list):
            clone["scope"] = [prefix + str(t) for t in clone["scope"]]
        # config-node references inside the subflow point at the copies
        for key, value in list(clone.items()):
            if key not in ("id", "z", "wires", "type") and isinstance(value, str) and any(
                    str(m["id"]) == value for m in members.get(subflow_id, [])):
                clone[key] = prefix + value
        copies[str(member["id"])] = clone
    inputs = (definition.get("in") or [{}])[0].get("wires", []) if definition.get("in") else []
    entry_node = {"id": instance["id"], "type": INSTANCE_TYPE, "z": instance.get("z", ""),
                  "name": instance.get("name", ""), "wires": [[]], "_env": env}
    if instance.get("d"):
        entry_node["d"] = True
    for target in inputs:
        entry_node["wires"][0].append(prefix + str(target["id"]))
    # What the subflow's output ports receive goes where the instance's outputs go.
    for port_index, port in enumerate(definition.get("out") or []):
        destinations = [str(t) for t in (outgoing[port_index] if port_index < len(outgoing)
                                         else [])]
        for source in port.get("wires", []):
            source_id, source_port = str(source.get("id")), int(source.get("port", 0))
            if source_id == subflow_id:  # the input wired straight to this output
                entry_node["wires"][0].extend(destinations)
                continue
            exit_node = copies.get(source_id)
            if exit_node is None:
                continue
            while len(exit_node["wires"]) <= source_port:
                exit_node["wires"].append([])
            exit_node["wires"][source_port].extend(destinations)
    return [entry_node, *copies.values()]
