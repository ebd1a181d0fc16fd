"""The compact plan the pipeline builds before any Node-RED JSON exists.

A plan names its nodes by short keys ("src", "fn", "pub") and wires them by key; config
nodes (brokers, PLCs, OPC UA servers) are separate and referenced by role. Code compiles a
plan into a flow (`compile.py`), so ids, defaults and layout are never a model's business.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlanConfig:
    """A config node such as one `mqtt-broker` per broker or one `modbus-client` per PLC."""

    key: str
    type: str
    props: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanNode:
    key: str
    type: str
    props: dict[str, Any] = field(default_factory=dict)
    # property name -> config key, e.g. {"broker": "broker1"} or {"server": "plc1"}
    configs: dict[str, str] = field(default_factory=dict)
    why: str = ""  # one line for the explanation: why this node is here


@dataclass
class Plan:
    name: str
    nodes: list[PlanNode] = field(default_factory=list)
    configs: list[PlanConfig] = field(default_factory=list)
    wires: list[tuple[str, int, str]] = field(default_factory=list)  # (from key, port, to key)
    notes: list[str] = field(default_factory=list)  # placeholders and assumptions to tell

    def add(self, node: PlanNode) -> PlanNode:
        if any(existing.key == node.key for existing in self.nodes):
            raise ValueError(f"duplicate plan key {node.key!r}")
        self.nodes.append(node)
        return node

    def config(self, config: PlanConfig) -> PlanConfig:
        for existing in self.configs:
            if existing.key == config.key:
                return existing
        self.configs.append(config)
        return config

    def wire(self, source: str, target: str, port: int = 0) -> None:
        if (source, port, target) not in self.wires:
            self.wires.append((source, port, target))

    def chain(self, *keys: str) -> None:
        for source, target in itertools.pairwise(keys):
            self.wire(source, target)

    def node(self, key: str) -> PlanNode:
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)
