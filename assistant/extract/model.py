"""What the extractor found in a request: small frozen records, each tied to its text span.

Every item keeps `text` (as the user wrote it) and `start`/`end` (offsets into the request),
plus normalised fields that code can compare with a generated flow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Item:
    """A piece of the request: the text as written and where it sits."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, kw_only=True)
class Endpoint(Item):
    """A host the flow talks to. role: modbus, broker, opcua, tcp or other."""

    role: str
    host: str
    port: int | None = None  # as stated; see `effective_port`
    url: str = ""  # the full URL for opc.tcp:// and other schemes
    unit_ids: tuple[int, ...] = ()
    cue: str | None = None  # the word that decided the role

    @property
    def effective_port(self) -> int | None:
        if self.port is not None:
            return self.port
        return {"modbus": 502, "broker": 1883, "opcua": 4840}.get(self.role)


@dataclass(frozen=True, kw_only=True)
class UnitId(Item):
    """A Modbus unit (slave) id, or several ("slave ids 1,2,3", "fan no (1-6)")."""

    values: tuple[int, ...]
    device: str | None = None  # host of the nearest Modbus device


@dataclass(frozen=True, kw_only=True)
class Scale(Item):
    """A scaling hint: engineering value = raw * factor (x10 -> 0.1), and/or a unit."""

    factor: float | None = None
    unit: str | None = None


@dataclass(frozen=True, kw_only=True)
class Register(Item):
    """A Modbus register or bit block, with the protocol (zero-based) address."""

    kind: str  # holding, input, coil, discrete
    address: int
    count: int = 1
    notation: str = "raw"  # modicon5 (40001), modicon6 (400001) or raw (as written)
    alt_address: int | None = None  # the other plausible reading of a raw number
    access: str | None = None  # read or write, when the request says so
    function_code: int | None = None  # FC stated next to it ("one FC16")
    data_type: str | None = None  # uint32, int32, float32, int16, uint16, ...
    word_order: str | None = None  # high_first or low_first
    scales: tuple[Scale, ...] = ()
    device: str | None = None  # host of the nearest Modbus device

    @property
    def words(self) -> int:
        """Registers the value occupies: the stated count, or what its data type needs."""
        width = {"uint32": 2, "int32": 2, "float32": 2, "uint64": 4, "int64": 4, "float64": 4}
        return max(self.count, width.get(self.data_type or "", 1))


@dataclass(frozen=True, kw_only=True)
class Topic(Item):
    """An MQTT topic or topic filter and whether the flow reads (in) or writes (out) it."""

    wildcard: str  # placeholders (<asset>, {x}, :x) and trailing ... as MQTT wildcards
    role: str | None = None  # in, out or None
    cue: str | None = None  # the words that decided the role
    strong: bool = False  # the cue is a clear verb or arrow, not a guess
    example: bool = False  # an example of another, wildcard topic (e.g. ...)
    replaced: bool = False  # the request says it is no longer used

    @property
    def is_pattern(self) -> bool:
        return self.wildcard != self.text or any(c in self.text for c in "+#")


@dataclass(frozen=True, kw_only=True)
class HttpEndpoint(Item):
    """A URL the flow serves (an http in node)."""

    method: str  # lower case: get, post, put, delete, patch
    path: str  # without query; placeholders as :name
    method_stated: bool = True


@dataclass(frozen=True, kw_only=True)
class HttpRequest(Item):
    """A URL the flow calls (an http request node)."""

    method: str | None  # upper case, None when not stated
    url: str


@dataclass(frozen=True, kw_only=True)
class StatusCode(Item):
    code: int


@dataclass(frozen=True, kw_only=True)
class NodeId(Item):
    """An OPC UA node id and the data type stated next to it."""

    node_id: str
    data_type: str | None = None  # as the catalog spells it: Double, Int32, Boolean, ...
    access: str | None = None  # read, write or subscribe


