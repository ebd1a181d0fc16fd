"""Finding the nodes an instruction talks about: by id, by name, by topic/URL/path, or by
type words ("the switch", "the mqtt out"). Names and other text of the flow are only ever
compared with the instruction, never followed as instructions."""

from __future__ import annotations

import re

from assistant.edit import graph
from assistant.edit.model import Flow, Node
from flowschema.catalog import Catalog

# Type words, most specific first. Each maps to the node types it names.
TYPE_WORDS: list[tuple[str, tuple[str, ...]]] = [
    (r"mqtt[\s-]*out(?:put)?s?|publishers?|mqtt[\s-]*publish(?:er)?", ("mqtt out",)),
    (r"mqtt[\s-]*in(?:put)?s?|subscribers?|subscriptions?|mqtt[\s-]*subscribe", ("mqtt in",)),
    (r"http[\s-]*requests?|http[\s-]*calls?|webhooks?|rest calls?", ("http request",)),
    (r"http[\s-]*in|endpoints?", ("http in",)),
    (r"http[\s-]*responses?", ("http response",)),
    (
        r"modbus[\s-]*(?:read(?:er)?|poll(?:er)?|getter|in|nodes?)s?|pollers?|register reads?"
        r"|getters?|readers?|read nodes?",
        ("modbus-read", "modbus-getter", "modbus-flex-getter"),
    ),
    (r"modbus[\s-]*(?:write|writer)s?", ("modbus-write", "modbus-flex-write")),
    (r"opc[\s-]*ua(?:[\s-]*client)?", ("OpcUa-Client",)),
    (r"switch(?:es)?(?:[\s-]*nodes?)?|routers?", ("switch",)),
    (r"debug(?:s|[\s-]*nodes?)?", ("debug",)),
    (r"function(?:s|[\s-]*nodes?)?|scripts?", ("function",)),
    (r"change[\s-]*nodes?", ("change",)),
    (r"inject(?:s|[\s-]*nodes?)?|timers?|tickers?", ("inject",)),
    (r"file[\s-]*(?:nodes?|out|writers?|outputs?)|log[\s-]*files?|csv[\s-]*files?", ("file",)),
    (r"rbe(?:[\s-]*nodes?)?|filters?|report[\s-]*by[\s-]*exception|deadbands?", ("rbe",)),
    (r"delay(?:s|[\s-]*nodes?)?|rate[\s-]*limit(?:er)?s?", ("delay",)),
    (r"trigger(?:s|[\s-]*nodes?)?", ("trigger",)),
    (r"templates?(?:[\s-]*nodes?)?", ("template",)),
    (r"range(?:[\s-]*nodes?)?", ("range",)),
    (r"json[\s-]*nodes?", ("json",)),
    (r"csv[\s-]*nodes?", ("csv",)),
    (r"join(?:[\s-]*nodes?)?", ("join",)),
    (r"split(?:[\s-]*nodes?)?", ("split",)),
]
_PROCESSING = ("function", "change", "range", "template", "json", "switch")
_ROLE_WORDS: list[tuple[str, str]] = [
    (r"scal(?:ing|er|e)|conver(?:sion|ter|t)|calculation|transform(?:ation)?", "processing"),
    (r"source|input|incoming", "source"),
]
_HEX_ID = re.compile(r"\b[0-9a-f]{16}\b|\b[0-9a-f]{8}\.[0-9a-f]{5,6}\b")
_STOP = {"node", "the", "a", "an", "it", "this", "that", "flow", "value", "data", "output"}


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w/])(?:" + pattern + r")(?![\w/])", re.I)


def by_type_words(flow: Flow, phrase: str, catalog: Catalog) -> list[Node]:
    nodes = graph.canvas_nodes(flow, catalog)
    for pattern, types in TYPE_WORDS:
        if _words(pattern).search(phrase):
            return [n for n in nodes if n.get("type") in types]
    for pattern, role in _ROLE_WORDS:
        if _words(pattern).search(phrase):
            if role == "processing":
                return [n for n in nodes if n.get("type") in _PROCESSING]
            return graph.data_sources(flow, catalog)
    return []


