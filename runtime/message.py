"""Messages as Node-RED passes them: plain dicts with a `_msgid`, cloned on fan-out."""

from __future__ import annotations

import copy
import random
from typing import Any

Message = dict[str, Any]

# Objects that belong to a live connection (an HTTP request and its response): shared, never
# copied, exactly as Node-RED's RED.util.cloneMessage treats msg.req and msg.res.
_SHARED = ("req", "res")


_ids = random.SystemRandom(), random.Random()
_ids[1].seed(_ids[0].getrandbits(128))  # seeded once from the OS, then cheap per message


def new_id() -> str:
    """16 hex digits, the shape of Node-RED's message ids."""
    return f"{_ids[1].getrandbits(64):016x}"


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
    """`msg` with msg.error set the way Catch nodes receive it. `count` says how many times
    in a row this node has failed on this message, this time included (1 the first time,
    as in Node-RED): the loop guard stops at a limit."""
    previous = msg.get("error")
    count = 1
    if isinstance(previous, dict):
        source = previous.get("source") or {}
        if isinstance(source, dict) and source.get("id") == node_id:
            count = int(source.get("count", 0)) + 1
    out = clone_message(msg)
    out["error"] = {"message": text,
                    "source": {"id": node_id, "type": node_type, "name": name, "count": count}}
    return out
