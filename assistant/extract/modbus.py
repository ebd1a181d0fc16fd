"""Modbus registers and bits: table, zero-based address, count, data type and scaling.

Addresses follow node-red-contrib-modbus, which sends the zero-based protocol address:
Modicon numbers lose their table prefix and one ("holding reg 40015" -> 14, "IR 30051" -> 50,
"coil 00017" -> 16, "discrete input 10002" -> 1, 6-digit "400001" -> 0); a plain number for a
register is taken as written ("HR 0" -> 0, "holding register 100" -> 100). A plain coil or
input number above 0 ("coil 1") is read as one-based, the way panel builders count them,
with the zero-based reading kept as `alt_address`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from assistant.extract.model import Endpoint, Register, Scale
from assistant.extract.network import nearest_device
from assistant.extract.text import Claims, Sentences

_PREFIX = {"coil": 0, "discrete": 1, "input": 3, "holding": 4}
_KIND_WORDS: list[tuple[str, str | None]] = [
    (r"holding[\s_-]*(?:reg(?:ister)?s?|regs?)?|(?<!\d\s)HRs?|4x|%MW", "holding"),
    (r"input[\s_-]*reg(?:ister)?s?|input[\s_-]*regs?|(?<!\d\s)IRs?|3x", "input"),
    (
        r"discrete(?:[\s_-]*inputs?)?|(?-i:DIs?)|input[\s_-]*status(?:es)?|digital[\s_-]*inputs?|1x",
        "discrete",
    ),
    (r"coils?|0x|(?-i:DOs?)|digital[\s_-]*outputs?", "coil"),
    (r"reg(?:ister)?s?|regs?", None),
]
_NUM = r"\d{1,6}"
_SEP = r"\s*(?:-|–|\.\.\.?|to|thru|through)\s*"
_SPEC = rf"{_NUM}(?:{_SEP}{_NUM}|\s*/\s*{_NUM})?"
_FILLER = (
    r"[\s(:#=]*(?:(?:at|address|addr|no\.?|nr\.?|number|@|starting\s+(?:at|from)|beginning\s+at|"
    r"from)\s*)?"
)
_REG_RE = re.compile(
    r"\b(?P<kind>"
    + "|".join(f"(?:{p})" for p, _ in _KIND_WORDS)
    + r")(?:\b|(?=\d))"
    + _FILLER
    + rf"(?P<spec>{_SPEC}(?:\s*(?:,|and|&)\s*(?!\d+\s*(?:%|°|x\b))"
    + rf"(?:(?:HR|IR|coil|reg)\s*)?{_SPEC})*)"
    r"(?!\d|\.\d|\s*(?:%|°|ms\b|s\b|sec|min|bar|rpm|mm|kg|x\b|bit|samples|values|rows))",
    re.I,
)
_BARE = re.compile(r"(?<![\w.:/=-])(?P<num>[34]\d{4}|0\d{4}|[34]\d{5})(?![\w.:/-])")
_MODBUS_CONTEXT = re.compile(
    r"\b(?:modbus|registers?|regs?|HR|IR|coils?|holding|plc|unit|slave|uid|fc\s?\d+)\b", re.I
)


def _kind_of(word: str) -> str | None:
    for pattern, kind in _KIND_WORDS:
        if re.fullmatch(pattern, word, re.I):
            return kind
    return None


def _address(number: str, kind: str) -> tuple[int, str, int | None]:
    """(zero-based address, notation, other plausible address) of one written number."""
    n = int(number)
    prefix = _PREFIX[kind]
    if len(number) == 5 and int(number[0]) == prefix and n > prefix * 10000:
        return n - prefix * 10000 - 1, "modicon5", None
    if len(number) == 6 and int(number[0]) == prefix and n > prefix * 100000:
        return n - prefix * 100000 - 1, "modicon6", None
    if kind in ("coil", "discrete") and n > 0:
        return n - 1, "raw", n
    return n, "raw", (n - 1 if n > 0 else None)


def _infer_kind(number: str) -> str:
    if len(number) in (5, 6) and number[0] in "0134":
        return {"0": "coil", "1": "discrete", "3": "input", "4": "holding"}[number[0]]
    return "holding"


def _parse_spec(spec: str, kind: str | None) -> list[tuple[str, int, int, str, int | None, str]]:
    """[(kind, address, count, notation, alt, first number)] for "40001-40003, 40010"."""
    items: list[tuple[str, int, int, str, int | None, str]] = []
    pair = re.fullmatch(rf"({_NUM})\s*(?:and|&)\s*({_NUM})", spec.strip(), re.I)
    if pair:  # "input registers 30053 and 30054": one 32-bit pair
        k = kind or _infer_kind(pair.group(1))
        a, notation, alt = _address(pair.group(1), k)
        if _address(pair.group(2), k)[0] == a + 1:
            return [(k, a, 2, notation, alt, pair.group(1))]
    for part in re.split(r"\s*(?:,|and|&)\s*", spec):
        part = re.sub(r"^(?:HR|IR|coil|reg)\s*", "", part.strip(), flags=re.I)
        m = re.fullmatch(rf"({_NUM})(?:{_SEP}({_NUM})|\s*/\s*({_NUM}))?", part, re.I)
        if not m:
            continue
        first, last = m.group(1), m.group(2) or m.group(3)
        k = kind or _infer_kind(first)
        adr, notation, alt = _address(first, k)
        count = 1
        if last:
            if len(last) < len(first):
                last = first[: len(first) - len(last)] + last  # "40001-3"
            end_adr, _, _ = _address(last, k)
            if m.group(3) and end_adr != adr + 1:
                items.append((k, adr, 1, notation, alt, first))
                adr, notation, alt = _address(last, k)
                items.append((k, adr, 1, notation, alt, last))
                continue
            if end_adr >= adr:
                count = end_adr - adr + 1
        items.append((k, adr, count, notation, alt, first))
    return items


_DTYPE = [
    (
        r"u?dint|dword|uint32|unsigned\s*32|32[\s-]*bit\s*(?:unsigned|uint)|unsigned\s+long|ulong",
        "uint32",
    ),
    (r"int32|dint|32[\s-]*bit\s*(?:signed\s*)?int(?:eger)?|signed\s*32", "int32"),
    (r"float\s*64|double|lreal|64[\s-]*bit\s*float", "float64"),
    (r"float\s*32|float|(?-i:REAL)|32[\s-]*bit\s*(?:float|real)|ieee\s*754", "float32"),
    (r"uint64|u?lint|64[\s-]*bit\s*(?:unsigned|uint)", "uint64"),
    (r"int64|64[\s-]*bit\s*int", "int64"),
    (r"uint16|unsigned(?:\s*16)?|uint", "uint16"),
    (r"int16|signed(?:\s*16)?", "int16"),
]
_DTYPE_RE = re.compile(r"\b(?:" + "|".join(f"({p})" for p, _ in _DTYPE) + r")s?\b", re.I)
_ORDER = re.compile(
    r"\b(?P<low>(?:low|lo|least\s+significant|lsw)\s*word\s*first|little[\s-]*endian|word[\s-]*swap\w*|CDAB)\b"
    r"|\b(?P<high>(?:high|hi|most\s+significant|msw)\s*word\s*first|big[\s-]*endian|ABCD)\b",
    re.I,
)
_UNIT = (
    r"(?:°[CF]|°|%(?:\s?O2|\s?rH)?|mm/s|m/min|m3/h|m³/h|l/min|kWh|Wh|kW|W|mbar|bar|psi|kPa|Pa|"
    r"mA|A|mV|V|Hz|rpm|mm|cm|m|Nm|kN|N|kg|g|t|ms|s|min|h|l|L|degC|degF)(?![\w/])"
)
_SCALE = re.compile(
    rf"(?:(?P<u1>{_UNIT})\s*)?(?:(?<![\w.])[x×]|\*)\s?(?P<mul>10+|0\.0*1)\b(?:\s*(?P<u2>{_UNIT}))?"
    rf"|\((?P<res>0\.\d+)\s*(?P<u3>{_UNIT})\)"
    rf"|\bresolution\s*(?P<res2>\d+(?:\.\d+)?)\s*(?P<u4>{_UNIT})?"
    rf"|\bin\s+(?P<res3>0\.\d+)\s*(?P<u5>{_UNIT})\s+units\b"
    rf"|\b(?P<res4>0\.\d+)\s*(?P<u6>{_UNIT})\s+units\b"
    rf"|\bin\s+(?P<u7>mm|cm|bar|mbar|kPa|°C|degC|kWh|Wh|mA|Hz|rpm|%)(?![\w/])"
    rf"|(?<![\w./])/\s?(?P<div>10+)\b",
)
_FC = re.compile(r"\b(?:fc|function\s*code)\s*[=:]?\s*(\d{1,2})\b", re.I)
_WRITE = re.compile(
    r"\b(?:write|writes|written|writing|set|reset|pulse|force|toggle|switch|send|put|"
    r"command|fc\s?(?:5|6|15|16))\b",
    re.I,
)
_READ = re.compile(
    r"\b(?:read|reads|reading|poll|polls|polling|sample|get|fetch|monitor|"
    r"fc\s?[1-4])\b",
    re.I,
)


def _scale(m: re.Match[str]) -> Scale:
    text = m.group()
    if m.group("mul") or m.group("div"):
        mul = float(m.group("mul") or m.group("div"))
        unit = m.group("u1") or m.group("u2") if m.group("mul") else None
        return Scale(text=text, start=m.start(), end=m.end(), factor=1 / mul, unit=unit)
    res = m.group("res") or m.group("res2") or m.group("res3") or m.group("res4")
    unit = m.group("u3") or m.group("u4") or m.group("u5") or m.group("u6") or m.group("u7")
    return Scale(
        text=text, start=m.start(), end=m.end(), factor=float(res) if res else None, unit=unit
    )


def find_registers(
    text: str, sentences: Sentences, claims: Claims, endpoints: list[Endpoint]
) -> list[Register]:
    spans: list[tuple[int, int, str, int, int, str, int | None, str]] = []
    for m in _REG_RE.finditer(text):
        if not claims.free(m.start("spec"), m.end("spec")):
            continue
        word_kind = _kind_of(m.group("kind"))
        if m.group("kind").lower() in ("0x", "1x", "3x", "4x") and not re.match(
            r"\s", text[m.end("kind") :]
        ):
            continue
        parsed = _parse_spec(m.group("spec"), word_kind)
        lead = re.search(r"(?<![\w.])(\d{1,3})\s+$", text[max(0, m.start() - 5) : m.start()])
        if lead and len(parsed) == 1 and parsed[0][2] == 1 and int(lead.group(1)) > 1:
            k, adr, _, notation, alt, first = parsed[0]
            parsed = [
                (k, adr, int(lead.group(1)), notation, alt, first)
            ]  # "4 input regs from 30001"
        for kind, adr, count, notation, alt, first in parsed:
            spans.append((m.start(), m.end(), kind, adr, count, notation, alt, first))
        claims.add(m.start(), m.end())
    has_context = bool(spans) or bool(_MODBUS_CONTEXT.search(text))
    for m in _BARE.finditer(text):
        if not has_context or not claims.free(m.start(), m.end()):
            continue
        s_start, _ = sentences.bounds(m.start())
        sentence_has_regs = any(s_start <= s[0] < m.start() for s in spans)
        if not sentence_has_regs and not re.search(
            r"\bat\s*$", text[max(0, m.start() - 6) : m.start()]
        ):
            continue
        kind = _infer_kind(m.group("num"))
        after = text[m.end() : m.end() + 12]
        pair = re.match(rf"\s*(?:/|{_SEP})\s*({_NUM})", after)
        spec = m.group("num") + (after[: pair.end()] if pair else "")
        end = m.end() + (pair.end() if pair else 0)
        for k, adr, count, notation, alt, first in _parse_spec(spec, kind):
            spans.append((m.start(), end, k, adr, count, notation, alt, first))
        claims.add(m.start(), end)
    spans.sort()
    registers = [
        Register(
            text=text[s:e],
            start=s,
            end=e,
            kind=k,
            address=adr,
            count=count,
            notation=notation,
            alt_address=alt,
        )
        for s, e, k, adr, count, notation, alt, _ in spans
    ]
    return _annotate(text, sentences, claims, registers, endpoints)


def _owner(registers: list[Register], sentences: Sentences, pos: int) -> int | None:
    """Index of the register a hint at `pos` belongs to: the last one before it in the
    sentence, else the first one after it."""
    same = [i for i, r in enumerate(registers) if sentences.same(r.start, pos)]
    if not same:
        return None
    before = [i for i in same if registers[i].start <= pos]
    return before[-1] if before else same[0]


def _annotate(
    text: str,
    sentences: Sentences,
    claims: Claims,
    registers: list[Register],
    endpoints: list[Endpoint],
) -> list[Register]:
    if not registers:
        return registers
    regs = list(registers)
    for m in _DTYPE_RE.finditer(text):
        i = _owner(regs, sentences, m.start())
        r = regs[i] if i is not None else None
        if (
            i is not None
            and r is not None
            and r.data_type is None
            and (r.end <= m.start() < r.end + 50 or r.start - 50 < m.end() <= r.start)
        ):
            kind = next(k for (p, k), g in zip(_DTYPE, m.groups(), strict=True) if g)
            regs[i] = replace(regs[i], data_type=kind)
            many = re.search(r"(?<![\w.])(\d{1,3})\s+$", text[max(0, m.start() - 5) : m.start()])
            if many and int(many.group(1)) > 1 and regs[i].count == 1:
                width = {"uint32": 2, "int32": 2, "float32": 2, "uint64": 4, "int64": 4,
                         "float64": 4}.get(kind, 1)
                regs[i] = replace(regs[i], count=int(many.group(1)) * width)  # "2 floats"
    for m in _ORDER.finditer(text):
        i = _owner(regs, sentences, m.start())
        if i is not None:
            regs[i] = replace(regs[i], word_order="low_first" if m.group("low") else "high_first")
    for m in _SCALE.finditer(text):
        if not claims.free(m.start(), m.end()) and not m.group("u7"):
            continue
        i = _owner(regs, sentences, m.start())
        if i is None:
            continue
        claims.add(m.start(), m.end())
        targets = [i]
        if re.search(
            r"\b(?:both|all|each)\b[^.]{0,6}$", text[max(0, m.start() - 12) : m.start()], re.I
        ):
            targets = [j for j, r in enumerate(regs) if sentences.same(r.start, m.start())]
        for j in targets:
            regs[j] = replace(regs[j], scales=(*regs[j].scales, _scale(m)))
    for m in _FC.finditer(text):
        fc = int(m.group(1))
        kinds = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 3: "holding", 6: "holding",
                 16: "holding", 4: "input"}
        fits = [i for i, r in enumerate(regs) if r.kind == kinds.get(fc, r.kind)]
        targets = [i for i in fits if sentences.same(regs[i].start, m.start())]
        if not targets:
            targets = [i for i in fits if regs[i].end <= m.start()][-1:]
        for i in targets:
            regs[i] = replace(regs[i], function_code=fc)
        claims.add(m.start(), m.end())
    out = []
    for r in regs:
        s_start, _ = sentences.bounds(r.start)
        window = text[max(s_start, r.start - 60) : r.start]
        writes = list(_WRITE.finditer(window))
        reads = list(_READ.finditer(window))
        access = None
        if r.kind in ("input", "discrete"):
            access = "read"
        elif writes or reads:
            last_w = writes[-1].start() if writes else -1
            last_r = reads[-1].start() if reads else -1
            access = "write" if last_w > last_r else "read"
        if r.function_code in (5, 6, 15, 16):
            access = "write"
        device = nearest_device(endpoints, r.start, r.end, text)
        out.append(replace(r, access=access, device=device.host if device else None))
    return out
