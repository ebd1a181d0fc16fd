"""The csv, yaml, xml and json nodes, both directions, run in real flows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.nodes import files, parsers  # noqa: F401  (register file in, csv, yaml, xml, json)
from tests.runtime.conftest import debug_values, node, run_flow


def flow(type_: str, **props: Any) -> list[dict[str, Any]]:
    """link in -> <type_> -> debug "out"; catch -> debug "err"."""
    return [node("in", "link in", [["p"]]), node("p", type_, [["out"]], **props),
            node("out", "debug", complete="true"),
            node("c", "catch", [["err"]]), node("err", "debug", complete="true")]


def feed(*msgs: dict[str, Any]) -> Any:
    async def act(rt: FlowRuntime) -> None:
        for msg in msgs:
            rt.inject("in", msg)

    return act


def outputs(flow_: list[dict[str, Any]], *msgs: dict[str, Any]) -> list[Any]:
    return debug_values(run_flow(flow_, feed(*msgs), settle=0.05), "out")


# --- csv: text to objects ----------------------------------------------------------------------

TRICKY = ('name,note,n\r\n'
          'plain,"has, comma",1\r\n'
          '"quo""te","multi\nline",-2.5\r\n'
          'zero,,007\r\n')


def test_csv_header_row_quoted_fields_and_numbers_into_one_array() -> None:
    [out] = outputs(flow("csv", hdrin=True, multi="mult"), {"payload": TRICKY})
    assert out["payload"] == [
        {"name": "plain", "note": "has, comma", "n": 1},
        {"name": 'quo"te', "note": "multi\nline", "n": -2.5},
        {"name": "zero", "n": "007"},  # an empty cell is left out; 007 is no number
    ]
    assert out["columns"] == "name,note,n"


def test_csv_one_message_per_row_with_parts_and_template() -> None:
    outs = outputs(flow("csv", temp="a,,c", multi="one"),
                   {"_msgid": "m", "payload": "1,2,3\n4,5,6"})
    assert [o["payload"] for o in outs] == [{"a": 1, "c": 3}, {"a": 4, "c": 6}]
    assert [o["parts"] for o in outs] == [{"id": "m", "index": 0, "count": 2},
                                          {"id": "m", "index": 1, "count": 2}]
    assert outs[0]["columns"] == "a,c"


def test_csv_without_template_names_columns_and_options_keep_strings_empties_nulls() -> None:
    [out] = outputs(flow("csv", multi="mult", strings=False, include_empty_strings=True,
                         include_null_values=True),
                    {"payload": 'x,"",,10\n'})
    assert out["payload"] == [{"col1": "x", "col2": "", "col3": None, "col4": "10"}]
    assert out["columns"] == "col1,col2,col3,col4"


def test_csv_skips_lines_before_the_header() -> None:
    [out] = outputs(flow("csv", hdrin=True, skip="2", multi="mult"),
                    {"payload": "junk\nmore junk\nk,v\na,1\n"})
    assert out["payload"] == [{"k": "a", "v": 1}]


def test_csv_tab_separator() -> None:
    [out] = outputs(flow("csv", sep="\\t", hdrin=True, multi="mult"),
                    {"payload": "a\tb\n1,5\t2\n"})
    assert out["payload"] == [{"a": "1,5", "b": 2}]


def test_csv_from_file_in_lines_collects_parts_into_one_array(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("id,label\n1,one\n2,two\n")
    rt = run_flow([node("in", "link in", [["r"]]),
                   node("r", "file in", [["p"]], filename=str(source), filenameType="str",
                        format="lines"),
                   node("p", "csv", [["out"]], hdrin=True, multi="mult"),
                   node("out", "debug", complete="true")], feed({"payload": ""}))
    [out] = debug_values(rt, "out")
    assert out["payload"] == [{"id": 1, "label": "one"}, {"id": 2, "label": "two"}]
    assert "parts" not in out


# --- csv: objects to text ----------------------------------------------------------------------


def test_csv_objects_to_text_quote_commas_quotes_and_newlines() -> None:
    rows = [{"a": "x,y", "b": 'say "hi"', "c": "two\nlines"}, {"a": 1, "b": True, "c": None}]
    [out] = outputs(flow("csv", temp="a,b,c", ret="\\r\\n"), {"payload": rows})
    assert out["payload"] == '"x,y","say ""hi""","two\nlines"\r\n1,true,\r\n'
    assert out["columns"] == "a,b,c"


