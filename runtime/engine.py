"""Runs a flow: builds its nodes, starts them, carries messages along the wires.

Semantics follow Node-RED. A message sent to several wires is cloned for every wire after
the first. Delivery is asynchronous and in order (each send is queued on the event loop,
so a node never re-enters itself on a loop). An error - `done(err)`, an exception, or
`node.error(text, msg)` - sets `msg.error = {message, source: {id, type, name, count}}`
and goes to the Catch nodes of the node's tab that cover it; catch nodes marked
"uncaught" only hear what no other catch node took. A message that fails at the same node
again and again is dropped after `LOOP_LIMIT` rounds. Status and Complete nodes hear the
status changes and the finished messages of the nodes they cover.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from runtime.context import ContextStore
from runtime.message import Message, clone_message, error_message, new_id
from runtime.node import Node
from runtime.registry import STRUCTURAL, NodeRegistry, load_builtin_nodes
from runtime.subflows import SubflowError, expand

log = logging.getLogger("plumb.runtime")
LOOP_LIMIT = 10


class MissingTypesError(RuntimeError):
    """The flow uses node types this runtime has no class for; nothing was started."""

    def __init__(self, types: list[str]) -> None:
        super().__init__("the flow uses node types this runtime does not have: "
                         + ", ".join(types))
        self.types = types

    def as_dict(self) -> dict[str, Any]:
        return {"error": "missing_types", "types": self.types}


class FlowError(ValueError):
    """The flow is not a list of node objects with unique ids."""


Listener = Callable[[dict[str, Any]], None]


class FlowRuntime:
    """One running flow (all its tabs)."""

    def __init__(self, registry: NodeRegistry | None = None,
                 context_store: ContextStore | None = None, close_timeout: float = 5.0,
                 env: dict[str, str] | None = None, allow_exec: bool = False) -> None:
        self.registry = registry or load_builtin_nodes()
        self.allow_exec = allow_exec is True  # exec nodes run commands: only when asked
        self.context_store = context_store or ContextStore()
        self.close_timeout = close_timeout
        self.env = dict(env or {})
        self.nodes: dict[str, Node] = {}
        self.tabs: dict[str, dict[str, Any]] = {}
        self.flow: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # debug output, logs, statuses: observable
        self.events_total = 0  # events ever emitted; `events` keeps the last 1,000 to 1,200
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # (kind, node id) -> the catch/status/complete nodes covering that node; built on
        # first use and dropped whenever the set of nodes changes (start, update).
        self._covers: dict[tuple[str, str], list[Node]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = False

    # -- start and stop ----------------------------------------------------------------------
    async def start(self, flow: list[dict[str, Any]]) -> None:
        """Build and start every enabled node, config nodes first. Refuses (and starts
        nothing) when a node type is missing, or for exec nodes unless `allow_exec`."""
        self._loop = asyncio.get_running_loop()
        enabled = self._enabled(flow)
        if not self.allow_exec and any(e.get("type") == "exec" for e in enabled):
            from runtime.nodes.exec import refuse_exec

            refuse_exec(enabled)  # raises ExecDisabledError naming the nodes
        self.flow = flow
        built = [self._build(entry) for entry in enabled]
        self.nodes = {node.id: node for node in built}
        self._covers.clear()
        for node in sorted(built, key=lambda n: not n.is_config):
            await node.on_start()
        self.running = True

    def _enabled(self, flow: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries that run (not structure, not disabled, not on a disabled tab);
        MissingTypesError when a type has no class."""
        if not isinstance(flow, list) or not all(isinstance(n, dict) for n in flow):
            raise FlowError("a flow is a JSON array of node objects")
        ids = [str(n.get("id", "")) for n in flow]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise FlowError("every node needs a unique id")
        self.tabs = {str(n["id"]): n for n in flow if n.get("type") == "tab"}
        disabled_tabs = {i for i, t in self.tabs.items() if t.get("disabled")}
        templates = {str(n["id"]) for n in flow if n.get("type") == "subflow"}
        try:
            expanded = expand(flow)
        except SubflowError as exc:
            raise FlowError(str(exc)) from exc
        enabled = [n for n in expanded if n.get("type") not in STRUCTURAL
                   and not n.get("d") and str(n.get("z") or "") not in disabled_tabs
                   and str(n.get("z") or "") not in templates]
        missing = self.registry.missing(enabled)
        if missing:
            raise MissingTypesError(missing)
        return enabled

    def _build(self, entry: dict[str, Any]) -> Node:
        cls = self.registry.get(str(entry["type"]))
        assert cls is not None
        return cls(entry, self)

    async def update(self, flow: list[dict[str, Any]], mode: str) -> dict[str, list[str]]:
        """Apply a new version of the flow without a full restart, as Node-RED's "nodes"
        and "flows" deploys do: nodes whose configuration did not change keep running
        (with their timers, connections and state). "nodes" restarts only the changed
        nodes (and the nodes using a changed config node); "flows" restarts every node on
        a tab that has a change."""
        old_tabs = dict(self.tabs)
        enabled = self._enabled(flow)
        new = {str(e["id"]): e for e in enabled}
        changed = {i for i, e in new.items()
                   if i not in self.nodes or self.nodes[i].config != e}
        removed = set(self.nodes) - set(new)
        config_ids = {i for i in changed | removed
                      if (i in self.nodes and self.nodes[i].is_config)
                      or (i in new and self._is_config(new[i]))}
        for i, entry in new.items():
            if any(isinstance(v, str) and v in config_ids for v in entry.values()):
                changed.add(i)
        if mode == "flows":
            touched = {str(new[i].get("z") or "") for i in changed}
            touched |= {self.nodes[i].z for i in removed}
            touched |= {t for t in set(self.tabs) | set(old_tabs)
                        if self.tabs.get(t) != old_tabs.get(t)}
            changed |= {i for i, e in new.items() if str(e.get("z") or "") in touched}
        restart = (changed & set(self.nodes)) | removed
        for node_id in sorted(restart, key=lambda i: self.nodes[i].is_config):
            await self._close(self.nodes.pop(node_id))
            self._covers.clear()
        fresh = [self._build(new[i]) for i in new if i in changed]
        for node in fresh:
            self.nodes[node.id] = node
        self._covers.clear()
        for node in sorted(fresh, key=lambda n: not n.is_config):
            await node.on_start()
        self.flow = flow
        return {"started": sorted(n.id for n in fresh), "stopped": sorted(restart),
                "kept": sorted(set(self.nodes) - {n.id for n in fresh})}

    def _is_config(self, entry: dict[str, Any]) -> bool:
        cls = self.registry.get(str(entry.get("type")))
        return bool(cls and cls.is_config)

    async def _close(self, node: Node) -> None:
        try:
            await asyncio.wait_for(node.on_close(), self.close_timeout)
        except TimeoutError:
            self.report_log(node, "warn", f"did not close within {self.close_timeout:g} s")
        except Exception as exc:  # a failing close must not stop the others
            self.report_log(node, "error", f"close failed: {exc}")

    async def stop(self) -> None:
        """Close every node (config nodes last), each bounded by `close_timeout`."""
        self.running = False
        for node in sorted(self.nodes.values(), key=lambda n: n.is_config):
            await self._close(node)
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    # -- messages ---------------------------------------------------------------------------
    def inject(self, node_id: str, msg: Message | None = None) -> None:
        """Hand `msg` to a node's input, as if a wire delivered it (tests, HTTP, the API)."""
        node = self.nodes[node_id]
        message = msg if msg is not None else {}
        message.setdefault("_msgid", new_id())
        self._schedule(node, message)

    def send_from(self, node: Node, out: Any, *, fresh: bool = False) -> None:
        """Deliver what `node` sent. As in Node-RED, every message after the first one
        delivered is a copy - unless `fresh` says each message object is new and held by
        no one else (a function node's output, parsed from JSON), when only a message's
        second and later wires need one."""
        if out is None:
            return
        ports = [out] if isinstance(out, dict) else list(out)
        first = True
        for port, entry in enumerate(ports):
            if entry is None or port >= len(node.wires):
                continue
            for msg in entry if isinstance(entry, list) else [entry]:
                if not isinstance(msg, dict):
                    self.report_log(node, "error", f"sent a {type(msg).__name__}, not a message")
                    continue
                if "_msgid" not in msg:
                    msg["_msgid"] = new_id()
                if fresh:
                    first = True
                for target_id in node.wires[port]:
                    target = self.nodes.get(target_id)
                    if target is None:
                        continue  # wired to a disabled node
                    self._schedule(target, msg if first else clone_message(msg))
                    first = False

    def _schedule(self, node: Node, msg: Message) -> None:
        assert self._loop is not None, "the flow is not started"
        self._loop.call_soon(self._deliver, node, msg)

    def _deliver(self, node: Node, msg: Message) -> None:
        if not self.running:
            return
        finished = False

        def send(out: Any) -> None:
            self.send_from(node, out)

        def done(err: BaseException | str | None = None) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            if err is not None:
                self.handle_error(node, msg, str(err))
            else:
                self._complete(node, msg)

        try:
            result = node.on_input(msg, send, done)
        except Exception as exc:
            done(exc if str(exc) else type(exc).__name__)
            return
        if result is not None and inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)

            def finish(t: asyncio.Task[Any]) -> None:
                self._tasks.discard(t)
                if not t.cancelled() and t.exception() is not None:
                    exc = t.exception()
                    done(str(exc) or type(exc).__name__)

            task.add_done_callback(finish)

    # -- errors, statuses, completion ---------------------------------------------------
    def _covering(self, kind: str, node: Node) -> list[Node]:
        key = (kind, node.id)
        cached = self._covers.get(key)
        if cached is None:
            cached = self._covers[key] = self._find_covering(kind, node)
        return cached

    def _find_covering(self, kind: str, node: Node) -> list[Node]:
        found = []
        for other in self.nodes.values():
            if other.type != kind or other.z != node.z or other.id == node.id:
                continue
            scope = other.config.get("scope")
            if scope in (None, "", "null", "all") or (isinstance(scope, list)
                                                      and node.id in scope):
                found.append(other)
        return found

    def handle_error(self, node: Node, msg: Message, text: str) -> None:
        failed = error_message(msg, node.id, node.type, node.name, text)
        if failed["error"]["source"]["count"] >= LOOP_LIMIT:
            self.report_log(node, "error", f"message loop: dropped after {LOOP_LIMIT} errors "
                            f"at this node ({text})")
            return
        catches = [c for c in self._covering("catch", node) if node.type != "catch"]
        scoped = [c for c in catches if not c.config.get("uncaught")]
        chosen = scoped or [c for c in catches if c.config.get("uncaught")]
        if not chosen:
            self.report_log(node, "error", text)
            return
        for i, catch in enumerate(chosen):
            self._schedule(catch, failed if i == 0 else clone_message(failed))

    def _complete(self, node: Node, msg: Message) -> None:
        for complete in self._covering("complete", node):
            if isinstance(complete.config.get("scope"), list):
                self._schedule(complete, clone_message(msg))

    def report_status(self, node: Node, status: dict[str, Any]) -> None:
        self._emit({"kind": "status", "id": node.id, "type": node.type, "status": status})
        if node.type == "status":
            return
        for watcher in self._covering("status", node):
            self._schedule(watcher, {"_msgid": new_id(), "status": {
                **status, "source": {"id": node.id, "type": node.type, "name": node.name}}})

    def report_log(self, node: Node, level: str, text: str) -> None:
        getattr(log, "warning" if level == "warn" else level, log.info)("%s: %s",
                                                                       node.label(), text)
        self._emit({"kind": "log", "level": level, "id": node.id, "type": node.type,
                    "text": text})

    def debug(self, node: Node, value: Any) -> None:
        """Debug output: kept for readers (tests, `ask run`, the admin API)."""
        self._emit({"kind": "debug", "id": node.id, "name": node.name, "value": value})

    # -- observing ------------------------------------------------------------------------
    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def events_since(self, index: int) -> tuple[list[dict[str, Any]], int]:
        """The events numbered `index` and later (as many as are still kept), and the
        number the next event will get."""
        first = self.events_total - len(self.events)
        return self.events[max(0, index - first):], self.events_total

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.events_total += 1
        if len(self.events) > 1200:  # a bounded history, trimmed in steps
            del self.events[:-1000]
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a reader's failure is not the flow's
                log.exception("event listener failed")
