"""Durations and times of day: polling intervals, timeouts, rate limits, cron schedules.

A number with a time unit means different things: "read it every 5 s" is the flow's own
timer (poll), "P3 publishes every second" says how often data arrives (source), "within 5 s"
and "no product for 5 s" are timeouts, "max 1 msg per 10 s" is a rate limit, "retry every
60 s" a retry delay and "15-min values" a window. Only poll intervals become timers.
"""

from __future__ import annotations

import re

from assistant.extract.model import Interval, Schedule
from assistant.extract.text import (
    NUMBER,
    NUMBER_WORDS,
    TIME_UNIT,
    Claims,
    Sentences,
    number_value,
    unit_seconds,
)
from assistant.extract.topics import subject_is_device

_N = rf"(?P<n>{NUMBER}|\b(?:" + "|".join(NUMBER_WORDS) + r")\b)"
_EVERY = r"(?:every|evry|ever|eveyr|everry|each)"
_COUNT_NOUN = (
    r"(?:msgs?|messages?|writes?|sms|texts?|mails?|e-?mails?|requests?|calls?|posts?|alarms?|"
    r"values?|updates?|readings?|rows?|samples?|records?|points?|notifications?|pushes|"
    r"frames?|times?|x)"
)
_FREQ = re.compile(
    r"(?P<cue>\b(?:max(?:imum)?\.?|at\s+most|no\s+more\s+than|not\s+more\s+than|more\s+than|"
    r"throttle[sd]?\s+(?:it\s+|them\s+)?to|limit(?:ed)?\s+to|up\s+to|at\s+least|only)\s+)?"
    rf"(?P<count>{NUMBER}|one|two|three|a|an)\s*(?P<what>{_COUNT_NOUN})?\s*(?:/|per|every|a|an|each)\s*"
    rf"(?:(?P<m>{NUMBER})\s*)?(?P<u>{TIME_UNIT})",
    re.I,
)
_ONCE = re.compile(
    r"(?P<cue>\b(?:max(?:imum)?\.?|at\s+most|no\s+more\s+than|at\s+least|only)\s+)?"
    r"\b(?P<count>once|twice)\s+(?:a|an|per|every|each)\s+"
    rf"(?:(?P<m>{NUMBER})\s*)?(?P<u>{TIME_UNIT}|quarter\s+hour)",
    re.I,
)
_HZ = re.compile(rf"(?:~|approx\.?\s*|about\s+|@\s*|at\s+)?(?P<n>{NUMBER})\s*hz\b", re.I)
_EVERY_RE = re.compile(
    rf"\b{_EVERY}\s+(?:(?P<other>other)\s+|{_N}\s*)?"
    rf"(?P<u>quarter[\s-]+(?:of\s+an\s+)?hour|half[\s-]+(?:an\s+)?hour|{TIME_UNIT})",
    re.I,
)
_POLL_PHRASE = re.compile(
    r"\b(?:poll(?:s|ed|ing)?|sampl(?:e|es|ed|ing)|refresh(?:es|ed)?|scan|subscribe[sd]?|"
    r"read(?:s|ing)?)\s+(?:it\s+|them\s+|rate\s+|interval\s+|at\s+|with\s+|each\s+|all\s+)?"
    rf"\(?(?P<n>{NUMBER})\s*(?P<u>{TIME_UNIT})\)?"
    rf"|(?P<n2>{NUMBER})\s*(?P<u2>{TIME_UNIT})\s+(?:publishing\s+|polling\s+|sampling\s+|scan\s+|"
    r"update\s+|poll\s+|cycle\s+|sample\s+|read\s+)?(?:intervals?|rate|cycle|period|sampling|polling|"
    r"scan(?:ning)?|refresh)\b"
    rf"|\b(?:interval|period|cycle\s+time|poll(?:ing)?\s+rate|scan\s+rate)\s*(?:of|=|:|is)?\s*"
    rf"(?P<n3>{NUMBER})\s*(?P<u3>{TIME_UNIT})",
    re.I,
)
_WORD_INTERVALS = re.compile(r"\b(?P<w>hourly|daily|nightly|minutely)\b", re.I)
_DURATION = re.compile(
    r"(?P<cue>\bwithin|\bafter|\bwait(?:ing)?(?:\s+for)?|\bdelay(?:ed)?(?:\s+(?:by|of))?|\bpause"
    r"|\btime-?out(?:\s+(?:of|after))?|\b(?:retry|re-?try|try\s+again|reconnect|repeat)\s+"
    r"(?:every|after|in)|\bfor(?:\s+(?:more|longer)\s+than)?|\blonger\s+than|\bmore\s+than|\bover"
    r"|>=?|\bat\s+least)\s*(?:a\s+|an\s+)?"
    rf"(?:{_N}\s*)?(?P<u>{TIME_UNIT})(?:\s+(?P<after>timeout|delay))?",
    re.I,
)
_WINDOW = re.compile(
    rf"\b(?:new|next|a|one)\s+(?:score|result|window|value|output|prediction|inference|average|mean)"
    rf"\s+every\s+{_N.replace('?P<n>', '?P<n3>')}\s*(?P<u3>{TIME_UNIT})|"
    rf"\b{_N}[\s-]*(?P<u>{TIME_UNIT})[\s-]+(?:average|avg|mean|window|sum|total|stats?|statistics|"
    r"buckets?|blocks?|values?|kwh|kw|avg/min/max|min/max)\b"
    rf"|\b{_N.replace('?P<n>', '?P<n2>')}-(?P<u2>{TIME_UNIT})",
    re.I,
)

