"""The exported JSON Schema: a valid 2020-12 schema that agrees with the validator."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from flowschema import default_catalog, flow_schema, validate_flow
from tests.conftest import EXAMPLES, load_json


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = flow_schema(default_catalog())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_declares_draft_2020_12() -> None:
    schema = flow_schema(default_catalog())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "array"
    assert len(schema["$defs"]) >= len(default_catalog())


def test_shipped_examples_match_schema(schema_validator: jsonschema.Draft202012Validator) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        errors = list(schema_validator.iter_errors(load_json(path)))
        assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    ("node_index", "prop", "value"),
    [
        (1, "dataType", "Holding"),
        (1, "adr", "abc"),
        (3, "qos", 7),  # numeric text ("7") is range-checked by the validator only
        (3, "type", "mqtt-out"),
        (6, "autoConnect", "yes"),
    ],
)
def test_schema_rejects_what_the_validator_rejects(
    schema_validator: jsonschema.Draft202012Validator, node_index: int, prop: str, value: object
) -> None:
    flow = copy.deepcopy(load_json(EXAMPLES / "modbus-to-mqtt.json"))
    flow[node_index][prop] = value
    assert not schema_validator.is_valid(flow)
    assert not validate_flow(flow).valid