def names_type_word(phrase: str) -> bool:
    return any(_words(p).search(phrase) for p, _ in TYPE_WORDS)


def by_id(flow: Flow, phrase: str) -> list[Node]:
    index = graph.by_id(flow)
    return [index[i] for i in dict.fromkeys(_HEX_ID.findall(phrase.lower())) if i in index]


def by_name(flow: Flow, phrase: str, catalog: Catalog) -> list[Node]:
    """Nodes whose name appears in the phrase as whole words; the longest names win."""
    low = phrase.lower()
    hits: list[tuple[int, Node]] = []
    for node in graph.canvas_nodes(flow, catalog):
        name = node.get("name")
        if not isinstance(name, str) or len(name.strip()) < 3 or name.strip().lower() in _STOP:
            continue
        pattern = r"(?<![\w])" + re.escape(name.strip().lower()) + r"(?![\w])"
        if re.search(pattern, low):
            hits.append((len(name), node))
    if not hits:
        return []
    longest = max(length for length, _ in hits)
    return [node for length, node in hits if length == longest]


def by_value(flow: Flow, phrase: str, catalog: Catalog) -> list[Node]:
    """Nodes whose topic, URL, file name or endpoint appears in the phrase."""
    found = []
    for node in graph.canvas_nodes(flow, catalog):
        for key in ("topic", "url", "filename"):
            value = node.get(key)
            if isinstance(value, str) and len(value) >= 3:
                pattern = r"(?<![\w/.])" + re.escape(value) + r"(?![\w/])"
                if re.search(pattern, phrase):
                    found.append(node)
                    break
    return found


def find(flow: Flow, phrase: str, catalog: Catalog) -> list[Node]:
    """The nodes a phrase names, trying ids, names, topics/paths, then type words."""
    return (
        by_id(flow, phrase)
        or by_name(flow, phrase, catalog)
        or by_value(flow, phrase, catalog)
        or by_type_words(flow, phrase, catalog)
    )


_TARGET = re.compile(
    r"\b(?:right\s+)?(?:after|behind|following|downstream of|(?:the\s+)?outputs?\s+of|coming out of"
    r"|in front of|before|upstream of)\s+(?P<phrase>[^,.;:!?()]+)",
    re.I,
)
_WEAK_TARGET = re.compile(r"\b(?:on|at|to|from|of)\s+(?P<phrase>the\s+[^,.;:!?()]+)", re.I)


_NOT_A_NODE = {
    "it",
    "its",
    "they",
    "them",
    "this",
    "that",
    "these",
    "those",
    "we",
    "you",
    "i",
    "a",
    "an",
    "every",
    "each",
    "some",
    "any",
    "all",
    "one",
    "now",
    "then",
    "which",
    "what",
    "restart",
    "deploy",
    "startup",
    "start",
    "midnight",
    "noon",
}


def target_phrase(text: str) -> tuple[str | None, bool]:
    """The phrase after "after"/"behind"/"before"/... (strong) or "on the"/"to the"
    (weak); (None, False) when there is none."""
    for pattern, strong in ((_TARGET, True), (_WEAK_TARGET, False)):
        for m in pattern.finditer(text):
            phrase = m.group("phrase").strip()
            first = phrase.split()[0].lower() if phrase.split() else ""
            if first in _NOT_A_NODE or first[:1].isdigit():
                continue  # "after it arrives", "before 5 s", "after a while"
            return phrase, strong
    return None, False


def phrase_text(phrase: str) -> str:
    """A phrase cut to the node it names: "the switch so I can see" -> "the switch"."""
    cut = re.split(
        r"\b(?:so|and|to|that|which|where|when|if|because|with|for)\b", phrase, maxsplit=1
    )
    return cut[0].strip()
