"""MQTT topics and whether the flow subscribes to them (in) or publishes them (out).

The role comes from the words around a topic, in this order: the request says it is no
longer used; an arrow or preposition right before it (`-> X` out, `from X` in); an arrow
right after it (`X -> ...` in); the nearest verb before it in the sentence, where a device
doing the verb (`P3 publishes ... on X`, `sensors push ... to X`, `published on X`) means
in and an instruction (`publish ... on X`, `send ... to X`) means out; words after it
(`X is true/false`, `X carries ...`); then weaker guesses from prepositions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistant.extract.model import Topic
from assistant.extract.text import Claims, Sentences

_SEG = r"(?:\$?[\w-]*(?:<[\w .-]{1,30}>|\{\w+\})[\w-]*|\$?[\w-]+(?:\.[\w-]+)*|\+|#|\.\.\.|…)"
TOPIC = re.compile(
    r"(?<![\w/.:<>{}$@\\-])" + _SEG + r"(?:/" + _SEG + r")+(?:/(?=[\s,;)]|\.?$|\.\s))?(?![\w/<{])"
)
_FILE_EXT = re.compile(r"\.(?:csv|json|jsonl|txt|log|onnx|zpl|xml|ya?ml|html?|js|py|xlsx?)$", re.I)
_PAYLOAD_WORDS = {
    "true", "false", "on", "off", "start", "stop", "yes", "no", "ok", "nok", "run", "running",
    "stopped", "fault", "idle", "online", "offline", "local", "remote", "auto", "manual", "open",
    "closed", "close", "high", "low", "min", "max", "avg", "mean", "read", "write", "in", "out",
    "good", "bad", "pass", "fail", "null", "and", "or", "input", "output"
}
_UNITS = {
    "s", "h", "min", "m", "sec", "hr", "day", "d", "l", "kg", "g", "m3", "m³", "mm", "km", "ms",
    "bar", "psi", "rpm", "nm3", "pcs", "kwh", "kw", "a", "v", "hz", "°c", "minute", "hour",
    "second", "week", "month", "year"
}
_TWO_LEVEL_CUE = re.compile(
    r"(?:\b(?:on|to|from|topics?|mqtt|subscribe(?:\s+to)?|under|into|onto|publish|forward|mirror|"
    r"republish|copy|bridge)|->|=>)\s*$",
    re.I,
)


def _wildcard(text: str) -> str:
    levels = []
    for level in text.split("/"):
        if level in ("...", "…", ""):
            levels.append("#")
        elif re.search(r"<[^>]*>|\{\w+\}", level) or re.fullmatch(r":\w+", level):
            levels.append("+")
        else:
            levels.append(level)
    if levels and levels[0] == "#":  # ".../percent": a tail of an earlier topic
        return text
    return "/".join(levels)


def _is_topic(text: str, before: str) -> bool:
    levels = text.split("/")
    if _FILE_EXT.search(text) or any(level == "" for level in levels[:-1]):
        return False
    words = [lv for lv in levels if lv not in ("+", "#", "...", "…", "")]
    if all(re.fullmatch(r"[\d.,:]+", w) for w in words):
        return False  # 40301/40302, 06:00/14:00
    if all(w.lower() in _PAYLOAD_WORDS for w in words):
        return False  # true/false, RUN/STOP
    if re.search(r"\b(?:json|fields?|columns?|keys?|header|properties)\s*:?\s*$", before, re.I):
        return False  # "JSON good/scrap/speed": a field list
    if all(re.fullmatch(r"[A-Z_]+", w) for w in words):
        return False  # PASS/FAIL/RECHECK
    if not any(re.search(r"[a-z]", w) for w in words) and not re.search(
        r"\b(?:on|to|from|topics?|mqtt)\s*$", before, re.I
    ):
        return False  # T101/T102/T103
    if len(levels) == 2 and not any(lv in ("+", "#") for lv in levels):
        if not _TWO_LEVEL_CUE.search(before):
            return False
        if any(w.lower() in _UNITS for w in words) or max(len(w) for w in words) < 3:
            return False
    return True


# --- role cues ------------------------------------------------------------------------

_OUT_BASE = [
    "publish", "republish", "send", "resend", "forward", "pass", "put", "post", "write", "push",
    "emit", "output", "relay", "mirror", "bridge", "route", "raise", "notify", "broadcast",
    "answer", "reply", "respond", "confirm", "ack", "acknowledge", "report", "drop", "give",
    "show", "display", "stream", "dump", "deliver", "provide", "signal", "copy", "combine",
    "merge", "calc", "calculate", "compute", "convert", "keep", "make", "split", "break",
    "unbundle", "return", "store", "set", "sum", "aggregate", "average", "count", "collect",
]
# Words that are nouns as often as verbs: they count only in the topic's own clause.
_WEAK_VERBS = {
    "sum", "aggregate", "average", "count", "collect", "combine", "merge", "calc", "calculate",
    "compute", "convert", "keep", "make", "split", "break", "unbundle", "set", "store", "return",
    "show", "display", "give", "report", "signal", "drop", "ack",
}
_THIRD = {
    "publishes": "publish", "republishes": "republish", "sends": "send", "forwards": "forward",
    "passes": "pass", "puts": "put", "posts": "post", "writes": "write", "pushes": "push",
    "emits": "emit", "outputs": "output", "relays": "relay", "raises": "raise",
    "broadcasts": "broadcast", "answers": "answer", "replies": "reply", "responds": "respond",
    "reports": "report", "drops": "drop", "gives": "give", "shows": "show", "displays": "display",
    "streams": "stream", "dumps": "dump", "delivers": "deliver", "provides": "provide",
    "signals": "signal", "returns": "return", "updates": "update"
}
_GERUNDS = {
    "publishing": "publish", "sending": "send", "forwarding": "forward", "posting": "post",
    "writing": "write", "pushing": "push", "putting": "put", "republishing": "republish",
    "reporting": "report", "streaming": "stream", "relaying": "relay"
}
_PARTICIPLES = {
    "published", "republished", "sent", "forwarded", "passed", "posted", "written", "pushed",
    "emitted", "relayed", "raised", "broadcasted", "reported", "dropped", "given", "shown",
    "displayed", "streamed", "dumped", "delivered", "provided", "signalled", "signaled",
    "updated",
}
_IN_ALWAYS = {
    "come", "comes", "coming", "arrive", "arrives", "arriving", "arrived", "received",
    "incoming", "listen", "subscribe", "subscription",
}
# A device that listens or subscribes reads what the flow publishes.
_DEVICE_READS = {"listens", "subscribes", "receives", "reads", "waits", "expects", "consumes"}
_GO = {"go", "goes", "going"}
_WANT = {"want", "wants", "need", "needs"}
_OURS = re.compile(
    r"\b(?:we|i|you|node-?red|nodered|the\s+flow|button|function|endpoint)\b|"
    # "flow" alone is this flow; a flow meter or flow transmitter is a device
    r"\bflow\b(?!\s+(?:meters?|rates?|transmitters?|sensors?|switch\w*|computers?|"
    r"totali[sz]ers?|cells?|controllers?))|"
    r"\b(?:GET|POST|PUT|DELETE|PATCH)\s+/",
    re.I,
)
_SUBORDINATE = re.compile(
    r"^\s*(?:if|when|whenever|once|while|after|until|unless|as\s+soon\s+as|on\s+each|on\s+every|"
    r"each\s+time|every\s+time)\b",
    re.I,
)
_CLAUSE_BREAK = re.compile(r"[,:;(]|->|=>|\s-\s|\b(?:and|then|so|but|thru|through|or)\b", re.I)
_NOT_PLURAL = {
    "weekdays", "weekends", "days", "hours", "minutes", "seconds", "mornings", "evenings",
    "nights", "shifts", "mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays",
    "sundays", "workdays", "times", "changes", "updates", "is", "was", "has", "this", "its",
    "thus", "plus", "pls", "status", "bus", "gas", "us", "process", "always", "sometimes", "as",
    "does", "goes", "yes", "less", "unless", "press", "class", "alias", "values", "stops",
    "starts", "ends"
}
_CONSUME = {
    "convert", "scale", "average", "count", "watch", "monitor", "log", "read", "take",
    "filter", "parse", "check", "process", "track", "bridge", "copy", "mirror", "forward",
    "relay", "republish", "subscribe", "listen", "send", "push", "pipe", "route", "transfer",
    "move",
}
_ALARM_NOUNS = re.compile(
    r"\b(?:alarms?|warnings?|alerts?|acks?|acknowledge(?:ment)?|notifications?|answers?|"
    r"repl(?:y|ies)|responses?|(?!(?:JSON|CSV|XML|TEXT|MQTT|HTTP)\b)[A-Z][A-Z_ -]{1,30}[A-Z]|"
    r"'[^']*'|\"[^\"]*\")"
    r"\s+(?:on|to)\s+$"
)
_AFTER_ARRIVES = re.compile(
    r"^\s*(?:\([^)]*\)\s*)?(?:comes?|arrives?|come\s+down|(?:is|are|gets?)\s+(?:published|sent)|"
    r"changes?\s+(?:to|from)|updates|(?:payload|value|message)\s+(?:contains|is|equals|==|>|<)|"
    r"carr(?:y|ies)|(?:has|have)\s+to\s+come|(?:goes|go|rises?|falls?|drops?|climbs?)\s+"
    r"(?:over|above|below|under)|exceeds?)\b",
    re.I,
)
_AFTER_IN = re.compile(
    r"^\s*(?:\([^)]*\)\s*)?(?:=|is\b|are\b|carr(?:y|ies)\b|with\b|contains?\b|has\b|have\b|"
    r"gives\b|sends\b|publishes\b|delivers\b|reports\b|holds\b|comes?\b|arrives?\b|"
    r"come\s+down|\(payload)",
    re.I,
)


@dataclass(frozen=True)
class _Role:
    role: str | None
    cue: str | None = None
    strong: bool = False
    replaced: bool = False
    example: bool = False


def _last_clause_start(window: str) -> int:
    starts = [m.end() for m in _CLAUSE_BREAK.finditer(window)]
    return starts[-1] if starts else 0


def subject_is_device(subject: str, phrase: str) -> bool:
    """Whether the words before a base-form verb are a device doing it ("sensors push").
    `phrase` is the text since the last comma or colon: a subordinate clause there ("when a
    file shows up publish ...") makes the verb an instruction."""
    if not subject.strip() or _SUBORDINATE.search(phrase) or _OURS.search(subject):
        return False
    subject = re.sub(
        r"\b(?:every|each|evry)\s+(?:\d+(?:\.\d+)?\s*)?[a-z]+|\d+(?:\.\d+)?\s*[a-z]+",
        " ",
        subject,
        flags=re.I,
    )
    words = re.findall(r"[A-Za-z][\w-]*", subject)
    skip = {
        "each", "all", "both", "also", "usually", "typically", "always", "still", "just", "only",
        "will", "can", "then", "normally", "themselves"
    }
    while words and words[-1].lower() in skip:
        words.pop()
    if any(w.lower() in _THIRD or w.lower() in _IN_ALWAYS for w in words):
        return False
    if len(words) > 6 or re.search(
        r"\b(?:to|from|before|after|per|than|when|while|by|without|"
        r"then|until)\b",
        subject,
        re.I,
    ):
        return False  # not a plain subject: "rate limit alerts from X to 1 per minute before"
    for w in words:
        lw = w.lower()
        if lw == "they" or (
            lw.endswith("s")
            and not lw.endswith("ss")
            and lw not in _NOT_PLURAL
            and len(lw) > 3
            and not re.search(r"\d", lw)
        ):
            return True
    return False


def _verb_role(window: str) -> _Role | None:
    """The nearest verb cue in `window` (the sentence up to the topic)."""
    tokens = list(re.finditer(r"[A-Za-z][\w'-]*", window))
    for tok in reversed(tokens):
        word = tok.group().lower()
        head = window[: tok.start()]
        if word in _IN_ALWAYS:
            if re.search(r"\b(?:whatever|what)\s*$", head, re.I):
                continue  # "put whatever comes back on X"
            return _Role("in", word, True)
        if word in _GO or word in _DEVICE_READS:
            return _Role("out", word, True)
        if word in _WANT or (word == "like" and re.search(r"(?:\bwould|'d)\s*$", head, re.I)):
            return _Role("out", word, True)
        if word in _THIRD:
            clause = head[_last_clause_start(head) :]
            if not clause.strip() and _OURS.search(head):
                return _Role("out", word, True)
            if _OURS.search(clause) and not re.search(r"\b(?:gateway|device|plc)\b", clause, re.I):
                return _Role("out", word, True)
            return _Role("in", word, True)
        if word in _PARTICIPLES:
            if re.search(
                r"\b(?:should|must|shall|will|to|has\s+to|have\s+to|needs?\s+to)\s+"
                r"(?:also\s+|then\s+|always\s+)?be\s+(?:also\s+)?$",
                head,
                re.I,
            ):
                return _Role("out", "be " + word, True)
            return _Role("in", word, True)
        if word in _GERUNDS:
            if re.search(
                r"\b(?:is|are|was|were|keeps?|kept|starts?|been)\s+(?:\w+\s+)?$", head, re.I
            ):
                return _Role("in", "is " + word, True)
            word = _GERUNDS[word]
        rest = re.sub(r"\{[^{}]*\}|\([^()]*\)", " ", window[tok.end() :])
        if word in _WEAK_VERBS and _CLAUSE_BREAK.search(rest):
            continue
        if word in _OUT_BASE:
            if word == "set" and not re.search(
                r"\bon\s*$|\bto\s*$", window[tok.end() : tok.end() + 8]
            ):
                continue
            clause = head[_last_clause_start(head) :]
            phrase = head[
                max(head.rfind(","), head.rfind(":"), head.rfind(";"), head.rfind(" - ")) + 1 :
            ]
            if subject_is_device(clause, phrase):
                return _Role("in", clause.strip().split()[-1] + " " + word, True)
            return _Role("out", word, True)
    return None


def _strip_noise(before: str) -> str:
    noise = r"(?:\s*\b(?:the|our|an?|mqtt|topics?|broker|plant\s+broker|local\s+broker))+\s*$"
    return re.sub(noise, " ", before, flags=re.I)


def _weak_role(before: str, near: str, after_in: re.Match[str] | None) -> _Role | None:
    """Guesses from what is next to the topic when no verb decides."""
    alarm = _ALARM_NOUNS.search(before)
    if alarm:
        return _Role("out", alarm.group().strip(), False)
    if after_in:
        return _Role("in", "X " + after_in.group().strip()[:12], False)
    if re.search(r"\b(?:retain(?:ed)?|qos\s*\d)\b[^.]{0,40}$", near, re.I):
        return _Role("out", "retained", False)
    if re.search(r"\b(?:to|into|onto)\s*$", near, re.I):
        return _Role("out", "to", False)
    if re.search(r"\b(?:on|in)\s*$", near, re.I):
        return _Role("in", "on", False)
    return None


def _role(text: str, start: int, end: int, s_start: int, s_end: int) -> _Role:
    before = text[s_start:start]
    after = text[end:s_end]
    # 1. no longer used
    if re.search(
        r"(?<!\bif\s)\bnot\s+(?:on\s+|to\s+)?$|\b(?:instead\s+of|rather\s+than|no\s+longer"
        r"(?:\s+on|\s+to)?|replac\w*|remove)\s+$",
        before,
        re.I,
    ) or re.match(
        r"^\s*(?:anymore|any\s+more|any\s+longer)\b|^[^.]{0,40}\b(?:is|are)\s+(?:being\s+)?"
        r"(?:scrapped|removed|retired|decommissioned|gone|obsolete|dropped|replaced|deprecated)\b",
        after,
        re.I,
    ):
        return _Role(None, "no longer used", True, replaced=True)
    # inside an unclosed parenthesis, read only the parenthesis
    open_paren = before.rfind("(")
    in_paren = open_paren > before.rfind(")")
    if in_paren:
        before = before[open_paren + 1 :]
    near = _strip_noise(before)
    # 2. right before the topic
    if re.search(r"(?:->|=>|→)\s*$", near):
        return _Role("out", "->", True)
    if re.search(r"\bfrom\b[^.]{0,40}\bvia\s*$|\bfrom\s*$", near, re.I):
        return _Role("in", "from", True)
    m = re.search(
        r"\b(under|(?:subscribe|subscribed|subscription)(?:\s+(?:to|for|on))?|"
        r"listen(?:ing)?\s+(?:to|on)|watch)\s*$",
        near,
        re.I,
    )
    if m and not (m.group(1).lower() == "under" and re.search(
            r"\b(?:(?:re)?publish\w*|put\w*|send\w*|write\w*|store\w*)\s+(?:it\s+|them\s+)?"
            r"under\s*$", near, re.I)):
        return _Role("in", m.group(1), True)
    if re.search(r"\b(?:e\.?g\.?|i\.?e\.?|for\s+example|such\s+as)\s*$", near, re.I):
        return _Role(None, "e.g.", example=True)
    if re.search(r"\bas\s*$", near, re.I):
        return _Role("out", "as", True)
    if re.search(r"\b(?:values?|readings?|data|state|contents?|average|mean|sum|max(?:imum)?|"
                 r"min(?:imum)?|total|count|rate|delta|median)\s+of\s*$", near, re.I):
        return _Role("in", "value of", True)
    m = re.search(r"\b([a-z]+)\s*$", near, re.I)
    if m and m.group(1).lower() in _CONSUME:
        return _Role("in", m.group(1), True)
    # 3. what follows: an arrow (it is the source), or it is the subject of an arrival
    if re.match(r"^\s*\)?\s*(?:->|=>|→)", after):
        return _Role("in", "X ->", True)
    if re.search(r"\b(?:on|from|of|in)\s*$", near, re.I) and re.match(
        r"^\s*(?:\([^)]*\)\s*)?(?:to|into)\s+(?:\S+/\S+|(?:the\s+|our\s+)?(?:cloud|broker|server|"
        r"api|historian|plc|db|database|file|http|mes|erp|scada))",
        after,
        re.I,
    ):
        return _Role("in", "X to ...", True)  # "send the value on X to Y"
    m = _AFTER_ARRIVES.match(after)
    if m:
        return _Role("in", "X " + m.group().strip(), True)
    after_in = _AFTER_IN.match(after)
    if after_in and not re.search(r"[A-Za-z]", near[_last_clause_start(near) :]):
        return _Role("in", "X " + after_in.group().strip()[:12], True)
    # 4. the nearest verb after the last arrow or colon; then weak guesses; then the
    #    nearest verb of the whole sentence
    arrow = max(before.rfind("->"), before.rfind("=>"))
    window = before[arrow + 2 :] if arrow >= 0 else before
    colon = max((m.end() for m in re.finditer(r":\s", window)), default=0)
    verb = _verb_role(window[colon:])
    if verb is not None:
        return verb
    if arrow >= 0:
        return _Role("out", "->", False)
    if in_paren and not before.strip():
        return _Role("in", "(X)", False)
    weak = _weak_role(before, near, after_in)
    if weak is not None:
        return weak
    if colon:
        verb = _verb_role(window[:colon])
        if verb is not None:
            return replace(verb, strong=False)
    there = re.search(r"\b(publish|send|write|post|put|push|subscribe|listen|read)\w*\s+"
                      r"(?:it\s+|them\s+|to\s+)?there\b", after, re.I)
    if there:
        word = there.group(1).lower()
        return _Role("in" if word in ("subscribe", "listen", "read") else "out", word + " there")
    return _Role(None)


def _covers(pattern: str, topic: str) -> bool:
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(p) == len(t)


def find_topics(text: str, sentences: Sentences, claims: Claims) -> list[Topic]:
    raw: list[tuple[str, int, int]] = []
    for m in TOPIC.finditer(text):
        topic = m.group()
        if not topic.endswith(("/...", "/…")):
            topic = topic.rstrip(".,;:…")
        start, end = m.start(), m.start() + len(topic)
        if not claims.free(start, end):
            continue
        if not _is_topic(topic, text[max(0, start - 30) : start]):
            continue
        raw.append((topic, start, end))
    topics: list[Topic] = []
    for topic, start, end in raw:
        s_start, s_end = sentences.bounds(start)
        role = _role(text, start, end, s_start, s_end)
        if role.example and topics:
            prev = topics[-1]
            role = _Role(prev.role, "e.g.", False, example=True)
        claims.add(start, end)
        topics.append(
            Topic(
                text=topic,
                start=start,
                end=end,
                wildcard=_wildcard(topic),
                role=role.role,
                cue=role.cue,
                strong=role.strong,
                example=role.example,
                replaced=role.replaced,
            )
        )
    return _finish(text, topics)


def _finish(text: str, topics: list[Topic]) -> list[Topic]:
    """Lists share a role ("X and Y"); a concrete topic that a wildcard topic of the request
    covers is an example; a first topic with no cue ahead of the outputs is the input."""
    out: list[Topic] = []
    for t in topics:
        if out and not t.strong and not t.replaced:
            prev = out[-1]
            gap = text[prev.end : t.start]
            if prev.role and re.fullmatch(r"\s*(?:,|and|&|or|,\s*and)\s*", gap):
                t = replace(t, role=prev.role, cue=prev.cue, strong=prev.strong)
        patterns = [o for o in topics if o.text != t.text and o.is_pattern]
        if not t.is_pattern and any(
            _covers(p.wildcard, t.text) and (p.role == t.role or None in (p.role, t.role))
            for p in patterns
        ):
            t = replace(t, example=True)
        out.append(t)
    first_out = next((t.start for t in out if t.role == "out"), None)
    done = []
    for t in out:
        if t.role == "out" and any(c in t.text for c in "+#") and not re.search(
            r"(?:\b(?:to|on|into|onto|as|under)|->|=>)\s*(?:mqtt\s+|topic\s+)?$",
            text[max(0, t.start - 20) : t.start], re.I
        ):
            t = replace(t, role="in", cue="wildcard filter", strong=False)
        if t.role is None and not t.replaced:
            if any(c in t.text for c in "+#"):
                t = replace(t, role="in", cue="wildcard filter")
            elif first_out is not None and t.start < first_out:
                t = replace(t, role="in", cue="first topic")
        done.append(t)
    return done
