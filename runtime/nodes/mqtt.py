"""MQTT: the `mqtt-broker` config node and the `mqtt in` / `mqtt out` nodes, on paho-mqtt 2.

Every broker config node owns one paho client, shared by the in and out nodes that name it,
and connects when the first of them registers. The client's network I/O runs on the flow's
event loop (`mqtt_connection.LoopConnection`: only the blocking connect runs in a thread), and
it reconnects with a growing delay; so what paho reports (connects, drops, messages,
acknowledgements) arrives on that loop, where node state lives. The users of a broker show
green "connected", red "disconnected" or yellow "connecting". Property names and payload
rules follow Node-RED 4.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import ssl
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from runtime.jsvalues import format_number
from runtime.message import Message, new_message
from runtime.node import Done, Node, Send
from runtime.nodes.mqtt_connection import LoopConnection
from runtime.registry import register

_PROTOCOLS = {"3": mqtt.MQTTv31, "4": mqtt.MQTTv311, "5": mqtt.MQTTv5}
_STATUS = {"connected": ("green", "dot"), "disconnected": ("red", "ring"),
           "connecting": ("yellow", "ring")}
# MQTT v5 content types Node-RED knows; any other falls back to the UTF-8 check.
_TEXT_TYPES = {"text/css", "text/html", "text/plain", "application/xml"}
_BINARY_TYPES = {f"application/{t}" for t in ("octet-stream", "pdf", "x-gtar", "x-gzip",
                                               "x-tar", "zip")} | {
    f"audio/{t}" for t in ("aac", "ac3", "basic", "mp4", "ogg")} | {
    f"image/{t}" for t in ("bmp", "gif", "jpeg", "tiff", "png")}
_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883, "tls": 8883,
                  "ws": 80, "wss": 443}
_SUB_TOPIC = re.compile(r"^(#$|(\+|[^+#]*)(/(\+|[^+#]*))*(/(\+|#|[^+#]*))?$)")
_BAD_PUB_TOPIC = re.compile(r"[+#\b\f\n\r\t\v\0]")


# -- payloads --------------------------------------------------------------------------------
class PayloadError(ValueError):
    """A payload the node was told to parse as JSON is not JSON."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """JSON the way JavaScript's JSON.parse reads it (no NaN or Infinity)."""
    return json.loads(text, parse_constant=_reject_constant)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_payload(raw: bytes, datatype: str, content_type: str | None = None,
                   utf8_flag: bool = False) -> Any:
    """An incoming payload as the `mqtt in` output setting asks: "buffer" (bytes), "base64",
    "utf8" (a string), "json" (parsed, PayloadError when it is not JSON), "auto-detect" (parsed
    JSON when the text is JSON, else a string, bytes when it is not UTF-8) or the older "auto"
    (a string, or bytes). A v5 content type or UTF-8 flag takes precedence for the auto modes."""
    if datatype == "buffer":
        return raw
    if datatype == "base64":
        return base64.b64encode(raw).decode("ascii")
    if datatype == "utf8":
        return raw.decode("utf-8", errors="replace")
    text = raw.decode("utf-8", errors="replace") if utf8_flag else _utf8(raw)
    if datatype == "json":
        if text is None:
            raise PayloadError("Invalid JSON string")
        try:
            return parse_json(text)
        except ValueError as exc:
            raise PayloadError("Failed to parse JSON string") from exc
    media = (content_type or "").lower()
    if media in _BINARY_TYPES:
        return raw
    if media in _TEXT_TYPES:
        return raw.decode("utf-8", errors="replace")
    if media == "application/json":
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = parse_json(text)
        except ValueError as exc:
            raise PayloadError("Failed to parse JSON string") from exc
        return parsed if datatype == "auto-detect" else text
    if text is None:
        return raw
    if datatype == "auto-detect":
        try:
            return parse_json(text)
        except ValueError:
            pass
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"type": "Buffer", "data": list(value)}
    return str(value)


