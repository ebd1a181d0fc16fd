"""runtime/jsonata_extras.py: Node-RED's additions to JSONata, as runtime/values.py uses
them for every node (docs/runtime-jsonata.md).

The $moment values were taken from Node-RED 4.1.15 itself (prepareJSONataExpression with
moment-timezone, TZ=UTC) and are compared with TZ=UTC here too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import jsonata_extras as extras
from tests.runtime.test_jsonata_differential import (
    CASES,
    KNOWN_GAPS,
    NO_INPUT,
    NODE_RED_FUNCTIONS,
    Case,
    agree,
    encode,
    json_copy,
    plumb_node,
    reference_results,
)


def wired(expression: str, node: Any, msg: Any,
          extra: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """The proposed wiring: a prepared expression, Node-RED's bindings, the round trip."""
    import jsonata

    from runtime.nodes.logic import context_get

    bindings = extras.node_red_bindings(lambda key: context_get(node, "flow", key),
                                        lambda key: context_get(node, "global", key),
                                        node.env_get)
    compiled = extras.prepare(jsonata.Jsonata(expression))
    return extras.evaluate(compiled, expression, msg, {**bindings, **(extra or {})})


@pytest.fixture
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test (the known values were taken with TZ=UTC)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- the wiring fixes every wrapper gap ---------------------------------------------------------
@pytest.mark.parametrize(("expr", "msg", "expected"),
                         [pytest.param(e, m, x, id=e) for e, m, x, _ in NODE_RED_FUNCTIONS])
def test_node_red_functions_through_the_proposed_wiring(expr: str, msg: dict[str, Any],
                                                        expected: Any) -> None:
    value, _ = wired(expr, plumb_node(), json_copy(msg))
    assert value == expected


@pytest.mark.parametrize(("expr", "value", "null"), [
    ("null", None, True), ("nothing", None, False), ("payload.n", None, True),
    ("payload.missing", None, False), ("[null]", [None], False), ("{'a': null}", {"a": None}, False),
])
def test_a_null_result_is_told_apart_from_undefined(expr: str, value: Any, null: bool) -> None:
    assert wired(expr, plumb_node(), {"payload": {"n": None}}) == (value, null)


def test_non_json_values_in_the_message_do_not_fail_other_expressions() -> None:
    class Request:  # what http in puts in msg.req
        url = "/x"

    msg = {"req": Request(), "payload": bytearray(b"ab"), "topic": "t"}
    assert wired("topic & '!'", plumb_node(), msg) == ("t!", False)
    assert wired("payload", plumb_node(), msg) == (b"ab", False)
    assert msg["payload"] == bytearray(b"ab")


def test_the_message_is_not_changed() -> None:
    msg = {"payload": {"a": None, "b": [None, 1]}}
    wired("payload ~> |$|{'c': 1}|", plumb_node(), msg)
    assert msg == {"payload": {"a": None, "b": [None, 1]}}


def test_results_are_plain_python_values() -> None:
    value, _ = wired("payload.{'v': [1, 2]}", plumb_node(), {"payload": [{}, {}]})
    assert value == [{"v": [1, 2]}, {"v": [1, 2]}]
    assert type(value) is list and type(value[0]["v"]) is list


@pytest.mark.parametrize(("expression", "uses"), [
    ("msg.payload", True), ("msg", True), ("$count(msg.payload)", True), ("(msg).a", True),
    ("msg['a']", True), ("payload.msg", False), ("'msg'", False), ('"msg" & payload', False),
    ("msgs", False), ("mymsg", False), ("msg_count", False), ("$msg", True),
])
def test_which_expressions_name_msg(expression: str, uses: bool) -> None:
    assert extras.uses_msg_prefix(expression) is uses


def test_to_and_from_jsonata_round_trip() -> None:
    from jsonata import utils

    value = {"a": None, "b": [1, None, {"c": None}], "d": b"x"}
    converted = extras.to_jsonata(value)
    assert converted["a"] is utils.Utils.NULL_VALUE
    assert converted["b"][1] is utils.Utils.NULL_VALUE
    assert converted["d"] == b"x"
    assert extras.from_jsonata(converted) == value
    assert extras.to_jsonata(None) is None


# -- the wiring against Node-RED's JSONata ------------------------------------------------------
@pytest.mark.nodered
def test_the_wiring_keeps_every_agreement_and_fixes_the_null_gap(node_red_root: Path) -> None:
    """Every case of the differential test through the wiring: what agreed still agrees,
    and the one gap that came from Plumb's None (a JSON null) is gone."""
    reference = reference_results(node_red_root)
    null_gap = "$each(payload.status, function($v, $k) { $k & '=' & $string($v) })"
    differing = []
    for case in CASES:
        differing += [case.expr] if not agree(_wired_answer(case), reference[case.expr]) else []
    assert set(differing) == set(KNOWN_GAPS) - {null_gap}


