"""Small, dependency-free extraction of the facts an edit instruction carries: intervals,
topics, URLs, file paths, hosts, registers, thresholds, quoted text, qos/retain.

Kept apart from the interpretation so that it can be swapped for `assistant.extract` later:
`interpret` only uses `Facts`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_UNITS = {
    "ms": ("ms", 0.001),
    "msec": ("ms", 0.001),
    "millis": ("ms", 0.001),
    "millisecond": ("ms", 0.001),
    "milliseconds": ("ms", 0.001),
    "s": ("s", 1.0),
    "sec": ("s", 1.0),
    "secs": ("s", 1.0),
    "second": ("s", 1.0),
    "seconds": ("s", 1.0),
    "m": ("m", 60.0),
    "min": ("m", 60.0),
    "mins": ("m", 60.0),
    "minute": ("m", 60.0),
    "minutes": ("m", 60.0),
    "h": ("h", 3600.0),
    "hr": ("h", 3600.0),
    "hrs": ("h", 3600.0),
    "hour": ("h", 3600.0),
    "hours": ("h", 3600.0),
}
_UNIT = "(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + ")"
_NUM = r"(\d+(?:\.\d+)?)"
_INTERVAL = re.compile(rf"(?<![\w.]){_NUM}\s*{_UNIT}(?![\w/])", re.I)
_EVERY_UNIT = re.compile(r"\b(?:every|each|once (?:a|an|per|every))\s+(second|minute|hour)\b", re.I)
_OLD_CUE = re.compile(
    r"(?:instead of|rather than|replacing|\bnot|\bfrom|\bwas|\bcurrently|\bnow it is|\bdown from"
    r"|\bup from|\bno longer)\s+(?:the\s+)?(?:current\s+)?(?:every\s+|each\s+)?$",
    re.I,
)
_OLD_BARE = re.compile(
    rf"(?:instead of|rather than|\bnot|\bfrom|\bwas|\bcurrently)\s+(?:the\s+)?(?:current\s+)?"
    rf"(?:every\s+|each\s+)?{_NUM}(?!\s*[\w.])",
    re.I,
)
_URL = re.compile(r"\b(?:https?|opc\.tcp|mqtts?|wss?|tcp)://[^\s'\"<>`\])]+", re.I)
_TOPIC = re.compile(r"(?<![\w/.:\-$+#])([\w$+#][\w$+#.\-]*(?:/[\w$+#.\-]+)+/?)")
_NOT_TOPICS = {"and/or", "either/or", "on/off", "in/out", "yes/no", "i/o", "read/write", "w/o"}
_PATH = re.compile(r"(?<![\w:/.])((?:~|[A-Za-z]:)?(?:/[\w.\-]+)+/?)")
_WIN_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\"]+")
_FS_ROOTS = (
    "var",
    "data",
    "home",
    "tmp",
    "opt",
    "mnt",
    "srv",
    "etc",
    "usr",
    "media",
    "log",
    "logs",
)
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{2,5}))?(?![\w.])")
_HOSTNAME = re.compile(
    r"\b(?:host|hostname|broker|server|plc|at|to|on|is|use)\s+(?:is\s+|at\s+)?"
    r"([A-Za-z][\w-]*(?:\.[\w-]+)+)"
    r"(?::(\d{2,5}))?",
    re.I,
)
_FILE_EXTENSIONS = {
    "csv", "log", "txt", "json", "jsonl", "xml", "yaml", "yml", "js", "py", "html", "md", "dat",
    "bin", "db", "sqlite", "gz", "zip", "ini", "cfg", "conf",
}  # fmt: skip
_PORT = re.compile(r"\bport\s*[:=#]?\s*(\d{2,5})\b", re.I)
_UNIT_ID = re.compile(
    r"\b(?:unit(?:\s*-?\s*id)?|slave(?:\s*-?\s*id)?|device\s*id|station(?:\s*id)?|node\s*id)"
    r"\s*[:=#]?\s*(\d{1,3})\b",
    re.I,
)
_REG_TYPED = re.compile(
    r"\b(holding|input|hr|ir|coils?|discrete(?:\s+inputs?)?|inputs?\s+status)"
    r"(?:\s*(?:registers?|regs?\.?))?\s*(?:#|no\.?|nr\.?|number|at|address|addr\.?|adr)?\s*:?\s*"
    r"(\d{1,6})\b",
    re.I,
)
_REG_PLAIN = re.compile(
    r"\b(?:registers?|regs?\.?|address|addr\.?)\s*(?:#|no\.?|nr\.?|number|at)?\s*:?\s*(\d{1,6})\b",
    re.I,
)
_REG_BARE = re.compile(r"(?<![\w.])([34]\d{4}|[34]\d{5})(?![\w.])")
_QUANTITY = re.compile(
    r"\b(\d{1,3})\s+(?:consecutive\s+)?(?:registers|regs|words|coils|values)\b"
    r"|\b(?:quantity|count|length)\s*[:=]?\s*(\d{1,3})\b",
    re.I,
)
_COMPARATORS = [
    ("lte", r"<=|≤|=<|at most|no more than|not more than|not (?:higher|greater|above) than"),
    ("gte", r">=|≥|=>|at least|no less than|not less than|not (?:lower|below) than"),
    (
        "gt",
        r">|(?:goes|gets|is|rises|climbs|jumps|runs)\s+(?:over|above|past)|above|over|"
        r"exceeds?|exceeding|greater than|higher than|more than|larger than|bigger than|"
        r"hotter than|warmer than|faster than",
    ),
    (
        "lt",
        r"<|(?:drops|falls|goes|gets|is|sinks|dips)\s+(?:below|under)|below|under|less than|"
        r"lower than|smaller than|colder than|cooler than|slower than",
    ),
    ("eq", r"==|equals?|equal to|is exactly"),
]
_THRESHOLD = re.compile(
    r"(?P<cmp>" + "|".join(f"(?P<{name}>{pattern})" for name, pattern in _COMPARATORS) + r")"
    r"\s*(?P<num>-?\d+(?:[.,]\d+)?)(?P<unit>\s*(?:%|°\s*[CF]|[A-Za-z°/]+))?",
    re.I,
)
_ALARM_AT = re.compile(
    r"\b(?P<kind>high|low|max|min)?[\w ]{0,20}?\b(?:alarm|alert|warning|trip|limit)\s+"
    r"(?:at|of|=)\s*"
    r"(?P<num>-?\d+(?:[.,]\d+)?)(?P<unit>\s*(?:%|°\s*[CF]|[A-Za-z°/]+))?",
    re.I,
)
_OR_MORE = re.compile(
    r"(-?\d+(?:\.\d+)?)\s*(?:\S+\s+)?or (more|higher|above|less|lower|below)\b(?!\s*-?\d)", re.I
)
_QUOTED = re.compile(
    r"(?:(?<=\s)|^|(?<=[(:=]))[\"'“‘`]([^\"“”‘’`\n]{1,200}?)[\"'”’`](?=[\s.,;:!?)]|$)"
)
_TEXT_BEFORE_DEST = re.compile(
    r"\b(?:text|message|string|payload|word|words|msg)\s+(.+?)\s+(?:to|on|into|at|via)\s+\S", re.I
)
_CAPS = re.compile(r"\b([A-Z][A-Z0-9_!]+(?:[ \-][A-Z0-9_!]+)*)\b")
_QOS = re.compile(
    r"\b(?:qos|quality of service)\s*(?:level\s*|of\s*|=\s*|:\s*|to\s*)?([012])\b", re.I
)
_NO_RETAIN = re.compile(
    r"\b(?:not|no|without|don'?t|do not|never|stop|un)[\s-]*(?:be\s+)?retain(?:ed|ing)?\b|"
    r"\bretain(?:ed)?\s*(?:=|:)?\s*(?:false|off|no)\b",
    re.I,
)
_RETAIN = re.compile(r"\bretain(?:ed|ing)?\b|\blast known value\b|\bsticky\b", re.I)
_NODE_ID = re.compile(r"\bns=\d+;[isgb]=[^\s,;'\")]+")
_OPC_TYPES = ("Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
              "Float", "Double", "String", "DateTime")  # fmt: skip
_JSON_OBJECT = re.compile(r"\{[^{}]{1,300}\}")


@dataclass(frozen=True)
class Interval:
    seconds: float
    value: float
    unit: str  # ms, s, m, h
    start: int
    old: bool = False


@dataclass(frozen=True)
class Threshold:
    op: str  # gt, gte, lt, lte, eq (btwn: one end of a range)
    value: float
    unit: str
    start: int

    @property
    def text(self) -> str:
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "btwn": "~"}[self.op]
        return f"{symbol} {number_text(self.value)}{(' ' + self.unit) if self.unit else ''}"


@dataclass(frozen=True)
class Register:
    table: str  # HoldingRegister, InputRegister, Coil, Input
    address: int  # zero-based protocol address
    written: int  # as the person wrote it


@dataclass
class Facts:
    text: str
    intervals: list[Interval] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    hosts: list[tuple[str, int | None]] = field(default_factory=list)
    port: int | None = None
    unit_id: int | None = None
    register: Register | None = None
    quantity: int | None = None
    thresholds: list[Threshold] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    qos: int | None = None
    retain: bool | None = None
    json_example: dict[str, object] | None = None
    node_ids: list[str] = field(default_factory=list)
    opc_type: str | None = None

    @property
    def new_interval(self) -> Interval | None:
        fresh = [i for i in self.intervals if not i.old]
        return fresh[0] if fresh else None

    @property
    def old_interval(self) -> Interval | None:
        old = [i for i in self.intervals if i.old]
        return old[0] if old else None


def number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in spans)


def intervals(text: str) -> list[Interval]:
    found: list[Interval] = []
    for m in _INTERVAL.finditer(text):
        unit, factor = _UNITS[m.group(2).lower()]
        value = float(m.group(1))
        old = bool(_OLD_CUE.search(text[max(0, m.start() - 40) : m.start()]))
        found.append(Interval(value * factor, value, unit, m.start(), old))
    for m in _EVERY_UNIT.finditer(text):
        unit, factor = _UNITS[m.group(1).lower()]
        old = bool(_OLD_CUE.search(text[max(0, m.start() - 40) : m.start()]))
        found.append(Interval(factor, 1.0, unit, m.start(), old))
    new = [i for i in found if not i.old]
    if new and not any(i.old for i in found):
        # "every 10 sec instead of every 5": the old value borrows the new one's unit.
        for m in _OLD_BARE.finditer(text):
            unit = new[0].unit
            factor = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
            value = float(m.group(1))
            found.append(Interval(value * factor, value, unit, m.start(1), True))
    return sorted(found, key=lambda i: i.start)


def topics(text: str) -> list[str]:
    urls = _spans(_URL, text)
    found = []
    for m in _TOPIC.finditer(text):
        if _inside(m.span(), urls):
            continue
        topic = m.group(1).rstrip(".-")
        parts = topic.strip("/").split("/")
        if topic.lower() in _NOT_TOPICS or (len(parts) == 2 and all(len(p) <= 3 for p in parts)):
            continue
        if re.fullmatch(r"[\d./]+", topic):
            continue  # a date or a fraction
        if topic not in found:
            found.append(topic)
    return found


def urls(text: str) -> list[str]:
    return [m.group(0).rstrip(".,;:") for m in _URL.finditer(text)]


def paths(text: str) -> tuple[list[str], list[str]]:
    """(file paths, endpoint paths) written with a leading slash (or a drive letter)."""
    url_spans = _spans(_URL, text)
    files: list[str] = [m.group(0).rstrip(".,;:") for m in _WIN_PATH.finditer(text)]
    endpoints: list[str] = []
    for m in _PATH.finditer(text):
        if _inside(m.span(), url_spans):
            continue
        path = m.group(1).rstrip(".,;:")
        first = path.lstrip("~").strip("/").split("/")[0].lower()
        has_ext = re.search(r"\.[A-Za-z0-9]{1,5}$", path) is not None
        before = text[max(0, m.start() - 30) : m.start()].lower()
        web = first == "api" or re.search(r"\b(?:get|post|http|endpoint|route|rest|url)\b", before)
        if web and not path.startswith("~") and first not in _FS_ROOTS:
            endpoints.append(path)
        elif has_ext or first in _FS_ROOTS or path.startswith("~") or re.match(r"[A-Za-z]:", path):
            files.append(path)
        else:
            endpoints.append(path)
    return files, endpoints


def hosts(text: str) -> list[tuple[str, int | None]]:
    url_spans = _spans(_URL, text)
    found: list[tuple[str, int | None]] = []
    for m in _IPV4.finditer(text):
        if not _inside(m.span(), url_spans) and all(int(p) < 256 for p in m.group(1).split(".")):
            found.append((m.group(1), int(m.group(2)) if m.group(2) else None))
    for m in _HOSTNAME.finditer(text):
        if not _inside(m.span(1), url_spans) and not _IPV4.fullmatch(m.group(1)):
            host = m.group(1).rstrip(".")
            last = host.split(".")[-1].lower()
            if re.search(r"[a-z]", last) and last not in _FILE_EXTENSIONS:
                found.append((host, int(m.group(2)) if m.group(2) else None))
    return found


def register(text: str) -> Register | None:
    m = _REG_TYPED.search(text)
    if m is not None:
        return _register(m.group(1).lower(), m.group(2))
    m = _REG_PLAIN.search(text)
    if m is not None:
        return _register("", m.group(1))
    m = _REG_BARE.search(text)
    return _register("", m.group(1)) if m is not None else None


def _register(kind: str, written: str) -> Register:
    raw = int(written)
    if kind.startswith(("coil",)):
        table = "Coil"
    elif kind.startswith(("discrete", "input status", "inputs status")):
        table = "Input"
    elif kind in ("input", "ir"):
        table = "InputRegister"
    elif kind in ("holding", "hr"):
        table = "HoldingRegister"
    else:
        table = ""
    # Modicon numbering: 4xxxx holding, 3xxxx input registers, 1xxxx discrete inputs,
    # 0xxxx coils; the protocol address is zero-based.
    for base, kinds in ((400001, "HoldingRegister"), (300001, "InputRegister"), (100001, "Input")):
        if len(written) == 6 and base <= raw < base + 65536 and table in ("", kinds):
            return Register(kinds, raw - base, raw)
    for base, kinds in ((40001, "HoldingRegister"), (30001, "InputRegister"), (10001, "Input")):
        if len(written) == 5 and base <= raw < base + 9999 and table in ("", kinds):
            return Register(kinds, raw - base, raw)
    if table == "Coil" and len(written) == 5 and written.startswith("0") and raw >= 1:
        return Register("Coil", raw - 1, raw)
    return Register(table or "HoldingRegister", raw, raw)


def thresholds(text: str) -> list[Threshold]:
    found = []
    for m in _THRESHOLD.finditer(text):
        op = next(name for name, _ in _COMPARATORS if m.group(name))
        unit = (m.group("unit") or "").strip()
        if unit.lower() in _UNITS or unit.lower() in ("times", "x", "messages", "values"):
            continue  # "more than 5 s", "over 3 times": not a limit on the value
        number = float(m.group("num").replace(",", "."))
        found.append(Threshold(op, number, _clean_unit(unit), m.start()))
    for m in _ALARM_AT.finditer(text):
        if not any(t.start <= m.start("num") < t.start + 12 for t in found):
            op = "lte" if (m.group("kind") or "").lower() in ("low", "min") else "gte"
            unit = _clean_unit((m.group("unit") or "").strip())
            found.append(
                Threshold(op, float(m.group("num").replace(",", ".")), unit, m.start("num"))
            )
    for m in _OR_MORE.finditer(text):
        op = "gte" if m.group(2).lower() in ("more", "higher", "above") else "lte"
        found.append(Threshold(op, float(m.group(1)), "", m.start()))
    return sorted(found, key=lambda t: t.start)


def _clean_unit(unit: str) -> str:
    unit = unit.replace(" ", "")
    return (
        unit
        if re.fullmatch(
            r"%|°[CF]|deg\w*|bar|mbar|psi|rpm|kpa|pa|a|v|kw|w|hz|mm|m|l/min", unit, re.I
        )
        else ""
    )


def quoted(text: str) -> list[str]:
    return [m.group(1).strip() for m in _QUOTED.finditer(text) if m.group(1).strip()]


def message_text(text: str, exclude: list[str]) -> str | None:
    """The text a person wants sent: quoted, after "the text", or written in capitals."""
    for q in quoted(text):
        if q not in exclude and not _TOPIC.fullmatch(q) and not _URL.match(q):
            return q
    m = _TEXT_BEFORE_DEST.search(text)
    if m is not None:
        return m.group(1).strip(" '\"")
    for m in _CAPS.finditer(text):
        words = m.group(1)
        long_enough = (len(words) >= 4 and " " in words) or (len(words) >= 5 and words.isalpha())
        if long_enough and words.upper() not in ("MQTT", "HTTP", "JSON", "MODBUS", "HTTPS", "CSV"):
            return words
    return None


def json_example(text: str) -> dict[str, object] | None:
    for m in _JSON_OBJECT.finditer(text):
        raw = m.group(0)
        for candidate in (raw, raw.replace("'", '"')):
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def qos(text: str) -> int | None:
    m = _QOS.search(text)
    return int(m.group(1)) if m is not None else None


def retain(text: str) -> bool | None:
    if _NO_RETAIN.search(text):
        return False
    return True if _RETAIN.search(text) else None


def extract(text: str) -> Facts:
    files, endpoints = paths(text)
    unit = _UNIT_ID.search(text)
    port = _PORT.search(text)
    quantity = _QUANTITY.search(text)
    return Facts(
        text=text,
        intervals=intervals(text),
        topics=topics(text),
        urls=urls(text),
        files=files,
        endpoints=endpoints,
        hosts=hosts(text),
        port=int(port.group(1)) if port else None,
        unit_id=int(unit.group(1)) if unit else None,
        register=register(text),
        quantity=int(quantity.group(1) or quantity.group(2)) if quantity else None,
        thresholds=thresholds(text),
        quoted=quoted(text),
        qos=qos(text),
        retain=retain(text),
        json_example=json_example(text),
        node_ids=[m.group(0).rstrip(".") for m in _NODE_ID.finditer(text)],
        opc_type=next((t for t in _OPC_TYPES if re.search(rf"\b{t}\b", text, re.I)), None),
    )
