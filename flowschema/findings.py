"""Validation findings and the registry of their stable codes.

A finding is plain data so that the CLI, the API and the generator's repair loop can all
consume it. Codes never change meaning once published; docs/validation-codes.md lists them
and a test keeps that page and this registry in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"  # Node-RED would refuse, misbehave or silently drop the flow
    WARNING = "warning"  # runs, but probably not as meant
    INFO = "info"  # worth knowing, nothing wrong


@dataclass(frozen=True)
class CodeInfo:
    severity: Severity
    summary: str


CODES: dict[str, CodeInfo] = {
    # Input shape
    "flow-not-array": CodeInfo(Severity.ERROR, "The flow is not a JSON array of node objects."),
    "flow-empty": CodeInfo(Severity.WARNING, "The flow contains no nodes."),
    "node-not-object": CodeInfo(Severity.ERROR, "An element of the flow array is not an object."),
    "node-id-missing": CodeInfo(
        Severity.ERROR, "A node has no `id`, or it is not a non-empty string."
    ),
    "node-type-missing": CodeInfo(
        Severity.ERROR, "A node has no `type`, or it is not a non-empty string."
    ),
    "duplicate-id": CodeInfo(Severity.ERROR, "Two or more nodes share one `id`."),
    "unknown-type": CodeInfo(Severity.ERROR, "The node type is in no catalog Plumb knows."),
    "plumb-only-type": CodeInfo(
        Severity.INFO, "The type runs in Plumb's runtime only; Node-RED has no such node."
    ),
    # Properties
    "property-type": CodeInfo(Severity.ERROR, "A property holds the wrong JSON type."),
    "property-required": CodeInfo(Severity.ERROR, "A required property is missing or empty."),
    "property-enum": CodeInfo(Severity.ERROR, "A property holds a value outside its allowed set."),
    "property-range": CodeInfo(Severity.ERROR, "A numeric property is outside its allowed range."),
    "property-format": CodeInfo(
        Severity.ERROR, "A property's text does not have the required form (e.g. a number)."
    ),
    "position-missing": CodeInfo(
        Severity.WARNING, "A flow node has no `x`/`y`; the editor will stack it at the origin."
    ),
    # Wiring and references
    "wires-shape": CodeInfo(Severity.ERROR, "`wires` is not a list of lists of node ids."),
    "wires-length": CodeInfo(
        Severity.ERROR, "The number of wire lists differs from the node's number of outputs."
    ),
    "wire-target-missing": CodeInfo(Severity.ERROR, "A wire points at an id no node has."),
    "wire-target-invalid": CodeInfo(
        Severity.ERROR, "A wire points at a node that cannot receive messages."
    ),
    "wire-cross-tab": CodeInfo(Severity.ERROR, "A wire joins nodes on different tabs."),
    "config-missing": CodeInfo(
        Severity.ERROR, "A configuration reference names an id no node has."
    ),
    "config-wrong-type": CodeInfo(
        Severity.ERROR, "A configuration reference names a node of the wrong type."
    ),
    "tab-missing": CodeInfo(
        Severity.WARNING, "`z` names no tab or subflow; Node-RED will create a tab for it."
    ),
    "link-target-missing": CodeInfo(
        Severity.WARNING,
        "A link node names a partner that does not exist; messages to it are dropped.",
    ),
    "link-target-type": CodeInfo(Severity.ERROR, "A link node names a partner of the wrong type."),
    "link-unpaired": CodeInfo(
        Severity.WARNING, "A link node lists a partner that does not list it back."
    ),
    "subflow-missing": CodeInfo(
        Severity.ERROR, "A `subflow:<id>` instance names a subflow that is not in the flow."
    ),
    "subflow-port-invalid": CodeInfo(
        Severity.ERROR, "A subflow port wire names a missing node or output."
    ),
    "group-member-missing": CodeInfo(Severity.WARNING, "A group lists a node that does not exist."),
    "group-missing": CodeInfo(Severity.WARNING, "A node's `g` names a group that does not exist."),
    "switch-rules-outputs": CodeInfo(
        Severity.ERROR, "A switch node's `outputs` differs from its number of rules."
    ),
    # Code and expressions
    "function-syntax": CodeInfo(Severity.ERROR, "Function-node JavaScript does not parse."),
    "cron-syntax": CodeInfo(Severity.ERROR, "An inject schedule is not a valid cron expression."),
    "json-syntax": CodeInfo(Severity.ERROR, "A value typed as JSON does not parse."),
    "mqtt-topic-invalid": CodeInfo(Severity.ERROR, "An MQTT topic or filter breaks MQTT's rules."),
    "opcua-nodeid-invalid": CodeInfo(
        Severity.WARNING, "An OPC UA node id does not look like `ns=<n>;<i|s|g|b>=<id>`."
    ),
    "url-invalid": CodeInfo(Severity.ERROR, "A URL or path property is malformed."),
    # Graph shape
    "node-unconnected": CodeInfo(Severity.WARNING, "A node has ports but no wire in or out."),
    "node-unreachable": CodeInfo(
        Severity.WARNING, "No message source can ever reach this node's input."
    ),
}


@dataclass(frozen=True)
class NodeRef:
    """Enough of a node to find it: what every finding about a node carries."""

    id: str | None
    type: str | None
    name: str | None = None

    def label(self) -> str:
        shown = f"{self.type or '?'} {self.id or '?'}"
        return f"{shown} ({self.name!r})" if self.name else shown


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    node: NodeRef | None = None
    property: str | None = None
    hint: str | None = None
    expected: Any = None
    found: Any = None
    severity: Severity = field(default=Severity.ERROR)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered finding code {self.code!r}")
        # The code, not the caller, decides the severity: a code means one thing everywhere.
        object.__setattr__(self, "severity", CODES[self.code].severity)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity.value,
            "code": self.code,
            "node": None
            if self.node is None
            else {"id": self.node.id, "type": self.node.type, "name": self.node.name},
            "property": self.property,
            "message": self.message,
            "hint": self.hint,
        }
        if self.expected is not None:
            out["expected"] = self.expected
        if self.found is not None:
            out["found"] = self.found
        return out

    def __str__(self) -> str:
        where = self.node.label() if self.node else "flow"
        if self.property:
            where += f" .{self.property}"
        text = f"{self.severity.value}: [{self.code}] {where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text
