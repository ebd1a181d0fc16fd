"""OPC UA: node-red-contrib-opcua's `OpcUa-Endpoint` config node and the `OpcUa-Item` and
`OpcUa-Client` nodes, on an asyncua Client running on the flow's event loop.

Every OpcUa-Endpoint owns one connection. A supervisor task connects it, watches it and,
after the connection is lost or a connect fails, reconnects with a growing delay (0.5 s up to
10 s). The OpcUa-Client nodes show green "connected", yellow "connecting" or red
"disconnected"; a failed request shows red "error: ..." and goes to the Catch nodes.

Message shapes follow node-red-contrib-opcua: OpcUa-Item sets msg.topic to the node id,
msg.datatype and msg.browseName; OpcUa-Client takes the node id from msg.topic (a
";datatype=X" suffix is understood) and the action from msg.action or its setting.
  read       output 1: msg.payload = the value, msg.statusCode, msg.sourceTimestamp,
             msg.serverTimestamp
  write      writes msg.payload as msg.datatype; output 1: msg.payload = the status code
             {value: 0, description: "No Error", name: "Good"}
  subscribe  ("monitor" too, without deadband) the first subscribe sends
             {topic: "subscriptionId", payload: <id>}, then one message per data change
             {topic: node id, payload: value}; the publishing interval is time/timeUnit
  unsubscribe / deletesubscription  stop one node id / all of them
  browse     output 1: msg.payload = the children of msg.topic
Only security policy None and anonymous or user name/password logins are supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import Subscription
from asyncua.ua.uaerrors import UaStatusCodeError

from runtime.message import Message, new_message
from runtime.node import Done, Node, Send
from runtime.registry import register

_STATUS = {"connected": ("green", "dot", "connected"),
           "connecting": ("yellow", "ring", "connecting"),
           "disconnected": ("red", "ring", "disconnected"),
           "error": ("red", "ring", "error")}
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_INTEGERS = {"Int8": "SByte", "SByte": "SByte", "UInt8": "Byte", "Byte": "Byte",
             "Int16": "Int16", "UInt16": "UInt16", "Int32": "Int32", "UInt32": "UInt32",
             "Int64": "Int64", "UInt64": "UInt64"}
_REQUEST_TIMEOUT = 5.0
_BACKOFF_MIN, _BACKOFF_MAX = 0.5, 10.0

logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # it logs every failed connect


class OpcUaError(Exception):
    """A request that could not be made or that the server refused."""


def _flag(value: Any) -> bool:
    return value is True or value == "true"


def interval_ms(time_value: Any, unit: Any) -> float:
    """The publishing interval: `time` in `timeUnit` (ms); 10 s for an unknown unit."""
    factor = _UNIT_MS.get(str(unit or ""))
    try:
        number = float(time_value)
    except (TypeError, ValueError):
        number = 0
    if factor is None or number <= 0:
        return 10_000.0
    return number * factor


def split_topic(topic: Any) -> tuple[str, str]:
    """(node id, datatype) from a msg.topic such as "ns=3;s=Counter;datatype=Double"."""
    text = str(topic or "").strip()
    datatype = ""
    if ";datatype=" in text:
        text, datatype = text.split(";datatype=", 1)
    return text.strip(), datatype.strip()


def parse_node_id(text: str) -> ua.NodeId:
    if not text:
        raise OpcUaError("no node id: msg.topic must be like ns=2;s=Machine.Speed")
    try:
        return ua.NodeId.from_string(text)
    except Exception as exc:
        raise OpcUaError(f"invalid node id {text!r}: {exc}") from exc


def convert(value: Any, datatype: str) -> Any:
    """A value as node-red-contrib-opcua converts it for `datatype` (texts are parsed)."""
    kind = datatype.replace(" ", "")
    try:
        if kind == "Boolean":
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("true", "1"):
                    return True
                if text in ("false", "0", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind in _INTEGERS:
            if isinstance(value, bool):
                return int(value)
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if kind in ("Float", "Double"):
            if isinstance(value, bool):
                return float(value)
            return float(value)
        if kind in ("String", "LocalizedText"):
            return value if isinstance(value, str) else str(value)
        if kind == "DateTime":
            if isinstance(value, datetime.datetime):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC)
            return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError) as exc:
        raise OpcUaError(f"cannot convert {value!r} to {datatype}") from exc
    return value


def variant(value: Any, datatype: str) -> ua.Variant:
    """`value` as a typed Variant for writing; the type from msg.datatype."""
    kind = datatype.replace(" ", "")
    if not kind:
        raise OpcUaError("no datatype: set msg.datatype (an OpcUa-Item does) to write")
    name = _INTEGERS.get(kind, kind)
    if name == "LocalizedText":
        return ua.Variant(ua.LocalizedText(str(value)), ua.VariantType.LocalizedText)
    if name not in ("Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64",
                    "UInt64", "Float", "Double", "String", "DateTime"):
        raise OpcUaError(f"datatype {datatype!r} is not supported for write")
    return ua.Variant(convert(value, kind), getattr(ua.VariantType, name))


def status_code(code: ua.StatusCode | None) -> dict[str, Any]:
    """A status code as node-opcua shows it: {value, description, name}."""
    if code is None:
        return {"value": 0, "description": "No Error", "name": "Good"}
    value = int(code.value)
    if value == 0:
        return {"value": 0, "description": "No Error", "name": "Good"}
    name, description = ua.status_codes.get_name_and_doc(value)
    return {"value": value, "description": description, "name": name}


def _failure(exc: BaseException) -> str:
    if isinstance(exc, UaStatusCodeError):
        name, doc = ua.status_codes.get_name_and_doc(exc.code)
        return f"{name}: {doc}"
    if isinstance(exc, TimeoutError):
        return "no answer from the OPC UA server (timeout)"
    return str(exc) or type(exc).__name__


@register("OpcUa-Endpoint")
class OpcUaEndpoint(Node):
    """One OPC UA server connection, shared by the OpcUa-Client nodes that name it."""

    is_config = True

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.url = str(config.get("endpoint") or "").strip()
        raw = config.get("credentials")
        creds: dict[str, Any] = raw if isinstance(raw, dict) else {}
        self.user = str(creds.get("user") or "") if _flag(config.get("login")) else ""
        self.password = str(creds.get("password") or "") if self.user else ""
        self.users: dict[str, OpcUaClientNode] = {}
        self.state = "connecting"
        self.problem = ""
        self.client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closing = False
        self._reported = False

    async def on_start(self) -> None:
        policy = str(self.config.get("secpol") or "None")
        mode = str(self.config.get("secmode") or "None")
        if not self.url.startswith("opc.tcp://"):
            self.problem = f"endpoint {self.url!r} is not an opc.tcp:// URL"
        elif policy != "None" or mode.lower() != "none":
            self.problem = (f"security policy {policy}/{mode} is not supported, only None "
                            "(no signing or encryption)")
        elif _flag(self.config.get("usercert")):
            self.problem = "user certificate login (usercert) is not supported"
        if self.problem:
            self.error(self.problem)
            self._set_state("error")
            return
        self._task = asyncio.create_task(self._supervise(), name=f"opcua-{self.id}")

    async def _on_lost(self, exc: Exception) -> None:
        self._lost.set()

    def _alive(self, client: Client) -> bool:
        state = getattr(getattr(client, "uaclient", None), "state", None)
        return state is None or getattr(state, "name", "CONNECTED") == "CONNECTED"

    async def _supervise(self) -> None:
        backoff = _BACKOFF_MIN
        while not self._closing:
            self._set_state("connecting")
            client = Client(self.url, timeout=_REQUEST_TIMEOUT, watchdog_intervall=1.0)
            client.connection_lost_callback = self._on_lost
            if self.user:
                client.set_user(self.user)
                client.set_password(self.password)
            self._lost.clear()
            try:
                await asyncio.wait_for(client.connect(), _REQUEST_TIMEOUT * 2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._drop(client)
                if not self._reported:
                    self._reported = True
                    self.warn(f"cannot connect to the OPC UA server {self.url} "
                              f"({_failure(exc)}); retrying")
                self._set_state("disconnected")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            backoff = _BACKOFF_MIN
            self._reported = False
            self.client = client
            self.log(f"connected to the OPC UA server {self.url}")
            self._set_state("connected")
            while not self._closing and not self._lost.is_set() and self._alive(client):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), 0.5)
            self.client = None
            if self._closing:
                return
            self.log(f"lost the connection to the OPC UA server {self.url}")
            self._set_state("disconnected")
            await self._drop(client)
            await asyncio.sleep(backoff)

    async def _drop(self, client: Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 2)

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        for user in list(self.users.values()):
            user.endpoint_state(state)

    def register(self, user: OpcUaClientNode) -> None:
        self.users[user.id] = user
        user.endpoint_state(self.state)

    def deregister(self, user: OpcUaClientNode) -> None:
        self.users.pop(user.id, None)

    def ready(self) -> Client:
        if self.problem:
            raise OpcUaError(self.problem)
        client = self.client
        if client is None or self.state != "connected":
            raise OpcUaError(f"not connected to the OPC UA server {self.url} "
                             f"(state {self.state})")
        return client

    def connection_failed(self) -> None:
        """A request failed in a way that may mean the server is gone: check at once."""
        client = self.client
        if client is not None and not self._alive(client):
            self._lost.set()

    async def on_close(self) -> None:
        self._closing = True
        self._lost.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.client is not None:
            await self._drop(self.client)
            self.client = None
        self.state = "disconnected"


@register("OpcUa-Item")
class OpcUaItem(Node):
    """Sets msg.topic (node id), msg.datatype and msg.browseName; converts a text payload to
    the type; an empty or missing payload takes the configured value."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        item = str(self.config.get("item") or "")
        datatype = str(self.config.get("datatype") or "")
        msg["topic"] = item
        msg["datatype"] = datatype
        msg["browseName"] = self.name
        value = self.config.get("value")
        payload = msg.get("payload")
        if (payload is None or payload == "") and value not in (None, ""):
            payload = value
        if isinstance(payload, str) and payload != "" and datatype.replace(" ", "") in (
                "Boolean", "Float", "Double", *_INTEGERS):
            with contextlib.suppress(OpcUaError):
                payload = convert(payload, datatype)
        if payload is not None or "payload" in msg:
            msg["payload"] = payload
        send(msg)
        done()


