"""The function-code parser and the cron checker on their own."""

from __future__ import annotations

import pytest

from flowschema.cron import CronError, check_cron
from flowschema.javascript import JavaScriptChecker, check_javascript


@pytest.mark.parametrize(
    "code",
    [
        "return msg;",
        "",
        "// only a comment",
        "const v = msg.payload?.value ?? 0;\nmsg.payload = v;\nreturn msg;",
        "msg.count ||= 0;\nmsg.count += 1;\nreturn msg;",
        "const r = await fetchLike();\nreturn [msg, null];",
        "class Scaler { #k = 2; scale(v) { return v * this.#k; } }\nreturn msg;",
        "node.send(msg);\nnode.done();",
    ],
)
def test_valid_code_parses(code: str) -> None:
    assert check_javascript(code) is None


@pytest.mark.parametrize(
    ("code", "line", "fragment"),
    [
        ("if (x {\n}", 1, "expecting ')'"),
        ("const a = 1;\nconst b = ;", 2, "unexpected token"),
        ("return msg;\n/* never closed", 2, "comment"),
        ("msg.payload = 'open;\nreturn msg;", 1, "string"),
        ("return msg;\n}", 2, ""),
    ],
)
def test_syntax_errors_name_the_line(code: str, line: int, fragment: str) -> None:
    problem = check_javascript(code)
    assert problem is not None
    assert problem.line == line
    assert fragment in problem.message


def test_code_is_never_executed() -> None:
    # Code crafted to close Node-RED's wrapper early still parses (Node-RED would accept
    # it too) but none of its statements may run: a run would throw "ran" or loop forever.
    checker = JavaScriptChecker()
    assert checker.check('}); throw "ran"; (function(){') is None
    assert checker.check("}); while (true) {} (function(){") is None
    assert checker.check('throw "ran";') is None


def test_nul_character_is_reported() -> None:
    problem = check_javascript("return msg;\x00")
    assert problem is not None and "NUL" in problem.message


@pytest.mark.parametrize(
    "expression",
    [
        "*/5 * * * *",
        "0 12 * * 1-5",
        "00 12 * * mon,wed,fri",
        "0 */15 6-18 * * *",
        "0 0 1 jan *",
        "0 0 ? * MON#2",
        "0 0 L * ?",
        "0 0 15W * ?",
        "0 0 * * 5L",
        "0 30 8 * * 1-5 2027",
        "@daily",
        "@hourly",
        "  */10 * * * *  ",
    ],
)
def test_valid_cron(expression: str) -> None:
    check_cron(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("* * *", "found 3"),
        ("* * * * * * * *", "found 8"),
        ("60 * * * *", "minute field: 60 is outside 0-59"),
        ("0 24 * * *", "hour field: 24"),
        ("0 0 0 * *", "day of month field: 0"),
        ("0 0 * 13 *", "month field: 13"),
        ("0 0 * * 8", "day of week field: 8"),
        ("0 0 * * funday", "not a number or a name"),
        ("*/0 * * * *", "positive whole number"),
        ("30-10 * * * *", "runs backwards"),
        ("0 ? * * *", "'?' is only allowed"),
        ("0 0 0 * * * 1800", "year field: 1800"),
        ("@sometimes", "expected 5 fields"),
    ],
)
def test_invalid_cron(expression: str, fragment: str) -> None:
    with pytest.raises(CronError, match=None) as caught:
        check_cron(expression)
    assert fragment in str(caught.value)


def test_redeclaring_node_is_a_syntax_error_as_in_node_red() -> None:
    # Node-RED declares `var node` in the function that wraps the code (Node-RED 4.1.15 logs
    # "SyntaxError: Identifier 'node' has already been declared" for this body).
    from flowschema.javascript import check_javascript

    problem = check_javascript("const node = msg.error.source.id;\nreturn msg;")
    assert problem is not None and problem.line == 1
    assert check_javascript("const nodeId = msg.topic;\nreturn msg;") is None
