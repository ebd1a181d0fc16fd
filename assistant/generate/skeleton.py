"""From what the request names to a plan: triggers, fetches, one function, sinks.

The shape of almost every edge flow is the same - something starts it (a subscription, a
poll, a schedule, an HTTP call, a button), something fetches data (a PLC read, an OPC UA
read, a file), one step reshapes it, and one or more sinks take it (a topic, a register, an
OPC UA variable, an HTTP reply or call, a file). Code picks each part from the values the
request states; the only part left to the model is the reshaping code, described by a
`FunctionSpec` for each function node in the plan.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from assistant.extract import Extracted
from assistant.generate.branches import acknowledge_writes, error_branch
from assistant.generate.functions import FunctionSpec
from assistant.generate.plan import Plan, PlanConfig, PlanNode
from assistant.generate.understanding import Device, RegisterRef, Understanding

PLACEHOLDER_BROKER = "mqtt-broker.invalid"

# Words that mean the data must be reshaped on the way (otherwise it passes as it is).
_TRANSFORM = re.compile(
    r"\bconver\w*|\bscal\w*|\bx ?\d+\b|\*\s*\d|\bdecimal|°\s*[CF]\b|\bdeg\s*[CF]\b|celsius|"
    r"fahrenheit|\bpsi\b|\bjson|\{|\babove|below|\bover\b|under\b|greater|less than|more than|"
    r"[<>]=?\s*-?\d|calc\w*|\bsum\b|\bmean|average|\bcount(?!er)|format|text like|\bcsv\b|"
    # "(Int32)", "datatype Int32", "(Float)" name an OPC UA type, not a conversion
    r"line like|\bbits?\b|uint|(?<!\()(?<!datatype )\bint32|\bfloat(?!\))|divid\w*|"
    r"multipl\w*|round|metres|meters|kwh|"
    r"\bdelta|\bprevious\b|\bsince the\b|differen\w*|\bfield|timestamp|envelope|lookup|"
    r"\bpars\w*|\bextract|as text|\bnet\b|\bwindow|\bhighest|\blowest|\bmax(?:imum)?\b|"
    r"\bmin(?:imum)?\b|\bpeak|"
    r"\bratio|\bpercent|4-20|\binvert|\bnegat\w*|\bstate\b|\bon\b ?/ ?\boff\b|plain number|"
    r"\bwords?\b|\bmerge|combine|\bpair|split|\btemplate|\bmessage like|column|comma|"
    r"separated|semicolon|\biso\b|time ?stamp|epoch|\bheader|\blines?\b(?! ?\d)|\brows?\b|jsonl|"
    r"\badd(?:ed|s)?\b|\bwith\b.{0,20}\bappended|\bprefix|suffix|\blike\s*[\"'{]",
    re.IGNORECASE,
)


@dataclass
class Skeleton:
    plan: Plan
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # plan key -> spec


def _register_props(reg: RegisterRef) -> dict[str, Any]:
    kinds = {"holding": "HoldingRegister", "input": "InputRegister", "coil": "Coil",
             "discrete": "Input"}
    return {"dataType": kinds[reg.kind], "adr": str(reg.address), "quantity": str(reg.count)}


def _write_props(reg: RegisterRef) -> dict[str, Any]:
    if reg.kind == "coil":
        kind = "MCoils" if reg.count > 1 else "Coil"
    else:
        kind = "MHoldingRegisters" if reg.count > 1 else "HoldingRegister"
    return {"dataType": kind, "adr": str(reg.address), "quantity": str(reg.count)}


def _describe_register(reg: RegisterRef) -> str:
    names = {"holding": "holding register", "input": "input register", "coil": "coil",
             "discrete": "discrete input"}
    span = f"{reg.address}" if reg.count == 1 else f"{reg.address}..{reg.address + reg.count - 1}"
    return f"{names[reg.kind]} {span} (zero-based)"


def _register_input(reg: RegisterRef) -> str:
    what = "number" if reg.kind in ("holding", "input") else "true/false value"
    name = reg.text or _describe_register(reg)
    if reg.count == 1:
        return (f"msg.payload is an array of 1 {what} read from the PLC: msg.payload[0] is "
                f"{name}")
    return (f"msg.payload is an array of {reg.count} {what}s read from the PLC ({name}): "
            f"msg.payload[0] is the first, msg.payload[{reg.count - 1}] the last")


_KEEP_LATEST = """const byTopic = flow.get("latest_by_topic") || {};
byTopic[msg.topic] = msg.payload;
flow.set("latest_by_topic", byTopic);
flow.set("latest", msg.payload);
return null;"""


def _keep_latest(b: _Builder, sources: list[str]) -> None:
    """MQTT data that something else acts on later: keep the newest payload, overall and
    per topic, in flow context."""
    for key in sources:
        store = b.add("function", "keep", "keeps the latest value, also per topic (fixed code)",
                      name="keep latest", func=_KEEP_LATEST, outputs=1, timeout=1, noerr=0)
        b.plan.wire(key, store)


def _latest_text(topics: list[str]) -> str:
    return (f"flow.get('latest') holds the latest MQTT payload received (from "
            f"{', '.join(topics)}); flow.get('latest_by_topic') is an object of the latest "
            "payload per topic (both undefined before the first message)")


def _json_text(value: Any) -> str:

    return json.dumps(value)[:200]


def _register_sample(reg: RegisterRef) -> list[Any]:
    return [1234] * reg.count if reg.kind in ("holding", "input") else [True] * reg.count


def _sample_payload(u: Understanding, fallback: Any) -> Any:
    if u.json_in is not None:
        return dict(u.json_in)
    if re.search(r"true ?/ ?false|\bbool", u.request, re.IGNORECASE):
        return True
    return fallback


class _Builder:
    def __init__(self, u: Understanding):
        self.u = u
        self.plan = Plan(name=plan_title(u.request))
        self.functions: dict[str, FunctionSpec] = {}
        self.counter = 0
        self.kept: dict[str, str] = {}  # a "keep value" change node -> the write it feeds

    def sink_type(self, key: str) -> str:
        """The node type a sink writes to, looking through a "keep value" step before it."""
        return self.kept.get(key, self.plan.node(key).type)

    def key(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def add(self, type_: str, stem: str, why: str = "", **props: Any) -> str:
        key = self.key(stem)
        self.plan.add(PlanNode(key, type_, dict(props), why=why))
        return key

    # -- config nodes ---------------------------------------------------------------
    def broker(self) -> str:
        if self.u.broker:
            host, port = self.u.broker
        else:
            host, port = PLACEHOLDER_BROKER, 1883
            note = (f"No MQTT broker was named: the flow uses the placeholder host {host}; "
                    "set the real broker address in the mqtt-broker config node.")
            if note not in self.plan.notes:
                self.plan.notes.append(note)
        self.plan.config(PlanConfig("broker", "mqtt-broker",
                                    {"name": f"Broker {host}", "broker": host, "port": port}))
        return "broker"

    def plc(self, device: Device | None) -> str:
        if device is None:
            device = self.u.devices[0] if self.u.devices else Device("plc.invalid")
            if device.host == "plc.invalid":
                self.plan.notes.append("No PLC address was named: the modbus-client uses the "
                                       "placeholder host plc.invalid; set the real address.")
        key = f"plc_{device.host}_{device.port}"
        props: dict[str, Any] = {"name": f"PLC {device.host}", "tcpHost": device.host,
                                 "tcpPort": device.port}
        if device.unit is not None:
            props["unit_id"] = device.unit
        self.plan.config(PlanConfig(key, "modbus-client", props))
        return key

    def opc_endpoint(self) -> str:
        url = self.u.opcua_endpoint or "opc.tcp://opcua-server.invalid:4840"
        if not self.u.opcua_endpoint:
            self.plan.notes.append("No OPC UA server was named: the endpoint is the "
                                   f"placeholder {url}; set the real one.")
        self.plan.config(PlanConfig("opc", "OpcUa-Endpoint", {"name": url, "endpoint": url}))
        return "opc"

    def rate_limiter(self, what: str, *, drop: bool) -> str:
        """A delay node in rate mode for the request's "at most N per S seconds"."""
        assert self.u.rate_limit is not None
        count, seconds = self.u.rate_limit
        return self.add("delay", "limit", f"at most {count} {what} per {seconds:g} s",
                        name=f"{count} msg / {seconds:g} s", pauseType="rate", timeout="5",
                        timeoutUnits="seconds", rate=str(count), nbRateUnits=f"{seconds:g}",
                        rateUnits="second", drop=drop, allowrate=False, outputs=1)

    # -- sources -------------------------------------------------------------------
    def mqtt_in(self, topic: str) -> str:
        key = self.add("mqtt in", "in", f"subscribes to {topic}", name=topic, topic=topic,
                       qos="1", datatype="auto-detect")
        self.plan.node(key).configs["broker"] = self.broker()
        return key

    def timer(self) -> str | None:
        key = self._timer()
        if key and len(self.u.literals) == 1:
            # A schedule that sends a fixed command: the inject carries the text itself.
            node = self.plan.node(key)
            node.props.update(payload=self.u.literals[0], payloadType="str")
        elif key and self.u.json_body is not None:
            # ... or a fixed JSON body ("every 10 min PUT {...} to ...").
            node = self.plan.node(key)
            node.props.update(payload=self.u.json_body, payloadType="json")
            self.u.residual = self.u.residual.replace(self.u.json_body, " ")
        return key

    def _timer(self) -> str | None:
        u = self.u
        if u.cron:
            return self.add("inject", "when", f"fires on the schedule {u.cron}",
                            name=f"cron {u.cron}", crontab=u.cron, repeat="")
        if u.interval_s:
            return self.add("inject", "every", f"fires every {u.interval_s:g} s",
                            name=f"every {u.interval_s:g} s", repeat=f"{u.interval_s:g}",
                            once=True, onceDelay=0.5)
        if u.button:
            return self.add("inject", "button", "a button to click in the editor",
                            name="click to run")
        return None

    def modbus_poll(self, reg: RegisterRef) -> str:
        seconds = self.u.interval_s or 5.0
        if not self.u.interval_s:
            self.plan.notes.append("No polling interval was stated: the read runs every 5 s.")
        rate, unit = (f"{seconds * 1000:g}", "ms") if seconds < 1 else (f"{seconds:g}", "s")
        props = {"name": _describe_register(reg), **_register_props(reg), "rate": rate,
                 "rateUnit": unit}
        if reg.device and reg.device.unit is not None:
            props["unitid"] = str(reg.device.unit)
        key = self.add("modbus-read", "poll", f"reads {_describe_register(reg)} every "
                       f"{seconds:g} s", **props)
        self.plan.node(key).configs["server"] = self.plc(reg.device)
        return key

    def modbus_get(self, reg: RegisterRef) -> str:
        # keepMsgProperties: the reply to an HTTP caller (msg.req/res) must survive the read.
        props = {"name": reg.text or _describe_register(reg), **_register_props(reg),
                 "keepMsgProperties": True}
        if reg.device and reg.device.unit is not None:
            props["unitid"] = str(reg.device.unit)
        key = self.add("modbus-getter", "get", f"reads {_describe_register(reg)} on demand",
                       **props)
        self.plan.node(key).configs["server"] = self.plc(reg.device)
        return key

    def opc_client(self, action: str, seconds: float = 1) -> str:
        key = self.add("OpcUa-Client", "opc", f"OPC UA {action}", name=action, action=action,
                       time=seconds, timeUnit="s")
        self.plan.node(key).configs["endpoint"] = self.opc_endpoint()
        return key


