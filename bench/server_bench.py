"""`ask serve` under a stopwatch: streaming latency, API overhead, concurrent chats, memory.

    python -m bench.server_bench [--model smollm2-135m] [--sessions 20] [--json out.json]

The server runs as a real subprocess (`ask serve --port P --data-dir TMP --model NAME`, in
local single-user mode on loopback); the bench waits until `GET /api/v1/status` answers
with `model_state == "loaded"`, then measures, one figure after the other:

1. Time to first event: `POST /api/v1/generate` with `"stream": true` on an idle server,
   from sending the request to the first complete SSE event (normally `started`); each
   stream is read to its `done` before the next request. Median and p95 (target < 300 ms).
2. API overhead: the same requests run (a) in-process, straight through
   `assistant.generate.pipeline.generate` / `assistant.generate.editing.edit` with the model
   from `assistant.models.loading.load_model`, and (b) as non-streaming HTTP calls to the
   server. The anchor (a) runs in a separate worker process, so each side holds one model
   and neither process's interpreter state (caches, warm imports) favours the other. Both
   sides stay up the whole time but only one works at once: every request runs (a) then
   (b), or (b) then (a), alternating round by round, so slow drift of a shared 2-core
   machine hits both alike. (a) is timed inside the worker around the pipeline call alone;
   (b) by the client from sending to the last byte of the answer, so the overhead includes
   HTTP, auth, JSON, the queue, the thread hop, the validator findings the API adds to
   every flow and the model's streaming decode (the server always hands the pipeline a
   token callback: it stops a job whose client went away). A request counts as "model"
   when its outcome used tokens, else "no model".
   Overhead % = (b - a) / a on the means, per kind and in total (target < 5%). The same
   in CPU time (each process's threads, from /proc/*/task/*/schedstat) is shown beside
   it: a neighbour's load stretches the wall clock far more than the work. Also the HTTP
   floor: GET /api/v1/status, which crosses HTTP and nothing else.
3. Concurrent chats: N clients (asyncio + httpx) each create a session and send two
   streamed messages: the first builds a flow, the second edits it ("poll every 2 s
   instead"). The first `--model-sessions` open with a request that needs the model (the
   others with Modbus-to-MQTT requests the recipes build), so the rest queue behind it.
   Errors (HTTP status >= 400, `error` events, streams without a result, exceptions) must
   be 0; also the largest queue position any client saw, per-turn latency p50/p95 and the
   wall time of the whole load.
4. Memory: VmRSS of the server process and its children: idle once the model is loaded,
   warm (after the requests above, before the chats: first requests import the pipeline)
   and the peak sampled every 100 ms during the concurrent chats.

Results are printed as a table and optionally written as JSON. Nothing here asserts a
time: on a shared machine the numbers move; the targets are shown beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"

# The same requests the server's tests use (tests/server/conftest.py).
REQUEST = ("every 5 s read holding register 100 from the PLC at 192.168.1.10 and publish it "
           "to MQTT plant/line1/temp")
MODEL_REQUEST = ("when a message arrives on MQTT plant/line1/raw, compute a rolling checksum "
                 "of the payload with a custom algorithm and publish it to plant/line1/sum")
CLARIFY_REQUEST = "make it work please"
EDIT_REQUEST = "poll every 2 s instead"
MODEL_REQUEST_2 = ("when an HTTP POST arrives on /convert, convert the temperature in the "
                   "payload from Fahrenheit to Celsius with custom code and reply with it")

TTFE_TARGET_MS = 300.0
OVERHEAD_TARGET_PCT = 5.0


def log(message: str) -> None:
    print(f"[server-bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "mean_ms": round(statistics.fmean(ms), 1),
            "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(percentile(ms, 95), 1),
            "max_ms": round(max(ms), 1)}


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask_command() -> list[str]:
    """`ask` beside this interpreter (the venv's), else the module."""
    script = Path(sys.executable).with_name("ask")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "assistant.cli"]


