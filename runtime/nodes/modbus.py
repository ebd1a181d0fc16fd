"""Modbus TCP: node-red-contrib-modbus's `modbus-client` config node and the `modbus-read`,
`modbus-getter`, `modbus-flex-getter`, `modbus-write` and `modbus-flex-write` nodes, on
pymodbus 3's AsyncModbusTcpClient running on the flow's event loop.

Every modbus-client owns one pymodbus client. A supervisor task connects it, watches it,
and reconnects `reconnectTimeout` ms after the connection is lost or a connect fails
(pymodbus's own reconnect is turned off). The users of a client show green "active", yellow
"connecting" or red "disconnected"; a failed request shows red "error: ...".

Output rules follow node-red-contrib-modbus 5 (which reads through modbus-serial): output 1
carries msg.payload = the values (booleans for coils and discrete inputs, 0..65535 for
registers) and msg.responseBuffer = {data, buffer}; output 2 carries that response in
msg.payload and the values in msg.values. Coils and inputs come back padded to whole bytes
(reading 4 coils gives 8 booleans), exactly as modbus-serial returns them. Errors go to the
Catch nodes only when the node has `showErrors` set, as in node-red-contrib-modbus; otherwise
they are logged and shown in the status. Only TCP with the default framing is supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from runtime.message import Message, clone_message, new_message
from runtime.node import Done, Node, Send
from runtime.registry import register

READ_FC = {"Coil": 1, "Input": 2, "HoldingRegister": 3, "InputRegister": 4}
WRITE_FC = {"Coil": 5, "HoldingRegister": 6, "MCoils": 15, "MHoldingRegisters": 16}
_RATE_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
# modbus-serial's texts for the exception codes a device answers with
_EXCEPTIONS = {
    1: "Illegal function (device does not support this read/write function)",
    2: "Illegal data address (register not supported by device)",
    3: "Illegal data value (value cannot be written to this register)",
    4: "Slave device failure (device reports internal error)",
    5: "Acknowledge (requested data will be available later)",
    6: "Slave device busy (retry request again later)",
    10: "Gateway path unavailable",
    11: "Gateway target device failed to respond",
}
_STATUS = {"connected": ("green", "dot", "active"), "connecting": ("yellow", "ring", "connecting"),
           "disconnected": ("red", "ring", "disconnected"), "error": ("red", "ring", "error")}

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs every failed connect


class ModbusError(Exception):
    """A request that could not be made or that the device refused."""


def _flag(value: Any) -> bool:
    return value is True or value == "true"


def _int(value: Any, default: int) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _ms(value: Any, default: int) -> float:
    """A millisecond setting as seconds; empty or 0 means `default` ms."""
    number = _int(value, 0)
    return (number if number > 0 else default) / 1000


def rate_seconds(rate: Any, unit: Any) -> float:
    """The polling interval of modbus-read: `rate` in `rateUnit`, 10 s for an unknown unit."""
    factor = _RATE_MS.get(str(unit or ""))
    if factor is None:
        return 10.0
    return max(_int(rate, 0), 1) * factor / 1000


def _bits_bytes(bits: list[bool]) -> bytes:
    """Bits packed as on the wire: the first bit in the low bit of the first byte."""
    return bytes(sum(1 << j for j, bit in enumerate(bits[i:i + 8]) if bit)
                 for i in range(0, len(bits), 8))


def _registers_bytes(registers: list[int]) -> bytes:
    return b"".join((r & 0xFFFF).to_bytes(2, "big") for r in registers)


@register("modbus-client")
class ModbusClient(Node):
    """One Modbus TCP connection, shared by the Modbus nodes whose `server` names it."""

    is_config = True

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.host = str(config.get("tcpHost") or "127.0.0.1").strip()
        self.port = _int(config.get("tcpPort"), 502)
        unit = _int(config.get("unit_id"), 0)
        self.unit_id = unit if 0 <= unit <= 255 else 0
        self.timeout = _ms(config.get("clientTimeout"), 1000)
        self.reconnect_delay = _ms(config.get("reconnectTimeout"), 2000)
        self.users: dict[str, ModbusUser] = {}
        self.state = "connecting"
        self.problem = ""  # a setting this runtime cannot honour: every request fails
        self.client: AsyncModbusTcpClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closing = False
        self._reported = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def on_start(self) -> None:
        kind = str(self.config.get("clienttype") or "tcp")
        framing = str(self.config.get("tcpType") or "DEFAULT")
        if kind != "tcp":
            self.problem = f"clienttype {kind!r} (serial) is not supported, only Modbus TCP"
        elif framing != "DEFAULT":
            self.problem = f"tcpType {framing!r} is not supported, only DEFAULT (Modbus TCP)"
        if self.problem:
            self.error(self.problem)
            self._set_state("error")
            return
        self.client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout,
                                           retries=0, reconnect_delay=0,
                                           trace_connect=self._traced)
        self._task = asyncio.create_task(self._supervise(), name=f"modbus-{self.id}")

    def _traced(self, connected: bool) -> None:
        if not connected:
            self._lost.set()

    async def _supervise(self) -> None:
        client = self.client
        assert client is not None
        while not self._closing:
            if not client.connected:
                self._set_state("connecting")
                if not await client.connect():
                    if not self._reported:
                        self._reported = True
                        self.warn(f"cannot connect to the Modbus server {self.address}; "
                                  f"retrying every {self.reconnect_delay:g} s")
                    self._set_state("disconnected")
                    await asyncio.sleep(self.reconnect_delay)
                    continue
                self._reported = False
                self.log(f"connected to the Modbus server {self.address}")
                self._set_state("connected")
            self._lost.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), 1.0)
            if not client.connected and not self._closing:
                self.log(f"lost the connection to the Modbus server {self.address}")
                self._set_state("disconnected")
                await asyncio.sleep(self.reconnect_delay)

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        for user in list(self.users.values()):
            user.client_state(state)

    def register(self, user: ModbusUser) -> None:
        self.users[user.id] = user
        user.client_state(self.state)

    def deregister(self, user: ModbusUser) -> None:
        self.users.pop(user.id, None)

    def unit_for(self, value: Any) -> int:
        """A node's unit id, or this client's when the node leaves it empty or invalid."""
        unit = _int(value, -1)
        return unit if 0 <= unit <= 255 else self.unit_id

    def _ready(self, what: str) -> AsyncModbusTcpClient:
        if self.problem:
            raise ModbusError(self.problem)
        client = self.client
        if client is None or not client.connected or self.state != "connected":
            raise ModbusError(f"Client Not Ready To {what} At State {self.state}: no connection "
                              f"to the Modbus server {self.address}")
        return client

    def _check(self, response: Any) -> Any:
        if response.isError():
            code = int(getattr(response, "exception_code", 0) or 0)
            raise ModbusError(f"Modbus exception {code}: "
                              + _EXCEPTIONS.get(code, "unknown exception"))
        return response

    async def read(self, fc: int, unit: int, address: int, quantity: int
                   ) -> tuple[list[Any], bytes]:
        """Read `quantity` items with function 1-4: (values, the response's data bytes)."""
        client = self._ready("Read")
        calls: dict[int, Callable[..., Any]] = {
            1: client.read_coils, 2: client.read_discrete_inputs,
            3: client.read_holding_registers, 4: client.read_input_registers}
        if fc not in calls:
            raise ModbusError(f"unknown read function code {fc}")
        if not 0 <= address <= 65535 or not 1 <= quantity <= (2000 if fc < 3 else 125):
            raise ModbusError(f"address {address} or quantity {quantity} out of range")
        try:
            response = self._check(await calls[fc](address, count=quantity, device_id=unit))
        except ModbusException as exc:
            self._lost.set()
            raise ModbusError(f"Modbus read from {self.address} (unit {unit}) failed: "
                              f"{exc}") from exc
        if fc < 3:
            bits = [bool(b) for b in response.bits]  # whole bytes, as modbus-serial gives
            return bits, _bits_bytes(bits)
        registers = [int(r) for r in response.registers]
        return registers, _registers_bytes(registers)

    async def write(self, fc: int, unit: int, address: int, value: Any) -> dict[str, Any]:
        """Write with function 5, 6, 15 or 16; the response as modbus-serial describes it."""
        client = self._ready("Write")
        try:
            if fc == 5:
                self._check(await client.write_coil(address, bool(value), device_id=unit))
                return {"address": address, "state": bool(value)}
            if fc == 6:
                self._check(await client.write_register(address, int(value), device_id=unit))
                return {"address": address, "value": int(value)}
            if fc == 15:
                self._check(await client.write_coils(address, [bool(v) for v in value],
                                                     device_id=unit))
                return {"address": address, "length": len(value)}
            if fc == 16:
                self._check(await client.write_registers(address, [int(v) for v in value],
                                                         device_id=unit))
                return {"address": address, "length": len(value)}
        except ModbusException as exc:
            self._lost.set()
            raise ModbusError(f"Modbus write to {self.address} (unit {unit}) failed: "
                              f"{exc}") from exc
        raise ModbusError(f"unknown write function code {fc}")

    async def on_close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.client is not None:
            self.client.close()
        self.state = "disconnected"


# -- the nodes that use a client ---------------------------------------------------------
class ModbusUser(Node):
    """What the Modbus nodes share: the client, status, error handling, output messages."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.client: ModbusClient | None = None
        self.show_errors = _flag(config.get("showErrors"))
        self.empty_on_fail = _flag(config.get("emptyMsgOnFail"))
        self.keep = _flag(config.get("keepMsgProperties"))

    async def on_start(self) -> None:
        client = self.runtime.nodes.get(str(self.config.get("server") or ""))
        if not isinstance(client, ModbusClient):
            self.error("missing modbus-client configuration (server)")
            self.status("red", "ring", "no client")
            return
        if _flag(self.config.get("useIOFile")):
            self.warn("IO files (useIOFile) are not supported: values are not named")
        self.client = client
        client.register(self)

    def client_state(self, state: str) -> None:
        fill, shape, text = _STATUS[state]
        if state == "error" and self.client is not None and self.client.problem:
            text = f"error: {self.client.problem}"
        self.status(fill, shape, text)

    def fail(self, text: str, msg: Message, done: Done | None) -> None:
        """A failed request: red status; to Catch with showErrors, else only logged; with
        emptyMsgOnFail an empty message on both outputs."""
        self.status("red", "ring", f"error: {text}"[:80])
        if self.empty_on_fail:
            empty = dict(msg)
            empty["payload"] = ""
            empty["error"] = {"message": text}
            self.send([empty, clone_message(empty)])
        if self.show_errors:
            if done is not None:
                done(text)
            else:
                self.error(text, msg)
            return
        self.error(text)
        if done is not None:
            done()

    def outputs(self, msg: Message, payload: Any, response: Any,
                values: Any) -> list[Message]:
        """[output 1, output 2]: msg.payload the result and msg.responseBuffer the response;
        then msg.payload the response and msg.values the result."""
        base: Message = dict(msg) if self.keep else new_message(topic=msg.get("topic"))
        if self.keep:
            base["input"] = {k: v for k, v in msg.items() if k not in ("req", "res")}
        else:
            base["input"] = msg
        first = {**base, "payload": payload, "responseBuffer": response}
        second = clone_message({**base, "payload": response, "values": values})
        return [first, second]

    async def on_close(self) -> None:
        if self.client is not None:
            self.client.deregister(self)


def _read_config(config: dict[str, Any]) -> tuple[int, int, int]:
    data_type = str(config.get("dataType") or "")
    if data_type not in READ_FC:
        raise ModbusError(f"unknown dataType {data_type!r} (Coil, Input, HoldingRegister, "
                          "InputRegister)")
    return READ_FC[data_type], _int(config.get("adr"), 0), max(_int(config.get("quantity"), 1), 1)


@register("modbus-read")
class ModbusRead(ModbusUser):
    """Polls a block every `rate` `rateUnit` while the client is connected (first read at
    once, or after `startDelayTime` s with `delayOnStart`)."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.interval = rate_seconds(config.get("rate"), config.get("rateUnit"))
        self.topic = str(config.get("topic") or "") or "polling"
        self._poller: asyncio.Task[None] | None = None
        self.setting_error = ""
        try:
            self.fc, self.address, self.quantity = _read_config(config)
        except ModbusError as exc:
            self.setting_error = str(exc)
            self.fc, self.address, self.quantity = 3, 0, 1

    async def on_start(self) -> None:
        if self.setting_error:
            self.error(self.setting_error)
            self.status("red", "ring", "error: bad settings")
            return
        await super().on_start()

    def client_state(self, state: str) -> None:
        super().client_state(state)
        if state == "connected":
            self._stop()
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        else:
            self._stop()

    def _stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        if _flag(self.config.get("delayOnStart")):
            delay = _int(self.config.get("startDelayTime"), 0)
            await asyncio.sleep(delay if delay > 0 else 10)
        while True:
            started = loop.time()
            await self.read_once()
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))

    async def read_once(self) -> None:
        client = self.client
        if client is None:
            return
        unit = client.unit_for(self.config.get("unitid"))
        request = new_message(topic=self.topic, payload={
            "unitid": unit, "fc": self.fc, "address": self.address, "quantity": self.quantity})
        try:
            values, raw = await client.read(self.fc, unit, self.address, self.quantity)
        except ModbusError as exc:
            if self.runtime.running:
                self.fail(str(exc), request, None)
            return
        if not self.runtime.running:
            return
        if self.current_status.get("text") != "polling":
            self.status("green", "dot", "polling")
        response = {"data": values, "buffer": raw}
        out = {"topic": self.topic, "payload": values, "responseBuffer": response,
               "input": request}
        self.send([new_message(**out), new_message(topic=self.topic, payload=response,
                                                   values=list(values), input=request)])

    async def on_close(self) -> None:
        self._stop()
        await super().on_close()


