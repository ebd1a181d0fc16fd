"""diff_summary: one human line per change."""

from __future__ import annotations

from collections.abc import Callable

from assistant.edit import apply_edit, diff_summary, ops
from assistant.edit.nodes import make_node
from flowschema import default_catalog
from tests.assistant.test_edit_ops import chain_flow

CATALOG = default_catalog()
SUB, SCALE, PUB = "1111111111111111", "2222222222222222", "3333333333333333"


def _fixed(node_id: str) -> Callable[[], str]:
    return lambda: node_id


def test_no_change_no_lines() -> None:
    assert diff_summary(chain_flow(), chain_flow()) == []


def test_changed_property() -> None:
    new = ops.set_property(chain_flow(), PUB, "topic", "plant/m1/temperature")
    assert diff_summary(chain_flow(), new) == [
        "changed mqtt out 'm1 temp' topic: plant/m1/temp -> plant/m1/temperature"
    ]
    new = ops.set_property(chain_flow(), PUB, "qos", "1")
    assert diff_summary(chain_flow(), new) == ["changed mqtt out 'm1 temp' qos: \"\" -> 1"]


def test_code_changes_are_not_dumped() -> None:
    new = ops.set_property(chain_flow(), SCALE, "func", "return null;\n")
    assert diff_summary(chain_flow(), new) == ["changed function 'x10 -> C' func (code rewritten)"]


def test_added_after_and_between() -> None:
    switch = make_node("switch", CATALOG, _fixed("a1" * 8), name="temp > 80",
                       rules=[{"t": "gt", "v": "80", "vt": "num"}])  # fmt: skip
    new = ops.add_node(chain_flow(), switch, after=SUB)
    assert diff_summary(chain_flow(), new) == [
        "added switch 'temp > 80' (gt 80) after 'plant/m1/temp_raw'"
    ]
    rbe = make_node("rbe", CATALOG, _fixed("b1" * 8), name="only changes")
    new = ops.insert_between(chain_flow(), SCALE, PUB, rbe)
    assert diff_summary(chain_flow(), new) == [
        "added rbe 'only changes' between 'x10 -> C' and 'm1 temp'"
    ]


def test_removed_and_rewired() -> None:
    new = ops.remove_node(chain_flow(), SCALE)
    assert diff_summary(chain_flow(), new) == [
        "removed function 'x10 -> C'",
        "rewired 'plant/m1/temp_raw': now -> 'm1 temp'",
    ]
    new = ops.unwire(chain_flow(), SCALE, PUB)
    assert diff_summary(chain_flow(), new) == ["rewired 'x10 -> C': no longer -> 'm1 temp'"]


def test_replaced_source() -> None:
    result = apply_edit(
        chain_flow(), "read holding register 40012 from 10.30.2.15 every 2 s instead of mqtt"
    )
    assert result.summary[0].startswith(
        "replaced mqtt in 'plant/m1/temp_raw' with modbus-read 'HR 40012' (dataType "
        "HoldingRegister, adr 11"
    )
    assert (
        "added modbus-client 'PLC 10.30.2.15' (tcpHost 10.30.2.15, tcpPort 502)" in result.summary
    )
    assert any(line.startswith("note: register 40012") for line in result.summary)


def test_summary_of_an_alarm_edit() -> None:
    result = apply_edit(chain_flow(), "when the temp goes over 80 send HIGH TEMP to plant/m1/alarm")
    assert result.summary == [
        "added switch '> 80' (gt 80) after 'x10 -> C'",
        "added change 'alarm text' after '> 80'",
        "added mqtt out 'plant/m1/alarm' (topic plant/m1/alarm) after 'alarm text'",
    ]