def clean_env() -> dict[str, str]:
    """This environment without PLUMB_* settings that would change what is measured."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PLUMB_") or k == "PLUMB_DATA_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The name may hold spaces and parentheses: the fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def rss_mib(pid: int) -> float:
    """VmRSS of `pid` and its descendants, MiB."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return round(total_kb / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its descendants, all threads, from /proc/*/task/*/schedstat
    (nanoseconds, unlike the 10 ms ticks of /proc/PID/stat)."""
    total = 0
    for member in process_tree(pid):
        try:
            tasks = os.listdir(f"/proc/{member}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                total += int(Path(f"/proc/{member}/task/{task}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total / 1e9


class Server:
    """`ask serve` in a subprocess on a free loopback port, with its own data folder."""

    def __init__(self, model: str, data_dir: Path, startup_timeout: float) -> None:
        self.model = model
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> float:
        """Start and wait for the loaded model; returns the seconds that took."""
        command = [*ask_command(), "serve", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--model", self.model]
        started = time.perf_counter()
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=clean_env(),
                                            stdout=out, stderr=subprocess.STDOUT)
        deadline = started + self.startup_timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"ask serve exited ({self.process.returncode}):\n"
                                       + self.log_path.read_text(errors="replace")[-3000:])
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"ask serve did not load {self.model} within "
                                       f"{self.startup_timeout:.0f} s")
                try:
                    status = client.get(f"{API}/status").json()
                except (httpx.HTTPError, ValueError):
                    status = {}
                if status.get("model_state") == "loaded":
                    return time.perf_counter() - started
                if status.get("model_state") == "unavailable":
                    raise RuntimeError(f"the server cannot load {self.model}: "
                                       f"{status.get('model_error')}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class Anchor:
    """The raw pipeline in a worker process (`python -m bench.server_bench --anchor-worker
    MODEL`): one JSON request per line in, one JSON answer per line out."""

    def __init__(self, model: str) -> None:
        self.process: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-m", "bench.server_bench", "--anchor-worker", model],
            cwd=ROOT, env=clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"the anchor worker did not start: {ready}")
        self.load_seconds = float(ready["load_seconds"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the anchor worker exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def anchor_worker(model_name: str) -> int:
    """The worker's side of `Anchor`: load the model once, then time pipeline calls."""
    from assistant.generate.editing import edit
    from assistant.generate.pipeline import GenerationError, generate
    from assistant.models.base import Model

    started = time.perf_counter()
    model: Model
    if model_name == "fake":
        from assistant.server.fake_model import PassThroughModel

        model = PassThroughModel()
    else:
        from assistant.models.loading import load_model

        model = load_model(model_name)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "load_seconds": time.perf_counter() - started}) + "\n")
    out.flush()
    for line in sys.stdin:
        job = json.loads(line)
        begin = time.perf_counter()
        try:
            if job.get("flow") is not None:
                outcome = edit(job["flow"], job["request"], model)
            else:
                outcome = generate(job["request"], model)
            seconds = time.perf_counter() - begin
            answer: dict[str, Any] = {"seconds": seconds, "outcome": outcome.kind,
                                      "tokens": outcome.tokens, "flow": outcome.flow}
        except GenerationError as exc:
            answer = {"seconds": time.perf_counter() - begin, "outcome": "refuse",
                      "tokens": 0, "flow": None, "note": str(exc)}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


# --------------------------------------------------------------------------- SSE


@dataclass
class Stream:
    """What one streamed answer carried."""

    status: int = 0
    first_event_s: float | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def data(self, name: str) -> dict[str, Any] | None:
        for event, data in self.events:
            if event == name:
                return data
        return None


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    name, data = "", ""
    for line in lines:
        if line == "":
            if name:
                yield name, json.loads(data or "{}")
            name, data = "", ""
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]


def stream_sync(client: httpx.Client, path: str, body: dict[str, Any]) -> Stream:
    result = Stream()
    started = time.perf_counter()
    with client.stream("POST", path, json=body) as response:
        result.status = response.status_code
        if response.status_code >= 400:
            response.read()
            result.events.append(("error", {"status": response.status_code,
                                            "body": response.text[:500]}))
        else:
            for event in parse_events(response.iter_lines()):
                if result.first_event_s is None:
                    result.first_event_s = time.perf_counter() - started
                result.events.append(event)
    result.seconds = time.perf_counter() - started
    return result


