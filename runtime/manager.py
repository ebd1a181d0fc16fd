"""The deployed flow: what is running, its revision, and how a new one replaces it.

A deploy is checked before anything stops: the validator must find no error, every
node type must be installed, and exec nodes need `allow_exec=True`. A refused deploy
raises `DeployRefused` with the reasons and leaves the running flow running - unlike
Node-RED, which stops the old flow first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from runtime.engine import FlowRuntime, Listener
from runtime.registry import NodeRegistry, load_builtin_nodes

DEPLOY_TYPES = ("full", "flows", "nodes", "reload")


class DeployRefused(ValueError):
    """The new flow cannot run; the old one keeps running. `reasons` is machine-readable."""

    def __init__(self, message: str, reasons: dict[str, Any]) -> None:
        super().__init__(message)
        self.reasons = reasons


def revision(flow: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(flow, sort_keys=True).encode()).hexdigest()[:32]


class RuntimeManager:
    def __init__(self, registry: NodeRegistry | None = None, *,
                 allow_exec: bool = False) -> None:
        self.registry = registry or load_builtin_nodes()
        # exec nodes run commands on this machine: refused unless explicitly allowed
        self.allow_exec = allow_exec is True
        self.flow: list[dict[str, Any]] = []
        self.rev = revision([])
        self.runtime: FlowRuntime | None = None
        self.started = False
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Hear the events (debug, logs, statuses) of this and every later deployed flow."""
        self._listeners.append(listener)
        if self.runtime is not None:
            self.runtime.listen(listener)

    def _fresh(self) -> FlowRuntime:
        fresh = FlowRuntime(self.registry, allow_exec=self.allow_exec)
        for listener in self._listeners:
            fresh.listen(listener)
        return fresh

    def check(self, flow: Any) -> list[dict[str, Any]]:
        """The flow as a list of nodes, or DeployRefused naming what is wrong."""
        if not isinstance(flow, list) or not all(isinstance(n, dict) for n in flow):
            raise DeployRefused("a flow is a JSON array of node objects",
                                {"error": "invalid_flow"})
        missing = self.registry.missing(flow)
        if missing:
            raise DeployRefused("the flow uses node types this runtime does not have: "
                                + ", ".join(missing), {"error": "missing_types",
                                                       "types": missing})
        if not self.allow_exec:
            from runtime.nodes.exec import ExecDisabledError, enabled_exec_nodes

            blocked = enabled_exec_nodes(flow)
            if blocked:
                refused = ExecDisabledError(blocked)
                raise DeployRefused(str(refused), refused.as_dict())
        from flowschema.validator import validate_flow

        errors = [f for f in validate_flow(flow).findings if f.severity.value == "error"]
        if errors:
            raise DeployRefused(f"the flow has {len(errors)} validation error(s)", {
                "error": "invalid_flow",
                "findings": [{"code": f.code, "message": f.message,
                              "node": f.node.id if f.node else None} for f in errors]})
        return flow

    async def deploy(self, flow: Any, deployment_type: str = "full") -> str:
        """Replace the running flow. "full" and "reload" restart everything; "nodes" and
        "flows" keep the unchanged nodes (or tabs) running with their state."""
        if deployment_type not in DEPLOY_TYPES:
            raise DeployRefused(f"unknown deployment type {deployment_type!r}",
                                {"error": "invalid_deployment_type"})
        async with self._lock:
            checked = self.flow if deployment_type == "reload" else self.check(flow)
            if deployment_type in ("nodes", "flows") and self.runtime is not None \
                    and self.started:
                await self.runtime.update(checked, deployment_type)
                self.flow, self.rev = checked, revision(checked)
                return self.rev
            fresh = self._fresh()
            old = self.runtime
            if old is not None:
                await old.stop()
            await fresh.start(checked)
            self.runtime, self.flow, self.rev, self.started = fresh, checked, revision(
                checked), True
            return self.rev

    async def set_state(self, state: str) -> None:
        async with self._lock:
            if state == "stop" and self.runtime is not None:
                await self.runtime.stop()
                self.started = False
            elif state == "start" and not self.started:
                fresh = self._fresh()
                await fresh.start(self.flow)
                self.runtime, self.started = fresh, True

    async def shutdown(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        self.started = False
