"""The generation pipeline: request -> refusal, question, or a validated flow.

Order matters: the safety rules run first (no model can talk its way past them), then the
values are read from the request, then the skeleton is laid out by code, the model writes
only function bodies, the plan is compiled, validated and checked against the stated
values. A flow is only returned when the validator finds no error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.extract import Extracted
from assistant.generate.compile import compile_plan
from assistant.generate.functions import FunctionSpec, check_code, write_function
from assistant.generate.hints import function_hints
from assistant.generate.lanes import build_lanes
from assistant.generate.recipes import write_by_recipe
from assistant.generate.result import Outcome, Stage
from assistant.generate.safety import check_request
from assistant.generate.skeleton import build_skeleton
from assistant.generate.understand import understand
from assistant.generate.understanding import Understanding
from assistant.models.base import Model, ModelError
from assistant.valuecheck import Mismatch, check_values
from flowschema.validator import validate_flow

MAX_REQUEST_CHARS = 4000
# Mismatches the function code can cause (and the model can fix): rounding, limits, texts,
# JSON keys. Hosts, topics and registers are placed by code and are not the model's to fix.
CODE_KINDS = frozenset({"decimals", "threshold", "literal", "json"})
Progress = Callable[[str], None]


class GenerationError(RuntimeError):
    """The pipeline could not produce any acceptable outcome (never an invalid flow)."""


@dataclass
class Options:
    repairs: int = 1
    on_token: Callable[[str], None] | None = None
    progress: Progress = field(default=lambda _stage: None)


def _clarify(question: str, choices: list[str], started: float) -> Outcome:
    return Outcome("clarify", question, choices=choices, seconds=time.monotonic() - started)


def generate(request: str, model: Model | None, options: Options | None = None) -> Outcome:
    """Turn one request into an outcome. `model` may be None: then only flows that need no
    code can be built, and a flow that needs code becomes a clear error."""
    options = options or Options()
    started = time.monotonic()
    stages: list[Stage] = []
    text = request.strip()
    if not text:
        return _clarify("The request is empty. What should the flow do?", [], started)
    if len(text) > MAX_REQUEST_CHARS:
        return _clarify(
            f"The request is {len(text):,} characters long; Plumb reads at most "
            f"{MAX_REQUEST_CHARS:,}. Describe one flow in a few sentences.", [], started)

    refusal = check_request(text)
    if refusal is not None:
        return Outcome("refuse", refusal.reason, seconds=time.monotonic() - started)

    options.progress("reading the request")
    t0 = time.monotonic()
    u, found = understand(text)
    understood = found.summary()
    stages.append(Stage("reading", time.monotonic() - t0))
    question = _question_for(u)
    if question is not None:
        outcome = _clarify(question[0], question[1], started)
        outcome.understood = understood
        return outcome

    options.progress("planning")
    t0 = time.monotonic()
    lanes = build_lanes(text, u)
    skeleton = lanes.skeleton if lanes else build_skeleton(u, found)
    contexts = lanes.contexts if lanes else {}
    stages.append(Stage("planning", time.monotonic() - t0))

    notes = list(skeleton.plan.notes)
    tokens = 0
    # Steps that follow a known pattern get their code from a recipe, checked like the
    # model's; only the rest go to the model.
    by_model: dict[str, FunctionSpec] = {}
    for key, spec in skeleton.functions.items():
        lane_u, lane_found = contexts.get(key, (u, found))
        code = write_by_recipe(spec, lane_found, lane_u)
        if code is not None and check_code(code, spec) is None:
            skeleton.plan.node(key).props["func"] = code
        else:
            by_model[key] = spec
    if by_model:
        if model is None:
            raise GenerationError("this request needs code in a function node, and no model "
                                  "is loaded")
        options.progress("writing code")
        t0 = time.monotonic()
        for key, spec in by_model.items():
            lane_found = contexts.get(key, (u, found))[1]
            spec.hints += function_hints(lane_found, spec.input) if spec.role == "main" else []
            try:
                written = write_function(
                    model, spec, repairs=options.repairs, on_token=options.on_token,
                    on_repair=lambda problem: options.progress(f"repairing: {problem[:100]}"))
            except ModelError as exc:
                raise GenerationError(f"the model failed while writing code: {exc}") from exc
            tokens += written.tokens
            node = skeleton.plan.node(key)
            node.props["func"] = written.code
            if not written.ok:
                # Code that failed its checks is not shipped: a pass-through keeps the flow
                # running and the note says what to write by hand.
                outputs = len(spec.outputs)
                forward = "msg" if outputs == 1 else "[msg" + ", null" * (outputs - 1) + "]"
                node.props["func"] = (
                    "// Plumb could not write checked code for this step; messages pass "
                    f"through unchanged.\n// Task: {spec.task.splitlines()[0][:200]}\n"
                    f"return {forward};")
                notes.append(f"Function node '{node.props.get('name', key)}' passes messages "
                             f"through unchanged: the model's code failed its checks "
                             f"({written.problems[-1][:160]}). Write this step by hand.")
        stages.append(Stage("writing code", time.monotonic() - t0))

    options.progress("compiling")
    t0 = time.monotonic()
    flow = compile_plan(skeleton.plan, seed=text)
    stages.append(Stage("compiling", time.monotonic() - t0))

    options.progress("validating")
    t0 = time.monotonic()
    stages.append(Stage("validating", time.monotonic() - t0))
    require_valid(flow, "the compiled flow")
    mismatches = _value_mismatches(found, flow)
    main_functions = [k for k, s in by_model.items() if s.role == "main"]
    code_kinds = [m for m in mismatches if m.kind in CODE_KINDS]
    if code_kinds and main_functions and model is not None:
        # One bounded repair round: what the code got wrong against the stated values goes
        # back to the model; the new code is kept only if it fixes more than it breaks.
        options.progress("repairing: " + code_kinds[0].message[:100])
        t0 = time.monotonic()
        key = main_functions[0]
        spec = skeleton.functions[key]
        node = skeleton.plan.node(key)
        before = node.props["func"]
        spec.hints = [*spec.hints, *(f"a first attempt was wrong: {m.message}"
                                     for m in code_kinds[:3])]
        try:
            retry = write_function(model, spec, repairs=0, on_token=options.on_token)
        except ModelError as exc:  # the flow in hand is valid: keep it, say why unrepaired
            notes.append(f"The repair round was skipped: the model failed ({exc}).")
            retry = None
        tokens += retry.tokens if retry else 0
        if retry is not None and retry.ok:
            node.props["func"] = retry.code
            candidate = compile_plan(skeleton.plan, seed=text)
            again = _value_mismatches(found, candidate)
            if len(again) < len(mismatches) and not _errors(candidate):
                flow, mismatches = candidate, again
            else:
                node.props["func"] = before
        stages.append(Stage("repairing", time.monotonic() - t0))
    notes.extend(m.message for m in mismatches)

    message = explain_text(flow)
    return Outcome("flow", message, flow=flow, notes=notes, understood=understood,
                   stages=stages, tokens=tokens, seconds=time.monotonic() - started)


def _question_for(u: Understanding) -> tuple[str, list[str]] | None:
    if u.anchors() == 0:
        return (
            "I need more detail to build this flow. Which device or data source is it "
            "(protocol and address: an MQTT topic, a Modbus PLC's IP and register, an OPC "
            "UA server and node id, an HTTP endpoint, a file), and where should the result "
            "go?",
            ["MQTT topic", "Modbus TCP (IP, unit id, register)", "OPC UA (endpoint, node id)",
             "HTTP endpoint or URL", "file path"],
        )
    return None


def _errors(flow: list[dict[str, Any]]) -> list[Any]:
    return [f for f in validate_flow(flow).findings if f.severity.value == "error"]


def require_valid(flow: list[dict[str, Any]], what: str) -> None:
    """Raise GenerationError naming the first validator errors: no invalid flow leaves."""
    errors = _errors(flow)
    if errors:
        raise GenerationError(f"{what} failed validation: "
                              + "; ".join(f"[{f.code}] {f.message}" for f in errors[:3]))


def _value_mismatches(found: Extracted, flow: list[dict[str, Any]]) -> list[Mismatch]:
    return check_values(found, flow)


def explain_text(flow: list[dict[str, Any]]) -> str:
    try:
        from assistant.explain import explain_flow, render_text
    except ImportError:
        return "Flow generated."
    return render_text(explain_flow(flow), None)
