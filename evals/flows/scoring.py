"""Scoring one answer to one case: outcome, validity, structure, behaviour.

Stages run in that order and scoring stops at the first that fails, whose reason is kept.
The harness starts Node-RED and the protocol servers once per run; each case gets a fresh
Mosquitto so retained messages never leak between cases.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.flows.behaviour import Stage, StepFailed, run_scenario
from evals.flows.cases import Case
from evals.flows.matching import matching_ids, path_exists, successors
from evals.flows.rewrite import Targets, point_at_harness
from evals.flows.servers import CaptureServer, ModbusSlave, Mosquitto, MqttProbe, OpcUaServer
from evals.nodered import NodeRed, free_port
from flowschema import validate_flow

STAGES = ("outcome", "validity", "structure", "behaviour")
_OPCUA_ID = re.compile(r"^ns=[234];")


@dataclass
class Answer:
    """What a generator produced for a case."""

    outcome: str  # flow, clarify, refuse, or error
    flow: list[dict[str, Any]] | None = None
    message: str = ""
    seconds: float = 0.0
    tokens: int | None = None


@dataclass
class CaseResult:
    id: str
    category: str
    expected: str
    got: str
    passed: bool
    failed_stage: str | None = None
    reason: str = ""
    stages: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0  # generation time
    tokens: int | None = None
    check_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Harness:
    """Node-RED plus the protocol servers, for one run."""

    def __init__(self) -> None:
        self.node_red = NodeRed().start()
        self.modbus = ModbusSlave()
        self.opcua = OpcUaServer()
        self.capture = CaptureServer()
        self.scratch_root = Path(tempfile.mkdtemp(prefix="plumb-eval-"))

    def close(self) -> None:
        for stop in (self.node_red.stop, self.modbus.stop, self.opcua.stop, self.capture.stop):
            # one server failing to stop must not keep the others running
            with contextlib.suppress(Exception):
                stop()
        shutil.rmtree(self.scratch_root, ignore_errors=True)

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def case_stage(self, case: Case, flow: list[dict[str, Any]]) -> Iterator[Stage]:
        """Deploy `flow` pointed at the harness, yield a Stage for its scenarios."""
        broker = Mosquitto()
        probe = MqttProbe(broker.port)
        scratch = self.scratch_root / case.id
        # A fresh folder per answer: files an earlier answer wrote must not satisfy this one.
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            self.modbus.reset()
            self._prepare_opcua(case, flow)
            targets = Targets(
                broker.port,
                self.modbus.port,
                self.opcua.url,
                self.capture.port,
                scratch,
                free_port(),
            )
            deployed = point_at_harness(flow, targets)
            result = self.node_red.deploy(deployed)
            if result.status != 204 or not result.started or result.start_errors:
                raise DeployFailed(_deploy_reason(result))
            yield Stage(
                self.node_red,
                probe,
                self.modbus,
                self.opcua,
                self.capture,
                scratch,
                deployed,
                case.nodes,
            )
        finally:
            # Stop the flow while its broker is still up: Node-RED's MQTT client closes at
            # once then, instead of waiting out a timeout on a vanished broker.
            with contextlib.suppress(Exception):
                self.node_red.deploy([])
            probe.stop()
            broker.stop()

    def _prepare_opcua(self, case: Case, flow: list[dict[str, Any]]) -> None:
        """Create the variables a case and its flow name, with the flow's data types."""
        for node in flow:
            item = str(node.get("item", "")) if node.get("type") == "OpcUa-Item" else ""
            if _OPCUA_ID.match(item):
                self.opcua.ensure(
                    item.split(";datatype=")[0], 0, str(node.get("datatype") or "") or None
                )
        for scenario in case.behaviour:
            for step in scenario.get("steps", []):
                for node_id, value in {
                    **step.get("opcua_set", {}),
                    **step.get("expect_opcua", {}),
                }.items():
                    self.opcua.ensure(node_id, value)


class DeployFailed(RuntimeError):
    pass


