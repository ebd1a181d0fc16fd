"""Text the request pins exactly: OPC UA node ids, inline JSON, quoted and upper-case text."""

from __future__ import annotations

import re

from assistant.extract.model import JsonShape, Literal, NodeId
from assistant.extract.text import Claims, Sentences
from assistant.extract.topics import subject_is_device

# --- OPC UA ---------------------------------------------------------------------------

_NODE_ID = re.compile(
    r"(?<![\w;=])(?:ns=\d+;)(?:i=\d+|s=\"[^\"\n]*\"(?:\.(?:\"[^\"\n]*\"|\w+))*|s=[^\s,;)\]'\"<>{}]+|g=[0-9a-fA-F-]{36}|b=[A-Za-z0-9+/=]+)"
    r"|(?<![\w;=])i=\d{2,}\b"
)
_OPC_TYPES = {
    "double": "Double", "float": "Float", "int8": "Int8", "int16": "Int16", "int32": "Int32",
    "int64": "Int64", "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64",
    "byte": "Byte", "sbyte": "SByte", "boolean": "Boolean", "bool": "Boolean", "string": "String",
    "datetime": "DateTime", "localizedtext": "LocalizedText"
}
_OPC_TYPE = r"\b(" + "|".join(sorted(_OPC_TYPES, key=len, reverse=True)) + r")\b"


def find_node_ids(text: str, sentences: Sentences, claims: Claims) -> list[NodeId]:
    matches = [m for m in _NODE_ID.finditer(text) if claims.free(m.start(), m.end())]
    found: list[NodeId] = []
    for i, m in enumerate(matches):
        node_id = m.group().rstrip(".")
        end = m.start() + len(node_id)
        s_start, s_end = sentences.bounds(m.start())
        limit = min(matches[i + 1].start() if i + 1 < len(matches) else s_end, end + 40, s_end)
        window = text[end:limit]
        close = window.find(")")
        window = window[:close] if close >= 0 and "(" in text[end : end + 3] else window
        dtype = re.search(_OPC_TYPE, window, re.I)
        if dtype is None:
            head = text[max(s_start, m.start() - 40) : m.start()]
            before = re.search(
                _OPC_TYPE
                + r"\s*:\s*(?:ns=[^,\s]+,\s*)*$|\bas\s+"
                + _OPC_TYPE
                + r"\s+(?:to|into|on)\s*$",
                head,
                re.I,
            )
            name = before and (before.group(1) or before.group(2))
        else:
            name = dtype.group(1)
        verb = re.findall(
            r"\b(write|writes|written|set|subscribe[sd]?|monitor|read|reads|poll|"
            r"fetch|get)\b",
            text[max(s_start, m.start() - 80) : m.start()],
            re.I,
        )
        access = None
        if verb:
            v = verb[-1].lower()
            access = (
                "write"
                if v.startswith(("writ", "set"))
                else "subscribe"
                if v.startswith(("subscri", "monitor"))
                else "read"
            )
        dtype_name = _OPC_TYPES[name.lower()] if name else None
        if (
            dtype_name is None
            and found
            and re.fullmatch(r"\s*(?:,|and|&)\s*", text[found[-1].end : m.start()])
        ):
            dtype_name = found[-1].data_type  # "Double: ns=2;s=A, ns=2;s=B"
        claims.add(m.start(), end)
        found.append(
            NodeId(
                text=node_id,
                start=m.start(),
                end=end,
                node_id=node_id,
                data_type=dtype_name,
                access=access,
            )
        )
    return found


# --- inline JSON and quoted text ------------------------------------------------------

_JSON_IN = re.compile(
    r"\b(?:sends|publishes|pushes|posts|POSTs|carr(?:y|ies)|comes?|arrives?|receives?|body|"
    r"e\.g\.)\b",
    re.I,
)
_JSON_OUT = re.compile(
    r"(?:->|=>|\b(?:publish|send|reply|replies|answer|return|returns|returning|respond|back|"
    r"produce|output|post|write|put|make|give|gives|eats|expects|accepts|wants|needs)\b)",
    re.I,
)


def _json_role(text: str, s_start: int, start: int) -> str | None:
    before = text[max(s_start, start - 50) : start]
    cues = [(m.end(), "in", m) for m in _JSON_IN.finditer(before)]
    cues += [(m.end(), "out", m) for m in _JSON_OUT.finditer(before)]
    if not cues:
        return None
    pos, role, m = max(cues, key=lambda c: c[0])
    if (
        role == "out"
        and m.group().islower()
        and m.group().lower() in ("post", "put", "send", "publish")
    ):
        head = before[: m.start()]
        clause = re.split(r"[,:;(]|->|\b(?:and|then)\b", head)[-1]
        if subject_is_device(clause, clause):
            role = "in"
    between = before[pos:]
    if re.search(r"(?<![\w:])/[\w/:<>-]+", between) and not re.search(r"https?://", between):
        role = "in"  # POST /api/x with {...}: the request body
    return role