def _wired_answer(case: Case) -> dict[str, Any]:
    import jsonata
    from jsonata import utils

    try:
        compiled = extras.prepare(jsonata.Jsonata(case.expr))
        data = None if case.data() is NO_INPUT else json_copy(case.data())
        raw = compiled.evaluate(extras.to_jsonata(extras.evaluation_input(case.expr, data)),
                                case.bindings)
        value, null = extras.from_jsonata(raw), raw is utils.Utils.NULL_VALUE
        return {"value": None if null else encode(value)}
    except Exception as exc:
        return {"error": str(exc)}


# -- $moment ----------------------------------------------------------------------------------
MOMENT_MSG = {"payload": 5, "ts": 1700000000000, "ts2": 1710498030123, "d": "2024-03-15",
              "iso": "2024-03-15T10:20:30+02:00", "t": "15/03/2024 10:20"}
MOMENT_KNOWN: list[tuple[str, Any]] = [
    ("$moment(ts).utc().format()", "2023-11-14T22:13:20Z"),
    ("$moment(ts).format()", "2023-11-14T22:13:20+00:00"),
    ("$moment(ts).tz('Europe/Berlin').format()", "2023-11-14T23:13:20+01:00"),
    ("$moment(ts2).utc().format('YYYY-MM-DD HH:mm:ss.SSS')", "2024-03-15 10:20:30.123"),
    ("$moment(ts2).utc().format('YY M MM MMM MMMM D DD Do DDD DDDD')", "24 3 03 Mar March 15 15 15th 75 075"),
    ("$moment(ts2).utc().format('d do dd ddd dddd E e')", "5 5th Fr Fri Friday 5 5"),
    ("$moment(ts2).utc().format('w ww W WW Q Qo gggg GGGG')", "11 11 11 11 1 1st 2024 2024"),
    ("$moment(ts2).utc().format('H HH h hh k kk m mm s ss S SS SSS A a')", "10 10 10 10 10 10 20 20 30 30 1 12 123 AM am"),
    ("$moment(ts2).utc().format('X x')", "1710498030 1710498030123"),
    ("$moment(ts2).utc().format('Z ZZ z zz')", "+00:00 +0000 UTC Coordinated Universal Time"),
    ("$moment(ts2).tz('America/New_York').format('Z ZZ z zz')", "-04:00 -0400 EDT EDT"),
    ("$moment(ts2).tz('Asia/Kolkata').format('YYYY-MM-DD HH:mm Z')", "2024-03-15 15:50 +05:30"),
    ("$moment(ts2).tz('Europe/Berlin').format('z zz')", "CET CET"),
    ("$moment(ts2).format('z zz')", " "),
    ("$moment(ts2).utc().format('[Today is] dddd [at] h:mm a')", "Today is Friday at 10:20 am"),
    ("$moment(ts2).utc().format('LT LTS')", "10:20 AM 10:20:30 AM"),
    ("$moment(ts2).utc().format('L LL')", "03/15/2024 March 15, 2024"),
    ("$moment(ts2).utc().format('LLLL')", "Friday, March 15, 2024 10:20 AM"),
    ("$moment(ts2).utc().format('l ll lll llll')", "3/15/2024 Mar 15, 2024 Mar 15, 2024 10:20 AM Fri, Mar 15, 2024 10:20 AM"),
    ("$moment(ts2).utc().format('Mo Do DDDo wo Wo')", "3rd 15th 75th 11th 11th"),
    ("$moment(1710460800000).utc().format('hh:mm a k')", "12:00 am 24"),
    ("$moment(1704067200000).utc().format('w ww W gggg GGGG')", "1 01 1 2024 2024"),
    ("$moment(1735603200000).utc().format('w W gggg GGGG')", "1 1 2025 2025"),
    ("$moment(ts2).valueOf()", 1710498030123),
    ("$moment(ts2).unix()", 1710498030),
    ("$moment(ts2).toISOString()", "2024-03-15T10:20:30.123Z"),
    ("$moment(ts2).tz('Europe/Berlin').toISOString()", "2024-03-15T10:20:30.123Z"),
    ("$moment(ts2)", "2024-03-15T10:20:30.123Z"),
    ("$moment(ts2).utc().add(1, 'day').format()", "2024-03-16T10:20:30Z"),
    ("$moment(ts2).utc().add(1, 'M').format()", "2024-04-15T10:20:30Z"),
    ("$moment(ts2).utc().add(1, 'y').format()", "2025-03-15T10:20:30Z"),
    ("$moment(ts2).utc().add(3, 'w').format()", "2024-04-05T10:20:30Z"),
    ("$moment(ts2).utc().add(90, 'minutes').format()", "2024-03-15T11:50:30Z"),
    ("$moment(ts2).utc().add(500, 'ms').format('HH:mm:ss.SSS')", "10:20:30.623"),
    ("$moment(ts2).utc().add(1, 'Q').format()", "2024-06-15T10:20:30Z"),
    ("$moment(ts2).utc().subtract(15, 'days').format()", "2024-02-29T10:20:30Z"),
    ("$moment(1706659200000).utc().add(1, 'month').format('YYYY-MM-DD')", "2024-02-29"),
    ("$moment(1711803600000).tz('Europe/Berlin').add(1, 'day').format()", "2024-03-31T14:00:00+02:00"),
    ("$moment(1711803600000).tz('Europe/Berlin').add(24, 'hours').format()", "2024-03-31T15:00:00+02:00"),
    ("$moment(ts2).utc().startOf('day').format()", "2024-03-15T00:00:00Z"),
    ("$moment(ts2).utc().startOf('month').format()", "2024-03-01T00:00:00Z"),
    ("$moment(ts2).utc().startOf('year').format()", "2024-01-01T00:00:00Z"),
    ("$moment(ts2).utc().startOf('week').format()", "2024-03-10T00:00:00Z"),
    ("$moment(ts2).utc().startOf('isoWeek').format()", "2024-03-11T00:00:00Z"),
    ("$moment(ts2).utc().endOf('month').format('YYYY-MM-DD HH:mm:ss.SSS')", "2024-03-31 23:59:59.999"),
    ("$moment(ts2).tz('Europe/Berlin').startOf('day').valueOf()", 1710457200000),
    ("$moment(d).format()", "2024-03-15T00:00:00+00:00"),
    ("$moment(iso).utc().format()", "2024-03-15T08:20:30Z"),
    ("$moment('2024-03-15 10:20').format()", "2024-03-15T10:20:00+00:00"),
    ("$moment('20240315').format()", "2024-03-15T00:00:00+00:00"),
    ("$moment('2024-03-15T10:20:30.5').format('SSS')", "500"),
    ("$moment(t, 'DD/MM/YYYY HH:mm').format()", "2024-03-15T10:20:00+00:00"),
    ("$moment('March 5 2024 7:05 pm', 'MMMM D YYYY h:mm a').format()", "2024-03-05T19:05:00+00:00"),
    ("$moment(ts2, 'x').format()", "2024-03-15T10:20:30+00:00"),
    ("$moment('nonsense', 'YYYY-MM-DD').format()", "Invalid date"),
    ("$moment('nonsense', 'YYYY-MM-DD').isValid()", False),
    ("$moment(ts2).utc().month()", 2),
    ("$moment(ts2).utc().day()", 5),
    ("$moment(ts2).utc().millisecond()", 123),
    ("$moment(ts2).diff($moment($$.ts), 'days')", 121),
    ("$moment(ts).diff($moment($$.ts2), 'hours')", -2916),
    ("$moment(ts2).diff($moment($$.ts), 'months')", 4),
    ("$moment(ts2).diff($moment($$.ts), 'years')", 0),
    ("$moment(ts2).diff($moment($$.ts), 'days', true)", 121.50497827546296),
    ("$moment(ts2).diff($$.ts, 'days')", 121),
    ("$moment(ts2).isAfter($moment($$.ts))", True),
    ("$moment(ts2).tz('Nowhere/City').format()", "2024-03-15T10:20:30+00:00"),
    ("$type($moment())", "object"),
]


@pytest.mark.usefixtures("utc_local_time")
@pytest.mark.parametrize(("expr", "expected"), [pytest.param(e, x, id=e) for e, x in MOMENT_KNOWN])
def test_moment_matches_node_red(expr: str, expected: Any) -> None:
    value, _ = wired(expr, plumb_node(), dict(MOMENT_MSG))
    if isinstance(expected, float):
        assert value == pytest.approx(expected, rel=1e-12)
    else:
        assert value == expected


def test_an_unknown_moment_method_is_not_a_function() -> None:
    with pytest.raises(Exception, match="non-function"):
        wired("$moment().foo()", plumb_node(), {})


def test_moment_now_is_now() -> None:
    before = int(time.time() * 1000)
    value, _ = wired("$moment().valueOf()", plumb_node(), {})
    assert before <= value <= int(time.time() * 1000)


def test_the_local_zone_is_the_process_zone(utc_local_time: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    assert os.environ["TZ"] == "Asia/Kolkata"
    value, _ = wired("$moment(1700000000000).format()", plumb_node(), {})
    assert value == "2023-11-15T03:43:20+05:30"
