"""Recipes for HTTP endpoints: a body that is checked and handed to writes and topics,
a fixed reply, a reply computed from the query string, and a reply from the latest MQTT
value(s) kept in flow context.
"""

from __future__ import annotations

import json
import re

from assistant.extract import Extracted
from assistant.generate.functions import FunctionSpec
from assistant.generate.recipes.common import (
    _ERROR_SENTENCE,
    _LOGIC,
    _NUMBER,
    _conversion,
    _fill_template,
    _named_field,
    _output_shape,
    _round,
    _Value,
    _without_templates,
    shape_entries,
)
from assistant.generate.understanding import Understanding

# -- fixed replies ---------------------------------------------------------------------

_REPLY_WORD = re.compile(
    r"\b(?:body|answers?|reply|replies|returns?|respond\w*)\s+(?:(?:is|with|just|only)\s+)*"
    r"[\"']?(?P<word>[A-Z][A-Z0-9_]{1,30})[\"']?(?=[\s(.,]|$)")


def _fixed_reply(found: Extracted, u: Understanding) -> str | None:
    """An endpoint that always answers the same thing ("GET /healthz -> body just OK")."""
    text = _ERROR_SENTENCE.sub(" ", u.residual or u.request)
    if _LOGIC.search(_without_templates(text, found)) or u.topics_in or u.registers \
            or u.opcua_nodes or u.files or u.calls:
        return None
    texts = [lit.value for lit in found.literals if not lit.example]
    if not texts:
        said = _REPLY_WORD.search(found.request)
        texts = [said.group("word")] if said else []
    shape = _output_shape(found)
    if re.search(r"\?|\bquery\b|\bparam\w*|\bmissing\b|\b4\d\d\b|:\w+",
                 found.request + "".join(e.path for e in u.served)) \
            or (shape and re.search(r"\d", shape)):
        return None  # the answer depends on the request: not a fixed reply
    if len(texts) == 1 and shape is None:
        plain = re.search(r"text/plain|plain text", found.request, re.I) is not None
        lines = [f"msg.payload = {json.dumps(texts[0])};"]
        if plain:
            lines.append('msg.headers = { "content-type": "text/plain" };')
        lines.append("msg.statusCode = 200;")
        lines.append("return msg;")
        return "\n".join(lines)
    if shape is not None and not texts:
        try:
            body = json.loads(shape)
        except ValueError:
            return None
        return f"msg.payload = {json.dumps(body)};\nmsg.statusCode = 200;\nreturn msg;"
    return None


# -- an HTTP request that writes somewhere and is answered ----------------------------



