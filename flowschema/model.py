"""An index over a flow being validated: nodes by id, their specs, tabs and subflows.

Built once per validation so that every check looks things up instead of rescanning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowschema.catalog import SUBFLOW_PREFIX, Catalog, NodeSpec
from flowschema.findings import NodeRef

CONTAINER_TYPES = frozenset({"tab", "subflow"})


def node_ref(node: Mapping[str, Any]) -> NodeRef:
    name = node.get("name") if node.get("type") != "tab" else node.get("label")
    node_id = node.get("id")
    node_type = node.get("type")
    return NodeRef(
        id=node_id if isinstance(node_id, str) else None,
        type=node_type if isinstance(node_type, str) else None,
        name=name if isinstance(name, str) and name else None,
    )


def subflow_instance_spec(subflow: Mapping[str, Any]) -> NodeSpec:
    """A spec for `subflow:<id>` instances: ports come from the subflow definition."""
    ins = subflow.get("in")
    outs = subflow.get("out")
    return NodeSpec(
        type=f"{SUBFLOW_PREFIX}{subflow.get('id')}",
        package="(flow)",
        package_version="",
        category="subflows",
        description=f"Instance of subflow {subflow.get('name') or subflow.get('id')}",
        config=False,
        inputs=min(1, len(ins)) if isinstance(ins, list) else 0,
        fixed_outputs=len(outs) if isinstance(outs, list) else 0,
        outputs_property=None,
        plumb_only=False,
        properties={},
    )


@dataclass
class FlowIndex:
    nodes: list[dict[str, Any]]  # every element that is an object with a string id and type
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Specs of known-type nodes, keyed by the node object's identity: with duplicate ids
    # each node still gets its own type's spec.
    specs: dict[int, NodeSpec] = field(default_factory=dict)
    containers: set[str] = field(default_factory=set)  # ids of tabs and subflows
    subflows: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, nodes: list[dict[str, Any]], catalog: Catalog) -> FlowIndex:
        index = cls(nodes=nodes)
        for node in nodes:
            index.by_id.setdefault(node["id"], node)
            if node["type"] in CONTAINER_TYPES:
                index.containers.add(node["id"])
            if node["type"] == "subflow":
                index.subflows.setdefault(node["id"], node)
        instance_specs: dict[str, NodeSpec] = {}
        for node in nodes:
            node_type = node["type"]
            spec = catalog.get(node_type)
            if spec is None and node_type.startswith(SUBFLOW_PREFIX):
                subflow = index.subflows.get(node_type[len(SUBFLOW_PREFIX) :])
                if subflow is not None:
                    if node_type not in instance_specs:
                        instance_specs[node_type] = subflow_instance_spec(subflow)
                    spec = instance_specs[node_type]
            if spec is not None:
                index.specs[id(node)] = spec
        return index

    def spec_of(self, node: Mapping[str, Any]) -> NodeSpec | None:
        return self.specs.get(id(node))

    def is_flow_node(self, node: Mapping[str, Any]) -> bool:
        """A node drawn on a canvas with ports (not a tab, subflow, group or config node)."""
        spec = self.spec_of(node)
        return spec is not None and not spec.config and node["type"] != "group"
