"""Deterministic extraction of every concrete value a request states.

    >>> x = extract("every 5 s read holding register 100 from the PLC at 192.168.1.10 "
    ...             "and publish it to MQTT plant/line1/temp")
    >>> x.registers[0].address, x.topics[0].role, x.intervals[0].seconds
    (100, 'out', 5.0)

The passes run in a fixed order and each claims the text it explains, so a number inside a
URL is not read as a threshold and a register is not read as a status code.
"""

from __future__ import annotations

from assistant.extract.content import find_json_shapes, find_literals, find_node_ids
from assistant.extract.modbus import find_registers
from assistant.extract.model import (
    Decimals,
    Endpoint,
    Extracted,
    FilePath,
    HttpEndpoint,
    HttpRequest,
    Interval,
    Item,
    JsonShape,
    Literal,
    NodeId,
    Qos,
    Register,
    Retain,
    Scale,
    Schedule,
    StatusCode,
    Threshold,
    Topic,
    Trigger,
    UnitId,
)
from assistant.extract.network import (
    attach_unit_ids,
    find_endpoints,
    find_http,
    find_status_codes,
    find_unit_ids,
    find_urls,
)
from assistant.extract.text import Claims, Sentences
from assistant.extract.timing import find_intervals, find_schedules
from assistant.extract.topics import find_topics
from assistant.extract.values import (
    find_decimals,
    find_files,
    find_qos_retain,
    find_thresholds,
    find_triggers,
)

__all__ = [
    "Decimals", "Endpoint", "Extracted", "FilePath", "HttpEndpoint", "HttpRequest", "Interval",
    "Item", "JsonShape", "Literal", "NodeId", "Qos", "Register", "Retain", "Scale", "Schedule",
    "StatusCode", "Threshold", "Topic", "Trigger", "UnitId", "extract"
]


def extract(request: str) -> Extracted:
    """Pull every concrete value out of a request; no model, no I/O."""
    text = request
    sentences = Sentences(text)
    claims = Claims()
    urls = find_urls(text, claims)
    node_ids = find_node_ids(text, sentences, claims)
    json_shapes = find_json_shapes(text, sentences, claims)
    http_endpoints, http_requests = find_http(text, sentences, claims, urls)
    literals = find_literals(text, claims)
    topics = find_topics(text, sentences, claims)
    files = find_files(text, sentences, claims)
    endpoints = find_endpoints(text, sentences, claims, urls)
    unit_ids = find_unit_ids(text, claims, endpoints)
    registers = find_registers(text, sentences, claims, endpoints)
    schedules = find_schedules(text, sentences, claims)
    intervals = find_intervals(text, sentences, claims)
    status_codes = find_status_codes(text, claims)
    decimals = find_decimals(text, claims)
    qos, retain = find_qos_retain(text, sentences, claims, topics)
    thresholds = find_thresholds(text, claims)
    return Extracted(
        request=request,
        endpoints=tuple(attach_unit_ids(endpoints, unit_ids)),
        unit_ids=tuple(unit_ids),
        registers=tuple(registers),
        topics=tuple(topics),
        http_endpoints=tuple(http_endpoints),
        http_requests=tuple(http_requests),
        status_codes=tuple(status_codes),
        node_ids=tuple(node_ids),
        intervals=tuple(intervals),
        schedules=tuple(schedules),
        thresholds=tuple(thresholds),
        decimals=tuple(decimals),
        qos=tuple(qos),
        retain=tuple(retain),
        files=tuple(files),
        literals=tuple(literals),
        json_shapes=tuple(json_shapes),
        triggers=tuple(find_triggers(text)),
    )