@dataclass(frozen=True, kw_only=True)
class Interval(Item):
    """A duration. kind: poll (the flow's own timer), source (how often data arrives),
    timeout, delay, retry, rate_limit (count messages per `seconds`) or window."""

    kind: str
    seconds: float
    count: int | None = None  # rate_limit: messages allowed per `seconds`
    cue: str | None = None


@dataclass(frozen=True, kw_only=True)
class Schedule(Item):
    """Times of day as a Node-RED inject crontab (minute hour dom month dow)."""

    cron: str


@dataclass(frozen=True, kw_only=True)
class Threshold(Item):
    """A comparison: op in gt, ge, lt, le, eq, range (value..high allowed), outside."""

    op: str
    value: float
    high: float | None = None
    unit: str | None = None
    kind: str = "limit"  # limit, deadband (moves by), range


@dataclass(frozen=True, kw_only=True)
class Decimals(Item):
    places: int


@dataclass(frozen=True, kw_only=True)
class Qos(Item):
    level: int
    topic: str | None = None  # the topic it belongs to, when one is near


@dataclass(frozen=True, kw_only=True)
class Retain(Item):
    retain: bool
    topic: str | None = None


@dataclass(frozen=True, kw_only=True)
class FilePath(Item):
    """A file or folder. kind: file, folder or model; mode: append, overwrite, read, watch."""

    path: str
    kind: str = "file"
    mode: str | None = None
    relative: bool = False


@dataclass(frozen=True, kw_only=True)
class Literal(Item):
    """Exact text the flow must produce: quoted ('loaded <code>') or an upper-case word
    sent as a payload (send HIGH to ...)."""

    value: str
    quoted: bool = True
    example: bool = False  # "like 'L3 OEE 82.4%'": shows a format, not the exact text
    output: bool = False  # a verb says the flow sends it ("publish 'done' on ...")


@dataclass(frozen=True, kw_only=True)
class JsonShape(Item):
    """A JSON object written inline; role in (what arrives) or out (what to produce)."""

    keys: tuple[str, ...]
    role: str | None = None


@dataclass(frozen=True, kw_only=True)
class Trigger(Item):
    """How the flow starts: button, on_request (at request time), startup."""

    kind: str


_LISTS = (
    "endpoints", "unit_ids", "registers", "topics", "http_endpoints", "http_requests",
    "status_codes", "node_ids", "intervals", "schedules", "thresholds", "decimals", "qos",
    "retain", "files", "literals", "json_shapes", "triggers"
)


@dataclass(frozen=True)
class Extracted:
    """Everything concrete the request states."""

    request: str
    endpoints: tuple[Endpoint, ...] = ()
    unit_ids: tuple[UnitId, ...] = ()
    registers: tuple[Register, ...] = ()
    topics: tuple[Topic, ...] = ()
    http_endpoints: tuple[HttpEndpoint, ...] = ()
    http_requests: tuple[HttpRequest, ...] = ()
    status_codes: tuple[StatusCode, ...] = ()
    node_ids: tuple[NodeId, ...] = ()
    intervals: tuple[Interval, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    decimals: tuple[Decimals, ...] = ()
    qos: tuple[Qos, ...] = ()
    retain: tuple[Retain, ...] = ()
    files: tuple[FilePath, ...] = ()
    literals: tuple[Literal, ...] = ()
    json_shapes: tuple[JsonShape, ...] = ()
    triggers: tuple[Trigger, ...] = field(default=())

    def items(self) -> list[Item]:
        """Every item, in request order."""
        found: list[Item] = [i for name in _LISTS for i in getattr(self, name)]
        return sorted(found, key=lambda i: (i.start, i.end))

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in _LISTS)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request": self.request}
        for name in _LISTS:
            out[name] = [_item_dict(i) for i in getattr(self, name)]
        return out

    def summary(self) -> list[str]:
        from assistant.extract.summary import summary_lines

        return summary_lines(self)


def _item_dict(item: Item) -> dict[str, Any]:
    data = dataclasses.asdict(item)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    if isinstance(item, Register):
        data["words"] = item.words
    if isinstance(item, Endpoint):
        data["effective_port"] = item.effective_port
    return data
