"""Files, thresholds, decimals, MQTT QoS and retain, and how the flow is started."""

from __future__ import annotations

import re

from assistant.extract.model import (
    Decimals,
    FilePath,
    Qos,
    Retain,
    Threshold,
    Topic,
    Trigger,
)
from assistant.extract.network import FS_ROOTS, PATH, is_http_path
from assistant.extract.text import NUMBER, TIME_UNIT, Claims, Sentences

# --- files ----------------------------------------------------------------------------

_EXT = re.compile(r"\.[A-Za-z0-9]{1,6}$")
_REL_FILE = re.compile(r"(?<![\w/.<>-])[\w<>-]+\.(?:csv|json|jsonl|txt|log|xml|zpl|ya?ml|onnx)\b")
_MODES = [
    (
        r"append(?:s|ed|ing)?|add(?:s|ed)?\s+(?:a\s+)?(?:line|row)|log(?:s|ged|ging)?|journal",
        "append",
    ),
    (r"overwrit\w*|replac\w*|save|saves|store|stores|drop", "overwrite"),
    (r"watch\w*|monitor\w*|whenever\s+a\s+(?:new\s+)?file|shows?\s+up|lands?", "watch"),
    (r"read|reads|load|loads|fetch\w*|download\w*|serve|open", "read"),
    (r"writ\w*|put", "write"),
]


def find_files(text: str, sentences: Sentences, claims: Claims) -> list[FilePath]:
    found: list[FilePath] = []
    for m in PATH.finditer(text):
        path = m.group().rstrip(".,;:!?)'\"")
        start, end = m.start(), m.start() + len(path)
        if not claims.free(start, end) or len(path) < 3 or path.startswith("/dev/"):
            continue
        if is_http_path(text, sentences, start, path) or not _looks_like_file(
            text, sentences, start, path
        ):
            continue
        found.append(_file(text, sentences, path, start, end, relative=False))
        claims.add(start, end)
    for m in _REL_FILE.finditer(text):
        if claims.free(m.start(), m.end()):
            found.append(_file(text, sentences, m.group(), m.start(), m.end(), relative=True))
            claims.add(m.start(), m.end())
    return sorted(found, key=lambda f: f.start)


def _looks_like_file(text: str, sentences: Sentences, start: int, path: str) -> bool:
    """A filesystem root, a file name with an extension, or a folder the sentence calls one."""
    segments = path.strip("/").split("/")
    if segments[0].lower() in FS_ROOTS or _EXT.search(segments[-1]):
        return True
    s_start, s_end = sentences.bounds(start)
    return len(segments) > 1 and re.search(
        r"\b(?:folder|director(?:y|ies)|dir|path|file|files|watch)\b", text[s_start:s_end], re.I
    ) is not None


def _file(
    text: str, sentences: Sentences, path: str, start: int, end: int, *, relative: bool
) -> FilePath:
    s_start, s_end = sentences.bounds(start)
    before = text[max(s_start, start - 60) : start]
    if path.lower().endswith(".onnx"):
        kind = "model"
    elif path.endswith("/") or not _EXT.search(path.split("/")[-1]):
        kind = "folder"
    else:
        kind = "file"
    mode = None
    best = -1
    for pattern, name in _MODES:
        for m in re.finditer(r"\b(?:" + pattern + r")\b", before, re.I):
            if m.start() > best:
                best, mode = m.start(), name
    after = re.match(r"^[^.;]{0,30}?\b(append\w*|overwrit\w*|replac\w*)\b", text[end:s_end], re.I)
    if after:
        mode = "append" if after.group(1).lower().startswith("append") else "overwrite"
    if kind == "folder" and re.search(
        r"\b(?:watch|whenever|shows?\s+up|lands?)\b", text[s_start:s_end], re.I
    ):
        mode = "watch"
    if kind == "model":
        mode = None
    return FilePath(
        text=path, start=start, end=end, path=path, kind=kind, mode=mode, relative=relative
    )


# --- numbers --------------------------------------------------------------------------

