"""plumb-onnx: runs a local ONNX model on each message with onnxruntime.

Plumb's own node (Node-RED has no equivalent). The model is loaded once at start (CPU
provider, one intra-op thread). Each message's input property - a flat number array or an
array of equal-length number arrays - becomes a tensor of the configured dtype (reshaped
to `shape` when set; else a flat array of n numbers is [1, n] and an array of rows keeps
its own shape); inference runs off the event loop, one message at a time, in arrival
order, and the chosen output tensor (or the model's first) is written to the output
property as nested arrays of numbers, the batch dimension included (`[[0.9, 0.1]]`).

A missing, unreadable or mismatching model (unknown input/output name, dtype the model
does not take) shows a red status and fails every message with the reason, to Catch.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np

from runtime.message import Message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import get_path, set_path

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
# onnxruntime's names for the tensor types of the dtypes above
ORT_TYPES = {"float32": "tensor(float)", "float64": "tensor(double)", "int64": "tensor(int64)"}


class OnnxInputError(ValueError):
    """The message's input cannot become the configured tensor."""


def parse_shape(text: str) -> list[int] | None:
    """"1,4" -> [1, 4]; "" -> None. Dimensions are positive integers, or -1 once (that
    dimension is inferred from the element count)."""
    text = text.strip().strip("[]()").strip()
    if not text:
        return None
    try:
        dims = [int(part.strip()) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"shape {text!r} is not comma-separated integers such as \"1,4\"")\
            from None
    if any(d == 0 or d < -1 for d in dims) or dims.count(-1) > 1:
        raise ValueError(f"shape {text!r}: dimensions must be positive (one may be -1)")
    return dims


def _flatten(value: Any, where: str) -> tuple[list[int], list[int | float]]:
    """The dims and the flat numbers of a rectangular nested list of numbers."""
    if _is_number(value):
        return [], [value]
    if not isinstance(value, list | tuple):
        raise OnnxInputError(f"{where} must be a number array or an array of number "
                             f"arrays, not {_kind(value)}")
    if not value:
        raise OnnxInputError(f"{where} is an empty array")
    dims: list[int] | None = None
    flat: list[int | float] = []
    for i, item in enumerate(value):
        item_dims, item_flat = _flatten(item, f"{where}[{i}]")
        if dims is None:
            dims = item_dims
        elif item_dims != dims:
            raise OnnxInputError(f"{where}: rows differ in length ({where}[0] has shape "
                                 f"{_dims_text(dims)}, {where}[{i}] has "
                                 f"{_dims_text(item_dims)})")
        flat.extend(item_flat)
    assert dims is not None
    return [len(value), *dims], flat


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "missing (undefined)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _dims_text(dims: list[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def to_tensor(value: Any, dtype: str, shape: list[int] | None,
              where: str = "msg.payload") -> np.ndarray[Any, Any]:
    """The numpy array the model is fed: `value` as `dtype`, reshaped to `shape` (a flat
    array of n numbers is [1, n] when no shape is set)."""
    if _is_number(value):
        raise OnnxInputError(f"{where} must be a number array or an array of number "
                             f"arrays, not a single number")
    dims, flat = _flatten(value, where)
    if dtype == "int64":
        bad = next((v for v in flat if isinstance(v, float) and not v.is_integer()), None)
        if bad is not None:
            raise OnnxInputError(f"{where} holds {bad!r}, not an integer (dtype int64)")
    if shape is None:
        target = [1, len(flat)] if len(dims) == 1 else dims
    elif -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if len(flat) % known:
            raise OnnxInputError(f"{where} has {len(flat)} values, which shape "
                                 f"{_dims_text(shape)} cannot take (a multiple of {known} "
                                 f"is needed)")
        target = [len(flat) // known if d == -1 else d for d in shape]
    else:
        target = shape
        expected = math.prod(shape)
        if expected != len(flat):
            raise OnnxInputError(f"{where} has {len(flat)} values but shape "
                                 f"{_dims_text(shape)} needs {expected}")
    try:
        array = np.array(flat, dtype=DTYPES[dtype])
    except OverflowError:
        raise OnnxInputError(f"{where} holds a number too large for int64") from None
    return array.reshape(target)


def _strip_msg(path: Any) -> str:
    text = str(path or "").strip() or "payload"
    return text[4:] if text.startswith("msg.") else text


def _load(path: str) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]  # no type hints shipped

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(path, sess_options=options,
                                providers=["CPUExecutionProvider"])


