"""The harness's own servers, all on loopback: Mosquitto, a Modbus TCP slave (pymodbus), an
OPC UA server (asyncua), and an HTTP capture server standing in for remote REST APIs."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from evals.nodered import free_port

T = TypeVar("T")
MODBUS_UNITS = (*range(0, 17), 247, 255)
MODBUS_SIZE = 5_000  # registers and coils per table and unit


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Mosquitto:
    """A private broker on a free port (a fresh one per case keeps retained messages apart)."""

    def __init__(self) -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="plumb-mosquitto-"))
        conf = self._dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            "persistence false\nlog_dest none\n"
        )
        self._process = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool
    at: float


class MqttProbe:
    """Subscribes to everything on a broker and records it; also publishes."""

    def __init__(self, port: int):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[MqttMessage] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"plumb-probe-{port}"
        )
        self._subscribed = threading.Event()
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(5):
            raise RuntimeError("the MQTT probe could not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append(
                MqttMessage(
                    message.topic, bytes(message.payload), bool(message.retain), time.monotonic()
                )
            )

    def since(self, start: float) -> list[MqttMessage]:
        with self._lock:
            return [m for m in self.messages if m.at >= start]

    def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        if isinstance(payload, (dict, list)):
            data: bytes | str = json.dumps(payload)
        elif isinstance(payload, bool):
            data = "true" if payload else "false"
        else:
            data = str(payload)
        self._client.publish(topic, data, qos=1, retain=retain).wait_for_publish(5)

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class _LoopThread:
    """An asyncio loop in a daemon thread, for the async protocol servers."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class ModbusSlave:
    """A Modbus TCP server answering for unit ids 0-16, 247 and 255, with 0-based addresses
    as the flows' nodes use them."""

    def __init__(self) -> None:
        from pymodbus.datastore import (
            ModbusDeviceContext,
            ModbusSequentialDataBlock,
            ModbusServerContext,
        )
        from pymodbus.server import ModbusTcpServer

        # The simulator classes Plumb uses log a deprecation warning per device.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        logging.getLogger("pymodbus.logging").setLevel(logging.CRITICAL)
        self.port = free_port()
        devices: dict[int, Any] = {
            unit: ModbusDeviceContext(
                co=ModbusSequentialDataBlock(1, [False] * MODBUS_SIZE),  # type: ignore[no-untyped-call]
                di=ModbusSequentialDataBlock(1, [False] * MODBUS_SIZE),  # type: ignore[no-untyped-call]
                hr=ModbusSequentialDataBlock(1, [0] * MODBUS_SIZE),  # type: ignore[no-untyped-call]
                ir=ModbusSequentialDataBlock(1, [0] * MODBUS_SIZE),  # type: ignore[no-untyped-call]
            )
            for unit in MODBUS_UNITS
        }
        self.context = ModbusServerContext(devices=devices, single=False)
        self._loop = _LoopThread("plumb-modbus")

        async def create() -> Any:  # pymodbus servers must be built inside their loop
            return ModbusTcpServer(self.context, address=("127.0.0.1", self.port))

        self._server = self._loop.run(create())
        asyncio.run_coroutine_threadsafe(self._server.serve_forever(), self._loop.loop)
        wait_for_port(self.port)

    # (read function, write function) per table; the simulator applies writes through the
    # same code path a client request takes, so what a flow reads is what we set.
    _FUNCTIONS: ClassVar[dict[str, tuple[int, int]]] = {
        "coils": (1, 15),
        "discrete": (2, 2),
        "holding": (3, 16),
        "input": (4, 4),
    }

    def _runtime(self, unit: int) -> Any:
        return self._server.context.devices[unit]

    def set(self, unit: int, table: str, address: int, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        if table in ("coils", "discrete"):
            values = [bool(v) for v in values]
        else:
            values = [int(v) & 0xFFFF for v in values]
        runtime = self._runtime(unit)
        result = self._loop.run(
            runtime.get_block(self._FUNCTIONS[table][1], address, len(values), values)
        )
        if not isinstance(result, list):
            raise ValueError(f"cannot set {table} {address} on unit {unit}: {result}")

    def get(self, unit: int, table: str, address: int) -> Any:
        result = self._loop.run(
            self._runtime(unit).get_block(self._FUNCTIONS[table][0], address, 1, None)
        )
        if not isinstance(result, list):
            raise ValueError(f"cannot read {table} {address} on unit {unit}: {result}")
        return result[0]

    def reset(self) -> None:
        for unit in MODBUS_UNITS:
            for block in self._runtime(unit).block.values():
                registers = block[2]
                registers[:] = [0] * len(registers)

    def stop(self) -> None:
        try:
            self._loop.run(self._server.shutdown(), timeout=10)
        finally:
            self._loop.stop()


class OpcUaServer:
    """An asyncua server on loopback with namespaces 2-4; variables appear on demand."""

    def __init__(self) -> None:
        from asyncua import Server  # type: ignore[attr-defined]

        logging.getLogger("asyncua").setLevel(logging.ERROR)
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}"
        self._loop = _LoopThread("plumb-opcua")
        self._server = Server()
        self._variables: dict[str, Any] = {}

        async def start() -> None:
            await self._server.init()
            self._server.set_endpoint(self.url)
            self._server.set_server_name("Plumb eval OPC UA server")
            for index in (2, 3, 4):
                got = await self._server.register_namespace(f"urn:plumb:evals:ns{index}")
                if got != index:
                    raise RuntimeError(f"namespace {index} registered as {got}")
            await self._server.start()

        self._loop.run(start(), timeout=60)

    _INTEGER_TYPES: ClassVar[tuple[str, ...]] = (
        "SByte",
        "Byte",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
    )

    @staticmethod
    def _type_of(value: Any) -> str:
        if isinstance(value, bool):
            return "Boolean"
        if isinstance(value, int):
            return "Int32"
        if isinstance(value, float):
            return "Double"
        return "String"

    def _variant(self, value: Any, type_name: str) -> Any:
        from asyncua import ua

        if type_name in ("Double", "Float"):
            value = float(value)
        elif type_name in self._INTEGER_TYPES:
            value = int(float(value))
        elif type_name == "Boolean":
            value = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        else:
            value = str(value)
        return ua.Variant(value, getattr(ua.VariantType, type_name))

    def ensure(self, node_id: str, initial: Any = 0.0, type_name: str | None = None) -> Any:
        """The variable with this node id, created (writable) on first use."""
        from asyncua import ua

        if node_id in self._variables:
            return self._variables[node_id][0]
        chosen = type_name if type_name and hasattr(ua.VariantType, type_name) else None
        chosen = chosen or self._type_of(initial)
        if chosen == "String" and not isinstance(initial, str):
            initial = ""

        async def create() -> Any:
            nid = ua.NodeId.from_string(node_id)
            name = str(nid.Identifier).split(".")[-1] or "value"
            variable = await self._server.nodes.objects.add_variable(
                nid, ua.QualifiedName(name, nid.NamespaceIndex), self._variant(initial, chosen)
            )
            await variable.set_writable()
            return variable

        self._variables[node_id] = (self._loop.run(create()), chosen)
        return self._variables[node_id][0]

    def set(self, node_id: str, value: Any) -> None:
        variable = self.ensure(node_id, value)
        type_name = self._variables[node_id][1]
        self._loop.run(variable.write_value(self._variant(value, type_name)))

    def get(self, node_id: str) -> Any:
        return self._loop.run(self.ensure(node_id).read_value())

    def stop(self) -> None:
        try:
            self._loop.run(self._server.stop(), timeout=15)
        finally:
            self._loop.stop()


@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


class CaptureServer:
    """Stands in for the REST APIs flows call: records every request, answers {"ok": true}."""

    def __init__(self) -> None:
        self.requests: list[CapturedRequest] = []
        lock = threading.Lock()
        captured = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    captured.append(
                        CapturedRequest(self.command, self.path, dict(self.headers), body)
                    )
                reply = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def since(self, start: float) -> list[CapturedRequest]:
        return [r for r in list(self.requests) if r.at >= start]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