_POLL_VERBS = {
    "read", "poll", "sample", "query", "fetch", "publish", "send", "post", "put", "push",
    "write", "log", "check", "refresh", "do", "trigger", "scan", "subscribe", "score",
    "request", "ping", "get", "copy", "save", "store", "append", "export", "monitor", "pulse",
    "inject", "emit", "generate", "compute", "calculate", "run", "measure", "record",
    "snapshot", "upload", "call", "replay", "update", "forward", "sync", "want", "wants",
    "need", "needs", "polled", "sampled", "queried", "fetched", "refreshed", "requested",
    "scanned",
}
# Words that are as often nouns ("anomaly check", "new score", "one request").
_AMBIGUOUS = {"check", "request", "update", "score", "log", "record", "report", "call", "sample",
              "measure", "run", "do", "get", "sync", "snapshot", "want", "need"}
_SOURCE_VERBS = {
    "comes", "come", "arrives", "arrive", "arriving", "publishes", "sends", "reports",
    "pushes", "repeats", "repeated", "sent", "published", "updates", "updated", "emits",
    "produces", "delivers", "changes", "ticks", "streams", "gives", "provides", "writes",
    "signals",
}


def _kind_from_verbs(
    text: str, sentences: Sentences, start: int, end: int
) -> tuple[str | None, str | None]:
    """poll when the flow acts ("read it every 5 s"), source when something else does
    ("P3 publishes every second"); None when no verb says."""
    s_start, s_end = sentences.bounds(start)
    before = text[s_start:start]
    open_paren = before.rfind("(")
    if open_paren > before.rfind(")"):
        s_start += open_paren + 1
        close = text.find(")", end, s_end)
        s_end = close if close >= 0 else s_end
    in_paren = open_paren > before.rfind(")")
    if re.search(r"(?:~|\bapprox\.?|\babout|\broughly)\s*$", text[max(0, start - 8) : start]):
        return "source", "~"
    best: tuple[int, str, str] | None = None
    for tok in re.finditer(r"[A-Za-z][\w'-]*", text[s_start:s_end]):
        a, b = s_start + tok.start(), s_start + tok.end()
        if start <= a < end:
            continue
        word = tok.group().lower()
        head = text[s_start:a]
        if word in _AMBIGUOUS and not re.search(
            r"(?:^|[,:;(]|->|\b(?:and|then|to|please|pls|also|just|should|must|will|can|i|we|you|"
            r"\d+\s*[a-z]+))\s*$", head, re.I):
            continue  # "anomaly check", "new score": nouns here
        if word in _SOURCE_VERBS:
            kind = "source"
        elif word in _POLL_VERBS:
            clause = re.split(r"[,:;(]|->|\s-\s|\b(?:and|then)\b", head)[-1]
            kind = "source" if subject_is_device(clause, clause) else "poll"
        else:
            continue
        distance = start - b if b <= start else a - end
        if best is None or distance < best[0]:
            best = (distance, kind, word)
    if best is None and in_paren:
        return "source", "(...)"  # "(plant/a/b, json, once a minute)" describes the data
    return (best[1], best[2]) if best else (None, None)


def _seconds(n: str | None, unit: str) -> float:
    unit = unit.lower()
    if unit.startswith("quarter"):
        base = 900.0
    elif unit.startswith("half"):
        base = 1800.0
    else:
        base = unit_seconds(re.sub(r"\s+", "", unit))
    return base * (number_value(n) if n else 1.0)


