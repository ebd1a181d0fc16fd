"""The validator against a real Node-RED 4.x: the catalog matches Node-RED's own node
definitions, every example Node-RED ships validates and starts, and both agree on
missing types and broken function code."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from evals.nodered import NodeRed, to_loopback
from flowschema import default_catalog, validate_flow
from flowschema.validator import unknown_types
from tests.conftest import load_json, shipped_examples
from tests.nodered.definitions import editor_definitions

pytestmark = pytest.mark.nodered

MODELLED_PACKAGES = {"node-red", "node-red-contrib-modbus", "node-red-contrib-opcua"}
STRUCTURAL = {"tab", "subflow", "group", "junction"}


@pytest.fixture(scope="module")
def definitions(node_red_root: Path) -> dict[str, Any]:
    return editor_definitions(node_red_root)


def modelled_specs() -> list[Any]:
    return [
        s for s in default_catalog() if s.package in MODELLED_PACKAGES and s.type not in STRUCTURAL
    ]


def test_catalog_types_exist_in_node_red(definitions: dict[str, Any]) -> None:
    missing = [s.type for s in modelled_specs() if s.type not in definitions]
    assert not missing


@pytest.mark.parametrize("spec", modelled_specs(), ids=lambda s: s.type)
def test_catalog_entry_matches_node_red_definition(spec: Any, definitions: dict[str, Any]) -> None:
    facts = definitions[spec.type]
    assert facts["module"].split("@")[0] == spec.package
    assert spec.inputs == facts["inputs"]
    if spec.fixed_outputs is not None:
        assert spec.fixed_outputs == facts["outputs"]
    else:
        assert spec.outputs_property in facts["defaults"]
    assert set(spec.properties) == set(facts["defaults"]), "property names differ"
    for name, fact in facts["defaults"].items():
        prop = spec.properties[name]
        if fact.get("value") is not None:
            assert prop.default == fact["value"], f"default of {name}"
        if fact.get("type", "").endswith("[]"):  # Node-RED's notation for a list of node ids
            assert prop.type in ("array", "any"), f"{name} holds node ids"
        elif "type" in fact:
            assert prop.type == "ref" and prop.ref == fact["type"], f"config ref {name}"
        if prop.type == "ref":
            assert fact.get("type") == prop.ref, f"{name} is no config reference in Node-RED"
    assert set(spec.credentials) == set(facts["credentials"])


def test_every_node_red_example_validates(node_red_examples: list[Path]) -> None:
    failures = {}
    for path in node_red_examples:
        report = validate_flow(load_json(path))
        if not report.valid:
            failures[path.name] = [str(f) for f in report.errors]
    assert not failures


def test_node_red_starts_every_flow_the_validator_passes(
    node_red: NodeRed, node_red_examples: list[Path]
) -> None:
    flows = [(p.name, load_json(p)) for p in node_red_examples + shipped_examples()]
    installed = node_red.installed_types()
    problems = {}
    for name, flow in flows:
        report = validate_flow(flow)
        assert report.valid, name
        plumb_only = {
            f.node.type for f in report.findings if f.code == "plumb-only-type" and f.node
        }
        if plumb_only:
            continue  # runs in Plumb only; covered by the missing-types agreement below
        flow_types = {n["type"] for n in flow} - STRUCTURAL
        assert {t for t in flow_types if not t.startswith("subflow:")} <= installed, name
        result = node_red.deploy(to_loopback(flow))
        if result.status != 204 or not result.started or result.start_errors:
            problems[name] = (result.status, result.missing_types, result.start_errors)
    assert not problems
    assert node_red.state() == "start"


@pytest.fixture
def fresh_node_red(node_red_root: Path) -> Any:
    # A deploy with missing types stops Node-RED's whole runtime; keep that off the
    # shared instance.
    server = NodeRed(node_red_root).start()
    yield server
    server.stop()


BASE = load_json(Path(__file__).parents[2] / "examples" / "modbus-to-mqtt.json")


@pytest.mark.parametrize(
    "bad_types",
    [
        {"mqtt-out"},
        {"Modbus-Read", "debugger"},
        {"plumb-onnx"},
        {"function "},
    ],
)
def test_validator_and_node_red_agree_on_missing_types(
    fresh_node_red: NodeRed, bad_types: set[str]
) -> None:
    flow = copy.deepcopy(BASE)
    for offset, bad in enumerate(sorted(bad_types)):
        flow[2 + offset]["type"] = bad  # change node, then mqtt out
    report = validate_flow(flow)
    plumb_only = {f.node.type for f in report.findings if f.code == "plumb-only-type" and f.node}
    ours = unknown_types(report) | plumb_only
    installed = fresh_node_red.installed_types()
    theirs_by_api = {n["type"] for n in flow} - STRUCTURAL - installed
    result = fresh_node_red.deploy(to_loopback(flow))
    assert ours == bad_types == theirs_by_api
    # The log trims names, so a type with a trailing space shows without it there.
    assert {t.strip() for t in bad_types} == set(result.missing_types)
    assert not result.started


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("return msg;", True),
        ("const v = msg.payload?.value ?? 0;\nmsg.payload = v * 1.8 + 32;\nreturn msg;", True),
        ("await new Promise(r => r());\nreturn msg;", True),
        ("if (msg.payload > 3 {\n  return msg;\n}", False),
        ("let x = ;\nreturn msg;", False),
        ("return msg;\n}", False),
        ("msg.payload = `unterminated;\nreturn msg;", False),
    ],
)
def test_validator_and_node_red_agree_on_function_syntax(
    node_red: NodeRed, code: str, valid: bool
) -> None:
    flow = [
        {"id": "t1", "type": "tab", "label": "syntax"},
        {
            "id": "f1",
            "type": "function",
            "z": "t1",
            "name": "under test",
            "func": code,
            "outputs": 1,
            "x": 100,
            "y": 100,
            "wires": [[]],
        },
    ]
    report = validate_flow(flow)
    assert ("function-syntax" not in report.codes()) is valid
    result = node_red.deploy(flow)
    assert result.started
    node_red_errors = [line for line in result.start_errors if "function:under test" in line]
    assert (not node_red_errors) is valid, result.start_errors


def test_to_loopback_leaves_no_plant_address() -> None:
    for path in shipped_examples():
        text = json.dumps(to_loopback(load_json(path)))
        assert "192.168." not in text and "localhost" not in text


def _first(flow: list[Any], predicate: Any) -> dict[str, Any] | None:
    return next((n for n in flow if isinstance(n, dict) and predicate(n)), None)


def _break_duplicate_id(flow: list[Any]) -> bool:
    flow.append(dict(flow[-1]))
    return True


def _break_unknown_type(flow: list[Any]) -> bool:
    node = _first(flow, lambda n: n.get("type") not in STRUCTURAL)
    if node is None:
        return False
    node["type"] += "x"
    return True


def _break_wire_target(flow: list[Any]) -> bool:
    node = _first(flow, lambda n: bool(n.get("wires")) and bool(n["wires"][0]))
    if node is None:
        return False
    node["wires"][0].append("no-such-node")
    return True


def _break_wires_length(flow: list[Any]) -> bool:
    node = _first(flow, lambda n: bool(n.get("wires")))
    if node is None:
        return False
    node["wires"].append([])
    return True


def _break_function(flow: list[Any]) -> bool:
    node = _first(flow, lambda n: n.get("type") == "function")
    if node is None:
        return False
    node["func"] += "\n}}"
    return True


BREAKAGES = {
    "duplicate-id": _break_duplicate_id,
    "unknown-type": _break_unknown_type,
    "wire-target-missing": _break_wire_target,
    "wires-length": _break_wires_length,
    "function-syntax": _break_function,
}


@pytest.mark.parametrize("code", sorted(BREAKAGES))
def test_broken_variants_of_node_red_examples(code: str, node_red_examples: list[Path]) -> None:
    broken = 0
    for path in node_red_examples:
        flow = load_json(path)
        if not BREAKAGES[code](flow):
            continue
        broken += 1
        report = validate_flow(flow)
        assert code in report.codes(), (path.name, [str(f) for f in report.findings])
        assert not report.valid, path.name
    assert broken >= 5, f"only {broken} examples could be broken this way"
