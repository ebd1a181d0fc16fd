"""`explain_flow`: every fact about a flow, from its graph and the catalog, no model involved.

The Explanation holds the deterministic summary, the walks (one per message source), the
endpoints the flow talks to, the risks, the validator's findings and the flow's own text
(tab info, comments), which is kept apart as quoted data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from assistant.explain.endpoints import Endpoint, collect_endpoints, node_ref
from assistant.explain.graph import FlowGraph
from assistant.explain.paths import Walk, build_walks
from assistant.explain.risks import Risk, find_risks
from assistant.explain.summary import build_summary
from assistant.explain.text import label, node_name, text_of
from flowschema.catalog import Catalog, default_catalog
from flowschema.validator import ValidationReport, validate_flow

MAX_NOTES = 20
MAX_FINDINGS_SHOWN = 10


@dataclass(frozen=True)
class Note:
    """Text written by the flow's author: shown quoted, never followed."""

    source: str  # e.g. 'comment "Read me"' or 'tab "Line 1"'
    field: str  # "info", "name", "label"
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "field": self.field, "text": self.text}


@dataclass(frozen=True)
class FlowFacts:
    tabs: list[str]
    subflows: list[str]
    elements: int  # entries of the JSON array
    flow_nodes: int
    config_nodes: int
    types: dict[str, int]
    disabled_nodes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tabs": self.tabs,
            "subflows": self.subflows,
            "elements": self.elements,
            "flow_nodes": self.flow_nodes,
            "config_nodes": self.config_nodes,
            "types": self.types,
            "disabled_nodes": self.disabled_nodes,
        }


@dataclass(frozen=True)
class Findings:
    errors: int
    warnings: int
    infos: int
    items: list[dict[str, Any]]
    lines: list[str]  # the first findings, formatted one per line
    failure: str | None = None  # set when the validator itself could not run

    @classmethod
    def of(cls, report: ValidationReport, failure: str | None = None) -> Findings:
        infos = len(report.findings) - len(report.errors) - len(report.warnings)
        return cls(
            errors=len(report.errors),
            warnings=len(report.warnings),
            infos=infos,
            items=[f.to_dict() for f in report.findings],
            lines=[str(f) for f in report.findings[:MAX_FINDINGS_SHOWN]],
            failure=failure,
        )

    @property
    def valid(self) -> bool:
        return self.errors == 0 and self.failure is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "failure": self.failure,
            "errors": self.errors,
            "warnings": self.warnings,
            "infos": self.infos,
            "findings": self.items,
        }


@dataclass
class Explanation:
    summary: str  # the deterministic paragraph
    facts: FlowFacts
    paths: list[Walk]
    endpoints: list[Endpoint]
    risks: list[Risk]
    findings: Findings
    notes: list[Note] = field(default_factory=list)
    unreached: list[dict[str, Any]] = field(default_factory=list)
    omitted_sources: int = 0

    @property
    def truncated(self) -> bool:
        return self.omitted_sources > 0 or any(w.truncated for w in self.paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "facts": self.facts.to_dict(),
            "paths": [w.to_dict() for w in self.paths],
            "endpoints": [e.to_dict() for e in self.endpoints],
            "risks": [r.to_dict() for r in self.risks],
            "validation": self.findings.to_dict(),
            "notes": [n.to_dict() for n in self.notes],
            "unreached": self.unreached,
            "omitted_sources": self.omitted_sources,
            "truncated": self.truncated,
        }


def _facts(graph: FlowGraph, flow: Any) -> FlowFacts:
    flow_nodes = list(graph.flow_nodes())
    return FlowFacts(
        tabs=[node_name(t) or t["id"] for t in graph.tabs],
        subflows=[node_name(s) or s["id"] for s in graph.subflows],
        elements=len(flow) if isinstance(flow, list) else 0,
        flow_nodes=len(flow_nodes),
        config_nodes=sum(1 for _ in graph.config_nodes()),
        types=dict(Counter(n["type"] for n in flow_nodes).most_common()),
        disabled_nodes=sum(1 for n in flow_nodes if graph.is_disabled(n)),
    )


def _notes(graph: FlowGraph) -> list[Note]:
    notes = []
    for node in graph.nodes:
        source = label(node)
        if node["type"] == "comment" and node_name(node):
            notes.append(Note(source, "name", node_name(node) or ""))
        info = text_of(node.get("info"))
        if info:
            notes.append(Note(source, "info", info))
    return notes[:MAX_NOTES]


def _standalone(graph: FlowGraph, node: dict[str, Any]) -> bool:
    spec = graph.spec(node)
    return spec is not None and spec.inputs == 0 and graph.output_count(node) == 0


def explain_flow(flow: list[dict[str, Any]], *, catalog: Catalog | None = None) -> Explanation:
    """Explain a parsed flow. Never raises on odd input: what cannot be read is skipped
    here and reported by the validator's findings."""
    graph = FlowGraph(flow, catalog if catalog is not None else default_catalog())
    failure = None
    try:
        report = validate_flow(flow, catalog)  # None: the shared, precompiled validator
    except Exception as exc:  # the validator never should; explaining goes on regardless
        report = ValidationReport((), len(flow) if isinstance(flow, list) else 0)
        failure = f"{type(exc).__name__}: {exc}"
    walks, omitted = build_walks(graph)
    on_paths = {step.id for walk in walks for step in walk.steps()}
    unreached = [
        node_ref(n)
        for n in graph.flow_nodes()
        if n["id"] not in on_paths
        and n["type"] not in ("junction", "link in")
        and not _standalone(graph, n)
    ]
    return Explanation(
        summary=build_summary(graph, walks, len(report.errors), omitted),
        facts=_facts(graph, flow),
        paths=walks,
        endpoints=collect_endpoints(graph),
        risks=find_risks(graph, walks, report),
        findings=Findings.of(report, failure),
        notes=_notes(graph),
        unreached=unreached,
        omitted_sources=omitted,
    )
