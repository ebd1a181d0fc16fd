"""Parser nodes: csv, yaml and xml, each converting both ways (text <-> object); json is in
`runtime.nodes.json_parser`.

Property names follow Node-RED's 70-CSV.js, 70-YAML.js and 70-XML.js.

csv: one parser serves both the legacy (`spec` "") and the "rfc" setting, with RFC 4180
quoting ("" is a quote inside a quoted field; a quoted field may hold separators and line
breaks); only the default line ending differs (CRLF for rfc, LF for legacy). When
writing, a value is quoted if it holds a quote, the separator or a line break (Node-RED's
legacy mode does not quote line breaks); a null value is written as an empty cell.

xml: xml2js as Node-RED uses it. Parsing keeps the root element (`{"root": {...}}`), puts
every child element in a list, attributes under `$` (or the node's `attr`), and text under
`_` (or `chr`) when the element also has attributes or children; a bare element is its
text ("" when empty). Values stay strings, names keep their `prefix:`, comments and
processing instructions are dropped. msg.options may change that with xml2js's
`explicitArray`, `explicitRoot`, `explicitCharkey`, `trim`, `normalize`, `normalizeTags`,
`mergeAttrs`, `ignoreAttrs`, `emptyTag`, `attrkey` and `charkey` (its other options are
not read). Building: an object with one key names the root, otherwise the root is
`<root>`; `$` holds attributes, `_` text, lists repeat an element; output is compact with
an `<?xml ... standalone="yes"?>` declaration, and msg.options is read for `headless`,
`rootName`, `attrkey` and `charkey` only (Node-RED indents the output when msg.options is
set; Plumb does not). As in Node-RED, the node writes `async`, `attrkey` and `charkey`
into msg.options.
"""

from __future__ import annotations

import datetime
import importlib
import json
import re
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from runtime.jsvalues import js_string
from runtime.message import Message, clone_message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import get_path, set_path

_NUMBER = re.compile(r"^-?(?!E)(?!0\d)\d*\.?\d*(E-?\+?)?\d+$", re.IGNORECASE)