def encode_payload(value: Any) -> bytes:
    """What `mqtt out` puts on the wire: bytes as they are, objects and arrays as compact
    JSON, numbers and booleans as their text, nothing as an empty payload."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return format_number(value).encode()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=_json_default).encode("utf-8")
    return str(value).encode("utf-8")


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def _qos(value: Any, default: int) -> int:
    try:
        qos = int(value)
    except (TypeError, ValueError):
        return default
    return qos if qos in (0, 1, 2) else default


def _flag(value: Any) -> bool:
    return value is True or value == "true"


def matches(sub: str, topic: str) -> bool:
    """Whether the subscription `sub` (+ and # wildcards, $share/group/ prefix) covers
    `topic`; wildcards at the first level do not match $ topics. (paho's topic_matches_sub
    builds a matcher tree per call: this runs for every message.)"""
    if sub.startswith("$share/"):
        sub = sub.split("/", 2)[2] if sub.count("/") >= 2 else sub
    if sub == topic:
        return True
    if "+" not in sub and "#" not in sub:
        return False
    if topic.startswith("$") and sub[0] in "+#":
        return False
    wanted, levels = sub.split("/"), topic.split("/")
    for i, level in enumerate(wanted):
        if level == "#":
            return True
        if i >= len(levels) or (level != "+" and level != levels[i]):
            return False
    return len(wanted) == len(levels)


def endpoint(config: dict[str, Any]) -> tuple[str, int, str, bool, str]:
    """(host, port, transport, tls, websocket path) from `broker` (a host name or a URL such
    as mqtt://, mqtts://, ws://, wss://), `port` and `usetls`."""
    broker = str(config.get("broker") or "").strip() or "localhost"
    if "://" in broker:
        url = urlsplit(broker)
        scheme = url.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"unsupported broker URL scheme {scheme!r}")
        transport = "websockets" if scheme in ("ws", "wss") else "tcp"
        tls = scheme in ("mqtts", "ssl", "tls", "wss")
        return (url.hostname or "localhost", url.port or _DEFAULT_PORTS[scheme], transport, tls,
                url.path or "/mqtt")
    port = int(str(config.get("port") or 1883).strip())
    return broker.strip("[]"), port, "tcp", _flag(config.get("usetls")), "/mqtt"


@dataclass
class _Sub:
    node: MqttIn
    topic: str
    qos: int
    options: dict[str, Any]


# -- the broker ------------------------------------------------------------------------------
@register("mqtt-broker")
class MqttBroker(Node):
    """One connection to an MQTT broker, shared by its `mqtt in` and `mqtt out` nodes."""

    is_config = True
    reconnect_min = 1.0  # seconds before the first retry, doubled up to reconnect_max
    reconnect_max = 30.0
    queue_limit = 1000  # QoS 1/2 messages kept while disconnected

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.users: dict[str, Node] = {}
        self.subs: dict[str, _Sub] = {}
        self.subscribed: set[str] = set()  # filters the broker acknowledged this connection
        self.state = "disconnected"
        self.v5 = False
        self.url = ""
        self.client: mqtt.Client | None = None
        self._conn: LoopConnection | None = None
        self._pending: dict[int, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closing = False
        self._warned_drop = False

    async def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.config.get("autoConnect") in (False, "false"):
            self.warn("autoConnect off is not supported (no connect action): connecting "
                      "when a node uses this broker")

    # -- users ---------------------------------------------------------------------------
    def register(self, node: Node) -> None:
        """Add a user; the first one starts the connection."""
        self.users[node.id] = node
        if not self._started and not self._closing:
            self._started = True
            self._connect()  # shows the new state on every user
        else:
            self._show(node)

    def deregister(self, node: Node) -> None:
        self.users.pop(node.id, None)
        self.subs.pop(node.id, None)

    def subscribe(self, node: MqttIn, topic: str, qos: int, options: dict[str, Any]) -> None:
        self.subs[node.id] = _Sub(node, topic, qos, options)
        if self.state == "connected":
            self._send_subscribe(topic)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool,
                properties: Properties | None = None) -> MQTTErrorCode:
        """Queue a publish with paho; MQTT_ERR_NO_CONN when not connected (QoS 0 is then
        lost, QoS 1/2 go out after the reconnect)."""
        if self._conn is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        return self._conn.publish(topic, payload, qos, retain, properties)

    def warn_dropped(self) -> None:
        """Warn once per disconnection that QoS 0 messages are being dropped."""
        if not self._warned_drop:
            self._warned_drop = True
            self.warn(f"not connected to {self.url}: QoS 0 messages are dropped until the "
                      "connection is back")

    # -- the connection ------------------------------------------------------------------
    def _connect(self) -> None:
        cfg = self.config
        try:
            host, port, transport, tls, path = endpoint(cfg)
            keepalive = cfg.get("keepalive")
            keepalive = 60 if keepalive in (None, "") else int(float(keepalive))
        except ValueError as exc:
            self.error(f"bad broker settings: {exc}")
            self._set_state("disconnected")
            return
        version = "3" if _flag(cfg.get("compatmode")) else str(cfg.get("protocolVersion") or 4)
        protocol = _PROTOCOLS.get(version, mqtt.MQTTv311)
        self.v5 = protocol == mqtt.MQTTv5
        clientid = str(cfg.get("clientid") or "")
        clean = cfg.get("cleansession") not in (False, "false")
        if not clean and not clientid:
            self.warn("No client ID set, using clean session")
            clean = True
        scheme = "ws" if transport == "websockets" else "mqtt"
        self.url = f"{scheme}{'s' if tls else ''}://{host}:{port}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=clientid or f"plumb_{uuid.uuid4().hex[:12]}",
                             clean_session=None if self.v5 else clean, protocol=protocol,
                             transport="websockets" if transport == "websockets" else "tcp")
        if transport == "websockets":
            client.ws_set_options(path=path)
        if tls:
            if cfg.get("tls"):
                self.warn("the tls-config node is not supported: its certificates are ignored "
                          "and the system's CA certificates verify the broker")
            verify = _flag(cfg.get("verifyservercert")) or bool(cfg.get("tls"))
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
            client.tls_insecure_set(not verify)
        creds: dict[str, Any] = cfg["credentials"] if isinstance(cfg.get("credentials"),
                                                                 dict) else {}
        if creds.get("user"):
            client.username_pw_set(str(creds["user"]), str(creds.get("password") or "") or None)
        if cfg.get("willTopic"):
            client.will_set(str(cfg["willTopic"]), str(cfg.get("willPayload") or ""),
                            _qos(cfg.get("willQos"), 0), _flag(cfg.get("willRetain")))
        client.max_queued_messages_set(self.queue_limit)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        extra: dict[str, Any] = {}
        if self.v5:
            extra["clean_start"] = clean
            expiry = int(cfg.get("sessionExpiry") or 0)
            if expiry > 0:
                props = _properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = expiry
                extra["properties"] = props
        try:
            client.connect_async(host, port, keepalive, **extra)
        except ValueError as exc:
            self.error(f"bad broker settings: {exc}")
            self._set_state("disconnected")
            return
        self.client = client
        self._loop = self._loop or asyncio.get_running_loop()
        self._conn = LoopConnection(
            client, self._loop, name=self.id, reconnect_min=self.reconnect_min,
            reconnect_max=self.reconnect_max, queue_limit=self.queue_limit,
            failed=lambda _: self._lost("Connection failed to broker"), warn=self.warn)
        self._set_state("connecting")
        self._conn.start()

    # paho's callbacks, on the event loop
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            self._refused(str(reason))
        else:
            self._connected()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Properties | None) -> None:
        self._lost("Disconnected from broker")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._dispatch(message.topic, bytes(message.payload), int(message.qos),
                           bool(message.retain), getattr(message, "properties", None))
        except Exception as exc:  # never into paho: it would lose its place in the stream
            self.error(f"a message on {message.topic!r} failed: {exc}")

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Properties | None) -> None:
        self._acked(mid, [(r.is_failure, str(r)) for r in reasons])

    def _connected(self) -> None:
        if self._closing:
            return
        if self._conn is not None:
            self._conn.connected()
        self.log(f"Connected to broker: {self.url}")
        self._warned_drop = False
        self.subscribed.clear()
        self._set_state("connected")
        for topic in sorted({sub.topic for sub in self.subs.values()}):
            self._send_subscribe(topic)
        birth = str(self.config.get("birthTopic") or "")
        if birth and self.client is not None:
            self.client.publish(birth, str(self.config.get("birthPayload") or ""),
                                _qos(self.config.get("birthQos"), 0),
                                _flag(self.config.get("birthRetain")))

    def _refused(self, reason: str) -> None:
        if not self._closing:
            self.error(f"the broker {self.url} refused the connection: {reason}")
            self._set_state("disconnected")

    def _lost(self, what: str) -> None:
        if self._closing:
            return
        if self.state != "disconnected":
            self.log(f"{what}: {self.url}")
        self.subscribed.clear()
        self._pending.clear()
        self._set_state("disconnected")

    def _send_subscribe(self, topic: str) -> None:
        subs = [sub for sub in self.subs.values() if sub.topic == topic]
        if not subs or self.client is None:
            return
        qos = max(sub.qos for sub in subs)
        if self.v5:
            opts = subs[0].options
            rc, mid = self.client.subscribe(topic, options=SubscribeOptions(
                qos=qos, noLocal=bool(opts.get("nl")), retainAsPublished=bool(opts.get("rap")),
                retainHandling=int(opts.get("rh") or 0)))
        else:
            rc, mid = self.client.subscribe(topic, qos)
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
            self._pending[mid] = topic

    def _acked(self, mid: int, reasons: list[tuple[bool, str]]) -> None:
        topic = self._pending.pop(mid, None)
        if topic is None:
            return
        if any(failed for failed, _ in reasons):
            self.warn(f"the broker refused the subscription to {topic!r}: "
                      + ", ".join(text for _, text in reasons))
        else:
            self.subscribed.add(topic)

    def _dispatch(self, topic: str, payload: bytes, qos: int, retain: bool,
                  properties: Properties | None, tries: int = 0) -> None:
        if self._closing:
            return
        if not self.runtime.running:  # the flow is still starting: hold it a little
            if self._loop is not None and tries < 100:
                self._loop.call_later(0.05, self._dispatch, topic, payload, qos, retain,
                                      properties, tries + 1)
            return
        for sub in list(self.subs.values()):
            if matches(sub.topic, topic):
                sub.node.receive(topic, payload, qos, retain, properties)

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        for node in list(self.users.values()):
            self._show(node)

    def _show(self, node: Node) -> None:
        fill, shape = _STATUS[self.state]
        node.status(fill, shape, self.state)

    async def on_close(self) -> None:
        """Publish the close message if one is set, disconnect; waits at most a little
        under the runtime's close timeout."""
        self._closing = True
        conn, self._conn, self.client = self._conn, None, None
        if conn is None:
            return
        budget = max(0.5, min(3.0, self.runtime.close_timeout * 0.8))
        close_topic = str(self.config.get("closeTopic") or "")
        message = None
        if close_topic and self.state == "connected":
            message = (close_topic, str(self.config.get("closePayload") or ""),
                       _qos(self.config.get("closeQos"), 0), _flag(self.config.get("closeRetain")))
        if not await conn.close(budget, message):
            self.warn("the broker did not take the DISCONNECT in time; the connection was "
                      "dropped")
        self.state = "disconnected"


