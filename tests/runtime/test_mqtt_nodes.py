"""MQTT nodes against a real mosquitto broker on a free loopback port: mqtt in (payload
types, wildcards, QoS, retain), mqtt out (serialisation, retain, msg.topic), a broker restart,
a broker that is not there, and the payload rules on their own."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import runtime.nodes.mqtt  # noqa: F401  (registers the MQTT node types)
from runtime.engine import FlowRuntime
from runtime.nodes.mqtt import MqttBroker, PayloadError, decode_payload, encode_payload
from tests.runtime.conftest import debug_values, node, run_flow

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed")
DEADLINE = 15.0  # seconds: generous, the machine may be busy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """A mosquitto process on 127.0.0.1:port that can be stopped and started again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             "persistence false\nsys_interval 1\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        deadline = time.monotonic() + DEADLINE
        while True:  # the port may linger a moment after a stop
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while self.proc.poll() is None and not port_open(self.port):
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not open its port")
                time.sleep(0.05)
            if self.proc.poll() is None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto failed: {self.proc.stderr.read()!r}"
                                   if self.proc.stderr else "mosquitto failed")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Peer:
    """A separate paho client: subscribes to `topics`, records what arrives, publishes."""

    def __init__(self, port: int, topics: tuple[str, ...] = (),
                 protocol: MQTTProtocolVersion = mqtt.MQTTv311) -> None:
        self.topics = topics
        self.received: list[tuple[str, bytes, int, bool]] = []
        self.properties: list[Any] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"peer_{uuid.uuid4().hex[:8]}", protocol=protocol)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if topics:
            assert self._ready.wait(DEADLINE), "the peer could not subscribe"
        else:
            deadline = time.monotonic() + DEADLINE
            while not self.client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.02)

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        for topic in self.topics:
            client.subscribe(topic, 2)

    def _on_message(self, client: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((m.topic, bytes(m.payload), m.qos, bool(m.retain)))
            self.properties.append(m.properties)

    def got(self) -> list[tuple[str, bytes, int, bool]]:
        with self._lock:
            return list(self.received)

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
                properties: Properties | None = None) -> None:
        self.client.publish(topic, payload, qos, retain, properties).wait_for_publish(DEADLINE)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(check: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def broker_node(port: int, **props: Any) -> dict[str, Any]:
    return {"id": "b", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(port),
            "clientid": "", "protocolVersion": 4, "keepalive": 60, "cleansession": True,
            **props}


def mqtt_in(id_: str, topic: str, target: str, datatype: str = "auto-detect",
            qos: str = "2") -> dict[str, Any]:
    return node(id_, "mqtt in", [[target]], topic=topic, qos=qos, datatype=datatype, broker="b")


def statuses(rt: FlowRuntime, node_id: str) -> list[str]:
    return [e["status"].get("text", "") for e in rt.events
            if e["kind"] == "status" and e["id"] == node_id]


def subscribed(rt: FlowRuntime, *topics: str) -> Callable[[], bool]:
    broker = rt.nodes["b"]
    assert isinstance(broker, MqttBroker)
    return lambda: set(topics) <= broker.subscribed


def connected(rt: FlowRuntime, node_id: str) -> Callable[[], bool]:
    return lambda: rt.nodes[node_id].current_status.get("text") == "connected"


def logs(rt: FlowRuntime, level: str) -> list[str]:
    return [e["text"] for e in rt.events if e["kind"] == "log" and e["level"] == level]


# -- mqtt in ---------------------------------------------------------------------------------
def test_mqtt_in_auto_detect_gives_strings_parsed_json_numbers_and_bytes(mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port)

    async def act(rt: FlowRuntime) -> None:
        assert await until(subscribed(rt, "t/a"))
        for payload in ("hello", '{"a": 1, "b": [true, null]}', "42", "-2.5", "[1,2]",
                        b"\xff\x00\x01", "", "NaN"):
            peer.publish("t/a", payload, qos=1)
        assert await until(lambda: len(debug_values(rt, "d")) >= 8)

    try:
        rt = run_flow([broker_node(mosquitto.port), mqtt_in("in", "t/a", "d"),
                       node("d", "debug", complete="true")], act, settle=0)
    finally:
        peer.close()
    msgs = debug_values(rt, "d")
    assert [m["payload"] for m in msgs] == ["hello", {"a": 1, "b": [True, None]}, 42, -2.5,
                                            [1, 2], b"\xff\x00\x01", "", "NaN"]
    assert {(m["topic"], m["qos"], m["retain"]) for m in msgs} == {("t/a", 1, False)}
    assert statuses(rt, "in")[-1] == "connected"


def test_mqtt_in_output_types_and_bad_json_goes_to_catch(mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port)
    kinds = ("utf8", "json", "buffer", "base64", "auto")

    async def act(rt: FlowRuntime) -> None:
        assert await until(subscribed(rt, "t/x"))
        peer.publish("t/x", '{"x": 2}', qos=1)
        assert await until(lambda: all(debug_values(rt, f"d_{k}") for k in kinds))
        peer.publish("t/x", "not json", qos=1)
        assert await until(lambda: bool(debug_values(rt, "caught")))

    flow = [broker_node(mosquitto.port), node("c", "catch", [["caught"]], scope=["in_json"]),
            node("caught", "debug", complete="true")]
    for kind in kinds:
        flow += [mqtt_in(f"in_{kind}", "t/x", f"d_{kind}", datatype=kind),
                 node(f"d_{kind}", "debug")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        peer.close()
    first = {kind: debug_values(rt, f"d_{kind}")[0] for kind in kinds}
    assert first == {"utf8": '{"x": 2}', "json": {"x": 2}, "buffer": b'{"x": 2}',
                     "base64": "eyJ4IjogMn0=", "auto": '{"x": 2}'}
    assert debug_values(rt, "d_json") == [{"x": 2}]  # the bad one was not sent on
    caught = debug_values(rt, "caught")[0]
    assert caught["error"]["message"] == "Failed to parse JSON string"
    assert caught["payload"] == b"not json" and caught["topic"] == "t/x"


def test_mqtt_in_wildcards_match_only_their_topics(mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port)
    topics = ["s/k/temp", "s/k/hum", "s/a/b/temp", "other/k/temp", "s"]

    async def act(rt: FlowRuntime) -> None:
        assert await until(subscribed(rt, "s/+/temp", "s/#"))
        for topic in topics:
            peer.publish(topic, topic, qos=1)
        peer.publish("done", "end", qos=1)
        assert await until(lambda: bool(debug_values(rt, "end")))
        assert await until(lambda: len(debug_values(rt, "all")) >= 4)

    flow = [broker_node(mosquitto.port), mqtt_in("plus", "s/+/temp", "one"),
            mqtt_in("hash", "s/#", "all"), mqtt_in("stop", "done", "end"),
            node("one", "debug", complete="topic"), node("all", "debug", complete="topic"),
            node("end", "debug")]
    try:
        rt = run_flow(flow, act, settle=0.1)
    finally:
        peer.close()
    assert debug_values(rt, "one") == ["s/k/temp"]
    assert sorted(debug_values(rt, "all")) == sorted(["s/k/temp", "s/k/hum", "s/a/b/temp", "s"])


def test_mqtt_in_reports_the_delivered_qos_and_the_retain_flag(mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port)
    peer.publish("r/state", "kept", qos=1, retain=True)

    async def act(rt: FlowRuntime) -> None:
        assert await until(subscribed(rt, "q0/#", "q2/#", "r/state"))
        assert await until(lambda: bool(debug_values(rt, "kept")))
        for topic in ("q0/x", "q2/x"):
            peer.publish(topic, "two", qos=2)
            peer.publish(topic, "one", qos=1)
            peer.publish(topic, "zero", qos=0)
        assert await until(lambda: len(debug_values(rt, "q0")) >= 3
                           and len(debug_values(rt, "q2")) >= 3)

    flow = [broker_node(mosquitto.port), mqtt_in("in0", "q0/#", "q0", qos="0"),
            node("q0", "debug", complete="true"), mqtt_in("in2", "q2/#", "q2", qos="2"),
            node("q2", "debug", complete="true"), mqtt_in("inr", "r/state", "kept"),
            node("kept", "debug", complete="true")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        peer.close()
    # The broker delivers at the lower of the publish and the subscription QoS (the order
    # across QoS levels is not guaranteed: a QoS 2 message is handed over at PUBREL).
    assert sorted((m["payload"], m["qos"]) for m in debug_values(rt, "q2")) == [
        ("one", 1), ("two", 2), ("zero", 0)]
    assert sorted((m["payload"], m["qos"]) for m in debug_values(rt, "q0")) == [
        ("one", 0), ("two", 0), ("zero", 0)]
    assert all(m["retain"] is False for m in debug_values(rt, "q2"))
    kept = debug_values(rt, "kept")
    assert [(m["payload"], m["retain"]) for m in kept] == [("kept", True)]


# -- mqtt out --------------------------------------------------------------------------------
def test_mqtt_out_serialises_payloads_and_uses_msg_topic_when_its_own_is_empty(
        mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port, ("out/#",))
    sent: list[Any] = [{"a": 1, "s": "é"}, [1, "x"], 7, 3.5, 2.0, True, b"\x00\x01", None, "text"]

    async def act(rt: FlowRuntime) -> None:
        assert await until(connected(rt, "fixed"))
        for payload in sent:
            rt.inject("in_fixed", {"payload": payload, "topic": "ignored"})
        rt.inject("in_free", {"payload": "by msg", "topic": "out/from/msg", "qos": 2})
        rt.inject("in_free", {"payload": "no topic"})
        rt.inject("in_free", {"topic": "out/no/payload"})
        assert await until(lambda: len(peer.got()) >= len(sent) + 1)

    flow = [broker_node(mosquitto.port),
            node("in_fixed", "link in", [["fixed"]]),
            node("fixed", "mqtt out", topic="out/fixed", qos="1", retain="", broker="b"),
            node("in_free", "link in", [["free"]]),
            node("free", "mqtt out", topic="", qos="", retain="", broker="b")]
    try:
        rt = run_flow(flow, act, settle=0.3)
    finally:
        peer.close()
    got = peer.got()
    fixed = [payload for topic, payload, _, _ in got if topic == "out/fixed"]
    assert fixed == ['{"a":1,"s":"é"}'.encode(), b'[1,"x"]', b"7", b"3.5", b"2", b"true",
                     b"\x00\x01", b"", b"text"]
    assert {qos for topic, _, qos, _ in got if topic == "out/fixed"} == {1}
    assert [(t, p, q) for t, p, q, _ in got if t != "out/fixed"] == [("out/from/msg", b"by msg", 2)]
    assert "Invalid topic specified" in logs(rt, "warn")


def test_mqtt_out_retain_from_the_node_or_else_from_the_message(mosquitto: Mosquitto) -> None:
    async def act(rt: FlowRuntime) -> None:
        assert await until(connected(rt, "keep"))
        rt.inject("in_keep", {"payload": "node says keep", "retain": False})
        rt.inject("in_msg", {"payload": "msg says keep", "topic": "ret/msg", "retain": True})
        rt.inject("in_never", {"payload": "node says no", "retain": True})
        rt.inject("in_msg", {"payload": "msg says no", "topic": "ret/plain"})
        await asyncio.sleep(0.3)

    flow = [broker_node(mosquitto.port),
            node("in_keep", "link in", [["keep"]]),
            node("keep", "mqtt out", topic="ret/node", qos="1", retain="true", broker="b"),
            node("in_msg", "link in", [["frommsg"]]),
            node("frommsg", "mqtt out", topic="", qos="1", retain="", broker="b"),
            node("in_never", "link in", [["never"]]),
            node("never", "mqtt out", topic="ret/never", qos="1", retain="false", broker="b")]
    run_flow(flow, act, settle=0)
    # A subscriber that comes later only gets what was published with the retain flag.
    late = Peer(mosquitto.port, ("ret/#",))
    try:
        deadline = time.monotonic() + 2.0
        while len(late.got()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # anything else that was retained would be here by now
        got = late.got()
    finally:
        late.close()
    assert sorted((t, p, r) for t, p, _, r in got) == [("ret/msg", b"msg says keep", True),
                                                         ("ret/node", b"node says keep", True)]


def test_birth_and_close_messages_one_client_per_broker_and_a_clean_disconnect(
        mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port, ("life/#", "$SYS/broker/clients/connected"))
    flow = [broker_node(mosquitto.port, birthTopic="life/birth", birthPayload="up", birthQos="1",
                        birthRetain="false", closeTopic="life/close", closePayload="down",
                        closeQos="1", willTopic="life/will", willPayload="gone"),
            mqtt_in("in1", "x/1", "d"), mqtt_in("in2", "x/2", "d"),
            node("out", "mqtt out", topic="x/3", broker="b"), node("d", "debug")]

    def life() -> list[tuple[str, bytes]]:
        return [(t, p) for t, p, *_ in peer.got() if t.startswith("life/")]

    def clients_connected() -> bytes:
        counts = [p for t, p, *_ in peer.got() if t.startswith("$SYS")]
        return counts[-1] if counts else b""

    async def act(rt: FlowRuntime) -> None:
        assert await until(lambda: ("life/birth", b"up") in life())
        # three nodes, one connection: the peer and the flow's client
        assert await until(lambda: clients_connected() == b"2")
        broker = rt.nodes["b"]
        assert isinstance(broker, MqttBroker) and broker.client is not None
        assert set(broker.users) == {"in1", "in2", "out"}

    try:
        run_flow(flow, act, settle=0)
        deadline = time.monotonic() + DEADLINE
        while clients_connected() != b"1" and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
    finally:
        peer.close()
    # A clean DISCONNECT: the broker saw the client go, and did not publish its will.
    assert clients_connected() == b"1"
    assert life() == [("life/birth", b"up"), ("life/close", b"down")]


def test_mqtt_v5_properties_in_and_out_and_no_local(mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port, ("v5/out",), protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType = "text/plain"
    props.ResponseTopic = "reply/1"
    props.CorrelationData = b"c1"
    props.UserProperty = [("k", "v")]

    async def act(rt: FlowRuntime) -> None:
        assert await until(subscribed(rt, "v5/in", "v5/out"))
        peer.publish("v5/in", "12", qos=1, properties=props)
        peer.publish("v5/in", "13", qos=1)
        rt.inject("link", {"payload": {"a": 1}, "responseTopic": "r/2"})
        assert await until(lambda: len(debug_values(rt, "d")) >= 2 and bool(peer.got()))
        await asyncio.sleep(0.3)  # time for the flow's own publish to come back, if it did

    flow = [broker_node(mosquitto.port, protocolVersion=5), mqtt_in("in", "v5/in", "d"),
            node("d", "debug", complete="true"),
            node("own", "mqtt in", [["d"]], topic="v5/out", qos="1", datatype="auto-detect",
                 nl=True, broker="b"),
            node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="v5/out", qos="1", retain="",
                 contentType="application/json", userProps='{"who": "plumb"}', broker="b")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        peer.close()
    text, plain = debug_values(rt, "d")  # "own" heard nothing: no-local
    assert text["payload"] == "12"  # text/plain keeps the text a string
    assert (text["contentType"], text["responseTopic"], text["correlationData"],
            text["userProperties"]) == ("text/plain", "reply/1", b"c1", {"k": "v"})
    assert plain["payload"] == 13 and "contentType" not in plain
    (topic, payload, _, _), = peer.got()
    sent = peer.properties[0]
    assert (topic, payload) == ("v5/out", b'{"a":1}')
    assert (sent.ContentType, sent.ResponseTopic, sent.UserProperty) == (
        "application/json", "r/2", [("who", "plumb")])


# -- connection trouble ----------------------------------------------------------------------
def test_a_broker_restart_shows_disconnected_then_connected_and_messages_flow_again(
        mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MqttBroker, "reconnect_max", 2)
    peers: list[Peer] = []

    async def act(rt: FlowRuntime) -> None:
        peers.append(Peer(mosquitto.port, ("back/#",)))
        assert await until(subscribed(rt, "live/#"))
        peers[0].publish("live/1", "before", qos=1)
        assert await until(lambda: debug_values(rt, "d") == ["before"])
        await asyncio.to_thread(mosquitto.stop)
        assert await until(lambda: statuses(rt, "in")[-1:] == ["disconnected"])
        assert statuses(rt, "out")[-1] == "disconnected"
        rt.inject("link", {"payload": "lost"})  # QoS 0 while down: dropped with a warning
        await asyncio.to_thread(mosquitto.start)
        assert await until(subscribed(rt, "live/#"))
        assert await until(connected(rt, "out"))
        peers.append(Peer(mosquitto.port, ("back/#",)))
        peers[1].publish("live/2", "after", qos=1)
        assert await until(lambda: debug_values(rt, "d") == ["before", "after"])
        rt.inject("link", {"payload": "out again"})
        assert await until(lambda: bool(peers[1].got()))

    flow = [broker_node(mosquitto.port), mqtt_in("in", "live/#", "d"), node("d", "debug"),
            node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="back/1", qos="0", retain="", broker="b")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        for peer in peers:
            peer.close()
    assert peers[1].got() == [("back/1", b"out again", 0, False)]
    seen = statuses(rt, "in")
    first = seen.index("connected")
    assert seen[first:] == ["connected", "disconnected", "connected"]
    assert any("QoS 0 messages are dropped" in text for text in logs(rt, "warn"))


def test_a_broker_that_is_not_there_leaves_the_flow_running_and_disconnected() -> None:
    port = free_port()  # nothing listens here
    started = time.monotonic()

    async def act(rt: FlowRuntime) -> None:
        assert await until(lambda: statuses(rt, "in")[-1:] == ["disconnected"])
        rt.inject("link", {"payload": "nowhere"})
        rt.inject("tick", {"payload": 1})
        assert await until(lambda: debug_values(rt, "d") == [1])

    flow = [broker_node(port), mqtt_in("in", "a/#", "d"), node("d", "debug"),
            node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="a/b", broker="b"),
            node("tick", "link in", [["d"]])]
    rt = run_flow(flow, act, settle=0)
    assert time.monotonic() - started < 10  # the close did not hang on the retries
    assert statuses(rt, "in")[0] == "connecting"
    assert statuses(rt, "in")[-1] == statuses(rt, "out")[-1] == "disconnected"
    assert not logs(rt, "error")
    assert any("dropped" in text for text in logs(rt, "warn"))


def test_missing_broker_config_and_bad_topics_are_reported_not_fatal() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("link", {"payload": "x", "topic": "t"})
        await asyncio.sleep(0.05)

    flow = [node("in", "mqtt in", [["d"]], topic="t", broker="nope"), node("d", "debug"),
            node("link", "link in", [["out"]]), node("out", "mqtt out", broker="nope"),
            {"id": "b", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(free_port())},
            node("bad", "mqtt in", [["d"]], topic="a/#/b", broker="b"),
            node("none", "mqtt in", [["d"]], topic="", broker="b")]
    rt = run_flow(flow, act, settle=0)
    errors = logs(rt, "error")
    assert errors.count("missing broker configuration") == 3  # two at start, one at input
    assert "topic not defined" in errors
    assert "Invalid topic specified" in logs(rt, "warn")
    assert rt.nodes["b"].current_status == {}  # nobody used it: it never connected


# -- the payload rules on their own ----------------------------------------------------------
@pytest.mark.parametrize(("raw", "datatype", "expected"), [
    (b'{"a":1}', "auto-detect", {"a": 1}),
    (b"12", "auto-detect", 12),
    (b'"quoted"', "auto-detect", "quoted"),
    (b"true", "auto-detect", True),
    (b"Infinity", "auto-detect", "Infinity"),
    (b"plain", "auto-detect", "plain"),
    (b"\xc3\x28", "auto-detect", b"\xc3\x28"),
    (b"12", "auto", "12"),
    (b"\xc3\x28", "auto", b"\xc3\x28"),
    (b"12", "utf8", "12"),
    (b"12", "buffer", b"12"),
    (b"\x00\xff", "base64", "AP8="),
    (b"[1]", "json", [1]),
])
def test_decode_payload(raw: bytes, datatype: str, expected: Any) -> None:
    assert decode_payload(raw, datatype) == expected


def test_decode_payload_json_errors_and_v5_content_types() -> None:
    with pytest.raises(PayloadError, match="Failed to parse JSON string"):
        decode_payload(b"{oops", "json")
    with pytest.raises(PayloadError, match="Invalid JSON string"):
        decode_payload(b"\xff", "json")
    assert decode_payload(b"12", "auto-detect", "text/plain") == "12"
    assert decode_payload(b"12", "auto-detect", "application/octet-stream") == b"12"
    assert decode_payload(b"12", "auto", "application/json") == "12"
    with pytest.raises(PayloadError):
        decode_payload(b"nope", "auto-detect", "application/json")


@pytest.mark.parametrize(("value", "expected"), [
    ({"a": [1, None]}, b'{"a":[1,null]}'), (1.5, b"1.5"), (3.0, b"3"), (1e-7, b"1e-7"),
    (float("nan"), b"NaN"), (False, b"false"), (None, b""), (bytearray(b"\x01"), b"\x01"),
    ({"b": b"\x01"}, b'{"b":{"type":"Buffer","data":[1]}}'), ("ü", "ü".encode()),
])
def test_encode_payload(value: Any, expected: bytes) -> None:
    assert encode_payload(value) == expected