def _js_string(value: Any) -> str:
    """A cell or text value as JavaScript's String() writes it (null as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return js_string(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _unescape(text: str) -> str:
    return text.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")


# --- csv -------------------------------------------------------------------------------------


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value


def _clean(columns: str, sep: str) -> list[str]:
    """Column names: split on separators outside quotes, quotes removed, trimmed."""
    names: list[str] = []
    current, quoted = "", False
    for ch in columns.strip():
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            names.append(current.strip())
            current = ""
        else:
            current += ch
    names.append(current.strip())
    return names


def _records(text: str, sep: str) -> tuple[list[list[str | None]], bool]:
    """CSV text as records of fields; an unquoted empty field is None. Line breaks (\\n,
    \\r, \\r\\n) outside quotes end a record; empty lines give no record. Also says
    whether the text ended inside quotes."""
    records: list[list[str | None]] = []
    fields: list[str | None] = []
    field, quoted, inside, prev = "", False, False, ""

    def end_field() -> None:
        nonlocal field, quoted
        fields.append(field if field or quoted else None)
        field, quoted = "", False

    for ch in text:
        if ch == '"':
            inside = not inside
            quoted = True
            if prev == '"' and inside:
                field += '"'  # a doubled quote is a quote
        elif ch == sep and not inside:
            end_field()
        elif ch in "\r\n" and not inside:
            end_field()
            if fields != [None]:
                records.append(fields)
            fields = []
        else:
            field += ch
        prev = ch
    if field or quoted or fields:
        end_field()
        if fields != [None]:
            records.append(fields)
    return records, inside


@register("csv")
class Csv(Node):
    """CSV text to objects (one message per row, or one array) and objects or arrays to
    CSV text, with Node-RED's column template, header handling and msg.parts support."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.sep = _unescape(str(config.get("sep") or ","))
        # An empty line ending: "\r\n" for the RFC 4180 parser (spec "rfc"), else "\n".
        default_ret = "\\r\\n" if config.get("spec") == "rfc" else "\\n"
        self.ret = _unescape(str(config.get("ret") or default_ret))
        self.multi = str(config.get("multi") or "one")
        self.hdrin = config.get("hdrin") in (True, "true")
        hdrout = config.get("hdrout")
        if hdrout is True or hdrout == "true":
            self.hdrout = "all"
        elif hdrout in (None, False, "", "false"):
            self.hdrout = "none"
        else:
            self.hdrout = str(hdrout)
        self.skip = int(config.get("skip") or 0)
        strings = config.get("strings")
        self.parse_numbers = True if strings is None else strings in (True, "true")
        self.include_empty = bool(config.get("include_empty_strings"))
        self.include_null = bool(config.get("include_null_values"))
        self.configured = _clean(str(config.get("temp") or ""), self.sep)
        self.template = list(self.configured)
        self.hdr_sent = False
        self.store: list[dict[str, Any]] = []
        self._warned_template = False

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if "reset" in msg:
            self.hdr_sent = False
        if "payload" not in msg:
            if "reset" not in msg:
                send(msg)
            done()
            return
        payload = msg["payload"]
        if isinstance(payload, dict | list):
            self._to_csv(msg, send)
        elif isinstance(payload, str):
            self._from_csv(msg, payload, send)
        else:
            self.warn("This node only handles CSV strings or js objects.")
        done()

    # object -> csv
    def _cell(self, value: Any) -> str:
        text = _js_string(value)
        if '"' in text:
            return '"' + text.replace('"', '""') + '"'
        if self.sep in text or "\n" in text or "\r" in text:
            return '"' + text + '"'
        return text

    def _to_csv(self, msg: Message, send: Send) -> None:
        no_template = self.configured == [""]
        parts = msg.get("parts")
        if not (no_template and isinstance(parts, dict) and (parts.get("index") or 0) > 0):
            self.template = list(self.configured)
        rows = msg["payload"] if isinstance(msg["payload"], list) else [msg["payload"]]
        if rows and not isinstance(rows[0], dict | list):
            rows = [rows]  # a list of values is one row
        out = ""
        if self.hdrout != "none" and not self.hdr_sent:
            if self.template == [""]:
                if "columns" in msg:
                    self.template = _clean(str(msg.get("columns") or ""), ",")
                elif rows and isinstance(rows[0], dict):
                    self.template = [str(k) for k in rows[0]]
            out += self.sep.join(f'"{c}"' if self.sep in c else c
                                 for c in self.template) + self.ret
            if self.hdrout == "once":
                self.hdr_sent = True
        for row in rows:
            if isinstance(row, list):
                out += self.sep.join(self._cell(v) for v in row) + self.ret
                continue
            if not isinstance(row, dict):
                out += self._cell(row) + self.ret
                continue
            if self.template == [""] and "columns" in msg:
                self.template = _clean(str(msg.get("columns") or ""), ",")
            if self.template == [""]:
                if not self._warned_template:
                    self.warn("No columns template specified - using property names")
                    self._warned_template = True
                keys = list(rows[0]) if isinstance(rows[0], dict) else list(row)
                cells = [self._cell(row[k]) for k in keys
                         if k in row and not isinstance(row[k], dict | list)]
            else:
                cells = ["" if not name else self._cell(row.get(name))
                         for name in self.template]
            out += self.sep.join(cells) + self.ret
        msg["payload"] = out
        msg["columns"] = ",".join(f'"{c}"' if "," in c else c for c in self.template)
        if out:
            send(msg)

    # csv -> objects
    def _value(self, field: str | None) -> Any:
        if field is not None and self.parse_numbers and _NUMBER.match(field):
            return _number(field)
        return field

    def _from_csv(self, msg: Message, text: str, send: Send) -> None:
        raw = msg.get("parts")
        parts: dict[str, Any] | None = raw if isinstance(raw, dict) else None
        index = int(parts.get("index") or 0) if parts is not None else 0
        first = parts is None or index <= self.skip
        last = parts is not None and "count" in parts and index + 1 >= int(parts["count"])
        breaks = len(re.findall(r"[\r\n]", text))
        if parts is not None and self.multi == "mult" and breaks > 1:
            first = True
        if first:
            linecount = index
            while linecount < self.skip and text:
                cut = text.find("\n")
                text = "" if cut < 0 else text[cut + 1:]
                linecount += 1
            if self.hdrin and text:
                match = re.search(r"[\r\n]", text)
                header = text if match is None else text[:match.start()]
                text = "" if match is None else text[match.start():]
                self.template = _clean(header, self.sep)
            elif not self.hdrin:
                self.template = list(self.configured)
        good = self.template != [""]
        records, unterminated = _records(text, self.sep)
        if unterminated:
            self.warn("Malformed CSV data - output probably corrupt.")
        names = list(self.template) if good else []
        objects: list[dict[str, Any]] = []
        for fields in records:
            obj: dict[str, Any] = {}
            for j, field in enumerate(fields):
                if not good:
                    while len(names) <= j:
                        names.append(f"col{len(names) + 1}")
                if j >= len(names) or not names[j]:
                    continue
                value = self._value(field)
                if (value is None and self.include_null) or (
                        value == "" and self.include_empty) or value not in (None, ""):
                    obj[names[j]] = value
            if obj:
                objects.append(obj)
        columns = ",".join(f'"{c}"' if "," in c else c for c in names if c)
        if self.multi != "one":
            if parts is not None and breaks <= 1:
                self.store.extend(objects)
                if index + 1 == parts.get("count"):
                    msg["payload"] = self.store
                    msg["columns"] = columns
                    msg.pop("parts", None)
                    send(msg)
                    self.store = []
            else:
                msg["payload"] = objects
                msg["columns"] = columns
                send(msg)
            return
        for i, obj in enumerate(objects):
            out = clone_message(msg)
            out["columns"] = columns
            out["payload"] = obj
            if parts is None:
                out["parts"] = {"id": msg.get("_msgid"), "index": i, "count": len(objects)}
            else:
                shift = self.skip + (1 if self.hdrin else 0)
                out["parts"]["index"] = index - shift
                if "count" in out["parts"]:
                    out["parts"]["count"] = int(out["parts"]["count"]) - shift
            if last:
                out["complete"] = True
            send(out)
        if parts is not None and last and not objects:
            send({"complete": True})