@register("plumb-onnx")
class OnnxNode(Node):
    """Scores each message with a local ONNX model."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.model_path = str(config.get("model") or "").strip()
        self.input_prop = _strip_msg(config.get("input"))
        self.output_prop = _strip_msg(config.get("output"))
        self.dtype = str(config.get("dtype") or "float32").strip()
        self.input_name = str(config.get("inputName") or "").strip()
        self.output_name = str(config.get("outputName") or "").strip()
        self.shape: list[int] | None = None
        self.session: Any = None
        self.problem: str | None = "the model is not loaded"  # why messages fail
        self._lock = asyncio.Lock()  # one inference at a time, in arrival order

    async def on_start(self) -> None:
        try:
            self.session = await self._open()
        except ValueError as exc:
            self.session = None
            self.problem = str(exc)
            self.status("red", "ring", self._short(self.problem))
            self.error(self.problem)
            return
        self.problem = None
        self.status("green", "dot", f"ready: {Path(self.model_path).name}")

    async def _open(self) -> Any:
        """The session, with the input/output names resolved; ValueError saying what is
        wrong otherwise."""
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of "
                             f"{', '.join(DTYPES)}")
        self.shape = parse_shape(str(self.config.get("shape") or ""))
        if not self.model_path:
            raise ValueError("no model file is set")
        path = Path(self.model_path).expanduser()
        if not path.is_file():
            raise ValueError(f"model file {self.model_path} not found")
        try:
            session = await asyncio.to_thread(_load, str(path))
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise ValueError(f"cannot load model {self.model_path}: "
                             f"{str(exc).strip() or type(exc).__name__}") from None
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]
        name = self.input_name or next(iter(inputs))
        if name not in inputs:
            raise ValueError(f"the model has no input {name!r} (inputs: "
                             f"{', '.join(inputs)})")
        if self.output_name and self.output_name not in outputs:
            raise ValueError(f"the model has no output {self.output_name!r} (outputs: "
                             f"{', '.join(outputs)})")
        if len(inputs) > 1:
            raise ValueError(f"the model takes {len(inputs)} inputs "
                             f"({', '.join(inputs)}); this node feeds only one")
        wanted = inputs[name].type
        if wanted != ORT_TYPES[self.dtype]:
            raise ValueError(f"model input {name!r} takes {wanted}, not dtype {self.dtype} "
                             f"({ORT_TYPES[self.dtype]})")
        self.input_name = name
        self.output_name = self.output_name or outputs[0]
        return session

    @staticmethod
    def _short(text: str) -> str:
        return text if len(text) <= 60 else text[:57] + "..."

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        session = self.session
        if session is None:
            done(f"plumb-onnx: {self.problem}")
            return
        where = f"msg.{self.input_prop}"
        try:
            tensor = to_tensor(get_path(msg, self.input_prop), self.dtype, self.shape, where)
        except OnnxInputError as exc:
            done(str(exc))
            return
        async with self._lock:
            try:
                result = await asyncio.to_thread(
                    session.run, [self.output_name], {self.input_name: tensor})
            except Exception as exc:
                done(f"inference failed: {str(exc).strip() or type(exc).__name__}")
                return
        value = result[0]
        set_path(msg, self.output_prop, value.tolist() if hasattr(value, "tolist") else value)
        send(msg)
        done()

    async def on_close(self) -> None:
        self.session = None
        self.problem = "the node is closed"
