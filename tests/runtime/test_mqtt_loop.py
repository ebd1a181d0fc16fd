"""The MQTT client on the flow's event loop (runtime/nodes/mqtt_connection.py): a broker that
never answers does not hold the loop up, retries back off, a broker that comes back is
reconnected to and what was queued meanwhile goes out, bursts arrive complete and in order,
a broker restart in the middle of a stream breaks nothing, and TLS, websockets and uvloop
carry messages too. Against real mosquitto processes on loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from runtime.engine import FlowRuntime
from runtime.nodes.mqtt import MqttBroker, matches
from runtime.nodes.mqtt_connection import LoopConnection
from tests.runtime.conftest import TAB, debug_values, node, run_flow
from tests.runtime.test_mqtt_nodes import (
    DEADLINE,
    Mosquitto,
    Peer,
    broker_node,
    connected,
    free_port,
    logs,
    mqtt_in,
    statuses,
    subscribed,
    until,
)

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed")


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def collect(rt: FlowRuntime, node_id: str) -> list[Any]:
    """Every debug value of `node_id` from now on (rt.events keeps only the last ~1000)."""
    got: list[Any] = []

    def listener(event: dict[str, Any]) -> None:
        if event["kind"] == "debug" and event["id"] == node_id:
            got.append(event["value"])

    rt.listen(listener)
    return got


class LoopWatch:
    """The longest the event loop went without running a 10 ms ticker, and what the loop's
    exception handler saw."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.errors: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        self._task = loop.create_task(self._tick())

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