def _deploy_reason(result: Any) -> str:
    if result.missing_types:
        return f"Node-RED is missing types: {', '.join(result.missing_types)}"
    if result.start_errors:
        return "Node-RED logged errors while starting: " + " | ".join(result.start_errors[:3])
    if result.status != 204:
        return f"Node-RED refused the deploy (HTTP {result.status})"
    return "the flows did not start"


def check_structure(case: Case, flow: list[dict[str, Any]]) -> str | None:
    """None when every matcher matches and every path exists, else the reason."""
    found = {name: matching_ids(flow, matcher) for name, matcher in case.nodes.items()}
    missing = [name for name, ids in found.items() if not ids]
    if missing:
        return "no node matches " + ", ".join(
            f"{name} {_describe(case.nodes[name])}" for name in missing
        )
    graph = successors(flow)
    for chain in case.paths:
        for start, end in itertools.pairwise(chain):
            if not path_exists(graph, found[start], found[end]):
                return f"no message path from {start} to {end}"
    return None


def _describe(matcher: dict[str, Any]) -> str:
    if "any" in matcher:
        return " or ".join(_describe(m) for m in matcher["any"])
    parts = ["/".join(matcher.get("type") or ["any type"])]
    parts += [f"{k}={v}" for k, v in (matcher.get("props") or {}).items()]
    if "interval_s" in matcher:
        parts.append(f"every {matcher['interval_s']} s")
    if "cron" in matcher:
        parts.append(f"cron {matcher['cron']}")
    return "(" + ", ".join(str(p) for p in parts) + ")"


def score(
    case: Case, answer: Answer, harness: Harness | None, stages: tuple[str, ...] = STAGES
) -> CaseResult:
    """Score `answer`; `stages` limits which checks run (the self-test proves each alone).
    With `harness` None the flow is not deployed: validity is the validator's verdict and
    behaviour is not checked."""
    started = time.monotonic()
    result = CaseResult(
        case.id,
        case.category,
        case.outcome,
        answer.outcome,
        passed=False,
        seconds=answer.seconds,
        tokens=answer.tokens,
    )

    def fail(stage: str, reason: str) -> CaseResult:
        result.stages[stage] = False
        result.failed_stage, result.reason = stage, reason
        result.check_seconds = round(time.monotonic() - started, 2)
        return result

    if "outcome" in stages:
        either = answer.outcome == "clarify-or-refuse" and case.outcome in ("clarify", "refuse")
        if answer.outcome != case.outcome and not either:
            detail = f": {answer.message}" if answer.message else ""
            return fail("outcome", f"expected {case.outcome}, got {answer.outcome}{detail}")
        result.stages["outcome"] = True
    if case.outcome != "flow":
        result.passed = True
        result.check_seconds = round(time.monotonic() - started, 2)
        return result
    flow = answer.flow or []
    if "validity" in stages:
        report = validate_flow(flow)
        if not report.valid:
            return fail("validity", "; ".join(str(f) for f in report.errors[:3]))
        result.stages["validity"] = True
    if "structure" in stages:
        reason = check_structure(case, flow)
        if reason:
            return fail("structure", reason)
        result.stages["structure"] = True
    # Without a harness only the static checks run (the quick tests use that); with one,
    # the flow must also start in Node-RED and pass its scenarios.
    needs_node_red = case.runtime == "node-red" and (
        "validity" in stages or ("behaviour" in stages and case.behaviour)
    )
    if needs_node_red and harness is not None:
        try:
            with harness.case_stage(case, flow) as stage:
                result.stages["validity"] = result.stages.get("validity", True)
                if "behaviour" in stages:
                    for scenario in case.behaviour:
                        name = scenario.get("name", "scenario")
                        try:
                            run_scenario(stage, scenario)
                        except StepFailed as exc:
                            return fail("behaviour", f"{name}: {exc}")
                        except Exception as exc:  # an odd answer must fail, not stop the run
                            return fail("behaviour", f"{name}: {type(exc).__name__}: {exc}")
                    result.stages["behaviour"] = True
        except DeployFailed as exc:
            return fail("validity", str(exc))
    result.passed = True
    result.check_seconds = round(time.monotonic() - started, 2)
    return result