_UNIT = (
    r"(?:°\s?[CF]|°|%(?:\s?O2|\s?rH)?|mm/s|m/min|m3/h|m³/h|l/min|kWh|Wh|kW|W|mbar|bar|psi|kPa|"
    r"Pa|mA|A|mV|V|Hz|rpm|bpm|ppm|mm|cm|m|Nm|kN|N|kg|g|t|ml|l|L|mg/Nm3|degC|degF|pcs)(?![\w/])"
)
_NUM = rf"-?{NUMBER}"
_COUNT_NOUNS = re.compile(
    r"\s*(?:tries|retries|attempts|times|msgs?|messages?|values|samples|rows|items|bottles|lines|"
    r"chars|characters|files|entries|alarms|parts|records|readings|points|sensors|bytes|"
    r"registers|regs|coils|words|bits|cases|pallets|days|weeks|months|years)\b",
    re.I,
)
_OPS = [
    (r">=|≥|=>|\bat\s+least|\bnot\s+(?:less|lower)\s+than|\bmin(?:imum)?\.?(?=\s*\d)", "ge"),
    (
        r"<=|≤|=<|\bat\s+most|\bnot\s+(?:more|greater|higher)\s+than|\bmax(?:imum)?\.?(?=\s*\d)|"
        r"\bup\s+to",
        "le",
    ),
    (
        r"(?<![-=])>|\babove|\bover|\bgreater\s+than|\bmore\s+than|\bhigher\s+than|\bexceed(?:s|ing)?|"
        r"\bbeyond|\bbigger\s+than|\blarger\s+than|\bin\s+excess\s+of",
        "gt",
    ),
    (
        r"<|\bbelow|\bunder|\bless\s+than|\blower\s+than|\bsmaller\s+than|\bfewer\s+than",
        "lt",
    ),
    (r"==|\bequals?\s+to|\bequals", "eq"),
    (
        r"\bthreshold(?:\s+(?:of|at|is))?\s*[:=]?|\blimit(?:\s+(?:of|at|is))?\s*[:=]?|\btrip\s+at",
        "threshold",
    ),
]
_OP_RE = re.compile(
    r"(?P<op>"
    + "|".join(f"(?P<op{i}>{p})" for i, (p, _) in enumerate(_OPS))
    + r")\s*(?P<v>"
    + _NUM
    + r")\s*(?P<u>"
    + _UNIT
    + r")?",
    re.I,
)
_OR_MORE = re.compile(
    r"(?P<v>" + _NUM + r")\s*(?P<u>" + _UNIT + r")?\s*(?:or|and|&)\s+(?P<dir>more|above|higher|"
    r"greater|bigger|over|less|below|lower|fewer|under)\b",
    re.I,
)
_RANGE = re.compile(
    r"(?:\bbetween\s+)?(?P<a>" + _NUM + r")\s*(?P<u1>" + _UNIT + r")?\s*(?:-|–|\.\.|\bto\b|\band\b)"
    r"\s*(?P<b>" + _NUM + r")\s*(?P<u>" + _UNIT + r")?",
    re.I,
)
_RANGE_CUE_BEFORE = re.compile(
    r"\b(?P<cue>allowed|allow|within|between|outside|limits?|range|valid|accept(?:ed)?|only|"
    r"clamp(?:ed)?|inside|permitted|keep\s+it|must\s+be|ok|okay)\b[^.\d]{0,12}$",
    re.I,
)
_RANGE_CUE_AFTER = re.compile(
    r"^\s*(?:°?\w*\s*)?(?:\)?\s*)(?:is\s+|are\s+)?(?P<cue>allowed|ok|okay|"
    r"valid|only|permitted|accepted|range|fine|normal|good|acceptable)\b",
    re.I,
)
_DEADBAND = re.compile(
    r"\b(?:mov(?:e|es|ed|ing)|chang(?:e|es|ed|ing)|deadband|dead\s+band|"
    r"hysteresis|by|jumps?|differs?|different)\b[^.]{0,12}$",
    re.I,
)


def _value(text: str) -> float:
    return float(text.replace(" ", ""))


def _unit(u: str | None) -> str | None:
    return re.sub(r"\s+", "", u) if u else None


def find_thresholds(text: str, claims: Claims) -> list[Threshold]:
    found: list[Threshold] = []

    def add(
        start: int, end: int, op: str, value: float, high: float | None, unit: str | None, kind: str
    ) -> None:
        claims.add(start, end)
        found.append(
            Threshold(
                text=text[start:end].strip(),
                start=start,
                end=end,
                op=op,
                value=value,
                high=high,
                unit=unit,
                kind=kind,
            )
        )

    for m in _RANGE.finditer(text):
        if not claims.free(m.start(), m.end()):
            continue
        before = text[max(0, m.start() - 30) : m.start()]
        if m.group().lower().startswith("between"):
            before += " between "
        cue_b, cue_a = _RANGE_CUE_BEFORE.search(before), _RANGE_CUE_AFTER.match(text[m.end() :])
        if (
            not (cue_b or cue_a)
            or re.match(r"^\s*=", text[m.end() :])
            or re.search(r"=\s*$", before)
        ):
            continue
        a, b = _value(m.group("a")), _value(m.group("b"))
        if a > b:
            continue
        cue = (cue_b or cue_a).group("cue").lower()  # type: ignore[union-attr]
        add(
            m.start(),
            m.end("u") if m.group("u") else m.end("b"),
            "outside" if cue == "outside" else "range",
            a,
            b,
            _unit(m.group("u") or m.group("u1")),
            "range",
        )
    for m in re.finditer(r"(?P<v>0)\s*(?:/|or|and)\s*negative", text, re.I):
        if claims.free(m.start(), m.end()):
            add(m.start(), m.end(), "le", 0.0, None, None, "limit")
    for regex in (_OP_RE, _OR_MORE):
        for m in regex.finditer(text):
            if not claims.free(m.start("v"), m.end("v")):
                continue
            after = text[m.end("u") if m.group("u") else m.end("v") :]
            if not m.group("u") and (
                _COUNT_NOUNS.match(after)
                or re.match(r"[\w.]", after)
                or re.match(r"\s*" + TIME_UNIT, after, re.I)
            ):
                continue
            if regex is _OP_RE:
                op = next(name for i, (_, name) in enumerate(_OPS) if m.group(f"op{i}"))
            else:
                op = (
                    "ge"
                    if m.group("dir").lower()
                    in ("more", "above", "higher", "greater", "bigger", "over")
                    else "le"
                )
            kind = (
                "deadband"
                if _DEADBAND.search(text[max(0, m.start() - 25) : m.start()])
                else "limit"
            )
            end = m.end("u") if m.group("u") else m.end("v")
            add(m.start(), end, op, _value(m.group("v")), None, _unit(m.group("u")), kind)
    return sorted(found, key=lambda t: t.start)


