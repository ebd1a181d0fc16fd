"""What the pipeline understood from a request, in the terms the flow builder needs.

`assistant.extract` finds every concrete value with its position and a guessed role; this
module turns those into decisions the builder acts on (which topics are read and which are
written, which registers are polled and which are written, what triggers the flow).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Device:
    host: str
    port: int = 502
    unit: int | None = None


@dataclass(frozen=True)
class RegisterRef:
    kind: str  # holding | input | coil | discrete
    address: int  # zero-based, as node-red-contrib-modbus wants it
    count: int = 1
    write: bool = False
    device: Device | None = None
    text: str = ""


@dataclass(frozen=True)
class OpcNode:
    node_id: str
    datatype: str = ""  # Double, Int32, Boolean, String ... when stated
    write: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str  # get | post | put | delete
    path: str


@dataclass(frozen=True)
class Call:
    method: str  # GET | POST | PUT | DELETE
    url: str


@dataclass(frozen=True)
class FileRef:
    path: str
    mode: str  # append | overwrite | read | watch


@dataclass(frozen=True)
class OnnxModel:
    path: str
    input_name: str = ""
    output_name: str = ""
    dtype: str = "float32"
    shape: str = ""


@dataclass
class Understanding:
    request: str
    topics_in: list[str] = field(default_factory=list)
    topics_out: list[str] = field(default_factory=list)
    broker: tuple[str, int] | None = None
    devices: list[Device] = field(default_factory=list)
    registers: list[RegisterRef] = field(default_factory=list)
    opcua_endpoint: str | None = None
    opcua_nodes: list[OpcNode] = field(default_factory=list)
    opcua_subscribe: bool = False
    served: list[Endpoint] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    files: list[FileRef] = field(default_factory=list)
    interval_s: float | None = None
    cron: str | None = None
    button: bool = False
    qos: int | None = None
    retain: bool = False
    decimals: int | None = None
    literals: list[str] = field(default_factory=list)  # exact texts to send
    onnx: OnnxModel | None = None  # a local model to score messages with
    json_in: dict[str, object] | None = None  # what an arriving JSON payload looks like
    json_body: str | None = None  # exact JSON text, no placeholders
    rate_limit: tuple[int, float] | None = None  # at most N messages per S seconds
    queue_all: bool = True  # rate limit queues (every value arrives) rather than drops
    changes_only: bool = False  # report by exception
    deadband: float | None = None  # pass on only when it moved by at least this much
    join_count: int | None = None  # collect N messages into one array
    limits: list[tuple[str, float]] = field(default_factory=list)  # (op, value) filters
    # The request with every value and every phrase code already handles blanked out:
    # what is left decides whether the message needs reshaping by code.
    residual: str = ""
    wants_errors: bool = False  # the request says what to do when something fails

    def anchors(self) -> int:
        """How many concrete things the request names: 0 means nothing to build on."""
        return (
            len(self.topics_in) + len(self.topics_out) + len(self.devices)
            + len(self.registers) + (1 if self.opcua_endpoint else 0) + len(self.opcua_nodes)
            + len(self.served) + len(self.calls) + len(self.files)
        )