async def stream_async(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Stream:
    result = Stream()
    started = time.perf_counter()
    async with client.stream("POST", path, json=body) as response:
        result.status = response.status_code
        if response.status_code >= 400:
            await response.aread()
            result.events.append(("error", {"status": response.status_code,
                                            "body": response.text[:500]}))
        else:
            name, data = "", ""
            async for line in response.aiter_lines():
                if line == "":
                    if name:
                        if result.first_event_s is None:
                            result.first_event_s = time.perf_counter() - started
                        result.events.append((name, json.loads(data or "{}")))
                    name, data = "", ""
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data += line[6:]
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- figures


def time_to_first_event(server: Server, runs: int) -> dict[str, Any]:
    """Sequential streamed generates on an idle server."""
    first: list[float] = []
    whole: list[float] = []
    first_names: dict[str, int] = {}
    errors = 0
    with httpx.Client(base_url=server.url, timeout=300.0) as client:
        stream_sync(client, f"{API}/generate", {"request": REQUEST, "stream": True})  # warm
        for _ in range(runs):
            answer = stream_sync(client, f"{API}/generate", {"request": REQUEST, "stream": True})
            if answer.status != 200 or "result" not in answer.names or "error" in answer.names:
                errors += 1
            if answer.first_event_s is not None:
                first.append(answer.first_event_s)
                first_names[answer.names[0]] = first_names.get(answer.names[0], 0) + 1
            whole.append(answer.seconds)
            time.sleep(0.05)  # let the server settle: the figure is for an idle server
    return {"runs": runs, "errors": errors, "first_event": summary_ms(first),
            "first_event_names": first_names, "whole_stream": summary_ms(whole)}


def overhead_jobs(server: Server) -> list[dict[str, Any]]:
    """The request list: generate, clarify and edit (usually no model), two model ones."""
    with httpx.Client(base_url=server.url, timeout=300.0) as client:
        flow = client.post(f"{API}/generate", json={"request": REQUEST}).json()["flow"]
    return [
        {"name": "generate (recipe)", "request": REQUEST, "flow": None},
        {"name": "clarify", "request": CLARIFY_REQUEST, "flow": None},
        {"name": "edit (poll 2 s)", "request": EDIT_REQUEST, "flow": flow},
        {"name": "generate (checksum)", "request": MODEL_REQUEST, "flow": None},
        {"name": "generate (F to C code)", "request": MODEL_REQUEST_2, "flow": None},
    ]


def api_overhead(server: Server, anchor: Anchor, rounds: int) -> dict[str, Any]:
    jobs = overhead_jobs(server)
    direct: dict[str, list[float]] = {job["name"]: [] for job in jobs}
    http: dict[str, list[float]] = {job["name"]: [] for job in jobs}
    # CPU seconds each side spent on the request: less moved by other load on the machine
    # than the wall clock (a busy neighbour stretches a wait, not the work).
    direct_cpu: dict[str, list[float]] = {job["name"]: [] for job in jobs}
    http_cpu: dict[str, list[float]] = {job["name"]: [] for job in jobs}
    kinds: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    floor: list[float] = []
    mismatched: list[str] = []
    with httpx.Client(base_url=server.url, timeout=300.0) as client:

        def via_http(job: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            if job["flow"] is None:
                path, body = f"{API}/generate", {"request": job["request"]}
            else:
                path, body = f"{API}/edit", {"request": job["request"], "flow": job["flow"]}
            started = time.perf_counter()
            response = client.post(path, json=body)
            seconds = time.perf_counter() - started
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return seconds, answer

        for number in range(rounds + 1):  # round 0 warms both sides and is not counted
            for job in jobs:
                order = ("direct", "http") if number % 2 == 0 else ("http", "direct")
                outcome: dict[str, dict[str, Any]] = {}
                for side in order:
                    pid = anchor.process.pid if side == "direct" else server.pid
                    cpu = cpu_seconds(pid)
                    if side == "direct":
                        answer = anchor.run({"request": job["request"], "flow": job["flow"]})
                        seconds = float(answer["seconds"])
                    else:
                        seconds, answer = via_http(job)
                    cpu = cpu_seconds(pid) - cpu
                    outcome[side] = answer
                    if number > 0:
                        (direct if side == "direct" else http)[job["name"]].append(seconds)
                        (direct_cpu if side == "direct" else http_cpu)[job["name"]].append(cpu)
                kinds[job["name"]] = ("model" if outcome["direct"].get("tokens")
                                      or outcome["http"].get("tokens") else "no model")
                outcomes[job["name"]] = str(outcome["http"]["outcome"])
                # The floor: a request that only crosses HTTP (no auth, body or pipeline).
                started = time.perf_counter()
                client.get(f"{API}/status").raise_for_status()
                if number > 0:
                    floor.append(time.perf_counter() - started)
                same = (outcome["direct"]["outcome"] == outcome["http"]["outcome"]
                        and outcome["direct"]["flow"] == outcome["http"]["flow"])
                if not same and job["name"] not in mismatched:
                    mismatched.append(job["name"])

    def figures(names: list[str]) -> dict[str, Any]:
        a = [s for name in names for s in direct[name]]
        b = [s for name in names for s in http[name]]
        if not a:
            return {"requests": 0}
        mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
        med_a, med_b = statistics.median(a), statistics.median(b)
        cpu_a = statistics.fmean([s for name in names for s in direct_cpu[name]])
        cpu_b = statistics.fmean([s for name in names for s in http_cpu[name]])
        return {"requests": len(a),
                "direct_cpu_ms": round(cpu_a * 1000, 2),
                "http_cpu_ms": round(cpu_b * 1000, 2),
                "overhead_cpu_pct": round((cpu_b - cpu_a) / cpu_a * 100, 2) if cpu_a else None,
                "direct_mean_ms": round(mean_a * 1000, 2),
                "http_mean_ms": round(mean_b * 1000, 2),
                "direct_median_ms": round(med_a * 1000, 2),
                "http_median_ms": round(med_b * 1000, 2),
                "overhead_ms": round((mean_b - mean_a) * 1000, 2),
                "overhead_pct": round((mean_b - mean_a) / mean_a * 100, 2),
                "overhead_median_pct": round((med_b - med_a) / med_a * 100, 2)}

    by_request = {name: {"kind": kinds[name], "outcome": outcomes[name], **figures([name])}
                  for name in direct}
    by_kind = {kind: figures([n for n in direct if kinds[n] == kind])
               for kind in ("no model", "model")}
    return {"rounds": rounds, "anchor_load_seconds": round(anchor.load_seconds, 2),
            "by_request": by_request, "by_kind": by_kind, "total": figures(list(direct)),
            "http_floor": summary_ms(floor),
            "different_outcomes": mismatched}


async def one_session(client: httpx.AsyncClient, number: int, uses_model: bool,
                      record: dict[str, Any]) -> None:
    if uses_model:  # needs code the recipes do not write: the model is asked
        first = MODEL_REQUEST_2.replace("/convert", f"/convert{number}")
    else:
        first = (f"every 5 s read holding register {100 + number} from the PLC at "
                 f"192.168.1.{10 + number % 200} and publish it to MQTT "
                 f"plant/line{number}/temp")
    try:
        created = await client.post(f"{API}/sessions", json={"title": f"bench {number}"})
        if created.status_code != 201:
            record["errors"].append(f"session {number}: create answered "
                                    f"{created.status_code}")
            return
        session_id = created.json()["id"]
        for turn, text in enumerate((first, EDIT_REQUEST)):
            answer = await stream_async(client, f"{API}/sessions/{session_id}/messages",
                                        {"content": text, "stream": True})
            record["turns"].append(answer.seconds)
            if answer.first_event_s is not None:
                record["first_events"].append(answer.first_event_s)
            for name, data in answer.events:
                if name == "queued":
                    record["max_position"] = max(record["max_position"],
                                                 int(data.get("position", 0)))
            result = answer.data("result")
            if answer.status != 200 or "error" in answer.names or result is None:
                record["errors"].append(f"session {number} turn {turn + 1}: status "
                                        f"{answer.status}, events {answer.names[-3:]}, "
                                        f"{answer.data('error')}")
                return
            outcome = (result.get("assistant_message") or {}).get("outcome") or {}
            kind = str(outcome.get("outcome"))
            record["outcomes"][kind] = record["outcomes"].get(kind, 0) + 1
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        record["errors"].append(f"session {number}: {type(exc).__name__}: {exc}")


async def chat_load(server: Server, sessions: int, model_sessions: int) -> dict[str, Any]:
    record: dict[str, Any] = {"errors": [], "turns": [], "first_events": [],
                              "max_position": 0, "outcomes": {}}
    limits = httpx.Limits(max_connections=sessions + 4, max_keepalive_connections=sessions)
    async with httpx.AsyncClient(base_url=server.url, timeout=600.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one_session(client, n, n < model_sessions, record)
                               for n in range(sessions)))
        wall = time.perf_counter() - started
    return {"sessions": sessions, "model_sessions": min(model_sessions, sessions),
            "turns": len(record["turns"]),
            "errors": len(record["errors"]), "error_samples": record["errors"][:5],
            "max_queue_position": record["max_position"],
            "turn_latency": summary_ms(record["turns"]),
            "first_event": summary_ms(record["first_events"]),
            "outcomes": record["outcomes"], "wall_seconds": round(wall, 2)}


class RssSampler:
    """Samples the server's RSS (with its children) every `interval` s in a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_mib(self.pid))


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"model": args.model, "cpus": os.cpu_count(),
                               "python": sys.version.split()[0]}
    folder = Path(tempfile.mkdtemp(prefix="plumb-server-bench-"))
    server = Server(args.model, folder / "data", args.startup_timeout)
    server.data_dir.mkdir()
    anchor: Anchor | None = None
    try:
        log(f"starting ask serve --model {args.model} ...")
        results["startup_seconds"] = round(server.start(), 2)
        time.sleep(1.0)  # let start-up work (imports, the first controller tick) settle
        results["memory"] = {"idle_mib": rss_mib(server.pid)}
        log(f"time to first event, {args.ttfe_runs} runs ...")
        results["first_event"] = time_to_first_event(server, args.ttfe_runs)
        if args.rounds > 0:
            log("starting the in-process anchor ...")
            anchor = Anchor(args.model)
            log(f"API overhead, {args.rounds} rounds ...")
            results["overhead"] = api_overhead(server, anchor, args.rounds)
            anchor.stop()
            anchor = None
        results["memory"]["warm_mib"] = rss_mib(server.pid)
        log(f"{args.sessions} concurrent chat sessions ...")
        with RssSampler(server.pid) as sampler:
            results["chat"] = asyncio.run(chat_load(server, args.sessions,
                                                    args.model_sessions))
        results["memory"]["peak_mib"] = sampler.peak
        results["memory"]["samples"] = sampler.samples
    finally:
        if anchor is not None:
            anchor.stop()
        server.stop()
        if args.keep_data:
            log(f"server data and log kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    results["table"] = table(results)
    return results


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(figure: str, value: Any, target: str = "", ok: bool | None = None) -> None:
        rows.append({"figure": figure, "value": value, "target": target,
                     "ok": None if ok is None else bool(ok)})

    first = results["first_event"]["first_event"]
    row("first event p50 ms", first["p50_ms"], f"< {TTFE_TARGET_MS:.0f}",
        first["p50_ms"] is not None and first["p50_ms"] < TTFE_TARGET_MS)
    row("first event p95 ms", first["p95_ms"], f"< {TTFE_TARGET_MS:.0f}",
        first["p95_ms"] is not None and first["p95_ms"] < TTFE_TARGET_MS)
    row("whole stream p50 ms", results["first_event"]["whole_stream"]["p50_ms"])
    overhead = results.get("overhead")
    if overhead:
        for name, figures in overhead["by_request"].items():
            if figures.get("requests"):
                row(f"  {name} [{figures['kind']}, {figures['outcome']}] direct/http ms",
                    f"{figures['direct_mean_ms']} / {figures['http_mean_ms']}")
        for key, figures in (*overhead["by_kind"].items(), ("total", overhead["total"])):
            if not figures.get("requests"):
                continue
            row(f"overhead {key} %", figures["overhead_pct"], f"< {OVERHEAD_TARGET_PCT:.0f}",
                figures["overhead_pct"] < OVERHEAD_TARGET_PCT)
            row(f"overhead {key} ms/request", figures["overhead_ms"])
            row(f"overhead {key} % (CPU time)", figures["overhead_cpu_pct"])
        row("HTTP floor (GET /status) p50 ms", overhead["http_floor"]["p50_ms"])
    chat = results["chat"]
    row(f"chat: {chat['sessions']} sessions, errors", chat["errors"], "0",
        chat["errors"] == 0)
    row("chat: max queue position", chat["max_queue_position"])
    row("chat: turn p50 ms", chat["turn_latency"]["p50_ms"])
    row("chat: turn p95 ms", chat["turn_latency"]["p95_ms"])
    row("chat: wall s", chat["wall_seconds"])
    row("RSS idle MiB (model loaded)", results["memory"]["idle_mib"])
    row("RSS warm MiB (before chats)", results["memory"]["warm_mib"])
    row("RSS peak MiB (chats)", results["memory"]["peak_mib"])
    return rows


def print_table(results: dict[str, Any]) -> None:
    rows = results["table"]
    width = max(len(r["figure"]) for r in rows) + 2
    print(f"ask serve --model {results['model']}  ({results['cpus']} CPUs, server up and "
          f"model loaded in {results['startup_seconds']} s)")
    print(f"{'figure':<{width}}{'value':>18}{'target':>10}{'':>6}")
    for r in rows:
        mark = "" if r["ok"] is None else ("ok" if r["ok"] else "OVER")
        print(f"{r['figure']:<{width}}{r['value']!s:>18}{r['target']:>10}{mark:>6}")
    overhead = results.get("overhead")
    if overhead and overhead["different_outcomes"]:
        print("note: direct and HTTP answers differed for: "
              + ", ".join(overhead["different_outcomes"]))
    for sample in results["chat"]["error_samples"]:
        print(f"error: {sample}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m",
                        help="Model the server and the in-process anchor load (see `ask "
                             "models`); 'fake' for the weightless pass-through model.")
    parser.add_argument("--sessions", type=int, default=20,
                        help="Concurrent chat sessions (two streamed messages each).")
    parser.add_argument("--model-sessions", type=int, default=1,
                        help="How many of the sessions open with a request that needs the "
                             "model (the others with one the recipes build); they start "
                             "first, so the rest queue behind them.")
    parser.add_argument("--ttfe-runs", type=int, default=20,
                        help="Streamed requests for the time-to-first-event figure.")
    parser.add_argument("--rounds", type=int, default=3,
                        help="Rounds over the request list for the API-overhead figure "
                             "(plus one warm-up round); 0 skips it.")
    parser.add_argument("--startup-timeout", type=float, default=300.0,
                        help="Seconds to wait for the server to answer with the model "
                             "loaded.")
    parser.add_argument("--keep-data", action="store_true",
                        help="Keep the server's data folder and log (path printed).")
    parser.add_argument("--json", dest="json_out", metavar="OUT",
                        help="Also write the results here as JSON.")
    parser.add_argument("--anchor-worker", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.anchor_worker:
        return anchor_worker(args.anchor_worker)
    if args.sessions < 1 or args.ttfe_runs < 1 or args.rounds < 0 or args.model_sessions < 0:
        parser.error("--sessions and --ttfe-runs must be at least 1, --rounds and "
                     "--model-sessions at least 0")
    results = run(args)
    print_table(results)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 1 if results["chat"]["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