@contextlib.contextmanager
def blackhole(kind: str) -> Iterator[int]:
    """A port where a connect never completes: "tcp", a listener whose accept queue is
    full (the kernel drops further SYNs), or "tls", a listener that accepts and then never
    says a word (the TLS handshake waits)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    held: list[socket.socket] = []
    try:
        if kind == "tcp":
            for _ in range(3):
                sock = socket.socket()
                sock.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    sock.connect(("127.0.0.1", port))
                held.append(sock)
            time.sleep(0.1)
        else:
            server.listen(16)
            stop = threading.Event()

            def accept() -> None:
                server.settimeout(0.1)
                while not stop.is_set():
                    with contextlib.suppress(OSError):
                        held.append(server.accept()[0])

            thread = threading.Thread(target=accept, daemon=True)
            thread.start()
        yield port
    finally:
        if kind != "tcp":
            stop.set()
            thread.join(2)
        for sock in held:
            sock.close()
        server.close()


# -- connecting ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["tcp", "tls"])
def test_a_broker_that_never_answers_does_not_hold_up_the_loop_or_the_flow(kind: str) -> None:
    watch = LoopWatch()
    closed_at: list[float] = []

    async def act(rt: FlowRuntime) -> None:
        watch.start()
        # paho gives a connect 5 s: the whole wait happens while this runs.
        for i in range(40):
            rt.inject("tick", {"payload": i})
            rt.inject("link", {"payload": "nowhere", "qos": 1})
            await asyncio.sleep(0.05)
        assert debug_values(rt, "d") == list(range(40))
        assert statuses(rt, "in") == ["connecting"]  # still trying
        closed_at.append(time.monotonic())

    with blackhole(kind) as port:
        flow = [broker_node(port, usetls=kind == "tls"), mqtt_in("in", "a/#", "d"),
                node("link", "link in", [["out"]]),
                node("out", "mqtt out", topic="a/b", qos="", broker="b"),
                node("tick", "link in", [["d"]]), node("d", "debug")]
        rt = run_flow(flow, act, settle=0)
        stopped = time.monotonic()
    watch.stop()
    assert watch.worst < 0.5, f"the event loop stalled for {watch.worst:.2f} s"
    assert not watch.errors
    assert stopped - closed_at[0] < 3.5  # closing did not wait for the connect either
    assert not logs(rt, "error")


def test_retries_back_off_and_do_not_spin(monkeypatch: pytest.MonkeyPatch) -> None:
    """A listener that takes each connection and hangs up at once: every try fails fast, so
    only the delay between tries (0.1, 0.2, 0.4, 0.4 ... s here) limits them."""
    monkeypatch.setattr(MqttBroker, "reconnect_min", 0.1)
    monkeypatch.setattr(MqttBroker, "reconnect_max", 0.4)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    port = int(server.getsockname()[1])
    attempts: list[float] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                attempts.append(time.monotonic())
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def act(rt: FlowRuntime) -> None:
        await asyncio.sleep(2.0)

    try:
        rt = run_flow([broker_node(port), mqtt_in("in", "a/#", "d"), node("d", "debug")],
                      act, settle=0)
    finally:
        stop.set()
        thread.join(2)
        server.close()
    # tries at about 0, 0.1, 0.3, 0.7, 1.1, 1.5, 1.9 s
    assert 4 <= len(attempts) <= 10, attempts
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.05 and max(gaps) < 0.8 and gaps[-1] >= 0.3, gaps
    assert statuses(rt, "in")[-1] == "disconnected"
    assert not logs(rt, "error")


def test_a_broker_that_comes_later_is_connected_to_and_the_queued_messages_go_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MqttBroker, "reconnect_min", 0.2)
    monkeypatch.setattr(MqttBroker, "reconnect_max", 0.5)
    server = Mosquitto(tmp_path)  # not started yet

    async def act(rt: FlowRuntime) -> None:
        got = collect(rt, "d")
        assert await until(lambda: statuses(rt, "in")[-1:] == ["disconnected"])
        for i in range(20):
            rt.inject("link", {"payload": f"q{i}"})
        rt.inject("link0", {"payload": "lost"})
        await asyncio.sleep(0.3)
        await asyncio.to_thread(server.start)
        assert await until(connected(rt, "in"))
        # The subscription goes out before paho resends what it queued: the flow hears it.
        assert await until(lambda: len(got) >= 20)
        await asyncio.sleep(0.2)
        assert got == [f"q{i}" for i in range(20)]

    flow = [broker_node(server.port), mqtt_in("in", "back/#", "d", qos="1"),
            node("d", "debug"),
            node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="back/1", qos="1", broker="b"),
            node("link0", "link in", [["out0"]]),
            node("out0", "mqtt out", topic="back/0", qos="0", broker="b")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        server.stop()
    seen = statuses(rt, "in")
    assert seen[0] == "connecting" and seen[-1] == "connected"
    assert "disconnected" in seen
    assert any("QoS 0 messages are dropped" in text for text in logs(rt, "warn"))


# -- load ------------------------------------------------------------------------------------
def test_a_qos1_burst_arrives_complete_and_in_order_both_ways(mosquitto: Mosquitto) -> None:
    """1,000 messages out in one go (paho's queue limit: all of them wait in it at once)
    and 2,000 in from a peer as fast as it can."""
    count_out, count_in = MqttBroker.queue_limit, 2000
    peer = Peer(mosquitto.port, ("burst/out",))

    async def act(rt: FlowRuntime) -> None:
        got = collect(rt, "d")
        assert await until(subscribed(rt, "burst/in"))
        for i in range(count_out):
            rt.inject("link", {"payload": i})
        infos = [peer.client.publish("burst/in", str(i), qos=1) for i in range(count_in)]
        await asyncio.to_thread(infos[-1].wait_for_publish, DEADLINE)
        assert await until(lambda: len(got) >= count_in and len(peer.got()) >= count_out,
                           timeout=30)
        await asyncio.sleep(0.2)
        assert got == list(range(count_in))

    flow = [broker_node(mosquitto.port), mqtt_in("in", "burst/in", "d", qos="1"),
            node("d", "debug"), node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="burst/out", qos="1", broker="b")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        peer.close()
    assert [int(p) for _, p, _, _ in peer.got()] == list(range(count_out))
    assert not logs(rt, "error")


def test_a_broker_restart_in_the_middle_of_a_stream_loses_no_qos1_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QoS 1 messages go out every 5 ms while the broker stops and starts again: nothing
    raises, and every one of them reaches a subscriber whose session the broker keeps
    (persistence on), at least once."""
    monkeypatch.setattr(MqttBroker, "reconnect_min", 0.2)
    monkeypatch.setattr(MqttBroker, "reconnect_max", 0.5)
    server = Mosquitto(tmp_path)
    server.conf.write_text(server.conf.read_text().replace("persistence false", (
        f"persistence true\npersistence_location {tmp_path}/\nuser {getpass.getuser()}")))
    server.start()
    received: set[int] = set()
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        with lock:
            received.add(int(m.payload))

    peer = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="durable_peer",
                       clean_session=False)
    peer.on_connect = lambda client, *_: client.subscribe("s/#", 1)
    peer.on_message = on_message
    peer.reconnect_delay_set(1, 1)
    peer.connect("127.0.0.1", server.port)
    peer.loop_start()
    watch = LoopWatch()
    sent: list[int] = []

    def arrived() -> set[int]:
        with lock:
            return set(received)

    async def act(rt: FlowRuntime) -> None:
        watch.start()
        assert await until(connected(rt, "out"))
        assert await until(lambda: peer.is_connected())
        running = True

        async def stream() -> None:
            while running:
                sent.append(len(sent))
                rt.inject("link", {"payload": sent[-1]})
                await asyncio.sleep(0.005)

        streamer = asyncio.create_task(stream())
        assert await until(lambda: len(arrived()) >= 20)
        await asyncio.to_thread(server.stop)
        assert await until(lambda: statuses(rt, "out")[-1] == "disconnected")
        await asyncio.sleep(0.3)
        await asyncio.to_thread(server.start)
        assert await until(connected(rt, "out"))
        await asyncio.sleep(0.3)
        running = False
        await streamer
        assert await until(lambda: set(sent) <= arrived()), sorted(set(sent) - arrived())

    flow = [broker_node(server.port), node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="s/1", qos="1", broker="b")]
    try:
        rt = run_flow(flow, act, settle=0)
    finally:
        peer.disconnect()
        peer.loop_stop()
        server.stop()
    watch.stop()
    assert len(sent) > 100
    assert not watch.errors, watch.errors
    assert not logs(rt, "error")
    seen = statuses(rt, "out")
    assert seen[seen.index("connected"):] == ["connected", "disconnected", "connected"]