def test_csv_header_all_repeats_header_once_sends_it_until_reset() -> None:
    row = {"p": 1, "q": "z"}
    outs = outputs(flow("csv", hdrout="all"), {"payload": row}, {"payload": row})
    assert [o["payload"] for o in outs] == ["p,q\n1,z\n", "p,q\n1,z\n"]

    outs = outputs(flow("csv", hdrout="once"), {"payload": row}, {"payload": row},
                   {"reset": True}, {"payload": [row, row]})
    assert [o["payload"] for o in outs] == ["p,q\n1,z\n", "1,z\n", "p,q\n1,z\n1,z\n"]

    outs = outputs(flow("csv", hdrout="none", temp="q"), {"payload": row})
    assert [o["payload"] for o in outs] == ["z\n"]


def test_csv_array_rows_are_written_as_they_are() -> None:
    [out] = outputs(flow("csv", sep=";"), {"payload": [[1, "a;b"], ["c", 2.5]]})
    assert out["payload"] == '1;"a;b"\nc;2.5\n'
    [out] = outputs(flow("csv"), {"payload": [1, 2, 3]})
    assert out["payload"] == "1,2,3\n"


def test_csv_round_trip_through_two_nodes() -> None:
    rows = [{"name": "a, b", "say": 'x "y"', "text": "l1\nl2", "n": 3}]
    rt = run_flow([node("in", "link in", [["to"]]),
                   node("to", "csv", [["back"]], hdrout="all"),
                   node("back", "csv", [["out"]], hdrin=True, multi="mult"),
                   node("out", "debug", complete="true")], feed({"payload": rows}))
    assert debug_values(rt, "out")[0]["payload"] == rows


# --- yaml ----------------------------------------------------------------------------------------


def test_yaml_both_ways_and_round_trip() -> None:
    text = "name: pump\nlimits:\n  - 1\n  - 2.5\nenabled: true\nwhen: 2024-01-02\n"
    [out] = outputs(flow("yaml"), {"payload": text})
    assert out["payload"] == {"name": "pump", "limits": [1, 2.5], "enabled": True,
                              "when": "2024-01-02"}

    obj = {"b": {"nested": ["x", None]}, "a": "text: with colon"}
    rt = run_flow([node("in", "link in", [["to"]]), node("to", "yaml", [["mid", "back"]]),
                   node("mid", "debug"), node("back", "yaml", [["out"]]),
                   node("out", "debug")], feed({"payload": obj}))
    [dumped] = debug_values(rt, "mid")
    assert isinstance(dumped, str) and dumped.startswith("b:\n")  # keys keep their order
    assert debug_values(rt, "out") == [obj]


def test_yaml_property_out_and_bad_yaml_to_catch() -> None:
    [out] = outputs(flow("yaml", property="data", propertyOut="parsed"),
                    {"data": "k: [1, 2]"})
    assert out["parsed"] == {"k": [1, 2]} and out["data"] == "k: [1, 2]"

    rt = run_flow(flow("yaml"), feed({"payload": "a: [1, 2"}))
    assert debug_values(rt, "out") == []
    assert debug_values(rt, "err")[0]["error"]["source"]["id"] == "p"


# --- xml -----------------------------------------------------------------------------------------

XML = ('<?xml version="1.0"?><order id="7"><item sku="a">bolt</item>'
       '<item sku="b"/><note>fast &amp; cheap</note><empty/></order>')


def test_xml_to_object_uses_xml2js_layout() -> None:
    [out] = outputs(flow("xml"), {"payload": XML})
    assert out["payload"] == {"order": {
        "$": {"id": "7"},
        "item": [{"$": {"sku": "a"}, "_": "bolt"}, {"$": {"sku": "b"}}],
        "note": ["fast & cheap"],
        "empty": [""],
    }}


def test_xml_custom_attr_and_char_keys_and_bad_xml_to_catch() -> None:
    [out] = outputs(flow("xml", attr="@", chr="#"), {"payload": '<a k="v">t<b>u</b></a>'})
    assert out["payload"] == {"a": {"@": {"k": "v"}, "#": "t", "b": ["u"]}}

    rt = run_flow(flow("xml"), feed({"payload": "<a><b></a>"}))
    assert debug_values(rt, "out") == []
    assert "invalid XML" in debug_values(rt, "err")[0]["error"]["message"]


def test_object_to_xml_and_round_trip() -> None:
    obj = {"order": {"$": {"id": "7"}, "item": [{"$": {"sku": "a"}, "_": "bolt"}, {"_": "<nut>"}],
                     "qty": 3, "none": None}}
    [out] = outputs(flow("xml"), {"payload": obj})
    assert out["payload"] == ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                              '<order id="7"><item sku="a">bolt</item><item>&lt;nut&gt;</item>'
                              '<qty>3</qty><none/></order>')

    [out] = outputs(flow("xml"), {"payload": {"a": 1, "b": "x"}, "options": {"headless": True}})
    assert out["payload"] == "<root><a>1</a><b>x</b></root>"

    back = {"order": {"$": {"id": "7"}, "item": [{"$": {"sku": "a"}, "_": "bolt"}, "nut"]}}
    rt = run_flow([node("in", "link in", [["to"]]), node("to", "xml", [["back"]]),
                   node("back", "xml", [["out"]]), node("out", "debug")],
                  feed({"payload": back}))
    assert debug_values(rt, "out") == [back]


