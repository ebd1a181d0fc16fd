"""Writes tiny real ONNX models for the runtime tests without the `onnx` package.

The `onnx` package is not a dependency, so this encodes the few protobuf messages a model
needs (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto) by hand, in the
protobuf wire format. onnxruntime loads the result like any exported model.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

FLOAT, INT64, DOUBLE = 1, 7, 11  # onnx.TensorProto.DataType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode())


def _tensor(name: str, elem: int, dims: Sequence[int], values: Sequence[float]) -> bytes:
    code = {FLOAT: "<f", DOUBLE: "<d", INT64: "<q"}[elem]
    raw = b"".join(struct.pack(code, int(v) if elem == INT64 else v) for v in values)
    return (b"".join(_int(1, d) for d in dims) + _int(2, elem) + _str(8, name)
            + _bytes(9, raw))


def _value_info(name: str, elem: int, dims: Sequence[int | str]) -> bytes:
    shape = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d))
                     for d in dims)
    tensor_type = _int(1, elem) + _bytes(2, shape)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def _node(op: str, inputs: Sequence[str], outputs: Sequence[str]) -> bytes:
    return (b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
            + _str(3, f"{op}_{outputs[0]}") + _str(4, op))


def linear_model(path: Path, weights: Sequence[Sequence[float]], bias: Sequence[float],
                 elem: int = FLOAT, input_name: str = "x") -> Path:
    """`y = x @ weights + bias` with a second output `neg = -y`; x is [batch, len(weights)]
    of `elem`. Writes the model to `path` and returns it."""
    rows, cols = len(weights), len(bias)
    flat = [w for row in weights for w in row]
    graph = (
        _bytes(1, _node("MatMul", [input_name, "W"], ["xw"]))
        + _bytes(1, _node("Add", ["xw", "B"], ["y"]))
        + _bytes(1, _node("Neg", ["y"], ["neg"]))
        + _str(2, "linear")
        + _bytes(5, _tensor("W", elem, [rows, cols], flat))
        + _bytes(5, _tensor("B", elem, [cols], bias))
        + _bytes(11, _value_info(input_name, elem, ["batch", rows]))
        + _bytes(12, _value_info("y", elem, ["batch", cols]))
        + _bytes(12, _value_info("neg", elem, ["batch", cols]))
    )
    opset = _str(1, "") + _int(2, 13)
    model = _int(1, 8) + _str(2, "plumb-tests") + _bytes(7, graph) + _bytes(8, opset)
    path.write_bytes(model)
    return path
