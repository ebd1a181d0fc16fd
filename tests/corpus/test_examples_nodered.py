"""Every example flow in the corpus imports and starts in a real Node-RED 4.x."""

from __future__ import annotations

import pytest

from corpus.passages import load_examples
from evals.nodered import NodeRed, to_loopback
from flowschema import default_catalog

pytestmark = pytest.mark.nodered

PLUMB_ONLY = {s.type for s in default_catalog() if s.plumb_only}


def test_corpus_examples_start_in_node_red(node_red: NodeRed) -> None:
    installed = node_red.installed_types() | {"tab", "subflow", "group", "junction"}
    runnable = []
    for example in load_examples():
        types = {n["type"] for n in example.flow}
        if types & PLUMB_ONLY:
            continue  # runs in Plumb's runtime only
        types = {t for t in types if not t.startswith("subflow:")}
        assert types <= installed, (example.id, types - installed)
        runnable.append(example)
    assert len(runnable) >= 70
    # Every example has its own tabs and ids, so all of them deploy together at once; only
    # when that fails are they deployed one by one to name the culprits.
    combined = [node for example in runnable for node in to_loopback(example.flow)]
    assert len({n["id"] for n in combined}) == len(combined), "example ids collide"
    result = node_red.deploy(combined, timeout=60)
    if result.status == 204 and result.started and not result.start_errors:
        return
    problems = {}
    for example in runnable:
        single = node_red.deploy(to_loopback(example.flow))
        if single.status != 204 or not single.started or single.start_errors:
            problems[example.id] = (single.status, single.missing_types, single.start_errors)
    assert problems, f"the combined deploy failed but no single example did: {result.log[-20:]}"
    assert not problems
