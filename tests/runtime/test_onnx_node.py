"""plumb-onnx: real (tiny) ONNX models, run through link in -> plumb-onnx -> debug."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runtime.nodes.onnx  # noqa: F401  (registers plumb-onnx)
from runtime.engine import FlowRuntime
from runtime.nodes.onnx import OnnxInputError, parse_shape, to_tensor
from tests.runtime.conftest import debug_values, node, run_flow
from tests.runtime.onnx_models import DOUBLE, INT64, linear_model

W = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
B = [0.5, -1.0]


def _expected(rows: list[list[float]], dtype: Any = np.float32) -> list[list[float]]:
    x = np.array(rows, dtype=dtype)
    y: list[list[float]] = (x @ np.array(W, dtype=dtype) + np.array(B, dtype=dtype)).tolist()
    return y


def _score(model: Path | str, payloads: list[Any], **props: Any) -> FlowRuntime:
    """Runs every payload through the model; debug `out` hears results, `err` the errors."""
    flow = [
        node("in", "link in", [["onnx"]]),
        node("onnx", "plumb-onnx", [["out"]], model=str(model), **props),
        node("out", "debug"),
        node("c", "catch", [["err"]], scope=["onnx"]),
        node("err", "debug", complete="error"),
    ]

    async def actions(rt: FlowRuntime) -> None:
        for i, payload in enumerate(payloads):
            rt.inject("in", {"payload": payload, "n": i})

    return run_flow(flow, actions, settle=0.5)


def _errors(rt: FlowRuntime) -> list[str]:
    return [str(e["message"]) for e in debug_values(rt, "err")]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return linear_model(tmp_path / "linear.onnx", W, B)


def test_flat_array_scores_as_one_row_with_the_first_output(model: Path) -> None:
    rt = _score(model, [[1, 1, 1], [0.1, 0, 0]])
    assert _errors(rt) == []
    assert debug_values(rt, "out") == [[[9.5, 11.0]], _expected([[0.1, 0, 0]])]
    # float32 results come back as the float32 value, like a Float32Array in JavaScript
    assert debug_values(rt, "out")[1] == [[np.float32(0.6).item(), np.float32(-0.8).item()]]
    statuses = [e["status"] for e in rt.events if e["kind"] == "status" and e["id"] == "onnx"]
    assert statuses == [{"fill": "green", "shape": "dot", "text": "ready: linear.onnx"}]


def test_rows_properties_output_name_and_shape(model: Path) -> None:
    rows = [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    rt = _score(model, [rows], outputName="neg")
    assert _errors(rt) == []
    assert debug_values(rt, "out") == [[[-1.5, -1.0], [-3.5, -3.0], [-10.5, -11.0]]]
    flow = [
        node("in", "link in", [["onnx"]]),
        node("onnx", "plumb-onnx", [["out"]], model=str(model), input="data.values",
             output="msg.score", shape="2,3"),
        node("out", "debug", complete="true"),
    ]

    async def actions(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "kept", "data": {"values": [1, 1, 1, 0, 0, 1]}})

    msg = debug_values(run_flow(flow, actions, settle=0.5), "out")[0]
    assert msg["payload"] == "kept"
    assert msg["score"] == [[9.5, 11.0], [5.5, 5.0]]


def test_wrong_element_count_goes_to_catch_naming_expected_and_got(model: Path) -> None:
    rt = _score(model, [[1, 2, 3, 4, 5], [1, 1, 1]], shape="1,3")
    assert _errors(rt) == ["msg.payload has 5 values but shape [1,3] needs 3"]
    assert debug_values(rt, "out") == [[[9.5, 11.0]]]  # the next message still works
    assert debug_values(rt, "err")[0]["source"]["type"] == "plumb-onnx"


def test_bad_inputs_fail_with_clear_errors(model: Path) -> None:
    rt = _score(model, [[[1, 2, 3], [4, 5]], "1,2,3", [1, "2", 3], [], [1, 2, 3, 4]])
    errors = _errors(rt)
    assert errors[0] == ("msg.payload: rows differ in length (msg.payload[0] has shape [3], "
                         "msg.payload[1] has [2])")
    assert errors[1] == ("msg.payload must be a number array or an array of number arrays, "
                         "not a string")
    assert errors[2].startswith("msg.payload[1] must be")
    assert errors[3] == "msg.payload is an empty array"
    # four numbers for a model taking three: onnxruntime's own dimension error, wrapped
    assert errors[4].startswith("inference failed:") and "dimensions" in errors[4]
    assert len(errors) == 5 and debug_values(rt, "out") == []


def test_missing_model_file_shows_red_status_and_fails_every_message(tmp_path: Path) -> None:
    rt = _score(tmp_path / "nope.onnx", [[1, 1, 1], [2, 2, 2]])
    expected = f"plumb-onnx: model file {tmp_path / 'nope.onnx'} not found"
    assert _errors(rt) == [expected, expected]
    status = [e["status"] for e in rt.events if e["kind"] == "status" and e["id"] == "onnx"]
    assert status[0]["fill"] == "red" and status[0]["shape"] == "ring"
    assert debug_values(rt, "out") == []


def test_corrupt_model_file_fails_with_the_loader_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf model")
    rt = _score(bad, [[1, 1, 1]])
    errors = _errors(rt)
    assert len(errors) == 1 and errors[0].startswith(f"plumb-onnx: cannot load model {bad}: ")
    status = [e["status"] for e in rt.events if e["kind"] == "status" and e["id"] == "onnx"]
    assert status[0]["fill"] == "red"


def test_float64_model(tmp_path: Path) -> None:
    model = linear_model(tmp_path / "f64.onnx", W, B, elem=DOUBLE, input_name="X")
    rt = _score(model, [[0.1, 0.2, 0.3]], dtype="float64", inputName="X", outputName="y")
    assert _errors(rt) == []
    out = debug_values(rt, "out")
    assert out == [_expected([[0.1, 0.2, 0.3]], np.float64)]
    assert out[0][0][0] == pytest.approx(0.1 + 0.6 + 1.5 + 0.5, abs=1e-15)
    # the float32 default for a float64 model is refused up front, naming both types
    rt = _score(model, [[0.1, 0.2, 0.3]])
    assert _errors(rt) == ["plumb-onnx: model input 'X' takes tensor(double), not dtype "
                           "float32 (tensor(float))"]


def test_int64_model_and_non_integer_input(tmp_path: Path) -> None:
    model = linear_model(tmp_path / "i64.onnx", [[1, 2], [3, 4], [5, 6]], [5, -1], elem=INT64)
    rt = _score(model, [[1, 2, -3], [1.5, 2, 3], [2.0, 0, 0]], dtype="int64")
    assert debug_values(rt, "out") == [[[-3, -9]], [[7, 3]]]
    assert all(isinstance(v, int) for v in debug_values(rt, "out")[0][0])
    assert _errors(rt) == ["msg.payload holds 1.5, not an integer (dtype int64)"]


def test_unknown_names_are_reported_at_start(model: Path) -> None:
    rt = _score(model, [[1, 1, 1]], inputName="input")
    assert _errors(rt) == ["plumb-onnx: the model has no input 'input' (inputs: x)"]
    rt = _score(model, [[1, 1, 1]], outputName="probabilities")
    assert _errors(rt) == ["plumb-onnx: the model has no output 'probabilities' "
                           "(outputs: y, neg)"]


def test_many_messages_keep_their_order(model: Path) -> None:
    payloads = [[float(i), 0, 0] for i in range(30)]
    rt = _score(model, payloads)
    assert debug_values(rt, "out") == [_expected([p]) for p in payloads]


@pytest.mark.parametrize(("text", "dims"), [("", None), ("1,4", [1, 4]), (" 2, -1 ", [2, -1]),
                                            ("[1,3]", [1, 3])])
def test_parse_shape(text: str, dims: list[int] | None) -> None:
    assert parse_shape(text) == dims


@pytest.mark.parametrize("text", ["1,x", "0,3", "-1,-1", "1,-2"])
def test_parse_shape_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shape(text)


def test_to_tensor_shapes() -> None:
    assert to_tensor([1, 2, 3], "float32", None).shape == (1, 3)
    assert to_tensor([[1, 2], [3, 4], [5, 6]], "float64", None).dtype == np.float64
    assert to_tensor([1, 2, 3, 4, 5, 6], "float32", [-1, 3]).shape == (2, 3)
    with pytest.raises(OnnxInputError, match="4 values, which shape \\[-1,3\\] cannot take"):
        to_tensor([1, 2, 3, 4], "float32", [-1, 3])
    with pytest.raises(OnnxInputError, match="not a single number"):
        to_tensor(5, "float32", None)
    with pytest.raises(OnnxInputError, match="not a boolean"):
        to_tensor([1, True], "float32", None)


def test_the_session_uses_the_cpu_provider_and_one_thread(model: Path) -> None:
    from runtime.nodes.onnx import _load

    session = _load(str(model))
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1
