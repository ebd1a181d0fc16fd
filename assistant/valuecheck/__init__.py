"""Check that every value the request states sits in the right place of a generated flow.

`check_values(extract(request), flow)` returns one `Mismatch` per stated value that the flow
does not carry where a Node-RED node would use it: a topic the request reads from must be
an `mqtt in` filter, a holding register must be covered by a modbus read or write of the
HoldingRegister table, an interval must be an inject `repeat`, a modbus-read `rate` or an
OpcUa-Client `time`, and so on. Values a flow may legitimately compute at run time (a topic
set as msg.topic in a function, a URL built from the message) are searched for in the
code of the nodes upstream; found there, they pass. `severity` is "error" when the value is
clearly missing or wrong and "warning" when the check can only guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.extract import Endpoint, Extracted
from assistant.valuecheck.content import (
    check_decimals,
    check_file,
    check_http,
    check_literals,
    check_thresholds,
    check_triggers,
)
from assistant.valuecheck.devices import (
    check_modbus_device,
    check_node_ids,
    check_opcua_endpoint,
    check_other_host,
    check_register,
    check_scales,
)
from assistant.valuecheck.flow import Flow, Mismatch
from assistant.valuecheck.mqtt import check_broker, check_mqtt_options, check_topic
from assistant.valuecheck.timing import check_interval, check_schedules, cron_sets

__all__ = ["Mismatch", "check_values", "cron_sets"]


def check_values(extracted: Extracted, flow: list[dict[str, Any]]) -> list[Mismatch]:
    """Every stated value that the flow does not carry in the right kind of place."""
    f = Flow(flow)
    out: list[Mismatch] = []
    endpoint_checks: dict[str, Callable[[Endpoint, Flow], list[Mismatch]]] = {
        "broker": check_broker,
        "modbus": check_modbus_device,
        "opcua": check_opcua_endpoint,
    }
    for e in extracted.endpoints:
        out += endpoint_checks.get(e.role, check_other_host)(e, f)
    for t in extracted.topics:
        out += check_topic(t, f)
    for r in extracted.registers:
        out += check_register(r, f) + check_scales(r, f)
    out += check_node_ids(extracted, f)
    out += check_http(extracted, f)
    for i in extracted.intervals:
        out += check_interval(i, f)
    out += check_schedules(extracted, f)
    out += check_thresholds(extracted, f)
    out += check_decimals(extracted, f)
    out += check_mqtt_options(extracted, f)
    for p in extracted.files:
        out += check_file(p, f)
    out += check_literals(extracted, f)
    out += check_triggers(extracted, f)
    return out
