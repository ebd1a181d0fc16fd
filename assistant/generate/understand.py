"""Turn the extractor's findings into the decisions the flow builder acts on."""

from __future__ import annotations

import re

from assistant.extract import Extracted, extract
from assistant.generate.understanding import (
    Call,
    Device,
    Endpoint,
    FileRef,
    OnnxModel,
    OpcNode,
    RegisterRef,
    Understanding,
)

_WRITE_WORDS = re.compile(r"\b(?:write|writes|set|switch|command|start|stop|push|put it)\b",
                          re.IGNORECASE)
_SUBSCRIBE = re.compile(r"subscri\w*|on (?:every )?change|monitor\w*", re.IGNORECASE)


def understand(request: str) -> tuple[Understanding, Extracted]:
    """What the builder needs, and everything the extractor read (shown to the user)."""
    found = extract(request)
    return from_extracted(found), found


def from_extracted(found: Extracted) -> Understanding:
    u = Understanding(request=found.request)
    for topic in found.topics:
        if topic.example or topic.replaced:
            continue
        name = topic.wildcard if topic.role == "in" else topic.text
        target = u.topics_in if topic.role == "in" else u.topics_out
        if topic.role is None:
            target = u.topics_out if _has_other_source(found) or u.topics_in else u.topics_in
        if name not in u.topics_in and name not in u.topics_out:
            target.append(name)
    devices: dict[str, Device] = {}
    for endpoint in found.endpoints:
        port = endpoint.effective_port
        if endpoint.role == "broker" and u.broker is None:
            u.broker = (endpoint.host, port or 1883)
        elif endpoint.role == "opcua" and u.opcua_endpoint is None:
            u.opcua_endpoint = endpoint.url or f"opc.tcp://{endpoint.host}:{port or 4840}"
        elif endpoint.role in ("modbus", "other") and found.registers:
            unit = endpoint.unit_ids[0] if endpoint.unit_ids else None
            devices[endpoint.host] = Device(endpoint.host, port or 502, unit)
    if found.registers and not devices:
        unit = found.unit_ids[0].values[0] if found.unit_ids else None
        for endpoint in found.endpoints:
            if endpoint.role not in ("broker", "opcua"):
                devices[endpoint.host] = Device(endpoint.host, endpoint.effective_port or 502,
                                                unit)
    u.devices = list(devices.values())
    for reg in found.registers:
        device = devices.get(reg.device or "") or (u.devices[0] if u.devices else None)
        write = reg.access == "write" or (reg.access is None and reg.kind == "coil"
                                          and bool(_WRITE_WORDS.search(found.request)))
        u.registers.append(RegisterRef(reg.kind, reg.address, reg.count, write, device,
                                       reg.text))
    u.opcua_subscribe = any(n.access == "subscribe" for n in found.node_ids) or bool(
        found.node_ids and _SUBSCRIBE.search(found.request)
        and not any(n.access == "write" for n in found.node_ids))
    for node in found.node_ids:
        u.opcua_nodes.append(OpcNode(node.node_id, node.data_type or "",
                                     node.access == "write"))
    for endpoint_ in found.http_endpoints:
        served = Endpoint(endpoint_.method, endpoint_.path)
        if served not in u.served:
            u.served.append(served)
    for call in found.http_requests:
        u.calls.append(Call(call.method or "POST", call.url))
    for f in found.files:
        if f.kind == "model":
            u.onnx = u.onnx or _onnx(found.request, f.path)
            continue
        mode = f.mode or ("watch" if f.kind == "folder" else "append")
        mode = {"write": "append"}.get(mode, mode)
        u.files.append(FileRef(f.path, mode))
    polls = [i for i in found.intervals if i.kind == "poll"]
    if polls:
        u.interval_s = polls[0].seconds
    if found.schedules:
        u.cron = found.schedules[0].cron
    u.button = any(t.kind == "button" for t in found.triggers)
    if found.qos:
        u.qos = found.qos[0].level
    u.retain = any(r.retain for r in found.retain)
    u.literals = [literal.value for literal in found.literals]
    u.json_in = _json_in(found)
    u.json_body = _json_body(found)
    _stages(found, u)
    u.limits = [(_kept(found.request, t.start, t.op), t.value) for t in found.thresholds
                if t.kind == "limit" and t.op in ("gt", "ge", "lt", "le")]
    u.residual = _residual(found)
    u.wants_errors = bool(_ERRORS.search(found.request))
    if found.decimals:
        u.decimals = found.decimals[0].places
    return u


