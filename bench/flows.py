"""Synthetic but realistic large flows for benchmarks, built from the shipped examples.

Each copy of an example gets fresh ids on its own tab; config nodes are copied too, so the
result is a valid flow of exactly the requested size (padded with comment nodes).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _renamed(flow: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    ids = {node["id"] for node in flow}
    text = json.dumps(flow)
    for old in sorted(ids, key=len, reverse=True):
        text = text.replace(f'"{old}"', f'"{old}-{suffix}"')
        text = text.replace(f'"subflow:{old}"', f'"subflow:{old}-{suffix}"')
    renamed: list[dict[str, Any]] = json.loads(text)
    return renamed


def large_flow(size: int = 1000) -> list[dict[str, Any]]:
    seeds = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    flow: list[dict[str, Any]] = []
    copy_number = 0
    while True:
        seed = seeds[copy_number % len(seeds)]
        if len(flow) + len(seed) > size:
            break
        flow.extend(_renamed(copy.deepcopy(seed), str(copy_number)))
        copy_number += 1
    tab = next(n["id"] for n in flow if n["type"] == "tab")
    while len(flow) < size:
        flow.append(
            {
                "id": f"pad-{len(flow)}",
                "type": "comment",
                "z": tab,
                "name": "note",
                "info": "",
                "x": 100,
                "y": 20 * len(flow),
            }
        )
    return flow