def plan_title(request: str) -> str:
    """The tab label for a request: its first words."""
    words = re.sub(r"\s+", " ", request).strip().split(" ")
    return " ".join(words[:8])[:60] or "Plumb flow"


def needs_transform(request: str) -> bool:
    return bool(_TRANSFORM.search(request))


def build_skeleton(u: Understanding, found: Extracted | None = None) -> Skeleton:
    """Lay out the flow for what `u` names (`found`, when given, allows the patterns that
    need the request's exact wording, such as supervision with a timeout)."""
    b = _Builder(u)
    if found is not None:
        from assistant.generate.watchdog import build_watchdog

        watchdog = build_watchdog(b, found)
        if watchdog is not None:
            return watchdog
        b = _Builder(u)  # a pattern that declined may have added nodes
    request = u.request
    reads = [r for r in u.registers if not r.write]
    writes = [r for r in u.registers if r.write]
    opc_reads = [n for n in u.opcua_nodes if not n.write]
    opc_writes = [n for n in u.opcua_nodes if n.write]

    # ---- what starts the flow, and what the message looks like then ----
    heads: list[str] = []
    input_text = ""
    source = ""  # what arrives at the reshaping step, for the recipes
    sample: Any = 42.5
    for endpoint in u.served:
        heads.append(b.add("http in", "http", f"serves {endpoint.method.upper()} "
                           f"{endpoint.path}", name=f"{endpoint.method.upper()} {endpoint.path}",
                           url=endpoint.path, method=endpoint.method))
    if u.served:
        source = "http"
        input_text = ("msg.payload is the parsed JSON request body (POST/PUT) and "
                      "msg.req.query / msg.req.params hold the query and path parameters")
        sample = _sample_payload(u, {})
    served_only = bool(u.served)

    # Data arrives by MQTT but a schedule or a button decides when to act on it: keep the
    # latest value(s) in flow context and let the timer start the work.
    timed = bool(u.topics_in and (u.cron or u.interval_s or u.button) and not served_only
                 and not reads and not opc_reads)
    if u.topics_in:
        keys = [b.mqtt_in(t) for t in u.topics_in]
        if timed:
            _keep_latest(b, keys)
            timer = b.timer()
            if timer:
                heads = [timer]
            source = "latest"
            input_text = ("the schedule fired (msg.payload is the time). "
                          + _latest_text(u.topics_in))
            sample = 1700000000000
        elif not served_only:
            heads = keys
            sample = _sample_payload(u, 42.5)
            if isinstance(sample, dict) and "<value>" in sample.values():
                source = "json"
                input_text = ("msg.payload is a parsed JSON object with the fields "
                              f"{', '.join(sample)}; msg.topic is its topic")
            elif isinstance(sample, dict):
                source = "json"
                input_text = ("msg.payload is a parsed JSON object like "
                              f"{_json_text(sample)}; msg.topic is its topic")
            else:
                source = "value"
                input_text = ("msg.payload is the MQTT message (a number, true/false or "
                              "text) and msg.topic its topic")
        else:
            # Data arrives by MQTT and is served over HTTP: keep the latest value.
            _keep_latest(b, keys)
            source = "http_latest"
            input_text += ". " + _latest_text(u.topics_in)

    fetch_input = ""
    if reads and not heads and (u.interval_s or not (u.cron or u.button)):
        heads = [b.modbus_poll(reads[0])]
        source = "plc"
        fetch_input = _register_input(reads[0])
        sample = _register_sample(reads[0])
        reads = reads[1:]
    if opc_reads and not heads and (u.opcua_subscribe or u.interval_s):
        if u.opcua_subscribe:
            start = b.add("inject", "start", "starts the subscription once at deploy",
                          name="subscribe at start", once=True, onceDelay=0.5)
        else:
            start = b.timer() or b.add("inject", "every", "polls", repeat="5")
        item = b.add("OpcUa-Item", "item", f"names {opc_reads[0].node_id}",
                     name=opc_reads[0].node_id, item=opc_reads[0].node_id,
                     datatype=opc_reads[0].datatype or "Double")
        client = b.opc_client("subscribe" if u.opcua_subscribe else "read",
                              u.interval_s or 1)
        b.plan.chain(start, item, client)
        head = client
        if u.opcua_subscribe:
            skip = b.add("switch", "skip", "drops the subscription id message",
                         name="skip subscriptionId", property="topic", propertyType="msg",
                         rules=[{"t": "neq", "v": "subscriptionId", "vt": "str"}],
                         checkall="true", outputs=1)
            b.plan.wire(client, skip)
            head = skip
        heads = [head]
        source = "opc"
        fetch_input = "msg.payload is the value of the OPC UA variable, msg.topic its node id"
        sample = 42.5 if (opc_reads[0].datatype or "Double") not in ("Boolean", "String") \
            else (True if opc_reads[0].datatype == "Boolean" else "TEXT")
        opc_reads = opc_reads[1:]
    if not heads:
        timer = b.timer()
        if timer:
            heads = [timer]
            source = "timer"
            input_text = "msg.payload is the current time in milliseconds (Date.now())"
            sample = 1700000000000
    if not heads and any(f.mode == "watch" for f in u.files):
        watched = next(f for f in u.files if f.mode == "watch")
        heads = [b.add("watch", "watch", f"watches {watched.path}", name=watched.path,
                       files=watched.path, recursive=False)]
        source = "watch"
        input_text = "msg.payload is the full path of the file that changed, msg.file its name"
        sample = "/data/in/file1.csv"

    # ---- fetches on demand (a getter after an HTTP call, a button, a schedule) ----
    chain = list(heads)
    for reg in reads[:1]:
        getter = b.modbus_get(reg)
        for h in chain:
            b.plan.wire(h, getter)
        chain = [getter]
        source = "plc"
        fetch_input = _register_input(reg)
        sample = _register_sample(reg)
    if opc_reads:
        item = b.add("OpcUa-Item", "item", f"names {opc_reads[0].node_id}",
                     name=opc_reads[0].node_id, item=opc_reads[0].node_id,
                     datatype=opc_reads[0].datatype or "Double")
        client = b.opc_client("read")
        for h in chain:
            b.plan.wire(h, item)
        b.plan.wire(item, client)
        chain = [client]
        source = "opc"
        fetch_input = "msg.payload is the value read from the OPC UA variable"
        sample = 42.5
    for f in u.files:
        if f.mode == "read":
            reader = b.add("file in", "read", f"reads {f.path}", name=f.path, filename=f.path,
                           format="utf8", allProps=True)
            for h in chain:
                b.plan.wire(h, reader)
            chain = [reader]
            source = "file"
            fetch_input = f"msg.payload is the content of {f.path} as one string"
            sample = '{"name": "A1", "value": 1}' if f.path.endswith(".json") else "a,b\n1,2\n"
    # A GET is a fetch when something else is the destination: its reply flows on.
    gets = [c for c in u.calls if c.method == "GET"]
    if gets and chain and (u.topics_out or u.served or len(u.calls) > len(gets)):
        call = gets[0]
        # A URL with a slot for the message ("/api/items/<code>"): the node's own URL
        # takes the payload through its mustache syntax.
        url = re.sub(r"<[^>/]+>|\{[^}/]+\}", "{{{payload}}}", call.url)
        fetch = b.add("http request", "get", f"GET {call.url}", name=f"GET {call.url}",
                      method="GET", url=url, ret="obj", paytoqs="ignore", headers=[])
        for h in chain:
            b.plan.wire(h, fetch)
        chain = [fetch]
        source = "fetch"
        fetch_input = f"msg.payload is the parsed JSON reply of GET {call.url}"
        sample = {"id": 1}
        u.calls = [c for c in u.calls if c is not call]

    # ---- sinks ----
    sinks: list[tuple[str, str]] = []  # (plan key, what that output must carry)
    topic_map: tuple[str, str] | None = None
    for topic in u.topics_out:
        dynamic = _PLACEHOLDER.search(topic) is not None
        props: dict[str, Any] = {"name": topic, "topic": "" if dynamic else topic,
                                 "qos": str(u.qos) if u.qos is not None else "1",
                                 "retain": "true" if u.retain else "false"}
        key = b.add("mqtt out", "pub", f"publishes on {topic}", **props)
        b.plan.node(key).configs["broker"] = b.broker()
        if dynamic and len(u.topics_in) == 1 and "+" in u.topics_in[0]:
            # One subscription for many devices: the device's part of the topic it came on
            # picks the topic it goes out on.
            topic_map = (u.topics_in[0], topic)
            sinks.append((key, f"(MQTT topic {topic}): set msg.topic to that topic, with "
                          f"each <...> part taken from the + parts of the incoming topic "
                          f"{u.topics_in[0]}; msg.payload to publish there"))
        else:
            sinks.append((key, f"(MQTT topic {topic}): msg.payload to publish there"))
    write_ends: dict[str, str] = {}  # a write's sink key -> the node whose output says done
    for reg in writes:
        props = {"name": f"write {reg.text or _describe_register(reg)}", **_write_props(reg),
                 "keepMsgProperties": True}
        if reg.device and reg.device.unit is not None:
            props["unitid"] = str(reg.device.unit)
        key = b.add("modbus-write", "write", f"writes {_describe_register(reg)}", **props)
        b.plan.node(key).configs["server"] = b.plc(reg.device)
        value = "a number" if reg.kind != "coil" else "true or false"
        many = " (an array, one value per register)" if reg.count > 1 else ""
        sinks.append((key, f"(PLC {reg.text or _describe_register(reg)}): msg.payload = the "
                      f"value to write, {value}{many}"))
        write_ends[key] = key
    for node in opc_writes:
        item = b.add("OpcUa-Item", "item", f"names {node.node_id}", name=node.node_id,
                     item=node.node_id, datatype=node.datatype or "Double")
        client = b.opc_client("write")
        b.plan.wire(item, client)
        sinks.append((item, f"(OPC UA variable {node.node_id}, {node.datatype or 'Double'}): "
                      "msg.payload = the value to write"))
        write_ends[item] = client
    for call in u.calls:
        url = call.url
        dynamic = "<" in url or "{" in url
        key = b.add("http request", "call", f"{call.method} {url}", name=f"{call.method} {url}",
                    method=call.method, url="" if dynamic else url, ret="obj"
                    if call.method == "GET" else "txt", paytoqs="ignore", headers=[])
        sinks.append((key, f"(HTTP {call.method} {url}): "
                      + ("set msg.url to the full URL; " if dynamic else "")
                      + ("msg.payload = the JSON body" if call.method != "GET"
                         else "the reply arrives later in msg.payload")))
    for f in u.files:
        if f.mode in ("append", "overwrite"):
            key = b.add("file", "file", f"{'appends to' if f.mode == 'append' else 'writes'} "
                        f"{f.path}", name=f.path, filename=f.path, filenameType="str",
                        appendNewline=f.mode == "append", createDir=True,
                        overwriteFile="true" if f.mode == "overwrite" else "false")
            verb = "append as one line" if f.mode == "append" else "write as the whole file"
            sinks.append((key, f"(file {f.path}, written by the next node): msg.payload = "
                          f"the text to {verb}"))
            write_ends[key] = key
    if u.served:
        reply = b.add("http response", "reply", "answers the HTTP caller", name="reply")
        sinks.append((reply, "(HTTP reply to the caller): msg.payload = the body, "
                      "msg.statusCode = the status (200 unless stated)"))
    sinks = acknowledge_writes(b, sinks, write_ends)
    error_sinks: list[tuple[str, str]] = []
    if u.wants_errors:
        error_sinks = [s for s in sinks if _ERROR_SINK.search(b.plan.node(s[0]).props.get(
            "topic", "") or b.plan.node(s[0]).props.get("url", "") or "")]
        if len(error_sinks) == len(sinks):
            error_sinks = []
        sinks = [s for s in sinks if s not in error_sinks]
    if not sinks:
        key = b.add("debug", "show", "shows the result in the debug sidebar", name="result")
        sinks.append((key, "(debug sidebar): msg.payload = the value to show"))
        b.plan.notes.append("The request names no destination: the result goes to a debug "
                            "node. Say where it should go (a topic, a register, a file...).")

    # ---- the reshaping step, and the stages code handles itself ----
    arrival = fetch_input or input_text or "msg.payload is the incoming value"
    if chain and u.join_count:
        join = b.add("join", "join", f"collects {u.join_count} messages into one array",
                     name=f"{u.join_count} per array", mode="custom", build="array",
                     property="payload", propertyType="msg", count=str(u.join_count),
                     timeout="", joiner="\\n", joinerType="str", accumulate=False)
        for h in chain:
            b.plan.wire(h, join)
        chain = [join]
        source = "join"
        arrival = f"msg.payload is an array of the last {u.join_count} payloads"
        sample = [sample] * u.join_count
    if chain and u.onnx is not None:
        model = u.onnx
        scorer = b.add("plumb-onnx", "onnx", f"scores the data with {model.path}",
                       name=model.path.rsplit("/", 1)[-1], model=model.path, input="payload",
                       output="payload", inputName=model.input_name,
                       outputName=model.output_name, dtype=model.dtype, shape=model.shape)
        if reads_sample_is_array(arrival) and not u.join_count:
            chain = [_pick_first(b, chain)]
        for h in chain:
            b.plan.wire(h, scorer)
        chain = [scorer]
        source = "onnx"
        arrival = ("msg.payload is the model's output tensor as nested arrays, e.g. [[0.42]] "
                   "(the score is msg.payload[0][0])")
        sample = [[0.42]]
    if error_sinks or (u.wants_errors and u.served):
        error_branch(b, error_sinks, [s for s in sinks
                                       if b.plan.node(s[0]).type == "http response"])
    post: list[str] = []
    if len(sinks) == 1 and (u.changes_only or u.deadband is not None):
        func = "deadbandEq" if u.deadband is not None else "rbe"
        post.append(b.add("rbe", "rbe", "passes a value on only when it changed"
                          + (f" by {u.deadband:g} or more" if u.deadband is not None else ""),
                          name="changes only" if u.deadband is None else
                          f"moved >= {u.deadband:g}", func=func,
                          gap="" if u.deadband is None else f"{u.deadband:g}", start="",
                          inout="out", septopics=True, property="payload", topi="topic"))
    if len(sinks) == 1 and u.rate_limit:
        post.append(b.rate_limiter("message(s)", drop=not u.queue_all))
    http_reply_only = bool(u.served) and len(sinks) == 1
    reshape = needs_transform(u.residual or request)
    single_filter = (len(u.limits) == 1 and not reshape and len(sinks) == 1
                     and not http_reply_only)
    if single_filter and chain:
        limit_op, limit = u.limits[0]
        switch_op = {"ge": "gte", "le": "lte"}.get(limit_op, limit_op)
        key = b.add("switch", "filter", f"passes values {switch_op} {limit:g}",
                    name=f"{switch_op} {limit:g}", property="payload", propertyType="msg",
                    rules=[{"t": switch_op, "v": f"{limit:g}", "vt": "num"}], checkall="true",
                    outputs=1)
        if reads_sample_is_array(arrival):
            key0 = _pick_first(b, chain)
            chain = [key0]
        for h in chain:
            b.plan.wire(h, key)
        chain = [key]
        reshape = False
    formatted_file = any(b.plan.node(key).type == "file" and re.search(
        r"\.(?:csv|jsonl|log|tsv)$", str(b.plan.node(key).props.get("filename", "")))
        for key, _ in sinks)
    transform = (reshape or http_reply_only or len(sinks) > 1 or formatted_file
                 or topic_map is not None)
    if transform and chain:
        key = b.add("function", "fn", "reshapes the message (code written for this request)",
                    name="transform", outputs=len(sinks), timeout=5, noerr=0)
        for h in chain:
            b.plan.wire(h, key)
        if post:
            b.plan.chain(key, *post)
            b.plan.wire(post[-1], sinks[0][0])
        else:
            for port, (sink, _) in enumerate(sinks):
                b.plan.wire(key, sink, port)
        task = request
        if u.wants_errors:
            task += ("\n(Errors are handled by a separate catch node: on bad input, throw an "
                     "Error here instead of reporting it.)")
        hints = []
        replies = [i for i, (k, _) in enumerate(sinks, 1)
                   if b.plan.node(k).type == "http response"]
        if replies and len(sinks) > 1:
            hints.append(f"every request must get exactly one reply on output {replies[0]}; "
                         "send a copy elsewhere with RED.util.cloneMessage(msg)")
        b.functions[key] = FunctionSpec(task=task, input=arrival, hints=hints,
                                        outputs=[text for _, text in sinks], source=source,
                                        topic_map=topic_map,
                                        sink_types=[b.sink_type(k) for k, _ in sinks],
                                        sample=_sample_message(source, sample))
    elif chain:
        feed = chain
        if reads_sample_is_array(arrival):
            feed = [_pick_first(b, chain)]
        if post:
            for h in feed:
                b.plan.wire(h, post[0])
            b.plan.chain(*post)
            feed = [post[-1]]
        for h in feed:
            for sink, _ in sinks:
                b.plan.wire(h, sink)
    return Skeleton(b.plan, b.functions)


_PLACEHOLDER = re.compile(r"<[^>/]+>|\{[^}/]+\}|(?:^|/)\+(?:/|$)")
_ERROR_SINK = re.compile(r"err|alarm|alert|dlq|dead|fail|bad|reject|invalid|fault", re.I)


def _sample_message(source: str, payload: Any) -> dict[str, Any]:
    """The message a function is tried on: an HTTP request also carries msg.req."""
    msg: dict[str, Any] = {"payload": payload, "topic": "t"}
    if source.startswith("http"):
        msg["req"] = {"query": {}, "params": {}, "headers": {}}
    return msg


def _pick_first(b: _Builder, chain: list[str]) -> str:
    pick = b.add("change", "first", "takes the register value out of the array",
                 name="payload[0]", rules=[{"t": "set", "p": "payload", "pt": "msg",
                                             "to": "payload[0]", "tot": "jsonata"}])
    for h in chain:
        b.plan.wire(h, pick)
    return pick


def reads_sample_is_array(arrival: str) -> bool:
    return arrival.startswith("msg.payload is an array of 1 ")