class _Changes:
    """asyncua's subscription handler: one message per data change."""

    def __init__(self, owner: OpcUaClientNode) -> None:
        self.owner = owner

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.owner.changed(node, val, data)

    def status_change_notification(self, status: Any) -> None:
        return


@register("OpcUa-Client")
class OpcUaClientNode(Node):
    """read, write, subscribe/monitor, unsubscribe, deletesubscription and browse."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.endpoint: OpcUaEndpoint | None = None
        self.action = str(config.get("action") or "read")
        self.interval = interval_ms(config.get("time"), config.get("timeUnit"))
        self.subscription: Subscription | None = None
        self.monitored: dict[str, tuple[int | None, float]] = {}  # node id -> handle, sampling
        self._announced = False
        self._resubscribe: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        endpoint = self.runtime.nodes.get(str(self.config.get("endpoint") or ""))
        if not isinstance(endpoint, OpcUaEndpoint):
            self.error("missing OpcUa-Endpoint configuration (endpoint)")
            self.status("red", "ring", "no endpoint")
            return
        self.endpoint = endpoint
        endpoint.register(self)

    def endpoint_state(self, state: str) -> None:
        fill, shape, text = _STATUS[state]
        if state == "error" and self.endpoint is not None and self.endpoint.problem:
            text = f"error: {self.endpoint.problem}"[:80]
        self.status(fill, shape, text)
        if state == "connected" and self.monitored:
            # a new session: the old subscription is gone, make it again
            self.subscription = None
            self._resubscribe = asyncio.get_running_loop().create_task(self._restore())
        elif state != "connected":
            self.subscription = None

    async def _restore(self) -> None:
        for node_id, (_, sampling) in list(self.monitored.items()):
            try:
                await self._monitor(node_id, sampling)
            except Exception as exc:
                self.error(f"cannot subscribe again to {node_id}: {_failure(exc)}")

    def fail(self, text: str, done: Done) -> None:
        self.status("red", "ring", f"error: {text}"[:80])
        if self.endpoint is not None:
            self.endpoint.connection_failed()
        done(text)

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        action = str(msg.get("action") or self.action)
        if self.endpoint is None:
            done("missing OpcUa-Endpoint configuration (endpoint)")
            return
        try:
            if action == "read":
                await self._read(msg, send)
            elif action == "write":
                await self._write(msg, send)
            elif action in ("subscribe", "monitor"):
                await self._subscribe(msg, send)
            elif action == "unsubscribe":
                await self._unsubscribe(msg)
            elif action in ("deletesubscription", "deletesubscribtion"):
                await self._delete()
            elif action == "browse":
                await self._browse(msg, send)
            else:
                raise OpcUaError(f"action {action!r} is not supported (read, write, "
                                 "subscribe, monitor, unsubscribe, deletesubscription, browse)")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(f"OPC UA {action} of {msg.get('topic')!r} failed: {_failure(exc)}", done)
            return
        done()

    def _ok(self, text: str) -> None:
        if self.current_status.get("text") != text:
            self.status("green", "dot", text)

    async def _read(self, msg: Message, send: Send) -> None:
        node_id, _ = split_topic(msg.get("topic"))
        client = self.endpoint.ready() if self.endpoint else None
        assert client is not None
        node = client.get_node(parse_node_id(node_id))
        data = await asyncio.wait_for(node.read_data_value(), _REQUEST_TIMEOUT)
        if data.StatusCode is not None and not data.StatusCode.is_good():
            raise UaStatusCodeError(data.StatusCode.value)  # type: ignore[no-untyped-call]
        msg["payload"] = data.Value.Value if data.Value is not None else None
        msg["statusCode"] = status_code(data.StatusCode)
        msg["sourceTimestamp"] = data.SourceTimestamp
        msg["serverTimestamp"] = data.ServerTimestamp
        self._ok("value read")
        send([msg, None, None])

    async def _write(self, msg: Message, send: Send) -> None:
        node_id, suffix_type = split_topic(msg.get("topic"))
        datatype = str(msg.get("datatype") or suffix_type or "")
        client = self.endpoint.ready() if self.endpoint else None
        assert client is not None
        node = client.get_node(parse_node_id(node_id))
        value = variant(msg.get("payload"), datatype)
        await asyncio.wait_for(node.write_value(ua.DataValue(value)), _REQUEST_TIMEOUT)
        msg["payload"] = status_code(None)
        self._ok("value written")
        send([msg, None, None])

    async def _subscribe(self, msg: Message, send: Send) -> None:
        node_id, _ = split_topic(msg.get("topic"))
        parse_node_id(node_id)
        sampling = msg.get("interval")
        if not isinstance(sampling, int | float) or isinstance(sampling, bool):
            sampling = 100
        self.endpoint.ready() if self.endpoint else None
        if node_id in self.monitored and self.subscription is not None:
            return
        await self._monitor(node_id, float(sampling))
        self.monitored.setdefault(node_id, (None, float(sampling)))
        self._ok("subscribed")

    async def _monitor(self, node_id: str, sampling: float) -> None:
        assert self.endpoint is not None
        client = self.endpoint.ready()
        if self.subscription is None:
            self.subscription = await asyncio.wait_for(
                client.create_subscription(self.interval, _Changes(self)), _REQUEST_TIMEOUT)
            if not self._announced:
                self._announced = True
                self.send([new_message(topic="subscriptionId",
                                       payload=self.subscription.subscription_id), None, None])
        node = client.get_node(parse_node_id(node_id))
        handle = await asyncio.wait_for(
            self.subscription.subscribe_data_change(node, sampling_interval=ua.Double(sampling)),
            _REQUEST_TIMEOUT)
        if not isinstance(handle, int):
            raise OpcUaError(f"the server refused to monitor {node_id}: {handle}")
        self.monitored[node_id] = (handle, sampling)

    def changed(self, node: Any, val: Any, data: Any) -> None:
        if not self.runtime.running:
            return
        node_id = node.nodeid.to_string()
        value = getattr(getattr(data, "monitored_item", None), "Value", None)
        msg = new_message(topic=node_id, payload=val)
        if value is not None:
            msg["statusCode"] = status_code(value.StatusCode)
            msg["sourceTimestamp"] = value.SourceTimestamp
            msg["serverTimestamp"] = value.ServerTimestamp
        self.send([msg, None, None])

    async def _unsubscribe(self, msg: Message) -> None:
        node_id, _ = split_topic(msg.get("topic"))
        entry = self.monitored.pop(node_id, None)
        if entry is not None and entry[0] is not None and self.subscription is not None:
            await asyncio.wait_for(self.subscription.unsubscribe(entry[0]), _REQUEST_TIMEOUT)
        self._ok("unsubscribed")

    async def _delete(self) -> None:
        self.monitored.clear()
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            await asyncio.wait_for(subscription.delete(), _REQUEST_TIMEOUT)
        self._ok("subscription deleted")

    async def _browse(self, msg: Message, send: Send) -> None:
        node_id, _ = split_topic(msg.get("topic"))
        client = self.endpoint.ready() if self.endpoint else None
        assert client is not None
        node = client.get_node(parse_node_id(node_id or "i=85"))
        children = await asyncio.wait_for(node.get_children(), _REQUEST_TIMEOUT)
        items = []
        for child in children:
            name = await asyncio.wait_for(child.read_browse_name(), _REQUEST_TIMEOUT)
            node_class = await asyncio.wait_for(child.read_node_class(), _REQUEST_TIMEOUT)
            items.append({"nodeId": child.nodeid.to_string(), "browseName": name.to_string(),
                          "nodeClass": node_class.name})
        msg["payload"] = items
        self._ok("browse done")
        send([msg, None, None])

    async def on_close(self) -> None:
        if self._resubscribe is not None:
            self._resubscribe.cancel()
        subscription, self.subscription = self.subscription, None
        self.monitored.clear()
        if subscription is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(subscription.delete(), 2)
        if self.endpoint is not None:
            self.endpoint.deregister(self)
