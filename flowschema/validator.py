"""The flow validator: shape by JSON Schema, then semantic checks, as a list of findings.

`validate_flow` never raises on bad input: whatever it is given, it answers with findings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flowschema.catalog import SUBFLOW_PREFIX, Catalog, default_catalog
from flowschema.checks import graph, values
from flowschema.checks.shape import ShapeChecker
from flowschema.findings import Finding, NodeRef, Severity
from flowschema.model import FlowIndex, node_ref


@dataclass(frozen=True)
class ValidationReport:
    findings: tuple[Finding, ...]
    node_count: int

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "nodes": self.node_count,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }


class Validator:
    """Validates flows against one catalog; holds the compiled per-type schemas."""

    def __init__(self, catalog: Catalog | None = None):
        self.catalog = catalog if catalog is not None else default_catalog()
        self._shape = ShapeChecker(self.catalog)

    def validate(self, flow: Any) -> ValidationReport:
        if not isinstance(flow, list):
            kind = type(flow).__name__ if not isinstance(flow, dict) else "object"
            hint = (
                "wrap the nodes in [ ... ]; a Node-RED export is an array"
                if isinstance(flow, dict)
                else "a Node-RED flow is a JSON array of nodes"
            )
            return ValidationReport(
                (
                    Finding(
                        "flow-not-array", f"expected a JSON array of nodes, found {kind}", hint=hint
                    ),
                ),
                0,
            )
        findings: list[Finding] = []
        if not flow:
            findings.append(
                Finding(
                    "flow-empty", "the flow has no nodes", hint="an empty array deploys nothing"
                )
            )
        nodes = list(self._usable_nodes(flow, findings))
        findings.extend(self._duplicates(nodes))
        index = FlowIndex.build(nodes, self.catalog)
        findings.extend(self._types(index))
        for check in (
            self._shape.check(index),
            values.check_values(index),
            graph.check_wires(index),
            graph.check_config_refs(index),
            graph.check_containers(index),
            graph.check_links(index),
            graph.check_subflow_ports(index),
            graph.check_reachability(index),
        ):
            findings.extend(check)
        return ValidationReport(tuple(_ordered(findings)), len(flow))

    def _usable_nodes(self, flow: list[Any], findings: list[Finding]) -> Iterator[dict[str, Any]]:
        for position, node in enumerate(flow):
            if not isinstance(node, dict):
                findings.append(
                    Finding(
                        "node-not-object",
                        f"element {position} is {type(node).__name__}, not an object",
                        found=_short(node),
                        hint="every element of the flow must be a node object",
                    )
                )
                continue
            node_id, node_type = node.get("id"), node.get("type")
            if not isinstance(node_id, str) or not node_id:
                findings.append(
                    Finding(
                        "node-id-missing",
                        f"element {position} has no usable id (found {node_id!r})",
                        node=node_ref(node),
                        property="id",
                        hint="give every node a unique non-empty string id",
                    )
                )
                continue
            if not isinstance(node_type, str) or not node_type:
                findings.append(
                    Finding(
                        "node-type-missing",
                        f"has no usable type (found {node_type!r})",
                        node=node_ref(node),
                        property="type",
                        hint='set type to a node type such as "inject" or "mqtt out"',
                    )
                )
                continue
            yield node

    def _duplicates(self, nodes: list[dict[str, Any]]) -> Iterator[Finding]:
        counts = Counter(n["id"] for n in nodes)
        seen: set[str] = set()
        for node in nodes:
            if counts[node["id"]] > 1 and node["id"] not in seen:
                seen.add(node["id"])
                yield Finding(
                    "duplicate-id",
                    f"{counts[node['id']]} nodes share id {node['id']!r}",
                    node=node_ref(node),
                    property="id",
                    found=node["id"],
                    hint="ids must be unique across the whole flow, config nodes included",
                )

    def _types(self, index: FlowIndex) -> Iterator[Finding]:
        for node in index.nodes:
            node_type = node["type"]
            spec = index.spec_of(node)
            if spec is not None:
                if spec.plumb_only:
                    yield Finding(
                        "plumb-only-type",
                        f"{node_type} is a Plumb node type",
                        node=node_ref(node),
                        hint="this flow runs in Plumb's runtime; Node-RED reports the type missing",
                    )
                continue
            if node_type.startswith(SUBFLOW_PREFIX):
                yield Finding(
                    "subflow-missing",
                    f"instance of subflow {node_type[len(SUBFLOW_PREFIX) :]!r}, which the flow "
                    "does not define",
                    node=node_ref(node),
                    property="type",
                    found=node_type,
                    hint='include the subflow definition (type "subflow") in the flow',
                )
                continue
            suggestions = self.catalog.suggest(node_type)
            hint = (
                f"did you mean {' or '.join(repr(s) for s in suggestions)}?"
                if suggestions
                else "install the node package that provides it, or "
                "replace the node with a known type"
            )
            yield Finding(
                "unknown-type",
                f"unknown node type {node_type!r}",
                node=node_ref(node),
                property="type",
                found=node_type,
                expected=suggestions or None,
                hint=hint,
            )


def unknown_types(report: ValidationReport) -> set[str]:
    return {f.found for f in report.findings if f.code == "unknown-type" and f.found}


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    # Stable: errors first, then in the order the checks found them.
    return sorted(findings, key=lambda f: _SEVERITY_ORDER[f.severity])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_default: Validator | None = None


def validate_flow(flow: Any, catalog: Catalog | None = None) -> ValidationReport:
    """Validate a parsed flow (the JSON array) and return every finding."""
    global _default
    if catalog is not None:
        return Validator(catalog).validate(flow)
    if _default is None:
        _default = Validator()
    return _default.validate(flow)


__all__ = ["NodeRef", "ValidationReport", "Validator", "unknown_types", "validate_flow"]
