"""Matchers, paths, rewriting and variants: the benchmark's pure parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.flows.matching import (
    interval_seconds,
    json_subset,
    loosely_equal,
    matching_ids,
    node_matches,
    path_exists,
    successors,
)
from evals.flows.rewrite import Targets, point_at_harness


@pytest.mark.parametrize(
    ("actual", "expected", "equal"),
    [
        ("100", 100, True),
        (100.0, "100", True),
        ("100", 101, False),
        (True, "true", True),
        ("false", False, True),
        ("True", True, True),
        (1, True, False),
        (" plant/x ", "plant/x", True),
        ("plant/x", "plant/y", False),
        ("ns=2;s=A", {"regex": r"^ns=2;s=A$"}, True),
        ("Line1", {"contains": "line"}, True),
        ("x", {"any": ["y", "x"]}, True),
        ({"a": 1}, {"a": "1"}, True),
        ([1, 2], [1], False),
        ("21.46", {"near": 21.5, "tol": 0.05}, True),
        ([512], 512, False),
        ({"level": 40}, 40, False),
        (21.4, {"near": 21.5, "tol": 0.05}, False),
    ],
)
def test_loose_equality(actual: object, expected: object, equal: bool) -> None:
    assert loosely_equal(actual, expected) is equal


def test_json_subset() -> None:
    assert json_subset({"a": 1, "b": {"c": "2", "d": 3}}, {"b": {"c": 2}})
    assert not json_subset({"a": 1}, {"a": 1, "b": 2})
    assert not json_subset([1, 2], [1])


@pytest.mark.parametrize(
    ("node", "seconds"),
    [
        ({"type": "inject", "repeat": "5"}, 5),
        ({"type": "inject", "repeat": ""}, None),
        ({"type": "modbus-read", "rate": "500", "rateUnit": "ms"}, 0.5),
        ({"type": "modbus-read", "rate": "2", "rateUnit": "m"}, 120),
        ({"type": "OpcUa-Client", "time": 10, "timeUnit": "s"}, 10),
        ({"type": "debug"}, None),
    ],
)
def test_interval(node: dict, seconds: float | None) -> None:  # type: ignore[type-arg]
    assert interval_seconds(node) == seconds


FLOW = [
    {"id": "i", "type": "inject", "repeat": "5", "wires": [["f"]]},
    {"id": "f", "type": "function", "wires": [["lo"], []]},
    {"id": "lo", "type": "link out", "links": ["li"]},
    {"id": "li", "type": "link in", "wires": [["m"]]},
    {"id": "m", "type": "mqtt out", "topic": "plant/a", "wires": []},
    {"id": "d", "type": "debug", "wires": []},
]


def test_matchers_and_paths() -> None:
    poll = {
        "any": [{"type": ["modbus-read"], "interval_s": 5}, {"type": ["inject"], "interval_s": 5}]
    }
    assert matching_ids(FLOW, poll) == ["i"]
    assert matching_ids(FLOW, {"type": ["mqtt out"], "props": {"topic": "plant/a"}}) == ["m"]
    assert matching_ids(FLOW, {"type": ["mqtt out"], "props": {"topic": "plant/b"}}) == []
    assert not node_matches(FLOW[4], {"type": ["mqtt out"], "props": {"qos": "1"}})
    graph = successors(FLOW)
    assert path_exists(graph, ["i"], ["m"])  # through the link pair
    assert not path_exists(graph, ["i"], ["d"])
    assert not path_exists(graph, ["m"], ["i"])


def test_rewrite_points_everything_at_the_harness(tmp_path: Path) -> None:
    flow = [
        {
            "id": "b",
            "type": "mqtt-broker",
            "broker": "10.1.2.3",
            "port": 8883,
            "usetls": True,
            "tls": "t1",
            "credentials": {"user": "u", "password": "p"},
        },
        {"id": "c", "type": "modbus-client", "tcpHost": "192.168.1.10", "tcpPort": 502},
        {"id": "e", "type": "OpcUa-Endpoint", "endpoint": "opc.tcp://plc:4840", "login": True},
        {"id": "h", "type": "http request", "url": "https://mes.local:8443/api/orders?x=1"},
        {"id": "h2", "type": "http request", "url": "http://{{host}}/api"},
        {"id": "f", "type": "file", "filename": "/var/log/line1.csv", "filenameType": "str"},
        {"id": "w", "type": "watch", "files": "/data/inbox"},
    ]
    targets = Targets(1111, 2222, "opc.tcp://127.0.0.1:3333", 4444, tmp_path, 5555)
    out = {n["id"]: n for n in point_at_harness(flow, targets)}
    assert (out["b"]["broker"], out["b"]["port"], out["b"]["usetls"]) == ("127.0.0.1", 1111, False)
    assert "credentials" not in out["b"]
    assert (out["c"]["tcpHost"], out["c"]["tcpPort"]) == ("127.0.0.1", 2222)
    assert out["e"]["endpoint"] == "opc.tcp://127.0.0.1:3333" and out["e"]["login"] is False
    assert out["h"]["url"] == "http://127.0.0.1:4444/api/orders?x=1"
    assert out["h2"]["url"] == "http://{{host}}/api"
    assert out["f"]["filename"] == str(tmp_path / "var/log/line1.csv")
    assert (tmp_path / "var/log").is_dir() and (tmp_path / "data/inbox").is_dir()
    assert flow[0]["broker"] == "10.1.2.3", "the answer itself is left untouched"