# --- yaml ------------------------------------------------------------------------------------


def _yaml_module() -> Any:
    try:
        return importlib.import_module("yaml")
    except ImportError as exc:  # pragma: no cover - PyYAML ships with the runtime extra
        raise RuntimeError("the yaml node needs PyYAML, which is not installed") from exc


def _jsonable(value: Any) -> Any:
    """YAML's extra types made message-friendly: timestamps as ISO text, sets as lists."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


@register("yaml")
class Yaml(Node):
    """A YAML string to an object, or an object to a YAML string."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        prop = str(self.config.get("property") or "payload")
        prop_out = str(self.config.get("propertyOut") or prop)
        value = get_path(msg, prop)
        if value is None:
            send(msg)  # nothing to convert: pass it on
            done()
            return
        yaml = _yaml_module()
        if isinstance(value, str):
            try:
                loaded = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                done(str(exc))
                return
            set_path(msg, prop_out, _jsonable(loaded))
        elif isinstance(value, dict | list):
            try:
                text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                                      default_flow_style=False)
            except yaml.YAMLError as exc:
                done(f"Failed to convert the object to YAML: {exc}")
                return
            set_path(msg, prop_out, text)
        elif isinstance(value, bytes):
            self.warn("Dropped: a buffer is not an object to convert")
            done()
            return
        else:
            self.warn("Dropped: only a string or an object can be converted")
            done()
            return
        send(msg)
        done()


# --- xml -------------------------------------------------------------------------------------


_XML_PARSE_DEFAULTS: dict[str, Any] = {
    "explicitArray": True, "explicitRoot": True, "explicitCharkey": False, "trim": False,
    "normalize": False, "normalizeTags": False, "mergeAttrs": False, "ignoreAttrs": False,
    "emptyTag": ""}


