"""Messages as Node-RED passes them: plain dicts with a `_msgid`, cloned on fan-out."""

from __future__ import annotations

import copy
import uuid
from typing import Any

Message = dict[str, Any]

# Objects that belong to a live connection (an HTTP request and its response): shared, never
# copied, exactly as Node-RED's RED.util.cloneMessage treats msg.req and msg.res.
_SHARED = ("req", "res")


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def new_message(**fields: Any) -> Message:
    msg: Message = {"_msgid": new_id()}
    msg.update(fields)
    return msg


def clone_message(msg: Message) -> Message:
    """A deep copy that keeps msg.req/msg.res as the same objects."""
    shared = {key: msg[key] for key in _SHARED if key in msg}
    rest = {key: value for key, value in msg.items() if key not in shared}
    cloned = copy.deepcopy(rest)
    cloned.update(shared)
    return cloned


def error_message(msg: Message, node_id: str, node_type: str, name: str, text: str) -> Message:
    """`msg` with msg.error set the way Catch nodes receive it. `count` says how often this
    node has already failed on this message: the loop guard stops at a limit."""
    previous = msg.get("error")
    count = 0
    if isinstance(previous, dict):
        source = previous.get("source") or {}
        if isinstance(source, dict) and source.get("id") == node_id:
            count = int(source.get("count", 0)) + 1
    out = clone_message(msg)
    out["error"] = {"message": text,
                    "source": {"id": node_id, "type": node_type, "name": name, "count": count}}
    return out