def _accept_request(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """POST/PUT a body -> check it -> hand the value(s) to the writes and topics -> answer.
    A bad body gets a 400 with the reason when the request says 400; otherwise it throws,
    and the tab's catch answers 500."""
    sinks = spec.sink_types
    if spec.source != "http" or len(sinks) < 2 or sinks[-1] != "http response" \
            or sinks.count("http response") != 1:
        return None
    targets = sinks[:-1]
    if any(t not in ("mqtt out", "modbus-write", "OpcUa-Item", "file") for t in targets):
        return None
    shape = next((s for s in found.json_shapes if s.role == "in"), None)
    if shape is None or not u.json_in:
        return None
    kinds = _field_kinds(shape.text)
    if kinds is None:
        return None
    fields = list(kinds)
    devices = [i for i, t in enumerate(targets) if t not in ("mqtt out", "file")]
    if devices and len(devices) != len(fields) and not (len(devices) == 1 and
                                                         _named_field(found, fields)):
        return None
    feeds = fields if len(devices) == len(fields) else [_named_field(found, fields)] * len(
        devices)
    writes = [r for r in found.registers if r.access == "write"]
    # A bad body is answered 400 unless the request routes errors to a catch (a throw);
    # fields are only checked when the request says what a bad body is.
    said_400 = re.search(r"\b400\b", found.request) is not None
    reject_400 = said_400 or not u.wants_errors
    validate = said_400 or u.wants_errors
    lines = ["const body = msg.payload;",
             'if (body === null || typeof body !== "object") ' + _reject(
                 reject_400, '"the body must be a JSON object"')]
    checked = (feeds if devices else fields) if validate else []
    for name in dict.fromkeys(checked):
        kind = kinds[name]
        if kind == "boolean":
            test = f'typeof body.{name} !== "boolean"'
            why = f"{name} must be true or false"
        elif kind == "number":
            test = f'typeof body.{name} !== "number" || !isFinite(body.{name})'
            why = f"{name} must be a number"
        else:
            test = f"body.{name} === undefined || body.{name} === null || body.{name} === \"\""
            why = f"{name} is missing"
        lines.append(f"if ({test}) {_reject(reject_400, json.dumps(why))}")
        for condition, why in _field_limits(found, name, len(fields) == 1):
            lines.append(f"if ({condition}) {_reject(reject_400, json.dumps(why))}")
    outputs: list[str] = []
    written = "body"
    for i, target in enumerate(targets):
        var = f"out{i + 1}"
        if target == "mqtt out":
            lines.append(f"const {var} = RED.util.cloneMessage(msg);")
        elif target == "file":
            lines.append(f"const {var} = RED.util.cloneMessage(msg);")
            lines.append(f"{var}.payload = {_file_content(found, fields)};")
        else:
            name = feeds[devices.index(i)]
            value = f"body.{name}"
            if target == "modbus-write" and devices.index(i) < len(writes):
                factor = next((s.factor for s in writes[devices.index(i)].scales
                               if s.factor), None)
                if factor:
                    value = f"Math.round({value} / {factor:g})"
            if devices.index(i) == 0:
                written = f"body.{name}"
            lines.append(f"const {var} = RED.util.cloneMessage(msg);")
            lines.append(f"{var}.payload = {value};")
        outputs.append(var)
    reply_shape = next((s.text for s in found.json_shapes if s.role == "out"), None)
    reply = '{ "ok": true }'
    if reply_shape is not None:
        filled = _fill_template(reply_shape, [_Value(written)], {})
        if filled is None:
            filled = _fill_template(reply_shape, [], {})
        if filled is None:
            return None
        reply = filled
    lines.append(f"msg.payload = {reply};")
    lines.append("msg.statusCode = 200;")
    lines.append(f"return [{', '.join(outputs)}, msg];")
    if reject_400:
        # A rejected body is answered on the last output only.
        lines.insert(0, "const reject = (why) => { msg.statusCode = 400; "
                     "msg.payload = { error: why }; return [" + "null, " * len(targets)
                     + "msg]; };")
    return "\n".join(lines)


def _reject(reply_400: bool, why: str) -> str:
    return f"return reject({why});" if reply_400 else f"throw new Error({why});"


def _field_kinds(shape: str) -> dict[str, str] | None:
    """Each body field's kind from the example body: number, boolean or text."""
    kinds: dict[str, str] = {}
    for key, raw in shape_entries(shape) or []:
        if re.fullmatch(r"true\s*\|\s*false|false\s*\|\s*true|true|false", raw):
            kinds[key] = "boolean"
        elif re.fullmatch(rf"{_NUMBER}|n|x|<(?:num\w*|int\w*|n)>", raw):
            kinds[key] = "number"
        else:
            kinds[key] = "text"
    return kinds or None


def _field_limits(found: Extracted, name: str, only: bool) -> list[tuple[str, str]]:
    """Conditions that make `name` invalid: the stated limits near its name (or all of
    them when it is the only field), and "negative"."""
    stem = re.escape(name.split("_")[0])
    checks: list[tuple[str, str]] = []
    for t in found.thresholds:
        before = found.request[max(0, t.start - 40):t.start]
        if not only and not re.search(rf"\b{stem}", before, re.IGNORECASE):
            continue
        value = f"body.{name}"
        if t.op == "range" and t.high is not None:
            checks.append((f"{value} < {t.value:g} || {value} > {t.high:g}",
                           f"{name} must be within {t.value:g}..{t.high:g}"))
        elif t.op in ("gt", "ge"):
            op = ">" if t.op == "gt" else ">="
            checks.append((f"{value} {op} {t.value:g}", f"{name} is too high"))
        elif t.op in ("lt", "le"):
            op = "<" if t.op == "lt" else "<="
            checks.append((f"{value} {op} {t.value:g}", f"{name} is too low"))
    if re.search(rf"\b{stem}\w*\b[^.;]{{0,30}}\bnegative\b", found.request, re.IGNORECASE):
        checks.append((f"body.{name} < 0", f"{name} must not be negative"))
    return checks


# -- endpoints that answer from the request's query or from the latest MQTT values ------

def _query_reply(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """GET /tools/bar2psi?bar=6.5 -> {"bar": 6.5, "psi": 94.27}: the number in the query,
    converted; a missing or non-numeric value is a 400."""
    if spec.source != "http" or spec.sink_types != ["http response"]:
        return None
    asked = [m for e in found.http_endpoints
             for m in re.finditer(r"[?&](?P<name>[A-Za-z_]\w*)=", e.text)]
    shape = _output_shape(found)
    if len(asked) != 1 or shape is None:
        return None
    name = asked[0].group("name")
    converted = _conversion(found.request, "v")
    if converted is None or converted == "v":
        return None
    if found.decimals:
        converted = _round(converted, found.decimals[0].places)
    entries = shape_entries(shape)
    if entries is None:
        return None
    parts = [f"{json.dumps(key)}: {'v' if key == name else converted}" for key, _ in entries]
    return (f"const raw = (msg.req && msg.req.query) ? msg.req.query.{name} : undefined;\n"
            'const v = raw === undefined || String(raw).trim() === "" ? NaN : Number(raw);\n'
            "if (!isFinite(v)) {\n    msg.statusCode = 400;\n"
            f'    msg.payload = {{ error: "{name} is missing or not a number" }};\n'
            "    return msg;\n}\n"
            f"msg.payload = {{ {', '.join(parts)} }};\nmsg.statusCode = 200;\nreturn msg;")


def _latest_reply(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """An endpoint that answers from the latest MQTT value(s) kept in flow context."""
    if spec.source != "http_latest" or spec.sink_types != ["http response"] \
            or len(u.topics_in) != 1:
        return None
    topic = u.topics_in[0]
    plain = re.search(r"text/plain|plain text", found.request, re.I) is not None
    header = 'msg.headers = { "content-type": "text/plain" };\n' if plain else ""
    texts = [lit for lit in found.literals if not lit.example]
    if "+" not in topic and len(texts) == 2:
        # "answer 200 "READY" when its true, otherwise 503 "NOT READY""
        codes = []
        for lit in texts:
            code = re.search(r"(\d{3})\s*[\"']?\s*$", found.request[max(0, lit.start - 8):
                                                                    lit.start])
            codes.append(int(code.group(1)) if code else 200)
        return ('const v = flow.get("latest");\n'
                'const yes = v === true || v === 1 || String(v).toLowerCase() === "true";\n'
                f"msg.payload = yes ? {json.dumps(texts[0].value)} : "
                f"{json.dumps(texts[1].value)};\n"
                f"msg.statusCode = yes ? {codes[0]} : {codes[1]};\n{header}return msg;")
    params = [p for e in u.served for p in re.findall(r":(\w+)", e.path)]
    shape = _output_shape(found)
    if "+" in topic and len(params) == 1 and shape is not None and topic.count("+") == 1:
        # GET /machines/<machine> -> the latest value of plant/hall2/<machine>/state
        head, tail = topic.split("+", 1)
        param = params[0]
        parts: list[str] = []
        value_used = False
        for key, _ in shape_entries(shape) or []:
            if key == param or key.startswith(param[:4]):
                parts.append(f"{json.dumps(key)}: id")
            elif not value_used:
                parts.append(f"{json.dumps(key)}: value")
                value_used = True
            else:
                return None
        return (f"const id = ((msg.req && msg.req.params) || {{}}).{param};\n"
                'const latest = flow.get("latest_by_topic") || {};\n'
                f"const value = latest[{json.dumps(head)} + id + {json.dumps(tail)}];\n"
                "if (value === undefined) {\n"
                "    msg.statusCode = 404;\n"
                f'    msg.payload = {{ error: "nothing heard from " + id }};\n    return msg;\n}}\n'
                f"msg.payload = {{ {', '.join(parts)} }};\nmsg.statusCode = 200;\nreturn msg;")
    return None


def _file_content(found: Extracted, fields: list[str]) -> str:
    """What a request body becomes in a file: one JSON line (with the server's time when
    asked), the one field the request names ("store the zpl text"), or the body as JSON."""
    if any(f.path.endswith(".jsonl") for f in found.files):
        if re.search(r"\btime ?stamp|\bserver time|\breceived\b", found.request, re.I):
            return 'JSON.stringify(Object.assign({}, body, { ts: new Date().toISOString() }))'
        return "JSON.stringify(body)"
    stored = [f for f in fields if re.search(
        rf"\b(?:store|save|write|keep)\s+(?:the\s+)?{re.escape(f)}\b", found.request, re.I)]
    return f"String(body.{stored[0]})" if len(stored) == 1 else "JSON.stringify(body)"