class _XmlReader:
    """XML text to xml2js's layout, from the parser's events as xml2js builds it: an
    element gathers its attributes, its children (each name a list, or with
    `explicitArray` off a single value until it repeats) and all of its own text; when it
    closes, whitespace-only text is dropped, an element with text only becomes that text
    and an empty one the `emptyTag` (by default the whitespace it held)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.o = {**_XML_PARSE_DEFAULTS, **options}
        self.attrkey, self.charkey = str(self.o["attrkey"]), str(self.o["charkey"])
        self.stack: list[tuple[str, dict[str, Any], bool]] = []  # (name, value, cdata)
        self.result: Any = None
        self.in_cdata = False

    def _name(self, name: str) -> str:
        return name.lower() if self.o["normalizeTags"] else name

    def _add(self, obj: dict[str, Any], key: str, value: Any) -> None:
        if key not in obj:
            obj[key] = [value] if self.o["explicitArray"] else value
        elif isinstance(obj[key], list):
            obj[key].append(value)
        else:
            obj[key] = [obj[key], value]

    def start(self, name: str, attrs: dict[str, str]) -> None:
        obj: dict[str, Any] = {self.charkey: ""}
        if not self.o["ignoreAttrs"]:
            for key, value in attrs.items():
                if self.o["mergeAttrs"]:
                    self._add(obj, key, value)
                else:
                    obj.setdefault(self.attrkey, {})[key] = value
        self.stack.append((self._name(name), obj, False))

    def text(self, data: str) -> None:
        if self.stack:
            name, obj, cdata = self.stack[-1]
            obj[self.charkey] += data
            self.stack[-1] = (name, obj, cdata or self.in_cdata)

    def end(self, _name: str) -> None:
        name, obj, cdata = self.stack.pop()
        value: Any = obj
        text = obj[self.charkey]
        if not text.strip() and not cdata:
            del obj[self.charkey]
        else:
            if self.o["trim"]:
                text = text.strip()
            if self.o["normalize"]:
                text = re.sub(r"\s{2,}", " ", text).strip()
            obj[self.charkey] = text
            if len(obj) == 1 and not self.o["explicitCharkey"]:
                value = text
        if value == {}:
            value = self.o["emptyTag"] if self.o["emptyTag"] != "" else text
        if self.stack:
            self._add(self.stack[-1][1], name, value)
        else:
            self.result = {name: value} if self.o["explicitRoot"] else value

    def read(self, text: str) -> Any:
        text = text.removeprefix("\ufeff")
        if not text.strip():
            return None
        parser = expat.ParserCreate()  # no namespace processing: names stay prefix:local
        parser.ordered_attributes = False
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text
        parser.StartCdataSectionHandler = lambda: setattr(self, "in_cdata", True)
        parser.EndCdataSectionHandler = lambda: setattr(self, "in_cdata", False)
        parser.Parse(text, True)
        return self.result


def _render(name: str, value: Any, attrkey: str, charkey: str) -> str:
    if isinstance(value, list):
        return "".join(_render(name, item, attrkey, charkey) for item in value)
    attrs, body = "", ""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == attrkey and isinstance(child, dict):
                attrs += "".join(f" {k}={quoteattr(_js_string(v))}" for k, v in child.items())
            elif key == charkey:
                body += escape(_js_string(child))
            else:
                body += _render(str(key), child, attrkey, charkey)
    else:
        body = escape(_js_string(value))
    return f"<{name}{attrs}/>" if not body else f"<{name}{attrs}>{body}</{name}>"


def _object_to_xml(value: dict[str, Any], options: dict[str, Any]) -> str:
    attrkey = str(options.get("attrkey") or "$")
    charkey = str(options.get("charkey") or "_")
    root_name = options.get("rootName")
    if root_name is None and len(value) == 1:
        root_name, body = next(iter(value.items()))
    else:
        body = value
    if isinstance(body, list):  # xml2js renders only the first of a root list
        body = body[0] if body else ""
    xml = _render(str(root_name or "root"), body, attrkey, charkey)
    if options.get("headless"):
        return xml
    return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml


@register("xml")
class Xml(Node):
    """An XML string to an object (xml2js layout), or such an object to an XML string."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        prop = str(self.config.get("property") or "payload")
        value = get_path(msg, prop)
        given = msg.get("options")
        options: dict[str, Any] = given if isinstance(given, dict) else {}
        if value is None:
            send(msg)
            done()
            return
        if isinstance(value, dict):
            options["async"] = False  # as Node-RED sets it in msg.options
            set_path(msg, prop, _object_to_xml(value, options))
        elif isinstance(value, str):
            # Node-RED writes these into msg.options itself (async: how xml2js is called)
            options["async"] = True
            options["attrkey"] = self.config.get("attr") or options.get("attrkey") or "$"
            options["charkey"] = self.config.get("chr") or options.get("charkey") or "_"
            try:
                set_path(msg, prop, _XmlReader(options).read(value))
            except expat.ExpatError as exc:
                done(f"invalid XML: {exc}")
                return
        else:
            self.warn("This node only handles xml strings or js objects.")
            done()
            return
        send(msg)
        done()
