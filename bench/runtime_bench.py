"""Plumb's flow runtime beside a real Node-RED 4.1, side by side in one run on this machine.

    python -m bench.runtime_bench [--seconds N] [--concurrency C] [--messages M] [--json out.json]

Both runtimes get the same flow through their admin APIs (`POST /flows`) and the same load:

* HTTP: `http in -> change -> http response` and `http in -> function -> http response`,
  driven for N seconds each by a bounded loopback load generator (C keep-alive connections,
  plain asyncio, one request in flight per connection): requests/s and p99 latency.
* Chain: an inject node (fired through `POST /inject/{id}`) starts a function that emits M
  messages at once; they pass change -> change -> change -> change -> function (counter), a
  5-node chain. The first function stamps `Date.now()` into flow context, the counter stamps
  it again at the M-th message; an `http in` endpoint reports both: messages/s.
* Function calls: the same burst through one function node that works on and counts each
  message: calls/s.
* MQTT: `mqtt in -> mqtt out` through a local mosquitto on a free loopback port; paho
  publishes M messages (QoS 0) and counts them on the out topic: messages/s.
* Memory: each server's resident set (VmRSS) once the flow is deployed, and its peak
  (VmHWM) after all the load, read from /proc.

The two servers run one after the other (never under load at the same time), each in its own
process. Results are printed as a table (figure, Plumb, Node-RED, Plumb / Node-RED; for
latency the ratio is Node-RED / Plumb, so above 1 is always "Plumb is better") and optionally
written as JSON. Nothing here asserts a time: on a shared machine the numbers move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TAB = "bench_tab"


# --------------------------------------------------------------------------- flows


def _n(id_: str, type_: str, wires: list[list[str]] | None = None, **props: Any) -> dict[str, Any]:
    return {"id": id_, "type": type_, "z": TAB, "wires": wires or [], **props}


def _change(id_: str, to: str, value: str) -> dict[str, Any]:
    rule = {"t": "set", "p": "payload", "pt": "msg", "to": value, "tot": "str"}
    return _n(id_, "change", [[to]], rules=[rule], name="")


def _function(id_: str, func: str, to: list[list[str]], outputs: int = 1) -> dict[str, Any]:
    return _n(id_, "function", to, func=func, outputs=outputs, timeout=0, noerr=0,
              initialize="", finalize="", libs=[])


BURST = """var n = Number(msg.payload);
flow.set('%(key)s_t0', Date.now());
flow.set('%(key)s_t1', 0);
var out = [];
for (var i = 0; i < n; i++) { out.push({payload: i, topic: 't'}); }
return [out];"""

COUNT = """var c = (context.get('c') || 0) + 1;
%(work)s
if (c >= %(m)d) { flow.set('%(key)s_t1', Date.now()); c = 0; }
context.set('c', c);
return null;"""

RESULT = """msg.payload = {
  chain: [flow.get('chain_t0') || 0, flow.get('chain_t1') || 0],
  func: [flow.get('func_t0') || 0, flow.get('func_t1') || 0]
};
return msg;"""


def bench_flow(messages: int, mqtt_port: int | None, topic_prefix: str) -> list[dict[str, Any]]:
    """The one flow both runtimes run: every scenario on one tab."""
    flow: list[dict[str, Any]] = [{"id": TAB, "type": "tab", "label": "bench"}]
    http = {"method": "get", "upload": False, "swaggerDoc": ""}
    flow += [
        _n("h_change_in", "http in", [["h_change"]], url="/bench/change", **http),
        _change("h_change", "h_change_out", "ok"),
        _n("h_change_out", "http response", statusCode="", headers={}),
        _n("h_func_in", "http in", [["h_func"]], url="/bench/function", **http),
        _function("h_func", "msg.payload = 'ok:' + (typeof msg.payload); return msg;",
                  [["h_func_out"]]),
        _n("h_func_out", "http response", statusCode="", headers={}),
        _n("h_result_in", "http in", [["h_result"]], url="/bench/result", **http),
        _function("h_result", RESULT, [["h_result_out"]]),
        _n("h_result_out", "http response", statusCode="", headers={}),
    ]
    inject = {"props": [{"p": "payload"}], "repeat": "", "crontab": "", "once": False,
              "onceDelay": 0.1, "topic": "", "payload": str(messages), "payloadType": "num"}
    # Chain: inject -> burst -> change x4 -> counter (the 5-node chain after the burst).
    flow += [
        _n("c_inject", "inject", [["c_burst"]], **inject),
        _function("c_burst", BURST % {"key": "chain"}, [["c1"]]),
        _change("c1", "c2", "a"),
        _change("c2", "c3", "b"),
        _change("c3", "c4", "c"),
        _change("c4", "c_count", "d"),
        _function("c_count", COUNT % {"key": "chain", "m": messages, "work": ""}, [[]]),
    ]
    # Function calls: inject -> burst -> one working, counting function.
    work = "msg.payload = {i: msg.payload, sq: msg.payload * msg.payload, s: 'x' + msg.topic};"
    flow += [
        _n("f_inject", "inject", [["f_burst"]], **inject),
        _function("f_burst", BURST % {"key": "func"}, [["f_work"]]),
        _function("f_work", COUNT % {"key": "func", "m": messages, "work": work}, [[]]),
    ]
    if mqtt_port is not None:
        flow += [
            {"id": "m_broker", "type": "mqtt-broker", "name": "", "broker": "127.0.0.1",
             "port": str(mqtt_port), "clientid": "", "autoConnect": True, "usetls": False,
             "protocolVersion": "4", "keepalive": "60", "cleansession": True,
             "autoUnsubscribe": True, "birthTopic": "", "closeTopic": "", "willTopic": ""},
            _n("m_in", "mqtt in", [["m_out"]], topic=f"{topic_prefix}/in", qos="0",
               datatype="auto-detect", broker="m_broker", nl=False, rap=True, rh=0, inputs=0),
            _n("m_out", "mqtt out", topic=f"{topic_prefix}/out", qos="0", retain="false",
               respTopic="", contentType="", userProps="", correl="", expiry="",
               broker="m_broker"),
        ]
    return flow


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(url: str, method: str = "GET", body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


PLUMB_SERVER = """
import sys, uvicorn
from runtime.api import create_app
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