def find_intervals(text: str, sentences: Sentences, claims: Claims) -> list[Interval]:
    found: list[Interval] = []

    def add(
        m: re.Match[str],
        kind: str | None,
        seconds: float,
        count: int | None = None,
        cue: str | None = None,
        start: int | None = None,
    ) -> None:
        s = m.start() if start is None else start
        if seconds <= 0 or not claims.free(s, m.end()):
            return
        if kind is None:
            kind, cue = _kind_from_verbs(text, sentences, s, m.end())
        claims.add(s, m.end())
        found.append(
            Interval(
                text=text[s : m.end()],
                start=s,
                end=m.end(),
                kind=kind or "unknown",
                seconds=seconds,
                count=count,
                cue=cue,
            )
        )

    for m in _FREQ.finditer(text):
        count = number_value(m.group("count"))
        period = _seconds(m.group("m"), m.group("u"))
        cue = (m.group("cue") or "").strip().lower()
        limiter = re.search(
            r"\b(?:rate[\s-]?limit\w*|throttl\w*|limit\w*|max(?:imum)?|at\s+most|"
            r"no\s+more\s+than)\b[^.]{0,40}$",
            text[max(0, m.start() - 50) : m.start()],
            re.I,
        )
        what = (m.group("what") or "").lower()
        if cue and cue not in ("at least", "only"):
            add(m, "rate_limit", period, int(count), cue)
        elif limiter:
            add(m, "rate_limit", period, int(count), limiter.group().split()[0].lower())
        elif re.match(r"(?:msg|message|row|line|record|write|request|post|call|sms|mail|e-?mail|"
                      r"notification|alarm|text)", what) and count > 1:
            add(m, "rate_limit", period, int(count), "pace")  # "replay at 10 rows per second"
        elif what or cue:
            add(m, "timeout" if cue == "at least" else None, period / count,
                cue="at least" if cue == "at least" else None)
    for m in _ONCE.finditer(text):
        count = 1 if m.group("count").lower() == "once" else 2
        period = _seconds(m.group("m"), m.group("u"))
        cue = (m.group("cue") or "").strip().lower()
        if cue == "at least":
            add(m, "timeout", period, cue=cue)
        elif cue:
            add(m, "rate_limit", period, count, cue)
        else:
            add(m, None, period / count)
    for m in _DURATION.finditer(text):
        cue = re.sub(r"\s+", " ", m.group("cue").lower())
        if m.group("after"):
            kind = "delay" if m.group("after").lower() == "delay" else "timeout"
        elif cue.startswith(("retry", "re-try", "rettry", "try again", "reconnect", "repeat")):
            kind = "retry"
        elif cue.startswith(("after", "wait", "delay", "pause")):
            kind = "delay"
        elif cue.startswith(("for", "longer", "more", "over", ">", "at least")):
            if not cue.startswith(("for longer", "for more", "longer")) and not re.search(
                r"\b(?:no|nothing|not|doesn'?t|don'?t|isn'?t|never|open|down|stops?|"
                r"silent|missing|idle|holds?|held|stays?|lost|off|offline|stuck|"
                r"without|stopped|empty|closed|above|over|below|under)\b|[<>]",
                text[max(0, m.start() - 50) : m.start()],
                re.I,
            ):
                continue
            kind = "timeout"
        else:
            kind = "timeout"
        add(m, kind, _seconds(m.group("n"), m.group("u")), cue=cue)
    for m in _WINDOW.finditer(text):
        n = m.group("n") or m.group("n2") or m.group("n3")
        add(m, "window", _seconds(n, m.group("u") or m.group("u2") or m.group("u3")))
    for m in _POLL_PHRASE.finditer(text):
        n = m.group("n") or m.group("n2") or m.group("n3")
        u = m.group("u") or m.group("u2") or m.group("u3")
        add(m, "poll", _seconds(n, u), cue="poll")
    for m in _HZ.finditer(text):
        add(m, None, 1.0 / float(m.group("n")))
    for m in _EVERY_RE.finditer(text):
        seconds = _seconds(m.group("n"), m.group("u")) * (2 if m.group("other") else 1)
        add(m, None, seconds)
    words = {"hourly": 3600.0, "daily": 86400.0, "nightly": 86400.0, "minutely": 60.0}
    for m in _WORD_INTERVALS.finditer(text):
        add(m, None, words[m.group("w").lower()])
    return sorted(found, key=lambda i: i.start)


# --- schedules ------------------------------------------------------------------------