def _braces(text: str) -> list[tuple[int, int]]:
    spans, depth, start = [], 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    return spans


def find_json_shapes(text: str, sentences: Sentences, claims: Claims) -> list[JsonShape]:
    found: list[JsonShape] = []
    for start, end in _braces(text):
        body = text[start:end]
        placeholder = re.fullmatch(r"\{\{?\{?\w+\}?\}?\}", body) and (
            text[start - 1 : start] == "/" or text[end : end + 1] == "/")
        if re.fullmatch(r"\{\{?\{?\w+\}?\}\}", body) or placeholder or claims.inside(start):
            continue  # a mustache placeholder, or part of a URL
        inner = body[1:-1]
        keys = re.findall(r"\"(\w+)\"\s*:", inner) or re.findall(
            r"(?:^|,)\s*\"?([A-Za-z_]\w*)\"?\s*(?=,|$|:)", inner
        )
        if not keys:
            continue
        s_start, _ = sentences.bounds(start)
        role = _json_role(text, s_start, start)
        if role is None and re.match(
            r"^\s*(?:->|=>)\s*(?:publish|send|put)", text[end : end + 20], re.I
        ):
            role = "out"
        if re.match(r"^\s*to\s+/[\w/:<>{}-]", text[end : end + 30]):
            role = "in"  # "they POST json {...} to /api/logbook": the body we receive
        claims.add(start, end)
        found.append(
            JsonShape(text=body, start=start, end=end, keys=tuple(dict.fromkeys(keys)), role=role)
        )
    return found


_QUOTED = re.compile(
    r"(?<![\w'\"])'([^'\n]{1,60})'(?![\w'])|(?<![\w\"])\"([^\"\n{}]{1,60})\"(?![\w\"])"
)
_CAPS_SKIP = {
    "JSON", "CSV", "MQTT", "HTTP", "HTTPS", "API", "PLC", "SMS", "MES", "HMI", "SCADA", "ERP",
    "OPC", "UA", "REST", "URL", "GET", "POST", "PUT", "DELETE", "PATCH", "ID", "IP", "TCP", "UDP",
    "QOS", "BMS", "CMMS", "LIMS", "AGV", "IO", "DI", "DO", "HR", "IR", "VFD", "FC", "PDF", "XML",
    "CPU", "LED", "US", "UTC", "ISO", "AND", "OR"
}
_CAPS = re.compile(
    r"\b(?:send|publish|raise|put|write|set|answer|reply|return|post|output|emit|and|with|"
    r"text|word|string)\s+(?:the\s+(?:text|word|string)\s+|a\s+|an\s+)?"
    r"(?P<v>[A-Z][A-Z0-9_]+(?:[ -](?:[A-Z][A-Z0-9_]+|[a-z]+\d+))*"
    r"(?:\s*/\s*[A-Z][A-Z0-9_]+(?:[ -][A-Z][A-Z0-9_]+)*)*)\s+(?:to|on|->|as)\b",
)


def find_literals(text: str, claims: Claims) -> list[Literal]:
    found: list[Literal] = []
    for m in _QUOTED.finditer(text):
        value = m.group(1) if m.group(1) is not None else m.group(2)
        if not value.strip() or not claims.free(m.start(), m.end()):
            continue
        if re.fullmatch(r"[\w+#<>{}.$-]+(?:/[\w+#<>{}.$-]+)+|/\S*", value):
            continue  # a quoted topic or path, read by its own pass
        if re.match(r"\s*:\s*[\"'{\[\d]", text[m.end() :]) or re.search(
            r"[\"']\s*:\s*$", text[max(0, m.start() - 4) : m.start()]
        ):
            continue  # "key": "value" outside braces
        claims.add(m.start(), m.end())
        example = re.search(r"\b(?:like|e\.g\.?|such\s+as|for\s+example|format)\s*:?\s*$",
                            text[max(0, m.start() - 20) : m.start()], re.I) is not None
        before = text[max(0, m.start() - 40) : m.start()]
        output = bool(re.search(
            r"\b(?:publish|send|answer|reply|respond|return|writ|raise|put|post|set|say|show|"
            r"display|text|string|message|payload|status)\w*\b[^.;]*$|\d{3}\s*$", before, re.I
        )) or re.match(r"\s+(?:on|to)\s+\S+/", text[m.end() :]) is not None
        found.append(Literal(text=m.group(), start=m.start(), end=m.end(), value=value,
                             example=example, output=output and not example))
    for m in _CAPS.finditer(text):
        if not claims.free(m.start("v"), m.end("v")):
            continue
        for part in re.finditer(r"[^/]+", m.group("v")):
            value = part.group().strip()
            if value in _CAPS_SKIP or len(value) < 2:
                continue
            s = m.start("v") + part.start() + (len(part.group()) - len(part.group().lstrip()))
            found.append(
                Literal(text=value, start=s, end=s + len(value), value=value, quoted=False)
            )
        claims.add(m.start("v"), m.end("v"))
    return sorted(found, key=lambda i: i.start)
