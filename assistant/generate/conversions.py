"""Unit conversions a request can ask for, read from its wording.

One table serves both consumers: the recipes write the formula into a function node
(`formula`, JavaScript of the value `v`), and the prompt hints state it to the model as a
fact (`fact`). The first entry whose pattern matches is the request's conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Conversion:
    pattern: re.Pattern[str]  # the request asks for this conversion
    fact: str  # the conversion as a line for the model's prompt
    formula: str  # JavaScript of the value `v`
    # A looser match that is enough to state the fact to the model (a wrong fact there only
    # costs a prompt line; a wrong formula in a recipe would ship).
    hint_pattern: re.Pattern[str] | None = None


CONVERSIONS: tuple[Conversion, ...] = (
    Conversion(re.compile(r"(?:°\s*F|deg\s*F|fahrenheit).{0,80}(?:°\s*C|deg\s*C|celsius)",
                          re.I | re.S),
               "Fahrenheit to Celsius: c = (f - 32) * 5 / 9", "(v - 32) * 5 / 9"),
    Conversion(re.compile(r"(?:°\s*C|deg\s*C|celsius).{0,80}(?:°\s*F|deg\s*F|fahrenheit)",
                          re.I | re.S),
               "Celsius to Fahrenheit: f = c * 9 / 5 + 32", "v * 9 / 5 + 32"),
    Conversion(re.compile(r"\bbar\b.{0,120}\bpsi\b", re.I | re.S),
               "bar to psi: psi = bar * 14.5038", "v * 14.5038"),
    Conversion(re.compile(r"\bpsi\b.{0,120}\bbar\b", re.I | re.S),
               "psi to bar: bar = psi / 14.5038", "v / 14.5038"),
    Conversion(re.compile(r"\bmm\b.{0,120}(?:\bmetres?\b|\bmeters?\b)", re.I | re.S),
               "millimetres to metres: m = mm / 1000", "v / 1000",
               hint_pattern=re.compile(r"\bmm\b.{0,120}\b(?:metres?|meters?|\bm\b)",
                                       re.I | re.S)),
    Conversion(re.compile(r"\bkw\b.{0,60}\bmw\b", re.I | re.S),
               "kW to MW: MW = kW / 1000", "v / 1000"),
)


def conversion_for(request: str) -> Conversion | None:
    """The conversion a recipe may write into code, or None."""
    return next((c for c in CONVERSIONS if c.pattern.search(request)), None)


def fact_for(request: str) -> str | None:
    """The conversion to state in the model's prompt, or None."""
    return next((c.fact for c in CONVERSIONS
                 if (c.hint_pattern or c.pattern).search(request)), None)
