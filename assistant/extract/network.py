"""Hosts, URLs and unit ids: Modbus devices, MQTT brokers, OPC UA servers, HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistant.extract.model import Endpoint, HttpEndpoint, HttpRequest, StatusCode, UnitId
from assistant.extract.text import Claims, Sentences

_PLACEHOLDER = r"<[\w .-]{1,30}>|\{{1,3}[\w.]+\}{1,3}"
URL = re.compile(
    r"\b(?P<scheme>https?|opc\.tcp|mqtts?|wss?|tcp)://"
    r"(?P<rest>(?:[^\s'\"()\[\]{},<>]|" + _PLACEHOLDER + r")+)",
    re.IGNORECASE,
)
_IP = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)"
_TLDS = "local|lan|corp|internal|example|com|net|org|intra|cloud"
_HOSTNAME = r"(?<![\w./@-])(?:[a-z][\w-]*\.)+(?:" + _TLDS + r")(?![\w-])|\blocalhost\b"
HOST = re.compile(r"(?P<host>" + _IP + "|" + _HOSTNAME + r")(?::(?P<port>\d{1,5})\b)?", re.I)
_PORT_AFTER = re.compile(r"^[\s,(]*(?:tcp\s+)?port\s*[:=]?\s*(\d{1,5})\b", re.I)

# Words that say what a host is, strongest first within the same distance.
_ROLE_CUES: list[tuple[str, str]] = [
    (r"modbus(?:[\s/-]*tcp)?|rs-?485|slave|unit(?:[\s_-]*id)?|uid|registers?|coils?", "modbus"),
    (r"broker|mosquitto|mqtts?|hivemq|emqx", "broker"),
    (r"opc(?:[\s-]*ua)?|ua\s+server", "opcua"),
    (
        r"plcs?|controller|gateway|gw|meter|sub-?meter|vfds?|drives?|inverter|wago|moxa|"
        r"remote\s+io|io|radar|flowmeter|analy[sz]er|checkweigher|transmitter|hmi|skid",
        "modbus",
    ),
    (r"raw\s+tcp|tcp|socket|terminal|marquee|printer", "tcp"),
]
_ROLE_RE = [(re.compile(r"\b(?:" + p + r")\b", re.I), role) for p, role in _ROLE_CUES]
_PORT_ROLES = {1883: "broker", 8883: "broker", 4840: "opcua", 502: "modbus", 5020: "modbus"}


@dataclass
class NetworkResult:
    endpoints: list[Endpoint]
    unit_ids: list[UnitId]
    http_endpoints: list[HttpEndpoint]
    http_requests: list[HttpRequest]
    status_codes: list[StatusCode]


def _strip_tail(text: str) -> str:
    return text.rstrip(".,;:!?'\"")


def find_urls(text: str, claims: Claims) -> list[tuple[str, str, int, int]]:
    """(scheme, url, start, end) for every URL; claims their spans."""
    found = []
    for m in URL.finditer(text):
        url = _strip_tail(m.group())
        claims.add(m.start(), m.start() + len(url))
        found.append((m.group("scheme").lower(), url, m.start(), m.start() + len(url)))
    return found


def _role(
    text: str, sentences: Sentences, start: int, end: int, port: int | None
) -> tuple[str, str | None]:
    if port in (1883, 8883, 4840):
        return _PORT_ROLES[port], f"port {port}"
    s_start, s_end = sentences.bounds(start)
    best: tuple[int, int, str, str] | None = None
    for rank, (regex, role) in enumerate(_ROLE_RE):
        for m in regex.finditer(text, s_start, s_end):
            if m.start() >= end:
                distance = (m.start() - end) * 2  # words after count less than before
            elif m.end() <= start:
                distance = start - m.end()
            else:
                continue
            key = (distance, rank, role, m.group())
            if best is None or key[:2] < best[:2]:
                best = key
    if best is not None and best[0] <= 80:
        return best[2], best[3]
    if port in _PORT_ROLES:
        return _PORT_ROLES[port], f"port {port}"
    if re.search(r"\b(?:modbus|registers?|regs?|coils?|HR|IR|holding|discrete)(?:\b|(?=\d))",
                 text, re.I):
        return "modbus", None
    return "other", None


def find_endpoints(
    text: str, sentences: Sentences, claims: Claims, urls: list[tuple[str, str, int, int]]
) -> list[Endpoint]:
    found: list[Endpoint] = []
    for scheme, url, start, end in urls:
        if scheme == "opc.tcp":
            m = re.match(r"opc\.tcp://([^/:]+)(?::(\d+))?", url, re.I)
            if m:
                port = int(m.group(2)) if m.group(2) else None
                found.append(
                    Endpoint(
                        text=url,
                        start=start,
                        end=end,
                        role="opcua",
                        host=m.group(1),
                        port=port,
                        url=url,
                        cue="opc.tcp://",
                    )
                )
        elif scheme.startswith("mqtt") or scheme.startswith("ws"):
            m = re.match(r"\w+://([^/:]+)(?::(\d+))?", url)
            if m:
                found.append(
                    Endpoint(
                        text=url,
                        start=start,
                        end=end,
                        role="broker",
                        host=m.group(1),
                        port=int(m.group(2)) if m.group(2) else None,
                        url=url,
                        cue=scheme + "://",
                    )
                )
    for m in HOST.finditer(text):
        if not claims.free(m.start(), m.end()):
            continue
        if text[m.end() : m.end() + 1] == "/" and re.match(r"/\d", text[m.end() : m.end() + 3]):
            continue  # a network range such as 10.50.0.0/24
        host = m.group("host")
        if re.fullmatch(r"[\d.]+", host) and any(int(p) > 255 for p in host.split(".")):
            continue
        port = int(m.group("port")) if m.group("port") else None
        end = m.end()
        after = _PORT_AFTER.match(text[end:])
        if port is None and after:
            port = int(after.group(1))
            end += after.end()
        role, cue = _role(text, sentences, m.start(), m.end(), port)
        claims.add(m.start(), end)
        found.append(
            Endpoint(
                text=text[m.start() : end],
                start=m.start(),
                end=end,
                role=role,
                host=host,
                port=port,
                cue=cue,
            )
        )
    return sorted(found, key=lambda e: e.start)


_UNIT_RE = re.compile(
    r"\b(?:unit|slave|device|station)[\s_-]*(?P<word>ids?|address(?:es)?|addr|no\.?|nr\.?|numbers?)?"
    r"\s*(?:[:=#]\s*)?(?P<ids>\d{1,3}(?:\s*(?:,|and|&|or)\s*\d{1,3})*"
    r"(?:\s*(?:-|–|\.\.|to)\s*\d{1,3})?)(?!\d|\.\d|\s*(?:%|x\b|bar|°|mm|kg|ms|s\b))"
    r"|\b(?:uid|modbus[\s_-]*(?:id|address|addr))\s*[:=#]?\s*(?P<uid>\d{1,3})\b"
    r"|\b(?:unit|slave)[\s_-]*ids?\s*=\s*[^()\n]{0,30}\((?P<lo>\d{1,3})\s*(?:-|–|\.\.|to)\s*(?P<hi>\d{1,3})\)",
    re.I,
)


def _id_values(spec: str) -> tuple[int, ...]:
    m = re.fullmatch(r"(\d+)\s*(?:-|–|\.\.|to)\s*(\d+)", spec.strip())
    if m and int(m.group(1)) <= int(m.group(2)) <= int(m.group(1)) + 255:
        return tuple(range(int(m.group(1)), int(m.group(2)) + 1))
    return tuple(int(n) for n in re.findall(r"\d+", spec))


def find_unit_ids(text: str, claims: Claims, endpoints: list[Endpoint]) -> list[UnitId]:
    found: list[UnitId] = []
    for m in _UNIT_RE.finditer(text):
        if not claims.free(m.start(), m.end()):
            continue
        word = (m.group(0).split()[0]).lower()
        if word.startswith(("station", "device")) and not m.group("word"):
            continue  # "pump station 1" is a name, not an address
        if m.group("uid"):
            values: tuple[int, ...] = (int(m.group("uid")),)
        elif m.group("lo"):
            values = tuple(range(int(m.group("lo")), int(m.group("hi")) + 1))
        else:
            values = _id_values(m.group("ids"))
        if not values or any(v > 255 for v in values):
            continue
        claims.add(m.start(), m.end())
        device = nearest_device(endpoints, m.start(), m.end(), text)
        found.append(
            UnitId(
                text=m.group(),
                start=m.start(),
                end=m.end(),
                values=values,
                device=device.host if device else None,
            )
        )
    return found


def nearest_device(
    endpoints: list[Endpoint], start: int, end: int, text: str = ""
) -> Endpoint | None:
    """The Modbus device closest to a span (one before it is preferred at equal distance)."""
    devices = [e for e in endpoints if e.role == "modbus"]
    if not devices:
        return None

    def distance(e: Endpoint) -> int:
        if e.end <= start:
            return start - e.end
        between = text[end : e.start]
        if re.fullmatch(r"\s*[(,]?\s*(?:on|at|of|from|in)\b[^.,;()]{0,30}", between, re.I):
            return 0  # "HR 40100 on the VFD gateway 192.168.80.20"
        return (e.start - end) * 3 // 2 + 1

    return min(devices, key=distance)


def attach_unit_ids(endpoints: list[Endpoint], unit_ids: list[UnitId]) -> list[Endpoint]:
    out = []
    for e in endpoints:
        ids = tuple(v for u in unit_ids if u.device == e.host for v in u.values)
        out.append(replace(e, unit_ids=ids) if ids and e.role == "modbus" else e)
    return out


# --- HTTP -----------------------------------------------------------------------------

_SEGMENT = r"(?:(?:[\w.~%-]|<[\w -]{1,30}>|\{\w+\})+|:\w+)"
PATH = re.compile(r"(?<![\w:/.\\>}+#*-])/" + _SEGMENT + r"(?:/" + _SEGMENT + r")*/?(?:\?[^\s)]*)?")
FS_ROOTS = {
    "data", "var", "opt", "etc", "tmp", "home", "mnt", "srv", "usr", "dev", "media", "root", "run",
    "logs", "log", "share", "nfs", "backup", "models"
}
_HTTP_WORDS = re.compile(
    r"\b(?:GET|POST|PUT|DELETE|PATCH|POSTs|http|https|rest|endpoint|url|webhook|route|web\s*page|"
    r"page|browser|download|api|curl|request|served?|serving)\b",
    re.I,
)
_METHOD = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH)(?:s|ed|ing)?\b", re.I)


def is_http_path(text: str, sentences: Sentences, start: int, path: str) -> bool:
    first = path.strip("/").split("/")[0].split("?")[0].lower()
    if first in FS_ROOTS:
        return False
    if first == "api":
        return True
    s_start, s_end = sentences.bounds(start)
    return bool(_HTTP_WORDS.search(text, s_start, s_end))


def _method_before(text: str, start: int, limit: int, *, loose: bool) -> str | None:
    window = text[max(limit, start - 90) : start]
    best = None
    for m in _METHOD.finditer(window):
        word = m.group(1)
        near = len(window) - m.end() <= 12
        if word.isupper() or (loose and near) or word.lower() != "get":
            best = word.upper()
    return best


def normalise_path(path: str) -> str:
    path = path.split("?")[0]
    path = re.sub(r"<\s*([\w -]+?)\s*>", lambda m: ":" + re.sub(r"\W+", "_", m.group(1)), path)
    path = re.sub(r"\{(\w+)\}", r":\1", path)
    return path.rstrip("/") or "/"


def find_http(
    text: str, sentences: Sentences, claims: Claims, urls: list[tuple[str, str, int, int]]
) -> tuple[list[HttpEndpoint], list[HttpRequest]]:
    served: list[HttpEndpoint] = []
    for m in PATH.finditer(text):
        raw = _strip_tail(m.group()).rstrip(")")
        if not claims.free(m.start(), m.start() + len(raw)) or len(raw) < 2:
            continue
        if not is_http_path(text, sentences, m.start(), raw):
            continue
        s_start, _ = sentences.bounds(m.start())
        prev_end = max((e.end for e in served), default=0)
        method = _method_before(text, m.start(), max(s_start, prev_end), loose=True)
        claims.add(m.start(), m.start() + len(raw))
        served.append(
            HttpEndpoint(
                text=raw,
                start=m.start(),
                end=m.start() + len(raw),
                method=(method or "GET").lower(),
                path=normalise_path(raw),
                method_stated=method is not None,
            )
        )
    for m in re.finditer(
        r"\b(GET|POST|PUT|DELETE|PATCH)\b[^.\n]{0,25}?\bsame\s+(?:url|path|endpoint|route|address)",
        text,
        re.I,
    ):
        before = [e for e in served if e.end <= m.start()]
        if before:
            served.append(
                HttpEndpoint(
                    text=m.group(),
                    start=m.start(),
                    end=m.end(),
                    method=m.group(1).lower(),
                    path=before[-1].path,
                )
            )
    requests: list[HttpRequest] = []
    for scheme, url, start, end in urls:
        if scheme not in ("http", "https"):
            continue
        s_start, _ = sentences.bounds(start)
        method = _method_before(text, start, s_start, loose=False)
        if method is None:
            after = _METHOD.search(text[end : end + 20])
            method = after.group(1).upper() if after and after.group(1).isupper() else None
        requests.append(HttpRequest(text=url, start=start, end=end, method=method, url=url))
    served.sort(key=lambda e: e.start)
    return served, requests


_CODES = {
    200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 406, 409, 410, 415, 422, 429, 500,
    501, 502, 503, 504
}
_CODE_BEFORE = re.compile(
    r"(?:->|=>|answer(?:s|ed)?|reply|replies|respond(?:s|ed)?(?:\s+with)?|return(?:s|ing)?|"
    r"status(?:\s*code)?|http|code|get|gives?|with|an?)\s*[:(]?\s*$",
    re.I,
)
_CODE_AFTER = re.compile(
    r"^\s*(?:$|[.,;:)\]\"'{(]|if\b|for\b|when\b|with\b|on\b|and\b|or\b|error|not\b|bad\b|"
    r"otherwise|else|unless|back|straight|immediately|ok\b|response)",
    re.I,
)
_COMPARATOR_BEFORE = re.compile(
    r"(?:(?<![-=])[<>]=?|==|over|above|below|under|than|least|most)\s*$", re.I
)


def find_status_codes(text: str, claims: Claims) -> list[StatusCode]:
    found: list[StatusCode] = []
    for m in re.finditer(r"(?<![\w./:-])([1-5]\d\d)(?![\w.%/:-])", text):
        code = int(m.group(1))
        if code not in _CODES or not claims.free(m.start(), m.end()):
            continue
        before = text[max(0, m.start() - 30) : m.start()]
        after = text[m.end() : m.end() + 20]
        if _COMPARATOR_BEFORE.search(before):
            continue
        cue_before = bool(_CODE_BEFORE.search(before))
        if not cue_before and (code < 400 or not _CODE_AFTER.match(after)):
            continue
        claims.add(m.start(), m.end())
        found.append(StatusCode(text=m.group(), start=m.start(), end=m.end(), code=code))
    return found