_CHANGES_ONLY = re.compile(
    r"only (?:when|if) (?:it |the value |the state |that )?chang\w*|changes? only|"
    r"(?:hear|know|told|tell\w*) about changes|only (?:send|forward|publish|pass)\w* "
    r"(?:it |them )?(?:on|when|if)[^.]{0,30}chang\w*|on (?:every |each )?change|"
    r"report by exception|different from the last|same \w+(?: \w+)? again and again|"
    r"only (?:the )?changes|(?:skip|drop|suppress) (?:the )?(?:repeats|duplicates)",
    re.IGNORECASE)
_JOIN = re.compile(
    r"(?:windows?|blocks?|batch(?:es)?|chunks?) of (\d+)|"
    r"(?:collect|group|batch|bundle|join|gather|buffer)\w*\s+(?:the\s+)?(?:last\s+)?(\d+)\s+"
    r"(?:\w+\s+){0,2}?(?:and|into|as|then|,)|(\d+)\s+\w+\s+per\s+\w+.{0,120}?"
    r"(?:one|single) (?:json )?(?:array|list)",
    re.IGNORECASE | re.DOTALL)
_DROP = re.compile(r"\bdrop\w*|discard\w*|skip\w*|newest only|only the (?:newest|latest)",
                   re.IGNORECASE)


_ERRORS = re.compile(
    r"\berrors?\b|\bthrows?\b|\bfail\w*|garbage|\bjunk\b|dead[- ]?letter|\bdlq\b|"
    r"blows? up|exception|\bcatch\b|\b500\b", re.IGNORECASE)


def _stages(found: Extracted, u: Understanding) -> None:
    limits = [i for i in found.intervals if i.kind == "rate_limit"]
    if limits:
        u.rate_limit = (limits[0].count or 1, limits[0].seconds)
        tail = found.request[limits[0].start: limits[0].end + 80]
        u.queue_all = not _DROP.search(tail)
    u.changes_only = bool(_CHANGES_ONLY.search(found.request))
    deadbands = [t for t in found.thresholds if t.kind == "deadband"]
    if deadbands:
        u.deadband = deadbands[0].value
    join = _JOIN.search(found.request)
    if join:
        u.join_count = int(next(g for g in join.groups() if g))


_UNKNOWN = "<value>"
# "as json (ticket, gross, tare in kg)", "json: machine, reason, minutes"
_JSON_FIELDS = re.compile(
    r"\bjson\b\s*(?:with\s+|like\s+|:\s*|\(\s*|-\s*)*((?:[A-Za-z_]\w*[^,()\n]{0,12},\s*)+"
    r"[A-Za-z_]\w*)", re.IGNORECASE)
_TENSOR_NAME = r"(?:tensor\s+)?(?:name\s+)?(?:is\s+|=\s*|called\s+)?['\"‘’]?([A-Za-z_][\w.:]*)"
_INPUT_NAME = re.compile(r"\binput\s+" + _TENSOR_NAME, re.IGNORECASE)
_OUTPUT_NAME = re.compile(r"\boutput\s+" + _TENSOR_NAME, re.IGNORECASE)
_SHAPE = re.compile(r"shape\s*(?:of\s*|=\s*|is\s*)?[\[(]?\s*(\d+(?:\s*[,x×]\s*\d+)+)", re.I)
_NOT_NAMES = {"shape", "is", "the", "name", "tensor", "of", "a", "an", "and", "with", "as"}