# -- transports and loops --------------------------------------------------------------------
@pytest.fixture
def tls_mosquitto(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """mosquitto with a TLS listener (a self-signed certificate) and a plain one:
    (tls port, plain port)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = Mosquitto(tmp_path)
    tls_port = free_port()
    # Run as root, mosquitto would switch to its own user, who cannot read the key here.
    server.conf.write_text(
        server.conf.read_text() + f"user {getpass.getuser()}\n"
        f"listener {tls_port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n")
    server.start()
    try:
        yield tls_port, server.port
    finally:
        server.stop()


def test_tls_carries_a_burst_in_and_messages_out(tls_mosquitto: tuple[int, int]) -> None:
    """Many small messages share a TLS record: what the TLS layer already decrypted must be
    read without waiting for the socket to become readable again."""
    tls_port, plain_port = tls_mosquitto
    peer = Peer(plain_port, ("tls/out",))

    async def act(rt: FlowRuntime) -> None:
        got = collect(rt, "d")
        assert await until(subscribed(rt, "tls/in"))
        for i in range(1000):
            peer.client.publish("tls/in", str(i), qos=0)
        assert await until(lambda: len(got) >= 1000)
        assert got == list(range(1000))
        rt.inject("link", {"payload": "over tls"})
        assert await until(lambda: bool(peer.got()))

    flow = [broker_node(tls_port, usetls=True, verifyservercert=False),
            mqtt_in("in", "tls/in", "d"), node("d", "debug"),
            node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="tls/out", qos="1", broker="b")]
    try:
        run_flow(flow, act, settle=0)
    finally:
        peer.close()
    assert peer.got() == [("tls/out", b"over tls", 1, False)]


@contextlib.contextmanager
def slow_proxy(upstream: int, delay: float) -> Iterator[int]:
    """A TCP proxy that lets each connection wait `delay` s before it passes anything on:
    in front of a TLS listener, a handshake that takes that long."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()
    opened: list[socket.socket] = []

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while not stop.is_set():
            try:
                near, _ = server.accept()
            except OSError:
                continue
            time.sleep(delay)
            far = socket.create_connection(("127.0.0.1", upstream))
            opened.extend((near, far))
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for sock in opened:
            sock.close()
        server.close()


def test_what_is_published_during_a_slow_connect_goes_out_after_it_in_order(
        tls_mosquitto: tuple[int, int]) -> None:
    """The TLS handshake takes a second (in the connect thread): QoS 1 messages published
    meanwhile wait and follow the CONNACK and the subscription, in order; QoS 0 ones are
    dropped with a warning."""
    tls_port, plain_port = tls_mosquitto
    peer = Peer(plain_port, ("slow/#",))

    async def act(rt: FlowRuntime) -> None:
        got = collect(rt, "d")
        for i in range(50):
            rt.inject("link", {"payload": i, "qos": 1})
            await asyncio.sleep(0.01)
        rt.inject("link", {"payload": "zero", "qos": 0})
        assert statuses(rt, "in") == ["connecting"]  # all of it during the handshake
        assert await until(lambda: len(got) >= 50 and len(peer.got()) >= 50)
        await asyncio.sleep(0.2)
        assert got == list(range(50))  # the flow's own subscription heard every one

    with slow_proxy(tls_port, 1.0) as port:
        flow = [broker_node(port, usetls=True), mqtt_in("in", "slow/#", "d", qos="1"),
                node("d", "debug"), node("link", "link in", [["out"]]),
                node("out", "mqtt out", topic="slow/1", qos="", broker="b")]
        try:
            rt = run_flow(flow, act, settle=0)
        finally:
            peer.close()
    assert [p for _, p, _, _ in peer.got()] == [str(i).encode() for i in range(50)]
    assert any("QoS 0 messages are dropped" in text for text in logs(rt, "warn"))


@contextlib.contextmanager
def websocket_bridge(broker_port: int) -> Iterator[int]:
    """A websocket endpoint (subprotocol mqtt) that pipes binary frames to the broker's TCP
    port: the mosquitto here has no websocket listener."""
    ws_server = pytest.importorskip("websockets.asyncio.server")
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stopped: asyncio.Future[None] | None = None

    async def pipe(ws: Any) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", broker_port)

        async def up() -> None:
            async for frame in ws:
                writer.write(frame if isinstance(frame, bytes) else frame.encode())
            writer.close()

        async def down() -> None:
            while data := await reader.read(65536):
                await ws.send(data)
            await ws.close()

        await asyncio.gather(up(), down(), return_exceptions=True)

    async def main() -> None:
        nonlocal stopped
        stopped = loop.create_future()
        async with ws_server.serve(pipe, "127.0.0.1", port, subprotocols=["mqtt"]):
            ready.set()
            await stopped

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(DEADLINE)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(lambda: stopped is not None and stopped.set_result(None))
        thread.join(5)


def test_websockets_carry_messages_both_ways(mosquitto: Mosquitto) -> None:
    peer = Peer(mosquitto.port, ("ws/out",))

    async def act(rt: FlowRuntime) -> None:
        got = collect(rt, "d")
        assert await until(subscribed(rt, "ws/in"))
        for i in range(200):
            peer.client.publish("ws/in", str(i), qos=1)
        assert await until(lambda: len(got) >= 200)
        assert got == list(range(200))
        rt.inject("link", {"payload": "over ws"})
        assert await until(lambda: bool(peer.got()))

    with websocket_bridge(mosquitto.port) as ws_port:
        flow = [broker_node(0, broker=f"ws://127.0.0.1:{ws_port}/mqtt"),
                mqtt_in("in", "ws/in", "d"), node("d", "debug"),
                node("link", "link in", [["out"]]),
                node("out", "mqtt out", topic="ws/out", qos="1", broker="b")]
        try:
            run_flow(flow, act, settle=0)
        finally:
            peer.close()
    assert peer.got() == [("ws/out", b"over ws", 1, False)]


def run_on_uvloop(flow: list[dict[str, Any]],
                  actions: Callable[[FlowRuntime], Awaitable[None]]) -> FlowRuntime:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> FlowRuntime:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        runtime = FlowRuntime()
        await runtime.start([TAB, *flow])
        try:
            await actions(runtime)
        finally:
            await runtime.stop()
        return runtime

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def test_on_uvloop_messages_flow_and_a_restart_is_survived(
        mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime serves on uvloop: the same socket handling there, through a restart."""
    monkeypatch.setattr(MqttBroker, "reconnect_min", 0.2)
    monkeypatch.setattr(MqttBroker, "reconnect_max", 0.5)
    peer = Peer(mosquitto.port, ("uv/out",))
    watch = LoopWatch()

    async def act(rt: FlowRuntime) -> None:
        watch.start()
        got = collect(rt, "d")
        assert await until(subscribed(rt, "uv/in"))
        for i in range(500):
            rt.inject("link", {"payload": i})
        assert await until(lambda: len(got) >= 500)
        await asyncio.to_thread(mosquitto.stop)
        assert await until(lambda: statuses(rt, "in")[-1] == "disconnected")
        await asyncio.to_thread(mosquitto.start)
        assert await until(subscribed(rt, "uv/in"))
        rt.inject("link", {"payload": "again"})
        assert await until(lambda: got[-1:] == ["again"])
        assert got[:500] == list(range(500))

    flow = [broker_node(mosquitto.port), mqtt_in("in", "uv/in", "d", qos="1"),
            node("d", "debug"), node("link", "link in", [["out"]]),
            node("out", "mqtt out", topic="uv/in", qos="1", broker="b")]
    try:
        rt = run_on_uvloop(flow, act)
    finally:
        peer.close()
    watch.stop()
    assert not watch.errors, watch.errors
    assert not logs(rt, "error")


# -- the pieces on their own -----------------------------------------------------------------
@pytest.mark.parametrize(("sub", "topic"), [
    (s, t) for s in ("a/b", "a/+", "a/#", "#", "+", "+/+", "a/+/c", "+/b/#", "a/b/#", "/+",
                     "+/", "$SYS/#", "$SYS/+/x", "a//c", "a/+/+", "$share/g/a/+", "$share/g/#")
    for t in ("a/b", "a", "a/", "a/b/c", "/b", "b", "", "/", "$SYS/x", "$SYS/y/x", "a//c",
              "$other", "b/b/c", "a/b/c/d")])
def test_topic_matching_agrees_with_paho(sub: str, topic: str) -> None:
    plain = sub.split("/", 2)[2] if sub.startswith("$share/") else sub
    assert matches(sub, topic) == mqtt.topic_matches_sub(plain, topic)


def test_decrypted_tls_bytes_are_read_without_a_readable_event() -> None:
    """A TLS socket can hold decrypted bytes the file descriptor does not announce: the
    connection keeps reading while `pending()` says so (paho's own loop does the same)."""

    class Held:  # a socket whose bytes all sit in the TLS layer; the fd never fires
        def __init__(self, fd: int, count: int) -> None:
            self.fd, self.left = fd, count

        def fileno(self) -> int:
            return self.fd

        def pending(self) -> int:
            return self.left

    class Client:
        on_message: Any = None

        def __init__(self, sock: Held) -> None:
            self.sock = sock

        def socket(self) -> Held:
            return self.sock

        def want_write(self) -> bool:
            return False

        def loop_read(self) -> MQTTErrorCode:
            if self.sock.left:
                self.sock.left -= 1
                self.on_message(self, None, None)
            return MQTTErrorCode.MQTT_ERR_SUCCESS

    got: list[None] = []

    async def main() -> None:
        quiet, other = socket.socketpair()
        try:
            client = Client(Held(quiet.fileno(), 500))
            client.on_message = lambda *_: got.append(None)
            conn = LoopConnection(cast(Any, client), asyncio.get_running_loop(), name="t",
                                  reconnect_min=1, reconnect_max=2, queue_limit=10,
                                  failed=print, warn=print)
            conn._attach(client.sock)
            assert await until(lambda: len(got) == 500, timeout=5)
            conn._detach()
        finally:
            quiet.close()
            other.close()

    asyncio.run(main())
    assert len(got) == 500
