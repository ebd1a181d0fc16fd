"""JavaScript's value rules (runtime.jsvalues), checked against what Node.js answers.

The cases marked "was" are where one of the two copies this module replaced gave another
answer than JavaScript does."""

from __future__ import annotations

import math
from typing import Any

import pytest

from runtime.jsvalues import (
    array_join,
    compare,
    format_number,
    js_regex,
    js_replace,
    js_string,
    js_truthy,
    loose_equal,
    parse_float,
    strict_equal,
    to_number,
)

NAN = math.nan


def _same(result: float, expected: float) -> bool:
    return math.isnan(result) if math.isnan(expected) else result == expected


# -- String() and Number() -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (0.1 + 0.2, "0.30000000000000004"), (1e21, "1e+21"), (1e-7, "1e-7"),
    (1.5e-5, "0.000015"), (-2.5, "-2.5"), (123456789012345680000.0, "123456789012345680000"),
    (float("nan"), "NaN"), (float("-inf"), "-Infinity"), (10, "10"), (-0.0, "0"),
])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (None, "undefined"), (True, "true"), ("x", "x"), ({"a": 1}, "[object Object]"),
    (b"hi", "hi"), ([1, None, [2, 3], False], "1,,2,3,false"),
    # was "1e-07", "1.5e-05", "123456789012345683968", "1000000000000000000000"
    (1e-7, "1e-7"), (1.5e-5, "0.000015"), (123456789012345680000.0, "123456789012345680000"),
    (10 ** 21, "1e+21"), ([0.000001, 2.5], "0.000001,2.5"),
])
def test_js_string(value: Any, text: str) -> None:
    assert js_string(value) == text


@pytest.mark.parametrize(("value", "number"), [
    (" 12 ", 12.0), ("", 0.0), ("0x10", 16.0), ("1e3", 1000.0), ("1_000", NAN),
    ("inf", NAN), ("-Infinity", -math.inf), (True, 1.0), ([7], 7.0), ({}, NAN), (None, NAN),
    ([1, 2], NAN), ([], 0.0), (".5", 0.5), ("5.", 5.0), ("-0x10", NAN),
    # was NaN: radix prefixes and a Buffer's text
    ("0o17", 15.0), ("0b101", 5.0), (["0x10"], 16.0), (b" 5 ", 5.0),
    # was +-Infinity: one sign at most
    ("+-Infinity", NAN), ("--Infinity", NAN),
])
def test_to_number(value: Any, number: float) -> None:
    assert _same(to_number(value), number)


def test_to_number_reads_none_as_undefined_unless_told_it_is_null() -> None:
    assert math.isnan(to_number(None))
    assert to_number(None, none=0.0) == 0.0


@pytest.mark.parametrize(("value", "number"), [
    ("12px", 12.0), ("  -.5e1x", -5.0), ("Infinityx", math.inf), ("0x10", 0.0),
    ("1e", 1.0), ([1.5, 2], 1.5), (3, 3.0), ("", NAN), (None, NAN), (True, NAN), ({}, NAN),
])
def test_parse_float(value: Any, number: float) -> None:
    assert _same(parse_float(value), number)


@pytest.mark.parametrize(("values", "separator", "text"), [
    (["a", None, 1.5], None, "a,,1.5"), (["a", "b"], "-", "a-b"), ([], ";", ""),
    ([1e-7, True], "", "1e-7true"), ([1, 2], 0, "102"),
])
def test_array_join(values: list[Any], separator: Any, text: str) -> None:
    assert array_join(values, separator) == text


@pytest.mark.parametrize(("value", "truthy"), [
    (0, False), (NAN, False), ("", False), (None, False), (False, False), (-0.0, False),
    ("0", True), ([], True), ({}, True), (b"", True), (0.1, True),
])
def test_js_truthy(value: Any, truthy: bool) -> None:
    assert js_truthy(value) is truthy


# -- comparisons -----------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b", "equal"), [
    ("5", 5, True), (1, True, True), ("", 0, True), (None, None, True), (None, 0, False),
    ([1, 2], "1,2", True), ({}, {}, False), ("a", "b", False), (NAN, NAN, False),
    ({}, "[object Object]", True), ([], 0, True), ("0x10", 16, True),
])
def test_loose_equal(a: Any, b: Any, equal: bool) -> None:
    assert loose_equal(a, b) is equal


@pytest.mark.parametrize(("a", "b", "equal"), [
    (1, 1.0, True), (1, True, False), ("5", 5, False), (None, None, True), (NAN, NAN, False),
    ({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}, True), ({"a": 1}, {"a": 1, "b": 2}, False),
    ([1, 2], [2, 1], False), (b"x", b"x", True),
])
def test_strict_equal_is_deep(a: Any, b: Any, equal: bool) -> None:
    assert strict_equal(a, b) is equal


@pytest.mark.parametrize(("a", "b", "order"), [
    ("10", "9", -1), (10, "9", 1), ([2], 10, -1), ("a", "a", 0), (None, 1, None),
    ("x", 1, None), (True, 0, 1),
])
def test_compare(a: Any, b: Any, order: int | None) -> None:
    assert compare(a, b) == order


# -- regular expressions ---------------------------------------------------------------------
def test_js_replace_patterns() -> None:
    pattern = js_regex(r"(\w)(\d)")
    assert js_replace(pattern, "a1 b2", "$2$1[$&]$$$0") == "1a[a1]$$0 2b[b2]$$0"
    assert js_replace(pattern, "xa1y", "<$`|$'>") == "x<x|y>y"