def _broker_of(node: Node) -> MqttBroker | None:
    broker = node.runtime.nodes.get(str(node.config.get("broker") or ""))
    if isinstance(broker, MqttBroker):
        return broker
    node.error("missing broker configuration")
    return None


# -- in and out ------------------------------------------------------------------------------
@register("mqtt in")
class MqttIn(Node):
    """Subscribes to `topic` (+ and # wildcards) at `qos` and sends what arrives as
    {topic, payload, qos, retain}, the payload converted as `datatype` says."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.topic = str(config.get("topic") or "")
        self.qos = _qos(config.get("qos"), 2)
        self.datatype = str(config.get("datatype") or "utf8")
        self.broker: MqttBroker | None = None

    async def on_start(self) -> None:
        self.broker = _broker_of(self)
        if self.broker is None:
            return
        if str(self.config.get("inputs") or "0") == "1":
            self.warn("dynamic subscriptions (msg.action) are not supported")
            return
        if not self.topic:
            self.error("topic not defined")
            return
        if not _SUB_TOPIC.match(self.topic):
            self.warn("Invalid topic specified")
            return
        self.broker.register(self)
        options = {"nl": _flag(self.config.get("nl")),
                   "rap": self.config.get("rap") not in (False, "false"),
                   "rh": _qos(self.config.get("rh"), 0)}
        self.broker.subscribe(self, self.topic, self.qos, options)

    def receive(self, topic: str, raw: bytes, qos: int, retain: bool,
                properties: Properties | None) -> None:
        """One message from the broker, on the event loop."""
        msg = new_message(topic=topic, payload=None, qos=qos, retain=retain)
        content_type, utf8_flag = None, False
        if properties is not None:
            content_type = getattr(properties, "ContentType", None)
            utf8_flag = getattr(properties, "PayloadFormatIndicator", 0) == 1
            for attr, key in (("ResponseTopic", "responseTopic"),
                              ("CorrelationData", "correlationData"),
                              ("ContentType", "contentType"),
                              ("MessageExpiryInterval", "messageExpiryInterval")):
                if hasattr(properties, attr):
                    msg[key] = getattr(properties, attr)
            if hasattr(properties, "PayloadFormatIndicator"):
                msg["payloadFormatIndicator"] = utf8_flag
            if hasattr(properties, "UserProperty"):
                msg["userProperties"] = dict(properties.UserProperty)
        try:
            msg["payload"] = decode_payload(raw, self.datatype, content_type, utf8_flag)
        except PayloadError as exc:
            self.error(str(exc), new_message(topic=topic, payload=raw, qos=qos, retain=retain))
            return
        self.send(msg)

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        done("dynamic subscriptions (msg.action) are not supported")

    async def on_close(self) -> None:
        if self.broker is not None:
            self.broker.deregister(self)


@register("mqtt out")
class MqttOut(Node):
    """Publishes msg.payload to `topic` (or msg.topic when that is empty), with `qos` and
    `retain` from the node or, where the node leaves them empty, from the message."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.broker: MqttBroker | None = None

    async def on_start(self) -> None:
        self.broker = _broker_of(self)
        if self.broker is not None:
            self.broker.register(self)

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        broker = self.broker
        if broker is None:
            done("missing broker configuration")
            return
        if msg.get("action"):
            done("msg.action (connect, disconnect) is not supported")
            return
        if "payload" not in msg:
            done()
            return
        cfg = self.config
        topic = str(cfg.get("topic") or "") or msg.get("topic")
        qos = _qos(cfg.get("qos"), -1)
        if qos < 0:
            qos = _qos(msg.get("qos"), 0)
        retain = cfg.get("retain")
        if retain in (None, "", False):
            retain = msg.get("retain")
        if not isinstance(topic, str) or not topic or _BAD_PUB_TOPIC.search(topic):
            self.warn("Invalid topic specified")
            done()
            return
        properties = self._properties(msg) if broker.v5 else None
        rc = broker.publish(topic, encode_payload(msg["payload"]), qos, _flag(retain), properties)
        if rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos == 0:
            broker.warn_dropped()
        elif rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            done(f"publish failed: {mqtt.error_string(rc)}")
            return
        done()

    def _properties(self, msg: Message) -> Properties | None:
        """MQTT v5 publish properties: the node's settings, else the message's."""
        cfg = self.config
        user = msg.get("userProperties")
        if str(cfg.get("userProps") or "").strip().startswith("{"):
            with contextlib.suppress(ValueError):
                user = json.loads(str(cfg["userProps"]))
        correl = cfg.get("correl") or msg.get("correlationData")
        expiry = cfg.get("expiry") or msg.get("messageExpiryInterval")
        values = {
            "ResponseTopic": str(cfg.get("respTopic") or msg.get("responseTopic") or ""),
            "CorrelationData": correl if isinstance(correl, bytes) else str(correl or "").encode(),
            "ContentType": str(cfg.get("contentType") or msg.get("contentType") or ""),
            "MessageExpiryInterval": int(expiry) if expiry else 0,
            "UserProperty": [(str(k), v) for k, v in user.items() if isinstance(v, str)]
            if isinstance(user, dict) else [],
            "PayloadFormatIndicator": int(_flag(msg.get("payloadFormatIndicator")))}
        if not any(values.values()):
            return None
        props = _properties(PacketTypes.PUBLISH)
        for name, value in values.items():
            if value:
                setattr(props, name, value)
        return props