class PlumbServer:
    """Plumb's runtime (create_app under uvicorn) in its own process."""

    name = "Plumb"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        self._process = subprocess.Popen([sys.executable, "-c", PLUMB_SERVER, str(self.port)],
                                         cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("Plumb's server exited during start")
            try:
                if _request(self.url + "/flows/state")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("Plumb's server did not start in time")

    def deploy(self, flow: list[dict[str, Any]]) -> None:
        status, body = _request(self.url + "/flows", "POST", flow,
                                {"Node-RED-Deployment-Type": "full"})
        if status >= 300:
            raise RuntimeError(f"Plumb refused the bench flow: {status} {body[:2000]!r}")
        time.sleep(0.5)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()


class NodeRedServer:
    """A real Node-RED 4.1 (evals.nodered)."""

    name = "Node-RED"

    def __init__(self) -> None:
        from evals.nodered import NodeRed

        self._red = NodeRed()
        self.url = self._red.url

    def start(self) -> None:
        self._red.start()

    def deploy(self, flow: list[dict[str, Any]]) -> None:
        result = self._red.deploy(flow, settle=0.5)
        if not result.started or result.start_errors:
            raise RuntimeError("Node-RED did not start the bench flow:\n"
                               + "\n".join(result.log[-30:]))

    @property
    def pid(self) -> int | None:
        return self._red.pid

    def stop(self) -> None:
        self._red.stop()


class Mosquitto:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="plumb-bench-mqtt-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                            if os.path.exists("/usr/sbin/mosquitto") else None)
        if exe is None:
            raise RuntimeError("mosquitto is not installed")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n")
        self._process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def memory_mb(pid: int | None) -> dict[str, float]:
    """Resident memory of a process now and at its peak (Linux /proc), in MiB."""
    found: dict[str, float] = {}
    if pid is None:
        return found
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


# --------------------------------------------------------------------------- load


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
        elif key.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the load generator")
    if length:
        await reader.readexactly(length)
    return status


async def _load(port: int, path: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """C keep-alive connections, each sending GET `path` back to back for `seconds`."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                started = time.perf_counter()
                if started >= end:
                    return
                status = await _one(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    # Warm up (JIT, first-request paths) before measuring.
    w_reader, w_writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(50):
        await _one(w_reader, w_writer, request)
    w_writer.close()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 3),
            "req_s": round(len(latencies) / elapsed, 1), "p99_ms": round(p99 * 1000, 2)}


def http_load(url: str, path: str, seconds: float, concurrency: int) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    return asyncio.run(_load(port, path, seconds, concurrency))


def burst(url: str, inject_id: str, key: str, messages: int,
          timeout: float = 120) -> dict[str, Any]:
    """Fire `inject_id` and wait for the counter to stamp the M-th message."""
    status, body = _request(f"{url}/inject/{inject_id}", "POST")
    if status >= 300:
        raise RuntimeError(f"inject {inject_id} refused: {status} {body[:300]!r}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = _request(f"{url}/bench/result")
        if status != 200:
            continue
        t0, t1 = json.loads(body)[key]
        if t0 and t1 and t1 >= t0:
            seconds = max((t1 - t0) / 1000, 0.001)
            return {"messages": messages, "seconds": seconds,
                    "msg_s": round(messages / seconds, 1)}
    raise RuntimeError(f"{key}: the counter never reached {messages} in {timeout} s")


def mqtt_load(broker_port: int, prefix: str, messages: int,
              timeout: float = 60) -> dict[str, Any]:
    """Publish M messages to `prefix/in`, count them on `prefix/out`."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got = 0
    last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        nonlocal got, last
        got += 1
        last = time.perf_counter()
        if got >= messages:
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect("127.0.0.1", broker_port)
    sub.subscribe(f"{prefix}/out", qos=0)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", broker_port)
    pub.loop_start()
    try:
        subscribed.wait(10)
        # Warm-up: one message through, so the runtime's subscription is live.
        deadline = time.monotonic() + 20
        while got == 0 and time.monotonic() < deadline:
            pub.publish(f"{prefix}/in", b"warm", qos=0)
            time.sleep(0.2)
        if got == 0:
            raise RuntimeError("no message came back through mqtt in -> mqtt out")
        time.sleep(0.5)
        got = 0
        started = time.perf_counter()
        for i in range(messages):
            pub.publish(f"{prefix}/in", str(i).encode(), qos=0)
        done.wait(timeout)
        # Anything still in flight after the wait is counted as lost.
        received = got
        seconds = max((last if received else time.perf_counter()) - started, 0.001)
        return {"published": messages, "received": received, "seconds": round(seconds, 3),
                "msg_s": round(received / seconds, 1)}
    finally:
        pub.loop_stop()
        sub.loop_stop()
        pub.disconnect()
        sub.disconnect()


# --------------------------------------------------------------------------- run


def measure(server: Any, args: argparse.Namespace, mqtt_port: int | None) -> dict[str, Any]:
    prefix = f"plumbbench/{server.name.lower().replace('-', '')}"
    server.deploy(bench_flow(args.messages, mqtt_port, prefix))
    out: dict[str, Any] = {"memory_idle": memory_mb(server.pid)}
    print(f"[{server.name}] http change ...", file=sys.stderr)
    out["http_change"] = http_load(server.url, "/bench/change", args.seconds, args.concurrency)
    print(f"[{server.name}] http function ...", file=sys.stderr)
    out["http_function"] = http_load(server.url, "/bench/function", args.seconds,
                                     args.concurrency)
    print(f"[{server.name}] chain / function bursts ...", file=sys.stderr)
    out["chain"] = burst(server.url, "c_inject", "chain", args.messages)
    out["function"] = burst(server.url, "f_inject", "func", args.messages)
    if mqtt_port is not None:
        print(f"[{server.name}] mqtt ...", file=sys.stderr)
        out["mqtt"] = mqtt_load(mqtt_port, prefix, args.mqtt_messages)
    out["memory_after"] = memory_mb(server.pid)
    return out


FIGURES = [
    ("http change req/s", "http_change", "req_s", True),
    ("http change p99 ms", "http_change", "p99_ms", False),
    ("http function req/s", "http_function", "req_s", True),
    ("http function p99 ms", "http_function", "p99_ms", False),
    ("5-node chain msg/s", "chain", "msg_s", True),
    ("function calls/s", "function", "msg_s", True),
    ("mqtt in->out msg/s", "mqtt", "msg_s", True),
    ("RSS idle MiB", "memory_idle", "VmRSS", False),
    ("RSS peak MiB", "memory_after", "VmHWM", False),
]


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, scenario, key, higher_better in FIGURES:
        plumb = results["plumb"].get(scenario, {}).get(key)
        red = results["node_red"].get(scenario, {}).get(key)
        ratio = None
        if plumb and red:
            ratio = round(plumb / red if higher_better else red / plumb, 2)
        rows.append({"figure": label, "plumb": plumb, "node_red": red, "ratio": ratio})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="Load time per HTTP flow per runtime.")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="Connections the HTTP load generator keeps busy.")
    parser.add_argument("--messages", type=int, default=5000,
                        help="Messages per chain / function burst.")
    parser.add_argument("--mqtt-messages", type=int, default=5000)
    parser.add_argument("--no-mqtt", action="store_true")
    parser.add_argument("--json", dest="json_out", help="Also write the results here.")
    args = parser.parse_args(argv)

    broker = None
    notes: list[str] = []
    if not args.no_mqtt:
        try:
            broker = Mosquitto()
            broker.start()
        except RuntimeError as exc:
            notes.append(f"MQTT figure left out: {exc}")
            broker = None
    mqtt_port = broker.port if broker is not None else None
    results: dict[str, Any] = {"seconds": args.seconds, "concurrency": args.concurrency,
                               "messages": args.messages, "cpus": os.cpu_count()}
    try:
        for key, factory in (("plumb", PlumbServer), ("node_red", NodeRedServer)):
            server = factory()
            server.start()
            try:
                results[key] = measure(server, args, mqtt_port)
            finally:
                server.stop()
    finally:
        if broker is not None:
            broker.stop()
    rows = table(results)
    results["table"] = rows
    results["notes"] = notes

    print(f"{'figure':<24}{'Plumb':>12}{'Node-RED':>12}{'ratio':>8}")
    for row in rows:
        cells = [f"{v:>12}" if v is not None else f"{'-':>12}" for v in (row["plumb"],
                                                                          row["node_red"])]
        ratio = f"{row['ratio']:>8}" if row["ratio"] is not None else f"{'-':>8}"
        print(f"{row['figure']:<24}{''.join(cells)}{ratio}")
    print("ratio: Plumb / Node-RED for rates, Node-RED / Plumb for p99 and memory "
          "(above 1 = Plumb ahead)")
    for scenario in ("http_change", "http_function"):
        for key in ("plumb", "node_red"):
            if results[key][scenario]["errors"]:
                print(f"note: {key} {scenario}: {results[key][scenario]['errors']} non-200")
    for key in ("plumb", "node_red"):
        mq = results[key].get("mqtt")
        if mq and mq["received"] < mq["published"]:
            print(f"note: {key} mqtt: {mq['received']}/{mq['published']} messages came back")
    for note in notes:
        print(note)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
