"""Function bodies written by code, for the reshaping steps that follow a known pattern.

Most edge transformations are the same few moves: take the value (a register, a combined
32-bit pair, a JSON field, a number in a text frame), scale it (x10, 0.1 units, a unit
conversion, a 4-20 mA or raw-count range), round it, and wrap it (a plain number, a JSON
object with named keys, a stated template with a timestamp). A caught error is reported as
its text, as a JSON object or as the original message. Code writes these exactly; a small
model often does not. A recipe declines (returns None) as soon as the request asks for
anything it does not understand - conditions, state, text formats - and the model writes
that step instead. Every recipe's code still goes through the same checks as the model's.
"""

from __future__ import annotations

import json
import re

from assistant.extract import Extracted
from assistant.generate.functions import FunctionSpec
from assistant.generate.recipes.common import (
    _ERROR_SENTENCE,
    _FILTER_SENTENCE,
    _LOGIC,
    _MOVED,
    _PARSE_TEXT,
    _filters,
    _topic_mapping,
    _without_templates,
)
from assistant.generate.recipes.http import (
    _accept_request,
    _fixed_reply,
    _latest_reply,
    _query_reply,
)
from assistant.generate.recipes.state import (
    _bits_to_state,
    _coil_states,
    _count_starts,
    _delta,
    _mean_of_latest,
    _send_latest,
    _split_words,
)
from assistant.generate.recipes.text import (
    _csv_of_listed_fields,
    _error_report,
    _file_line,
    _route,
    file_content,
    key_value_line,
)
from assistant.generate.recipes.values import (
    _CONDITION_CLAUSE,
    _Alarm,
    _alarm_output,
    _value_pipeline,
)
from assistant.generate.understanding import Understanding

__all__ = ["write_by_recipe"]


def write_by_recipe(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """Code for `spec` when it follows a known pattern, else None."""
    if spec.role == "errors":
        return _error_report(spec, found, u)
    if spec.source in ("http", "http_latest") and spec.sink_types == ["http response"]:
        return _query_reply(spec, found, u) or _latest_reply(spec, found, u) \
            or (_fixed_reply(found, u) if spec.source == "http" else None)
    if spec.source == "http" and len(spec.sink_types) > 1:
        return _accept_request(spec, found, u)
    for shaped in (_route, _file_line, _mean_of_latest, _count_starts, _coil_states,
                   _csv_of_listed_fields, key_value_line, file_content, _send_latest):
        code = shaped(spec, found, u)
        if code is not None:
            return code
    alarm: _Alarm | None = None
    if len(spec.outputs) == 2:
        alarm = _alarm_output(spec, found)
        if alarm is None:
            return None
    elif len(spec.outputs) != 1:
        return None
    if spec.source not in ("plc", "opc", "value", "json", "timer"):
        return None
    if alarm is None:
        for special in (_split_words, _delta, _bits_to_state):
            code = special(spec, found, u)
            if code is not None:
                return code
    text = _ERROR_SENTENCE.sub(" ", u.residual or u.request)
    if alarm is not None:  # the alarm's clause is handled: it must not read as more logic
        text = _CONDITION_CLAUSE.sub(" ", text)
        if alarm.text:
            text = text.replace(alarm.text, " ")
    if _PARSE_TEXT.search(text):
        text = re.sub(r"\blike\s+\S+", " ", text)  # an example of the text to parse
    if u.deadband is not None or u.changes_only:
        text = _MOVED.sub(" ", text)  # an rbe node after the function does that part
    if _filters(found):
        text = _FILTER_SENTENCE.sub(" ", text)  # the recipe's own filter line does that
    if _LOGIC.search(_without_templates(text, found)):
        return None
    code = _value_pipeline(spec, found, u, text,
                           plain_ok=alarm is not None or spec.topic_map is not None
                           or bool(_filters(found)))
    if code is not None and spec.topic_map is not None:
        mapping = _topic_mapping(*spec.topic_map)
        code = None if mapping is None or alarm is not None else f"{mapping}\n{code}"
    if code is None or alarm is None:
        return code
    head, _, last = code.rpartition("\nmsg.payload = ")
    if not head or not last.endswith(";\nreturn msg;"):
        return None  # the alarm needs the plain value: a JSON shape says otherwise
    value = last[: -len(";\nreturn msg;")]
    message = "{ payload: value }" if alarm.text is None else \
        f"{{ payload: {json.dumps(alarm.text)} }}"
    outputs = ["msg", "alarm"] if alarm.index == 1 else ["alarm", "msg"]
    return (f"{head}\nconst value = {value};\nmsg.payload = value;\n"
            f"const alarm = value {alarm.op} {alarm.limit:g} ? {message} : null;\n"
            f"return [{', '.join(outputs)}];")