def _onnx(request: str, path: str) -> OnnxModel:
    def name(pattern: re.Pattern[str]) -> str:
        for match in pattern.finditer(request):
            word = match.group(1).rstrip(".:")
            if word.lower() not in _NOT_NAMES and not word[0].isdigit():
                return word
        return ""

    shape = _SHAPE.search(request)
    dims = re.split(r"\s*[,x×]\s*", shape.group(1)) if shape else []
    dtype = "float64" if re.search(r"float ?64|double", request, re.IGNORECASE) else "float32"
    return OnnxModel(path, name(_INPUT_NAME), name(_OUTPUT_NAME), dtype, ",".join(dims))


# "<num>", "<epoch ms>", "<value>": a slot the flow fills, so the shape is what goes out.
_TEMPLATE_SLOT = re.compile(r"<[^<>]*(?:epoch|time|ms|now|num|value|val)[^<>]*>", re.I)


_DROPS = re.compile(r"\b(?:ignore|drop|discard|reject|skip|filter out)\w*\s+(?:all\s+|any\s+)?$",
                    re.IGNORECASE)
_OPPOSITE = {"gt": "le", "ge": "lt", "lt": "ge", "le": "gt"}


def _kept(request: str, start: int, op: str) -> str:
    """The comparison a message must pass: "ignore 0 / negative values" states the values
    to drop, so the kept ones are the opposite."""
    if _DROPS.search(request[max(0, start - 25):start]):
        return _OPPOSITE[op]
    return op


def in_error_sentence(request: str, at: int) -> bool:
    """Whether the text before `at`, back to the sentence start, is about errors: a shape
    there describes the error report ("all errors go to X as json {source, error}")."""
    start = max(request.rfind(". ", 0, at), request.rfind(";", 0, at), 0)
    return re.search(r"\berrors?\b|\bthrow|\bfail", request[start:at], re.I) is not None


def _json_in(found: Extracted) -> dict[str, object] | None:
    """The shape of the JSON that arrives: the first inline object not said to be output."""
    import json

    for shape in found.json_shapes:
        if shape.role == "out" or in_error_sentence(found.request, shape.start) \
                or _TEMPLATE_SLOT.search(shape.text):
            continue  # said to go out, the error report's, or a template to fill
        text = re.sub(r"<[^>]*>", "1", shape.text)
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        if shape.keys:
            # Only the field names are known: the values stand for "something".
            return {key: _UNKNOWN for key in shape.keys}
    listed = _JSON_FIELDS.search(found.request)
    if listed:
        keys = [re.split(r"\s", k.strip())[0] for k in listed.group(1).split(",")]
        keys = [k for k in keys if re.fullmatch(r"[A-Za-z_]\w*", k)]
        if len(keys) >= 2:
            return {key: _UNKNOWN for key in keys}
    return None


def _json_body(found: Extracted) -> str | None:
    import json

    for shape in found.json_shapes:
        try:
            value = json.loads(shape.text)
        except ValueError:
            continue
        if isinstance(value, dict) and "<" not in shape.text:
            return shape.text
    return None


def _residual(found: Extracted) -> str:
    chars = list(found.request)
    spans: list[tuple[int, int]] = []
    for name in ("endpoints", "unit_ids", "registers", "topics", "http_endpoints",
                 "http_requests", "node_ids", "intervals", "schedules", "qos", "retain",
                 "files", "status_codes"):
        spans += [(item.start, item.end) for item in getattr(found, name)]
    spans += [(t.start, t.end) for t in found.thresholds]
    for pattern in (_CHANGES_ONLY, _JOIN):
        spans += [(m.start(), m.end()) for m in pattern.finditer(found.request)]
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _has_other_source(found: Extracted) -> bool:
    return bool(found.registers or found.node_ids or found.http_endpoints or found.schedules
                or any(i.kind == "poll" for i in found.intervals))
