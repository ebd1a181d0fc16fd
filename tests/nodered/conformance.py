"""Run one flow in Plumb's runtime and in a real Node-RED side by side, press every inject
node once (in flow order) in both, and collect what each debug node showed.

Node-RED's debug output is read the way its editor reads it: a websocket on `/comms`
subscribed to `debug`. The editor's wire format (a `format` plus an encoded `msg`) is
decoded back to a JSON value, and both sides are normalised (no `_msgid`, no timestamps)
so that the outputs can be compared per debug node.

Flows with timers (a delay, trigger, a join's timeout, a batch's interval) are given time:
the driver waits for a silence longer than the longest such timer before it stops both
sides, and where a timer runs from deploy (a batch interval, a per-topic delay queue), the
first inject is pressed a fixed time after both started, so that the messages fall
between the same ticks on both sides.
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
        # Everything else the editor hears, in order: (topic, data). Node statuses
        # ("status/<id>") and the notice that a deploy has started ("notification/...").
        self.others: list[tuple[str, Any]] = []
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
                    elif isinstance(item.get("topic"), str):
                        with self._lock:
                            self.others.append((item["topic"], item.get("data")))
        except (ConnectionClosed, OSError):
            pass

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.others.clear()

    def since_deploy(self, timeout: float = 10.0) -> int:
        """Wait for Node-RED's notice that the flows deployed after `clear` have started;
        the index in `others` after it (what came before it was said while starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for i, (topic, _) in enumerate(self.others):
                    if topic == "notification/runtime-deploy":
                        return i + 1
            time.sleep(0.02)
        raise AssertionError("Node-RED did not report the deploy on /comms")

    def others_since(self, index: int) -> list[tuple[str, Any]]:
        with self._lock:
            return self.others[index:]

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(timeout=5)


# A second logger for the Node-RED under test: every info-or-worse log message of a node,
# one JSON line each on stdout, so that a debug node's console output can be read back
# exactly (the console logger's lines mix with what other modules print).
LOG_MARK = "plumb-conformance-log "
_LOGGER = ("logging: { conformance: { level: 'info', metrics: false, audit: false, "
           "handler: function () { return function (m) { if (m.id) { process.stdout.write("
           f"'{LOG_MARK}' + JSON.stringify({{level: m.level, type: m.type, id: m.id, "
           "msg: typeof m.msg === 'string' ? m.msg : String(m.msg)}) + '\\n'); } }; } }, ")


def start_with_comms(root: Path) -> NodeRed:
    """A Node-RED like the shared oracle but with the editor on: only then does it serve
    the `/comms` websocket that carries debug output (the editor stays on loopback). Its
    nodes' log messages are also written as JSON lines (see LOG_MARK)."""
    template = evals.nodered.SETTINGS_TEMPLATE
    assert "disableEditor: true" in template and "logging: { " in template
    evals.nodered.SETTINGS_TEMPLATE = template.replace(
        "disableEditor: true", "disableEditor: false").replace("logging: { ", _LOGGER, 1)
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
        number = float(str(raw))
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

# Timers of up to this long are waited for; longer ones (a one-minute delay) are not.
LONGEST_WAIT = 6.0
# Silence past the longest timer before a run counts as finished.
WAIT_MARGIN = 0.7
# The first inject comes this long after both runtimes started when a timer runs from
# deploy: well inside the shortest period, away from the ticks.
LEAD = 0.25

_SECONDS = {"milliseconds": 0.001, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0,
            "days": 86400.0, "ms": 0.001, "s": 1.0, "min": 60.0, "hr": 3600.0}
_PER = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _hold_s(node: dict[str, Any]) -> float:
    """How long (s) `node` may hold a message before sending something on, from its
    configuration (0 for nodes without a timer)."""
    kind = node.get("type")
    if kind == "delay":
        pause = node.get("pauseType") or "delay"
        if pause in ("delay", "delayv"):
            return _num(node.get("timeout")) * _SECONDS.get(str(node.get("timeoutUnits")), 1)
        if pause == "random":
            return _num(node.get("randomLast")) * _SECONDS.get(str(node.get("randomUnits")), 1)
        rate = _num(node.get("rate")) or 1.0
        per = _num(node.get("nbRateUnits")) or 1.0
        return _PER.get(str(node.get("rateUnits")), 1.0) / rate * per
    if kind == "trigger":
        return max(_num(node.get("duration")), 0) * _SECONDS.get(str(node.get("units")), 0.001)
    if kind == "join" and node.get("mode") == "custom":
        return _num(node.get("timeout"))
    if kind == "batch" and node.get("mode") == "interval":
        return _num(node.get("interval"))
    return 0.0


def _from_deploy(node: dict[str, Any]) -> bool:
    """A timer that ticks from deploy, not from a message's arrival."""
    return (node.get("type") == "batch" and node.get("mode") == "interval") or \
        (node.get("type") == "delay" and node.get("pauseType") in ("queue", "timed"))


def _endless(node: dict[str, Any]) -> bool:
    """A source that never goes quiet: a repeating inject or a trigger resending in a loop."""
    if node.get("type") == "inject":
        return bool(node.get("repeat") or node.get("crontab"))
    return node.get("type") == "trigger" and _num(node.get("duration")) < 0


def timing(flow: list[dict[str, Any]], settle: float, quiet: float) -> tuple[float, float, float]:
    """(lead, settle, quiet) for `flow`: the defaults unless it holds messages on timers
    (of at most LONGEST_WAIT s); then the silence that ends a run outlasts the longest
    timer, and the run may last many of them. A flow that never goes quiet keeps the
    defaults: waiting longer would only add ticks that can fall either side of the end."""
    nodes = [n for n in flow if not n.get("d")]
    holds = [h for h in map(_hold_s, nodes) if 0 < h <= LONGEST_WAIT]
    if not holds or any(map(_endless, nodes)):
        return 0.0, settle, quiet
    quiet = max(quiet, max(holds) + WAIT_MARGIN)
    lead = LEAD if any(map(_from_deploy, nodes)) else 0.0
    return lead, max(settle, 12 * quiet), quiet


def label_sequence_ids(values: list[Any]) -> list[Any]:
    """`values` (one debug node's output, in order) with every msg.parts.id, at any depth,
    replaced by `<sequence N>`, numbered by first appearance: the ids are random (or a
    message's `_msgid`) on both sides, which messages share one is what is compared."""
    labels: dict[str, str] = {}

    def relabel(value: Any, in_parts: bool = False) -> Any:
        if isinstance(value, list):
            return [relabel(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if in_parts and key == "id" and isinstance(item, str | int | float):
                item = labels.setdefault(str(item), f"<sequence {len(labels) + 1}>")
            else:
                item = relabel(item, key == "parts")
            out[key] = item
        return out

    return [relabel(v) for v in values]


# -- what debug nodes show besides the sidebar: their status and their console log -------
def status_debug_ids(flow: list[dict[str, Any]]) -> set[str]:
    """Debug nodes that show what they see as their node status (`tostatus`)."""
    return {str(n["id"]) for n in flow if n.get("type") == "debug" and not n.get("d")
            and n.get("tostatus") in (True, "true")}


def console_debug_ids(flow: list[dict[str, Any]]) -> set[str]:
    """Debug nodes that write what they see to the log (`console`)."""
    return {str(n["id"]) for n in flow if n.get("type") == "debug" and not n.get("d")
            and n.get("console") in (True, "true")}


def _shown_status(status: Any) -> dict[str, Any]:
    """A status as the editor gets it: fill, shape and text where set; a blank one is {}."""
    status = status if isinstance(status, dict) else {}
    shown = {k: status[k] for k in ("fill", "shape", "text") if status.get(k) is not None}
    return shown if any(shown.values()) else {}


def normalise_text(text: Any) -> Any:
    """`normalise` for a text a debug node made of a value: a timestamp printed as digits
    is a timestamp too."""
    if isinstance(text, str) and text.isdigit():
        return normalise(int(text)) if normalise(int(text)) == TIMESTAMP else text
    return normalise(text)


def status_sequence(statuses: list[Any]) -> list[Any]:
    """One node's statuses in order, as the editor's feed passes them on: a blank status
    only where it clears one that was shown."""
    out: list[Any] = []
    for status in map(_shown_status, statuses):
        if status or (out and out[-1]):
            out.append({k: normalise_text(v) for k, v in status.items()})
    return out


def node_red_console(lines: list[str], ids: set[str]) -> Outputs:
    """What each of the debug nodes `ids` wrote to Node-RED's log (info level), per node id,
    from its stdout `lines` (see LOG_MARK)."""
    out: Outputs = defaultdict(list)
    for line in lines:
        if line.startswith(LOG_MARK):
            entry = json.loads(line[len(LOG_MARK):])
            if entry.get("id") in ids and entry.get("level") == 40:  # info
                out[str(entry["id"])].append(entry.get("msg"))
    return out


def plumb_shown(events: list[dict[str, Any]], status_ids: set[str],
                console_ids: set[str]) -> Outputs:
    """Plumb's statuses of status debug nodes ("<id> status") and the log lines of console
    debug nodes ("<id> console"), from its events."""
    statuses: Outputs = defaultdict(list)
    out: Outputs = defaultdict(list)
    for event in events:
        if event["kind"] == "status" and event["id"] in status_ids:
            statuses[event["id"]].append(event["status"])
        elif event["kind"] == "log" and event["level"] == "info" and event["id"] in console_ids:
            out[f"{event['id']} console"].append(normalise_text(event["text"]))
    out.update({f"{k} status": status_sequence(v) for k, v in statuses.items()})
    return {k: v for k, v in out.items() if v}


def node_red_shown(others: list[tuple[str, Any]], log: list[str], status_ids: set[str],
                   console_ids: set[str]) -> Outputs:
    """The same for Node-RED, from the statuses on `/comms` and from its log (`log`: the
    lines from the deploy on; what came before its flows started is left out)."""
    started = [i for i, line in enumerate(log) if "Started flows" in line]
    log = log[started[-1] + 1:] if started else log
    out: Outputs = {f"{k} console": [normalise_text(t) for t in v]
                    for k, v in node_red_console(log, console_ids).items()}
    statuses: Outputs = defaultdict(list)
    for topic, data in others:
        node_id = topic.removeprefix("status/")
        if topic.startswith("status/") and node_id in status_ids:
            statuses[node_id].append(data)
    out.update({f"{k} status": status_sequence(v) for k, v in statuses.items()})
    return {k: v for k, v in out.items() if v}


def plumb_busy(runtime: FlowRuntime) -> bool:
    """Timers that a function node's code set (setTimeout, setInterval) are still pending:
    what they will send is part of the run (a flow's config says nothing about them)."""
    return any(node.type == "function" and getattr(node, "_timers", None)
               for node in runtime.nodes.values())


async def _quiet(counts: Any, settle: float, quiet: float,
                 busy: Any = lambda: False) -> None:
    """Wait until neither side produced anything for `quiet` s, nor is `busy()` (at most
    `settle` s)."""
    deadline = time.monotonic() + settle
    last = counts()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = counts()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet and not busy():
            return


def run_both(node_red: NodeRed, feed: DebugFeed, flow: list[dict[str, Any]],
             settle: float = 4.0, quiet: float = 0.8,
             gap: float = 0.3) -> tuple[Outputs, Outputs]:
    """(Plumb's outputs, Node-RED's outputs): normalised values per debug node id."""
    flow = canonical(flow)
    watched = observed_debug_ids(flow)
    injects = inject_ids(flow)
    lead, settle, quiet = timing(flow, settle, quiet)
    status_ids, console_ids = status_debug_ids(flow), console_debug_ids(flow)
    log_from = len(node_red.snapshot())
    feed.clear()
    result = node_red.deploy(copy.deepcopy(flow))
    assert result.status == 204 and result.started, result.log[-20:]
    shown_from = feed.since_deploy()  # statuses set while the nodes start are not compared
    seen: list[dict[str, Any]] = []  # Plumb's events from its start to the end of the run

    # Only what is compared counts as activity: a delay node that shows its queue on its
    # status every tick would otherwise keep the run from ever going quiet.
    compared = [0]
    red_status_topics = {f"status/{i}" for i in status_ids}

    def hear(event: dict[str, Any]) -> None:
        if (event["kind"] == "debug" and event["id"] in watched) or (
                event["kind"] == "status" and event["id"] in status_ids) or (
                event["kind"] == "log" and event["id"] in console_ids):
            compared[0] += 1

    async def main() -> list[dict[str, Any]]:
        runtime = FlowRuntime()
        runtime.listen(hear)
        await runtime.start(copy.deepcopy(flow))
        mark = runtime.events_total
        try:
            await asyncio.sleep(lead)
            for node_id in injects:
                runtime.nodes[node_id].fire()  # type: ignore[attr-defined]
                status, body = await asyncio.to_thread(
                    node_red.request, "POST", f"/inject/{node_id}")
                assert status == 200, (node_id, status, body)
                await asyncio.sleep(gap)

            def counts() -> tuple[int, int, int]:
                red_statuses = sum(1 for topic, _ in feed.others_since(0)
                                   if topic in red_status_topics)
                return compared[0], len(feed.snapshot()), red_statuses

            await _quiet(counts, settle, quiet, busy=lambda: plumb_busy(runtime))
            seen.extend(runtime.events_since(mark)[0])  # not what closing the nodes shows
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
    plumb.update(plumb_shown(seen, status_ids, console_ids))
    node_red_out.update(node_red_shown(feed.others_since(shown_from), node_red.snapshot(log_from),
                                       status_ids, console_ids))
    return ({k: label_sequence_ids(v) for k, v in plumb.items()},
            {k: label_sequence_ids(v) for k, v in node_red_out.items()})
