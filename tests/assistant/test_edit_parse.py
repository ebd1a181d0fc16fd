"""The small fact extraction the edit interpretation relies on."""

from __future__ import annotations

import pytest

from assistant.edit.parse import extract, message_text, register, thresholds


def test_intervals_new_and_old() -> None:
    facts = extract("make it every 10 sec instead of every 5")
    assert facts.new_interval is not None and facts.new_interval.seconds == 10
    assert facts.old_interval is not None and facts.old_interval.seconds == 5
    facts = extract("change from every 2 min to every 30 s")
    assert facts.new_interval is not None and facts.new_interval.seconds == 30
    assert facts.old_interval is not None and facts.old_interval.seconds == 120
    assert extract("poll once a minute").new_interval.seconds == 60  # type: ignore[union-attr]


def test_topics_urls_paths_hosts() -> None:
    facts = extract(
        "publish plant/line2/speed to http://10.20.8.50:3000/api/events and /var/log/x.csv, "
        "not dash/line2/speed anymore; broker 10.20.0.5:1884, m/min and on/off aside"
    )
    assert facts.topics == ["plant/line2/speed", "dash/line2/speed"]
    assert facts.urls == ["http://10.20.8.50:3000/api/events"]
    assert facts.files == ["/var/log/x.csv"] and facts.endpoints == []
    assert facts.hosts == [("10.20.0.5", 1884)]
    assert extract("add an http GET /api/t3/level").endpoints == ["/api/t3/level"]
    assert extract("use broker mqtt.plant.local").hosts == [("mqtt.plant.local", None)]


@pytest.mark.parametrize(
    ("text", "table", "address"),
    [
        ("holding reg 40012", "HoldingRegister", 11),
        ("holding register 100", "HoldingRegister", 100),
        ("input register 30005", "InputRegister", 4),
        ("HR 2", "HoldingRegister", 2),
        ("register 400101", "HoldingRegister", 100),
        ("coil 00017", "Coil", 16),
        ("discrete input 10003", "Input", 2),
        ("read 40001", "HoldingRegister", 0),
    ],
)
def test_registers(text: str, table: str, address: int) -> None:
    found = register(text)
    assert found is not None and (found.table, found.address) == (table, address)


def test_unit_qos_retain_quantity() -> None:
    facts = extract("unit 3, 2 registers, publish retained with qos 1")
    assert (facts.unit_id, facts.quantity, facts.qos, facts.retain) == (3, 2, 1, True)
    assert extract("don't retain it").retain is False


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("goes over 80 °C", "gt", 80),
        ("if pressure drops below 2.5 bar", "lt", 2.5),
        ("> 100", "gt", 100),
        ("at least 10", "gte", 10),
        ("5 or more", "gte", 5),
        ("no more than 7", "lte", 7),
    ],
)
def test_thresholds(text: str, op: str, value: float) -> None:
    found = thresholds(text)
    assert found and (found[0].op, found[0].value) == (op, value)


def test_times_are_not_thresholds() -> None:
    assert thresholds("if nothing arrives for more than 10 s") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("send the text HIGH OIL TEMP to plant/x/alarm", "HIGH OIL TEMP"),
        ("publish 'Tank full' to plant/t1/alarm", "Tank full"),
        ('publish "LOW" on plant/p/alarm', "LOW"),
        ("send an alarm to plant/x/alarm", None),
    ],
)
def test_message_text(text: str, message: str | None) -> None:
    assert message_text(text, ["plant/x/alarm"]) == message


def test_json_example() -> None:
    assert extract('as json like {"level": 47.3}').json_example == {"level": 47.3}