FRUIT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<fruit id="100">\n'
         '    <kind>Apple</kind>\n    <price>100</price>\n    <tag>a</tag><tag>b</tag>\n</fruit>')


@pytest.mark.parametrize(("options", "expected"), [
    ({"explicitArray": False},
     {"fruit": {"$": {"id": "100"}, "kind": "Apple", "price": "100", "tag": ["a", "b"]}}),
    ({"explicitArray": False, "explicitRoot": False, "mergeAttrs": True},
     {"id": "100", "kind": "Apple", "price": "100", "tag": ["a", "b"]}),
    ({"ignoreAttrs": True, "explicitCharkey": True},
     {"fruit": {"kind": [{"_": "Apple"}], "price": [{"_": "100"}],
                "tag": [{"_": "a"}, {"_": "b"}]}}),
])
def test_xml_options_from_the_message_shape_the_object(options: dict[str, Any],
                                                        expected: Any) -> None:
    [out] = outputs(flow("xml"), {"payload": FRUIT, "options": dict(options)})
    assert out["payload"] == expected
    # as in Node-RED, the node notes in msg.options how it called xml2js
    assert out["options"] == {**options, "async": True, "attrkey": "$", "charkey": "_"}


def test_xml_trim_normalize_empty_tags_prefixes_and_blank_text() -> None:
    text = '<a:r xmlns:a="urn:x"><n>  two   words </n><e>  </e><f/></a:r>'
    [plain, tidy] = outputs(flow("xml"), {"payload": text},
                            {"payload": text, "options": {"normalize": True, "emptyTag": "-",
                                                          "normalizeTags": True}})
    assert plain["payload"] == {"a:r": {"$": {"xmlns:a": "urn:x"}, "n": ["  two   words "],
                                        "e": ["  "], "f": [""]}}
    assert tidy["payload"] == {"a:r": {"$": {"xmlns:a": "urn:x"}, "n": ["two words"],
                                       "e": ["-"], "f": ["-"]}}
    [blank] = outputs(flow("xml"), {"payload": "  "})
    assert blank["payload"] is None


# --- json ----------------------------------------------------------------------------------------

SCHEMA = {"type": "object", "required": ["kind"],
          "properties": {"kind": {"type": "string"}, "price": {"type": "number"}}}


def test_json_schema_passes_valid_messages_without_the_schema() -> None:
    [out] = outputs(flow("json"), {"payload": '{"kind": "Apple", "price": 100}',
                                   "schema": SCHEMA})
    assert out["payload"] == {"kind": "Apple", "price": 100}
    assert "schema" not in out


def test_json_schema_errors_go_to_catch_with_schema_error() -> None:
    rt = run_flow(flow("json"), feed({"payload": '{"price": "100"}', "schema": SCHEMA},
                                     {"payload": {"kind": 1}, "schema": SCHEMA},
                                     {"payload": "{}", "schema": {"type": 12}}))
    assert debug_values(rt, "out") == []
    errors = debug_values(rt, "err")
    assert [e["error"]["message"] for e in errors] == [
        "JSON Schema error: data must have required property 'kind', data/price must be number",
        "JSON Schema error: data/kind must be string",
        "JSON Schema error: failed to compile schema"]
    assert errors[0]["schemaError"][1] == {
        "instancePath": "/price", "schemaPath": "#/properties/price/type", "keyword": "type",
        "params": {"type": "number"}, "message": "must be number"}
    assert errors[0]["payload"] == {"price": "100"}  # parsed before it was checked


def test_json_actions_and_js_style_text() -> None:
    outs = outputs(flow("json", action="str"), {"payload": "not json"},
                   {"payload": {"n": 1.0, "s": "é"}})
    assert [o["payload"] for o in outs] == ["not json", '{"n":1,"s":"é"}']
    [out] = outputs(flow("json", pretty=True), {"payload": {"a": [1]}})
    assert out["payload"] == '{\n    "a": [\n        1\n    ]\n}'


def test_csv_rfc_spec_defaults_to_crlf_line_endings() -> None:
    [out] = outputs(flow("csv", spec="rfc", ret="", temp="a"), {"payload": {"a": 1}})
    assert out["payload"] == "1\r\n"
    [out] = outputs(flow("csv", ret="", temp="a"), {"payload": {"a": 1}})
    assert out["payload"] == "1\n"