_DECIMALS = re.compile(
    r"\b(?P<n>\d|zero|one|two|three|four|no)\s*(?:decimals?|decimal\s+places?|dp|"
    r"digits?\s+after\s+the\s+(?:decimal\s+)?point|places\s+after\s+the\s+(?:decimal\s+)?point)\b",
    re.I,
)
_WORDS = {"zero": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4}


def find_decimals(text: str, claims: Claims) -> list[Decimals]:
    found = []
    for m in _DECIMALS.finditer(text):
        n = m.group("n").lower()
        claims.add(m.start(), m.end())
        found.append(
            Decimals(
                text=m.group(),
                start=m.start(),
                end=m.end(),
                places=int(n) if n.isdigit() else _WORDS[n],
            )
        )
    return found


def _nearest_topic(topics: list[Topic], sentences: Sentences, start: int, end: int) -> str | None:
    near = [t for t in topics if sentences.same(t.start, start)]
    if not near:
        return None

    def distance(t: Topic) -> int:
        return start - t.end if t.end <= start else (t.start - end) * 2

    return min(near, key=distance).text


def find_qos_retain(
    text: str, sentences: Sentences, claims: Claims, topics: list[Topic]
) -> tuple[list[Qos], list[Retain]]:
    qos = []
    for m in re.finditer(r"\bqos\s*[:=]?\s*(?P<n>[012])\b", text, re.I):
        claims.add(m.start(), m.end())
        qos.append(
            Qos(
                text=m.group(),
                start=m.start(),
                end=m.end(),
                level=int(m.group("n")),
                topic=_nearest_topic(topics, sentences, m.start(), m.end()),
            )
        )
    retain = []
    for m in re.finditer(
        r"(?P<neg>\b(?:not|no|without|non)[\s-]+)?\b(?P<w>retained|retain)\b(?:\s*[:=]\s*(?P<val>true|"
        r"false|yes|no|1|0))?",
        text,
        re.I,
    ):
        if re.search(
            r"\b(?:keep|preserve|pass\s+through|copy)\b[^.]{0,10}$",
            text[max(0, m.start() - 20) : m.start()],
            re.I,
        ):
            continue
        value = not m.group("neg") and (m.group("val") or "true").lower() in ("true", "yes", "1")
        retain.append(
            Retain(
                text=m.group(),
                start=m.start(),
                end=m.end(),
                retain=value,
                topic=_nearest_topic(topics, sentences, m.start(), m.end()),
            )
        )
    return qos, retain


_TRIGGERS = [
    (r"\b(?:push\s*)?buttons?\b|\bclick(?:s|ed|ing)?\b|\bmanual(?:ly)?\s+trigger", "button"),
    (
        r"\b(?:at|on)\s+(?:request|call)(?:\s+time)?\b|\bat\s+call\s+time|\bon\s+(?:each|every)\s+"
        r"(?:call|request)|\bon\s+demand\b|\bwhen\s+(?:called|requested)|\bper\s+request\b",
        "on_request",
    ),
    (
        r"\b(?:on|at)\s+(?:start-?up|boot)\b|\bwhen\s+node-?red\s+starts|\bafter\s+a\s+(?:restart|"
        r"reboot|deploy)|\bafter\s+(?:every|each)\s+(?:restart|deploy)|\bon\s+deploy\b",
        "startup",
    ),
]


def find_triggers(text: str) -> list[Trigger]:
    found = []
    for pattern, kind in _TRIGGERS:
        for m in re.finditer(pattern, text, re.I):
            before = text[max(0, m.start() - 30) : m.start()]
            if re.search(r"\b(?:no|not|don'?t|dont|never|without)\b[^.]{0,25}$", before, re.I):
                continue
            if kind == "startup" and re.search(r"\bfirst\s+\w+\s*$", before, re.I):
                continue
            found.append(Trigger(text=m.group(), start=m.start(), end=m.end(), kind=kind))
    return sorted(found, key=lambda t: t.start)
