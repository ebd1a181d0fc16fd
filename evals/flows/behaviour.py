"""Behaviour scenarios: steps that drive a deployed flow and watch what it does."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.flows.matching import json_subset, loosely_equal, matching_ids
from evals.flows.rewrite import scratch_path
from evals.flows.servers import CaptureServer, ModbusSlave, MqttProbe, OpcUaServer
from evals.nodered import NodeRed

DEFAULT_WITHIN_S = 5.0
_POLL_S = 0.05


class StepFailed(AssertionError):
    pass


@dataclass
class Stage:
    """What a scenario can reach: the running Node-RED and the harness's servers."""

    node_red: NodeRed
    mqtt: MqttProbe
    modbus: ModbusSlave
    opcua: OpcUaServer
    capture: CaptureServer
    scratch: Path
    flow: list[dict[str, Any]]  # the answer as deployed (ids for inject presses)
    matchers: Mapping[str, Any]


def run_scenario(stage: Stage, scenario: Mapping[str, Any]) -> None:
    """Run the steps in order; raise StepFailed naming the step that did not hold."""
    started = time.monotonic()
    for number, step in enumerate(scenario.get("steps", []), start=1):
        kind = next(k for k in step if k not in ("within_s", "expect"))
        try:
            STEPS[kind](stage, step, started)
        except StepFailed as exc:
            raise StepFailed(f"step {number} ({kind}): {exc}") from None


def _within(step: Mapping[str, Any]) -> float:
    return float(step.get("within_s", DEFAULT_WITHIN_S))


def _eventually(check: Callable[[], str | None], within: float) -> None:
    """Poll `check` (None = satisfied, else the reason) until it holds or time is up."""
    deadline = time.monotonic() + within
    reason = check()
    while reason is not None and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        reason = check()
    if reason is not None:
        raise StepFailed(f"{reason} (waited {within:g} s)")


def payload_value(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def payload_matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping) and len(expected) == 1:
        ((op, arg),) = expected.items()
        if op == "json_subset":
            return json_subset(actual, arg)
        if op == "contains":
            text = actual if isinstance(actual, str) else json.dumps(actual)
            return str(arg).lower() in text.lower()
    if isinstance(expected, Mapping) and "near" in expected:
        try:
            return abs(float(actual) - float(expected["near"])) <= float(expected.get("tol", 1e-6))
        except (TypeError, ValueError):
            return False
    return loosely_equal(actual, expected)