class _Reader(ModbusUser):
    """A read per input message: the request comes from `request(msg)`."""

    def request(self, msg: Message, client: ModbusClient) -> tuple[int, int, int, int]:
        raise NotImplementedError

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if "payload" not in msg:  # node-red-contrib-modbus ignores such messages
            done()
            return
        client = self.client
        if client is None:
            done("missing modbus-client configuration (server)")
            return
        try:
            fc, unit, address, quantity = self.request(msg, client)
            values, raw = await client.read(fc, unit, address, quantity)
        except ModbusError as exc:
            self.fail(str(exc), msg, done)
            return
        if self.current_status.get("text") != "active":
            self.status("green", "dot", "active")
        send(self.outputs(msg, values, {"data": values, "buffer": raw}, list(values)))
        done()


@register("modbus-getter")
class ModbusGetter(_Reader):
    """Reads the block set in the node each time a message arrives."""

    def request(self, msg: Message, client: ModbusClient) -> tuple[int, int, int, int]:
        fc, address, quantity = _read_config(self.config)
        return fc, client.unit_for(self.config.get("unitid")), address, quantity


def _payload_object(msg: Message) -> dict[str, Any]:
    payload = msg.get("payload")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise ModbusError("msg.payload is not a JSON object") from exc
    if not isinstance(payload, dict):
        raise ModbusError("msg.payload must be an object like {fc, unitid, address, quantity}")
    return payload


