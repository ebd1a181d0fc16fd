"""Property-based fuzzing: mutated flows always yield a report, never an exception, and
the fast schema engine agrees with the reference `jsonschema` implementation."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowschema import CODES, ValidationReport, default_catalog, validate_flow
from flowschema.schema import node_schema
from tests.conftest import load_json, shipped_examples

SEEDS = [load_json(p) for p in shipped_examples()]
TYPES = default_catalog().types()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_flows(draw: st.DrawFn) -> list[Any]:
    flow: list[Any] = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not flow:
            flow.append(draw(json_values))
            continue
        position = draw(st.integers(0, len(flow) - 1))
        node = flow[position]
        action = draw(
            st.sampled_from(
                [
                    "drop_key",
                    "set_key",
                    "retype",
                    "random_type",
                    "duplicate",
                    "delete",
                    "rewire",
                    "replace_node",
                    "id_clash",
                    "insert_junk",
                ]
            )
        )
        if not isinstance(node, dict):
            flow[position] = draw(json_values)
            continue
        keys = sorted(node)
        if action == "drop_key" and keys:
            node.pop(draw(st.sampled_from(keys)))
        elif action == "set_key":
            key = draw(st.sampled_from(keys) | st.text(max_size=8) if keys else st.text(max_size=8))
            node[key] = draw(json_values)
        elif action == "retype":
            node["type"] = draw(st.sampled_from(TYPES))
        elif action == "random_type":
            node["type"] = draw(st.text(max_size=12) | st.just("subflow:nope"))
        elif action == "duplicate":
            flow.append(copy.deepcopy(node))
        elif action == "delete":
            flow.pop(position)
        elif action == "rewire":
            ids = [n.get("id") for n in flow if isinstance(n, dict)] + ["ghost"]
            node["wires"] = draw(
                st.lists(st.lists(st.sampled_from(ids), max_size=3), max_size=4) | json_values
            )
        elif action == "replace_node":
            flow[position] = draw(json_values)
        elif action == "id_clash" and len(flow) > 1:
            other = flow[draw(st.integers(0, len(flow) - 1))]
            if isinstance(other, dict):
                node["id"] = other.get("id")
        elif action == "insert_junk":
            flow.insert(position, draw(json_values))
    return flow


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_flows())
def test_mutated_flows_never_raise(flow: list[Any]) -> None:
    report = validate_flow(flow)
    assert isinstance(report, ValidationReport)
    for finding in report.findings:
        assert finding.code in CODES
        assert finding.message
    json.dumps(report.to_dict(), default=str)  # every report serialises


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    assert isinstance(validate_flow(value), ValidationReport)
    assert isinstance(validate_flow([value]), ValidationReport)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_flows())
def test_fast_engine_agrees_with_reference_jsonschema(flow: list[Any]) -> None:
    catalog = default_catalog()
    shape_errors = {
        f.node.id
        for f in validate_flow(flow).findings
        if f.node
        and f.code
        in ("property-type", "property-enum", "property-required", "property-format", "wires-shape")
    }
    for node in flow:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not node["id"]:
            continue
        node_type = node.get("type")
        spec = catalog.get(node_type) if isinstance(node_type, str) else None
        if spec is None:
            continue
        reference_ok = jsonschema.Draft202012Validator(node_schema(spec)).is_valid(node)
        if not reference_ok:
            # The reference says the shape is wrong: the validator must have said so too.
            assert node["id"] in shape_errors or _range_only(node, spec), node


def _range_only(node: dict[str, Any], spec: Any) -> bool:
    """True when the reference's only complaints are numeric bounds (reported as
    property-range, a code the check above does not collect)."""
    validator = jsonschema.Draft202012Validator(node_schema(spec))
    return all(e.validator in ("minimum", "maximum") for e in validator.iter_errors(node))