_TIME = (
    r"(?<![\d:.\w-])(?:(?P<h>[01]?\d|2[0-3]):(?P<mi>[0-5]\d)(?::\d\d)?(?:\s*(?P<ap1>[ap]\.?m\.?)(?!\w))?"
    r"|(?P<h2>1[0-2]|0?\d)\s*(?P<ap2>[ap]\.?m\.?)(?!\w)"
    r"|(?P<h3>[01]?\d|2[0-3])\s*(?:h|o'?clock)(?!\w)"
    r"|(?P<noon>noon|midnight))(?![\d:])"
)
_TIME_RE = re.compile(_TIME, re.I)
_TIME_LIST = re.compile(
    r"(?P<list>" + _TIME + r"(?:\s*(?:/|,|and|&|\+|or)\s*" + _TIME.replace("?P<", "?P<x") + r")*)"
    r"|(?P<hours>\b\d{1,2}(?:\s*(?:/|,|and)\s*\d{1,2})+)\s*h\b",
    re.I,
)
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_DAY = (
    r"(?:sun(?:day)?|mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs?(?:day)?)?|"
    r"fri(?:day)?|sat(?:urday)?)s?\b\.?"
)
_DAY_SPEC = re.compile(
    rf"\b(?P<d1>{_DAY})\s*(?:-|–|to|through|thru|until)\s*(?P<d2>{_DAY})"
    r"|\b(?P<weekdays>week\s*days?|workdays?|working\s+days?|business\s+days?)\b"
    r"|(?P<neg>\b(?:no|nothing|not|except|excluding|but\s+not|never)\b[^.]{0,20})?\b(?P<weekend>week-?ends?)\b"
    rf"|\b(?P<list>{_DAY}(?:\s*(?:,|and|&|/)\s*{_DAY})*)",
    re.I,
)
_QUALIFIER = re.compile(
    r"\b(?:at|every|each|daily|nightly|shift|morning|evening|night|starting|from|on)\b", re.I
)


def _hour(m: re.Match[str], prefix: str = "") -> tuple[int, int]:
    def g(name: str) -> str | None:
        return m.group(prefix + name)

    if g("noon"):
        return (12, 0) if g("noon").lower() == "noon" else (0, 0)  # type: ignore[union-attr]
    if g("h") is not None:
        hour, minute, ap = int(g("h") or 0), int(g("mi") or 0), g("ap1")
    elif g("h2") is not None:
        hour, minute, ap = int(g("h2") or 0), 0, g("ap2")
    else:
        hour, minute, ap = int(g("h3") or 0), 0, None
    if ap and ap.lower().startswith("p") and hour < 12:
        hour += 12
    if ap and ap.lower().startswith("a") and hour == 12:
        hour = 0
    return hour, minute


def _dow(text: str, sentences: Sentences, start: int, end: int) -> tuple[str, int, int]:
    """Day-of-week field for times at [start, end), and the span of the day words."""
    s_start, s_end = sentences.bounds(start)
    best: tuple[int, str, int, int] | None = None
    for m in _DAY_SPEC.finditer(text, s_start, s_end):
        if m.group("neg"):
            continue
        if m.group("d1"):
            a, b = _DAYS.index(m.group("d1")[:3].lower()), _DAYS.index(m.group("d2")[:3].lower())
            field = (
                f"{a}-{b}" if a < b else ",".join(str(d) for d in [*range(a, 7), *range(0, b + 1)])
            )
        elif m.group("weekdays"):
            field = "1-5"
        elif m.group("weekend"):
            field = "0,6"
        else:
            days = sorted(
                {_DAYS.index(d[:3].lower()) for d in re.findall(_DAY, m.group("list"), re.I)}
            )
            field = ",".join(str(d) for d in days)
        distance = start - m.end() if m.end() <= start else m.start() - end
        if distance <= 40 and (best is None or distance < best[0]):
            best = (distance, field, m.start(), m.end())
    return (best[1], best[2], best[3]) if best else ("*", start, end)


def find_schedules(text: str, sentences: Sentences, claims: Claims) -> list[Schedule]:
    found: list[Schedule] = []
    for m in _TIME_LIST.finditer(text):
        if not claims.free(m.start(), m.end()):
            continue
        s_start, _ = sentences.bounds(m.start())
        before = text[max(s_start, m.start() - 50) : m.start()]
        if re.search(r"\d{4}-\d\d-\d\d[ T]?$|\blike\s*$", before):
            continue  # a timestamp in an example
        if m.group("hours"):
            times = [(int(h), 0) for h in re.findall(r"\d+", m.group("hours"))]
            if any(h > 23 for h, _ in times):
                continue
        else:
            times = [_hour(t) for t in _TIME_RE.finditer(m.group("list"))]
        dow, d_start, d_end = _dow(text, sentences, m.start(), m.end())
        if not _QUALIFIER.search(before) and dow == "*":
            continue
        minutes = sorted({mi for _, mi in times})
        groups = [(mi, sorted({h for h, m2 in times if m2 == mi})) for mi in minutes]
        start, end = min(m.start(), d_start), max(m.end(), d_end)
        lead = re.search(
            r"\b(?:every|each)\s+(?:day|morning|evening|night|" + _DAY + r")\s*(?:at\s*)?$|"
            r"\b(?:daily|nightly)\s*(?:at\s*)?$",
            text[max(0, start - 30) : start],
            re.I,
        )
        if lead:
            start -= len(text[max(0, start - 30) : start]) - lead.start()
        claims.add(start, end)
        for minute, hours in groups:
            cron = f"{minute} {','.join(str(h) for h in hours)} * * {dow}"
            found.append(Schedule(text=text[start:end], start=start, end=end, cron=cron))
    return found