@register("modbus-flex-getter")
class ModbusFlexGetter(_Reader):
    """Reads what msg.payload {fc, unitid, address, quantity} asks for (fc 3, address 0,
    quantity 1 and the client's unit id when left out)."""

    def request(self, msg: Message, client: ModbusClient) -> tuple[int, int, int, int]:
        ask = _payload_object(msg)
        fc = _int(ask.get("fc"), 3)
        if fc not in (1, 2, 3, 4):
            raise ModbusError(f"msg.payload.fc {ask.get('fc')!r} is not a read function "
                              "(1, 2, 3 or 4)")
        return (fc, client.unit_for(ask.get("unitid")), _int(ask.get("address"), 0),
                _int(ask.get("quantity"), 1))


# -- writes ------------------------------------------------------------------------------
def _convert(value: Any) -> Any:
    """The strings node-red-contrib-modbus converts: "true"/"false", numbers, "1,2,3"."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if "," in text:
            return [_convert(part) for part in text.split(",")]
        try:
            number = float(text)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if isinstance(value, list):
        return [_convert(v) for v in value]
    return value


def _coil(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise ModbusError(f"a coil takes true/false or 1/0, not {value!r}")


def _register(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and float(value).is_integer() and 0 <= value <= 65535:
        return int(value)
    raise ModbusError(f"a register takes an integer 0..65535, not {value!r}")


def write_values(fc: int, value: Any, quantity: int) -> Any:
    """The value of a write with function `fc`, checked: a bool, an int or a list of them."""
    value = _convert(value)
    if fc in (5, 6):
        if isinstance(value, list):
            if len(value) != 1:
                raise ModbusError(f"function {fc} writes one value, got {len(value)}")
            value = value[0]
        return _coil(value) if fc == 5 else _register(value)
    if fc not in (15, 16):
        raise ModbusError(f"{fc!r} is not a write function (5, 6, 15 or 16)")
    values = value if isinstance(value, list) else [value]
    if len(values) != quantity:
        raise ModbusError(f"quantity {quantity} does not match the {len(values)} values "
                          "to write")
    return [_coil(v) if fc == 15 else _register(v) for v in values]


class _Writer(ModbusUser):
    def request(self, msg: Message, client: ModbusClient) -> tuple[int, int, int, int, Any]:
        raise NotImplementedError

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if "payload" not in msg:
            done()
            return
        client = self.client
        if client is None:
            done("missing modbus-client configuration (server)")
            return
        try:
            fc, unit, address, quantity, raw_value = self.request(msg, client)
            if not 0 <= address <= 65535:
                raise ModbusError(f"address {address} out of range")
            value = write_values(fc, raw_value, quantity)
            response = await client.write(fc, unit, address, value)
        except ModbusError as exc:
            self.fail(str(exc), msg, done)
            return
        if self.current_status.get("text") != "active":
            self.status("green", "dot", "active")
        sent = {"value": value, "fc": fc, "unitid": unit, "address": address,
                "quantity": quantity}
        send(self.outputs(msg, sent, response, value))
        done()


@register("modbus-write")
class ModbusWrite(_Writer):
    """Writes msg.payload (or msg.payload.value) to the coil(s) or register(s) set in the
    node; output 1 carries the request in msg.payload."""

    def request(self, msg: Message, client: ModbusClient) -> tuple[int, int, int, int, Any]:
        data_type = str(self.config.get("dataType") or "")
        if data_type not in WRITE_FC:
            raise ModbusError(f"unknown dataType {data_type!r} (Coil, HoldingRegister, "
                              "MCoils, MHoldingRegisters)")
        payload = msg.get("payload")
        value = payload["value"] if isinstance(payload, dict) and "value" in payload \
            else payload
        return (WRITE_FC[data_type], client.unit_for(self.config.get("unitid")),
                _int(self.config.get("adr"), 0), max(_int(self.config.get("quantity"), 1), 1),
                value)


@register("modbus-flex-write")
class ModbusFlexWrite(_Writer):
    """Writes msg.payload {value, fc, unitid, address, quantity}; fc, address and quantity
    are required."""

    def request(self, msg: Message, client: ModbusClient) -> tuple[int, int, int, int, Any]:
        ask = _payload_object(msg)
        missing = [k for k in ("value", "fc", "address", "quantity") if ask.get(k) in (None, "")]
        if missing:
            raise ModbusError("msg.payload lacks " + ", ".join(missing))
        return (_int(ask["fc"], 0), client.unit_for(ask.get("unitid")),
                _int(ask["address"], -1), _int(ask["quantity"], 0), ask["value"])
