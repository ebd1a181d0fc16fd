"""Recipes that produce or route text: routing by value to one output per value, a
message as one line of a .jsonl or .csv file, named JSON fields as one CSV line, and the
report of a caught error.
"""

from __future__ import annotations

import json
import re

from assistant.extract import Extracted
from assistant.generate.functions import FunctionSpec
from assistant.generate.recipes.common import (
    _ERROR_SENTENCE,
    _fill_template,
    _without_templates,
)
from assistant.generate.understanding import Understanding

# -- routing by value ----------------------------------------------------------------

_TOPIC_OF = re.compile(r"\(MQTT topic (?P<topic>[^)\s]+)\)")


def _route(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """One output per value: "PASS -> qc/released, FAIL -> qc/blocked"; others dropped."""
    if spec.source not in ("json", "value") or len(spec.outputs) < 2 \
            or any(t != "mqtt out" for t in spec.sink_types):
        return None
    keys: list[str] = []
    for text in spec.outputs:
        m = _TOPIC_OF.search(text)
        if not m:
            return None
        at = found.request.find(m.group("topic"))
        lead = re.search(r"(?P<key>[A-Za-z0-9_.-]+)[\"']?\s*(?:->|→|=>|:|goes to|to)\s*$",
                         found.request[max(0, at - 30):at])
        if at < 0 or not lead:
            return None
        keys.append(lead.group("key"))
    if len(set(keys)) != len(keys):
        return None
    fields = list(u.json_in or {})
    field_name = None
    if spec.source == "json":
        named = [f for f in fields if re.search(rf"\b{re.escape(f)}\s+(?:is|=|:|can be)\s+"
                                                 rf"{re.escape(keys[0])}", found.request)]
        if len(named) != 1:
            return None
        field_name = named[0]
    value = f"msg.payload.{field_name}" if field_name else "msg.payload"
    table = ", ".join(f"{json.dumps(k)}: {i}" for i, k in enumerate(keys))
    guard = ('if (msg.payload === null || typeof msg.payload !== "object") return null;\n'
             if field_name else "")
    return (f"{guard}const port = ({{ {table} }})[String({value}).trim()];\n"
            "if (port === undefined) return null;  // a value with no route is dropped\n"
            f"const out = new Array({len(keys)}).fill(null);\nout[port] = msg;\nreturn out;")


# -- lines for a file ------------------------------------------------------------------

_COLUMNS = re.compile(r"\bcolumns?\s*(?::|are|=)\s*(?P<list>[^.;\n]+)", re.IGNORECASE)
_HEADER = re.compile(r"\bheader(?:\s+(?:row|line))?\s+(?P<list>[\w]+(?:\s*[,;]\s*\w+)+)", re.I)
_ADD_TIME = re.compile(r"\badd(?:ing)?\s+(?:a\s+)?(?:field|key|property)\s+[\"']?(?P<name>\w+)"
                       r"[\"']?\s+with\s+the\s+(?:time|timestamp|date)", re.IGNORECASE)
_TIME_COLUMN = re.compile(r"^(?:iso\s*)?(?:time|ts|timestamp|date|datetime|time\s*stamp|when)"
                          r"$", re.IGNORECASE)
_TEXT_COLUMN = re.compile(r"^(?:text|payload|value|message|msg|alarm|event|data)$", re.I)


def _file_line(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A message as one line of a .jsonl or .csv file."""
    if spec.source not in ("json", "value") or spec.sink_types != ["file"]:
        return None
    files = [f.path for f in found.files if f.mode == "append" or f.path.endswith(
        (".csv", ".jsonl"))]
    path = files[0] if files else ""
    request = found.request
    if spec.source == "value" and files and not path.endswith((".csv", ".jsonl")) \
            and re.search(r"\bwith (?:a |the )?(?:time ?stamp|date|time)\b", request, re.I) \
            and not re.search(r"\blike\b|\bcolumns?\b|\bformat", request, re.I):
        # "log every event text ... with a timestamp": the time, then the text
        return ('msg.payload = new Date().toISOString() + " " + (typeof msg.payload === '
                '"string" ? msg.payload : JSON.stringify(msg.payload));\nreturn msg;')
    whole = [f.path for f in found.files if f.mode == "overwrite"]
    if not files and len(whole) == 1 and whole[0].endswith(".json"):
        return ('msg.payload = typeof msg.payload === "string" ? msg.payload : '
                "JSON.stringify(msg.payload);\nreturn msg;")
    if path.endswith(".jsonl") or re.search(r"\bjson (?:object )?per line|one json object "
                                            r"per line|json lines\b", request, re.I):
        added = _ADD_TIME.search(request)
        extra = f", {{ {json.dumps(added.group('name'))}: new Date().toISOString() }}" \
            if added else ""
        return ('const o = typeof msg.payload === "object" && msg.payload !== null ? '
                "msg.payload : { value: msg.payload };\n"
                f"msg.payload = JSON.stringify(Object.assign({{}}, o{extra}));\nreturn msg;")
    listed = _COLUMNS.search(request)
    header = _HEADER.search(request)
    if not path.endswith((".csv", ".tsv", ".txt")) or not (listed or header):
        return None
    sep = ";" if re.search(r"semicolon", request, re.I) else (
        "\t" if re.search(r"\btab\b", request, re.I) else ",")
    source = listed or header
    assert source is not None
    names = [c.strip() for c in re.split(r"[,;]|\band\b", source.group("list")) if c.strip()]
    fields = list(u.json_in or {})
    cells: list[str] = []
    for name in names:
        if name in fields:
            cells.append(f"o.{name}")
        elif _TIME_COLUMN.match(name):
            cells.append("new Date().toISOString()")
        elif name.lower() == "topic":
            cells.append("msg.topic")
        elif _TEXT_COLUMN.match(name) and spec.source == "value":
            cells.append("msg.payload")
        else:
            return None
    wants_header = header is not None and not re.search(r"\bno header", request, re.I)
    lines = ["const o = msg.payload;"] if spec.source == "json" else []
    if spec.source == "json":
        lines.append('if (o === null || typeof o !== "object") throw new Error("expected a '
                     'JSON object, got " + JSON.stringify(o));')
    quote = ('const cell = (v) => { const s = v === undefined || v === null ? "" : String(v); '
             f'return /[{re.escape(sep)}"\\n]/.test(s) ? \'"\' + s.replace(/"/g, \'""\') + \'"\''
             " : s; };")
    lines.append(quote)
    lines.append(f"let line = [{', '.join(cells)}].map(cell).join({json.dumps(sep)});")
    if wants_header:
        lines.append('if (!context.get("header_written")) {  // the first line, once\n'
                     f"    line = {json.dumps(sep.join(names))} + \"\\n\" + line;\n"
                     '    context.set("header_written", true);\n}')
    lines.append("msg.payload = line;\nreturn msg;")
    return "\n".join(lines)


def _csv_of_listed_fields(spec: FunctionSpec, found: Extracted,
                          u: Understanding) -> str | None:
    """"make one line batch,recipe,kg,end": the named fields of a JSON message as one
    comma-separated line (no header unless asked for)."""
    fields = list(u.json_in or {})
    if spec.source != "json" or len(spec.outputs) != 1 or len(fields) < 2 \
            or spec.sink_types == ["file"]:
        return None
    text = _without_templates(found.request, found)
    if not re.search(r"\bcsv\b|\bcomma|\bsemicolon", text, re.IGNORECASE):
        return None
    for m in re.finditer(r"\b\w+(?:\s*([,;])\s*\w+)+\b", text):
        if not re.search(r"\b(?:lines?|csv|columns?|rows?|as|like)\s*:?\s*$",
                         text[max(0, m.start() - 20):m.start()], re.IGNORECASE):
            continue  # a list describing the input, not the line to make
        names = re.split(r"\s*[,;]\s*", m.group())
        if len(names) >= 2 and all(n in fields for n in names):
            sep = m.group(1)
            cells = ", ".join(f"o.{n}" for n in names)
            return ("const o = msg.payload;\n"
                    'if (o === null || typeof o !== "object") throw new Error("expected a JSON '
                    'object, got " + JSON.stringify(o));\n'
                    f"msg.payload = [{cells}].map((v) => v === undefined || v === null ? \"\" "
                    f": String(v)).join({json.dumps(sep)});\nreturn msg;")
    return None


# -- caught errors -------------------------------------------------------------------

_ORIGINAL = re.compile(r"\boriginal\b|\bunchanged\b|\bas it (?:came|was)\b|\breplay",
                       re.IGNORECASE)
_RAW_TEXT = re.compile(r"\braw (?:text|payload|frame|message)\b", re.IGNORECASE)


def _error_report(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A caught error, reported the way the request's error sentence asks."""
    sentences = [m.group() for m in _ERROR_SENTENCE.finditer(found.request)]
    about = " ".join(sentences) or found.request
    outputs = len(spec.outputs)
    if _ORIGINAL.search(about):
        body = "delete msg.error;"
    elif _RAW_TEXT.search(about):
        body = ('msg.payload = typeof msg.payload === "string" ? msg.payload : '
                "JSON.stringify(msg.payload);\ndelete msg.error;")
    else:
        shapes = [s for s in found.json_shapes if any(s.text in sent for sent in sentences)]
        if shapes:
            named = {"source": _SOURCE, "node": _SOURCE, "error": "msg.error.message",
                     "message": "msg.error.message", "msg": "msg.error.message",
                     "text": "msg.error.message", "topic": "msg.topic",
                     "payload": "msg.payload", "value": "msg.payload", "raw": "msg.payload"}
            body_expr = _fill_template(shapes[0].text, [], named)
            if body_expr is None:
                return None
            body = f"msg.payload = {body_expr};"
        else:
            texts = [lit.value for lit in found.literals
                     if not lit.example and any(lit.text in sent for sent in sentences)]
            if len(texts) == 1:
                body = f"msg.payload = {json.dumps(texts[0])};"
            elif any(t == "http request" for t in spec.sink_types):
                body = f"msg.payload = {{ error: msg.error.message, source: {_SOURCE} }};"
            else:  # "put the error text on ...", and what an unspecified report means
                body = "msg.payload = msg.error.message;"
    if outputs == 1:
        return f"{body}\nreturn msg;"
    copies = ", ".join(["msg"] + ["RED.util.cloneMessage(msg)"] * (outputs - 1))
    return f"{body}\nreturn [{copies}];"


_SOURCE = ("(msg.error.source && (msg.error.source.name || msg.error.source.type + ' ' + "
           "msg.error.source.id)) || 'unknown'")


_LINE_EXAMPLE = re.compile(r"\blike\s+(?P<example>\S.*?)\s*(?:$|(?<=[a-zA-Z0-9%])\.\s|;)", re.I)
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?")
_PAIR = re.compile(r"(?P<key>[A-Za-z_]\w*)=(?P<num>-?\d+(?:\.\d+)?)(?P<unit>[A-Za-z%°/]*)")
_STAMP_JS = ('const pad = (n) => String(n).padStart(2, "0");\n'
             "const now = new Date();\n"
             'const stamp = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + '
             'pad(now.getDate()) + " " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + '
             '":" + pad(now.getSeconds());\n')


def key_value_line(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """"append a line like  2024-05-02 10:15:03 cycle=812ms force=143.2kN": the example's
    time stamp becomes the current time and each key=value takes the JSON field of that
    name (or that name plus a unit suffix: cycle -> cycle_ms)."""
    fields = list(u.json_in or {})
    if spec.source != "json" or len(spec.outputs) != 1 or not fields:
        return None
    m = _LINE_EXAMPLE.search(found.request)
    if not m or not _PAIR.search(m.group("example")):
        return None
    example = m.group("example").strip()
    pieces: list[str] = []
    pos = 0
    uses_stamp = False
    tokens = sorted([*(("stamp", t) for t in _STAMP.finditer(example)),
                     *(("pair", t) for t in _PAIR.finditer(example))], key=lambda t: t[1].start())
    for kind, token in tokens:
        if token.start() < pos:
            return None
        if token.start() > pos:
            pieces.append(json.dumps(example[pos:token.start()]))
        if kind == "stamp":
            pieces.append("stamp")
            uses_stamp = True
        else:
            key = token.group("key")
            field = key if key in fields else next(
                (f for f in fields if f.lower().startswith(key.lower() + "_")), None)
            if field is None:
                return None
            pieces.append(json.dumps(f"{key}="))
            pieces.append(f"o.{field}")
            if token.group("unit"):
                pieces.append(json.dumps(token.group("unit")))
        pos = token.end()
    if pos < len(example):
        pieces.append(json.dumps(example[pos:]))
    return ("const o = msg.payload;\n"
            'if (o === null || typeof o !== "object") throw new Error("expected a JSON object, '
            'got " + JSON.stringify(o));\n'
            + (_STAMP_JS if uses_stamp else "")
            + f"msg.payload = {' + '.join(pieces)};\nreturn msg;")


def file_content(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A file read on the way to a reply or a topic: text as it is (plain text for an HTTP
    caller when asked), or parsed when the request says the content is JSON."""
    if spec.source != "file" or len(spec.outputs) != 1:
        return None
    if spec.sink_types == ["http response"]:
        plain = re.search(r"text/plain|plain text|as text", found.request, re.I) is not None
        header = 'msg.headers = { "content-type": "text/plain" };\n' if plain else ""
        return f"{header}msg.statusCode = 200;\nreturn msg;"
    if spec.sink_types == ["mqtt out"] and re.search(r"\bjson\b", found.request, re.I):
        return ('if (typeof msg.payload === "string") msg.payload = JSON.parse(msg.payload);'
                "\nreturn msg;")
    return None