def _modbus_set(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["modbus_set"]
    unit = int(spec.get("unit", 1))
    for table in ("holding", "input", "coils", "discrete"):
        for address, value in (spec.get(table) or {}).items():
            stage.modbus.set(unit, table, int(address), value)


def _opcua_set(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    for node_id, value in step["opcua_set"].items():
        stage.opcua.set(node_id, value)


def _mqtt_publish(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["mqtt_publish"]
    stage.mqtt.publish(spec["topic"], spec.get("payload", ""), bool(spec.get("retain", False)))


def _http(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["http"]
    method = str(spec.get("method", "GET")).upper()
    data = None
    headers = dict(spec.get("headers") or {})
    if "json" in spec:
        data = json.dumps(spec["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "body" in spec:
        data = str(spec["body"]).encode()
        headers.setdefault("Content-Type", "text/plain")
    request = urllib.request.Request(
        stage.node_red.url + spec["path"], data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=_within(step)) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError as exc:
        raise StepFailed(f"{method} {spec['path']} failed: {exc}") from None
    expect = step.get("expect") or {}
    text = body.decode("utf-8", errors="replace")
    if "status" in expect and status != int(expect["status"]):
        raise StepFailed(
            f"{method} {spec['path']} answered {status}, expected {expect['status']}: {text[:200]}"
        )
    if "json" in expect:
        try:
            parsed = json.loads(text)
        except ValueError:
            raise StepFailed(f"{method} {spec['path']} answered non-JSON: {text[:200]}") from None
        if not json_subset(parsed, expect["json"]):
            raise StepFailed(
                f"{method} {spec['path']} answered {text[:200]}, expected "
                f"{json.dumps(expect['json'])}"
            )
    if "contains" in expect and str(expect["contains"]).lower() not in text.lower():
        raise StepFailed(
            f"{method} {spec['path']} answered {text[:200]!r}, expected it to "
            f"contain {expect['contains']!r}"
        )


def _inject(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    name = step["inject"]
    matcher = stage.matchers.get(name)
    if matcher is None:
        raise StepFailed(f"no matcher named {name!r}")
    ids = [
        i
        for i in matching_ids(stage.flow, matcher)
        if any(n.get("id") == i and n.get("type") == "inject" for n in stage.flow)
    ]
    if not ids:
        raise StepFailed(f"no inject node matches {name!r}")
    for node_id in ids:
        status, body = stage.node_red.request("POST", f"/inject/{node_id}")
        if status != 200:
            raise StepFailed(f"pressing inject {node_id} answered {status}: {body}")


def _wait(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    time.sleep(float(step["wait_s"]))


def _expect_mqtt(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["expect_mqtt"]
    topic = spec["topic"]

    def check() -> str | None:
        seen = [payload_value(m.payload) for m in stage.mqtt.since(started) if m.topic == topic]
        if "payload" not in spec:
            return None if seen else f"nothing published on {topic}"
        if any(payload_matches(value, spec["payload"]) for value in seen):
            return None
        shown = ", ".join(json.dumps(v)[:80] for v in seen[-3:]) or "nothing"
        return f"on {topic} expected {json.dumps(spec['payload'])}, got {shown}"

    _eventually(check, _within(step))


def _expect_no_mqtt(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    topic = step["expect_no_mqtt"]["topic"]
    time.sleep(_within(step))
    seen = [payload_value(m.payload) for m in stage.mqtt.since(started) if m.topic == topic]
    if seen:
        raise StepFailed(f"expected nothing on {topic}, got {json.dumps(seen[0])[:80]}")


def _expect_modbus(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["expect_modbus"]
    unit = int(spec.get("unit", 1))

    def check() -> str | None:
        for table in ("holding", "input", "coils", "discrete"):
            for address, expected in (spec.get(table) or {}).items():
                actual = stage.modbus.get(unit, table, int(address))
                if not loosely_equal(actual, expected):
                    return f"unit {unit} {table} {address} is {actual}, expected {expected}"
        return None

    _eventually(check, _within(step))


def _expect_opcua(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    expected_values = step["expect_opcua"]

    def check() -> str | None:
        for node_id, expected in expected_values.items():
            actual = stage.opcua.get(node_id)
            if not loosely_equal(actual, expected):
                return f"{node_id} is {actual!r}, expected {expected!r}"
        return None

    _eventually(check, _within(step))


def _expect_file(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["expect_file"]
    path = scratch_path(stage.scratch, spec["path"])

    def check() -> str | None:
        if not path.is_file():
            return f"{spec['path']} was not written"
        text = path.read_text(encoding="utf-8", errors="replace")
        if "contains" in spec and str(spec["contains"]) not in text:
            return f"{spec['path']} does not contain {spec['contains']!r}: {text[-200:]!r}"
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < int(spec.get("lines_at_least", 0)):
            return f"{spec['path']} has {len(lines)} lines, expected {spec['lines_at_least']}"
        return None

    _eventually(check, _within(step))


def _expect_http_request(stage: Stage, step: Mapping[str, Any], started: float) -> None:
    spec = step["expect_http_request"]

    def check() -> str | None:
        seen = stage.capture.since(started)
        for request in seen:
            if "method" in spec and request.method != str(spec["method"]).upper():
                continue
            if "path" in spec and request.path.split("?")[0] != spec["path"]:
                continue
            if "json_subset" in spec and not json_subset(request.json(), spec["json_subset"]):
                continue
            if "contains" in spec and str(spec["contains"]) not in request.body.decode(
                "utf-8", errors="replace"
            ):
                continue
            return None
        shown = ", ".join(f"{r.method} {r.path} {r.body[:60]!r}" for r in seen[-3:]) or "none"
        return f"no matching request to the capture server (seen: {shown})"

    _eventually(check, _within(step))


STEPS: dict[str, Callable[[Stage, Mapping[str, Any], float], None]] = {
    "modbus_set": _modbus_set,
    "opcua_set": _opcua_set,
    "mqtt_publish": _mqtt_publish,
    "http": _http,
    "inject": _inject,
    "wait_s": _wait,
    "expect_mqtt": _expect_mqtt,
    "expect_no_mqtt": _expect_no_mqtt,
    "expect_modbus": _expect_modbus,
    "expect_opcua": _expect_opcua,
    "expect_file": _expect_file,
    "expect_http_request": _expect_http_request,
}
