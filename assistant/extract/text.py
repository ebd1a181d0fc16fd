"""Shared text helpers: sentence bounds, claimed spans, numbers and time units."""

from __future__ import annotations

import re
from bisect import bisect_right

# Abbreviations whose dot does not end a sentence.
_ABBREVIATIONS = {"e.g", "eg", "i.e", "ie", "no", "nr", "approx", "incl", "etc", "vs", "ca", "max"}
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n+")

NUMBER = r"\d+(?:\.\d+)?"

# Time units -> seconds. Longest spellings first so the regex prefers them.
TIME_UNITS: dict[str, float] = {
    "milliseconds": 0.001, "millisecond": 0.001, "msecs": 0.001, "msec": 0.001, "ms": 0.001,
    "seconds": 1, "second": 1, "secs": 1, "sec": 1, "s": 1, "minutes": 60, "minute": 60,
    "mins": 60, "min": 60, "m": 60, "hours": 3600, "hour": 3600, "hrs": 3600, "hr": 3600,
    "h": 3600, "days": 86400, "day": 86400, "d": 86400
}
TIME_UNIT = "(?:" + "|".join(sorted(TIME_UNITS, key=len, reverse=True)) + r")\b"
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60, "a": 1, "an": 1
}


def unit_seconds(unit: str) -> float:
    return TIME_UNITS[unit.lower()]


def number_value(text: str) -> float:
    word = text.lower()
    if word in NUMBER_WORDS:
        return float(NUMBER_WORDS[word])
    return float(text)


def sentence_starts(text: str) -> list[int]:
    """Offsets where sentences begin (0 first)."""
    starts = [0]
    for m in _SENTENCE_END.finditer(text):
        if m.group().startswith(".") and m.group() == ".":
            word = re.search(r"([\w.]+)$", text[: m.start()])
            if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
                continue
        starts.append(m.end())
    return starts


class Sentences:
    """Sentence bounds of a text, looked up by offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = sentence_starts(text)

    def bounds(self, pos: int) -> tuple[int, int]:
        i = bisect_right(self._starts, pos) - 1
        start = self._starts[max(i, 0)]
        end = self._starts[i + 1] if i + 1 < len(self._starts) else len(self.text)
        return start, end

    def same(self, a: int, b: int) -> bool:
        return self.bounds(a) == self.bounds(b)


class Claims:
    """Spans already explained by an item, so later passes do not read them again."""

    def __init__(self) -> None:
        self._spans: list[tuple[int, int]] = []

    def add(self, start: int, end: int) -> None:
        self._spans.append((start, end))

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self._spans)

    def inside(self, pos: int) -> bool:
        return any(s <= pos < e for s, e in self._spans)


def words_before(text: str, pos: int, count: int) -> list[str]:
    return re.findall(r"[\w'-]+|->|=>|[<>=]+", text[:pos])[-count:]
