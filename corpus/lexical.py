"""A BM25 index over passages: node type names, property names and protocol words matter
literally ("FC3", "retain", "modbus-read"), which dense embeddings blur."""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "then",
        "this",
        "to",
        "use",
        "using",
        "want",
        "we",
        "what",
        "when",
        "where",
        "which",
        "with",
        "you",
        "your",
    ]
)


_MIN_CORRECTABLE = 5
_CORRECTION_CUTOFF = 0.8
_CORRECTION_WEIGHT = 0.8


def tokenize(text: str) -> list[str]:
    """Words, plus the parts of hyphenated names (modbus-read -> modbus-read, modbus, read)."""
    tokens: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        tokens.append(word)
        if any(sep in word for sep in "-_."):
            tokens.extend(p for p in re.split(r"[-_.]", word) if p and p not in _STOP)
    return tokens


class BM25:
    def __init__(self, documents: Iterable[tuple[str, str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.ids: list[str] = []
        self._freqs: list[Counter[str]] = []
        self._lengths: list[int] = []
        document_frequency: Counter[str] = Counter()
        for doc_id, text in documents:
            counts = Counter(tokenize(text))
            self.ids.append(doc_id)
            self._freqs.append(counts)
            self._lengths.append(sum(counts.values()))
            document_frequency.update(counts.keys())
        count = len(self.ids)
        self._avg = (sum(self._lengths) / count) if count else 0.0
        self._idf = {
            term: math.log(1 + (count - df + 0.5) / (df + 0.5))
            for term, df in document_frequency.items()
        }
        self._postings: dict[str, list[int]] = {}
        for index, counts in enumerate(self._freqs):
            for term in counts:
                self._postings.setdefault(term, []).append(index)
        # Vocabulary by first letter, for correcting misspelt query words.
        self._by_initial: dict[str, list[str]] = {}
        for term in self._idf:
            if len(term) >= _MIN_CORRECTABLE and term.isalpha():
                self._by_initial.setdefault(term[0], []).append(term)

    def correct(self, term: str) -> str | None:
        """The closest indexed word to an unknown one ("regsiter" -> "register"), if any."""
        if len(term) < _MIN_CORRECTABLE or not term.isalpha():
            return None
        candidates = [t for t in self._by_initial.get(term[0], ()) if abs(len(t) - len(term)) <= 2]
        close = difflib.get_close_matches(term, candidates, n=1, cutoff=_CORRECTION_CUTOFF)
        return close[0] if close else None

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every passage sharing at least one term with the query; a word the
        index does not know counts as its closest known spelling, at a discount."""
        out: dict[int, float] = {}
        for term in set(tokenize(query)):
            weight = 1.0
            if term not in self._idf:
                corrected = self.correct(term)
                if corrected is None:
                    continue
                term, weight = corrected, _CORRECTION_WEIGHT
            idf = self._idf[term] * weight
            for index in self._postings[term]:
                tf = self._freqs[index][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self._lengths[index] / self._avg)
                out[index] = out.get(index, 0.0) + idf * tf * (self.k1 + 1) / norm
        return {self.ids[i]: s for i, s in out.items()}
