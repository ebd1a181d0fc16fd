"""Run one flow in Plumb's runtime and in a real Node-RED side by side, press every inject
node once (in flow order) in both, and collect what each debug node showed.

Node-RED's debug output is read the way its editor reads it: a websocket on `/comms`
subscribed to `debug`. The editor's wire format (a `format` plus an encoded `msg`) is
decoded back to a JSON value, and both sides are normalised (no `_msgid`, no timestamps)
so that the outputs can be compared per debug node.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import evals.nodered
from evals.nodered import NodeRed
from runtime.engine import FlowRuntime

STRUCTURAL = {"tab", "comment", "group", "junction"}
TIMESTAMP = "<timestamp>"
IGNORED_KEYS = {"_msgid", "_error", "stack"}
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?$")


class DebugFeed:
    """Node-RED's debug messages, as the editor receives them over `/comms`."""

    def __init__(self, node_red: NodeRed) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._ws: ClientConnection | None = None
        self._url = f"ws://127.0.0.1:{node_red.port}/comms"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._ws is None:
            raise RuntimeError(f"could not subscribe to {self._url}")

    def _read(self) -> None:
        try:
            with connect(self._url) as ws:
                ws.send(json.dumps({"subscribe": "debug"}))
                self._ws = ws
                self._ready.set()
                self._listen(ws)
        except (ConnectionClosed, OSError):
            self._ready.set()

    def _listen(self, ws: ClientConnection) -> None:
        try:
            for raw in ws:
                batch = json.loads(raw)
                for item in batch if isinstance(batch, list) else [batch]:
                    if item.get("topic") == "debug":
                        with self._lock:
                            self.messages.append(item["data"])
        except (ConnectionClosed, OSError):
            pass

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(timeout=5)


def start_with_comms(root: Path) -> NodeRed:
    """A Node-RED like the shared oracle but with the editor on: only then does it serve
    the `/comms` websocket that carries debug output (the editor stays on loopback)."""
    template = evals.nodered.SETTINGS_TEMPLATE
    evals.nodered.SETTINGS_TEMPLATE = template.replace("disableEditor: true",
                                                       "disableEditor: false")
    try:
        return NodeRed(root).start()
    finally:
        evals.nodered.SETTINGS_TEMPLATE = template


def _unencode(value: Any) -> Any:
    """Undo the `__enc__` wrappers Node-RED's debug encoder puts inside objects."""
    if isinstance(value, list):
        return [_unencode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("__enc__"):
        kind = value.get("type")
        if kind == "undefined":
            return None
        if kind == "Buffer":
            return {"__buffer__": bytes(value.get("data") or []).hex()}
        if kind in ("array", "set"):
            return _unencode(value.get("data"))
        return {"__enc__": kind}
    return {k: _unencode(v) for k, v in value.items()}


def decode_node_red(data: dict[str, Any]) -> Any:
    """The value a Node-RED debug message shows, from its `format` and encoded `msg`."""
    fmt = str(data.get("format") or "")
    raw = data.get("msg")
    if fmt.startswith("string"):
        return raw
    if fmt == "number":
        number = float(raw)
        return int(number) if number.is_integer() else number
    if fmt == "boolean":
        return raw == "true"
    if fmt in ("null", "undefined"):
        return None
    if fmt.startswith("buffer"):
        return {"__buffer__": raw}
    try:
        return _unencode(json.loads(raw) if isinstance(raw, str) else raw)
    except ValueError:
        return raw


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"__buffer__": bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def normalise(value: Any) -> Any:
    """Comparable form: no `_msgid` (nor Node-RED's internal `_error`), no stack traces,
    timestamps and ISO dates replaced by markers."""
    now_ms = time.time() * 1000
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and abs(value - now_ms) < 3_600_000:
        return TIMESTAMP
    if isinstance(value, str) and DATE.match(value):
        return TIMESTAMP
    return value


def canonical(flow: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`flow` with the inject property type "string" (what editors before 1.x saved; Node-RED
    reads any unknown type as a plain string) spelt "str". Plumb refuses "string" - a
    known difference that would otherwise hide every other one. Likewise debug
    `complete: "false"` (old editors' "msg.payload") is spelt "payload"."""
    flow = copy.deepcopy(flow)
    for node in flow:
        if node.get("type") == "debug" and node.get("complete") in ("false", False):
            node["complete"] = "payload"  # old editors' spelling; Plumb reads msg["false"]
        for prop in node.get("props") or [] if node.get("type") == "inject" else []:
            if isinstance(prop, dict) and prop.get("vt") == "string":
                prop["vt"] = "str"
    return flow


def observed_debug_ids(flow: list[dict[str, Any]]) -> set[str]:
    """Debug nodes whose output reaches Node-RED's debug sidebar."""
    return {str(n["id"]) for n in flow if n.get("type") == "debug" and not n.get("d")
            and n.get("active", True) is not False and n.get("tosidebar", True) is not False}


def inject_ids(flow: list[dict[str, Any]]) -> list[str]:
    return [str(n["id"]) for n in flow if n.get("type") == "inject" and not n.get("d")]


Outputs = dict[str, list[Any]]


async def _quiet(counts: Any, settle: float, quiet: float) -> None:
    """Wait until neither side produced anything for `quiet` s (at most `settle` s)."""
    deadline = time.monotonic() + settle
    last = counts()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = counts()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return


def run_both(node_red: NodeRed, feed: DebugFeed, flow: list[dict[str, Any]],
             settle: float = 4.0, quiet: float = 0.8,
             gap: float = 0.3) -> tuple[Outputs, Outputs]:
    """(Plumb's outputs, Node-RED's outputs): normalised values per debug node id."""
    flow = canonical(flow)
    watched = observed_debug_ids(flow)
    injects = inject_ids(flow)
    feed.clear()
    result = node_red.deploy(copy.deepcopy(flow))
    assert result.status == 204 and result.started, result.log[-20:]

    async def main() -> list[dict[str, Any]]:
        runtime = FlowRuntime()
        await runtime.start(copy.deepcopy(flow))
        try:
            for node_id in injects:
                runtime.nodes[node_id].fire()  # type: ignore[attr-defined]
                status, body = await asyncio.to_thread(
                    node_red.request, "POST", f"/inject/{node_id}")
                assert status == 200, (node_id, status, body)
                await asyncio.sleep(gap)

            def counts() -> tuple[int, int]:
                return runtime.events_total, len(feed.snapshot())

            await _quiet(counts, settle, quiet)
        finally:
            await runtime.stop()
        return list(runtime.events)

    events = asyncio.run(main())
    plumb: Outputs = defaultdict(list)
    for event in events:
        if event["kind"] == "debug" and event["id"] in watched:
            plumb[event["id"]].append(normalise(_jsonable(event["value"])))
    node_red_out: Outputs = defaultdict(list)
    for data in feed.snapshot():
        if data.get("id") in watched:
            node_red_out[str(data["id"])].append(normalise(decode_node_red(data)))
    return dict(plumb), dict(node_red_out)
