"""Requests that describe two or more independent flows on one tab.

"a new recipe comes on X -> overwrite the file. when anything arrives on Y read the file and
publish it on Z" is two flows: one that stores, one that serves. Each sentence that has its
own start (a subscription, an endpoint, a schedule, a watched folder) and its own end (a
topic, a write, a reply, a file) becomes a lane; sentences with neither (where a device or a
file lives) are context every lane sees; a sentence with only one of the two joins the lane
before it. Each lane is read and laid out on its own and the plans are merged, so config
nodes (one broker, one PLC) are shared. "the file" / "gives it back" in a lane that names no
file refers to the request's one file path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.extract import Extracted
from assistant.generate.functions import FunctionSpec
from assistant.generate.plan import Plan
from assistant.generate.skeleton import (
    PLACEHOLDER_BROKER,
    Skeleton,
    build_skeleton,
    plan_title,
)
from assistant.generate.understand import understand
from assistant.generate.understanding import Understanding

_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]\"'])[.;]\s+(?=\S)|\n+", re.IGNORECASE)
_ANAPHOR = re.compile(r"\bthe (?:whole |same |active |current )?(?:file|log|csv)\b|\bit back\b|"
                      r"\bthat file\b|\bfrom (?:the )?file\b", re.IGNORECASE)
_READS = re.compile(r"\b(?:read|reads|download\w*|gives?|give|serve\w*|load|returns?|show)\b",
                    re.IGNORECASE)
_WRITES = re.compile(r"\b(?:overwrite\w*|replace\w*|store\w*|save\w*|write\w*)\b", re.I)
_APPENDS = re.compile(r"\b(?:append\w*|log\w*|add a line)\b", re.IGNORECASE)


@dataclass
class Lanes:
    """The merged skeleton, and what each function's lane understood (for the recipes)."""

    skeleton: Skeleton
    contexts: dict[str, tuple[Understanding, Extracted]] = field(default_factory=dict)


def _sentences(request: str) -> list[str]:
    parts, start = [], 0
    for m in _SENTENCE_END.finditer(request):
        parts.append(request[start:m.start() + 1].strip())
        start = m.end()
    parts.append(request[start:].strip())
    return [p for p in parts if p]


def _starts(u: Understanding) -> bool:
    return bool(u.topics_in or u.served or u.interval_s or u.cron or u.button
                or any(f.mode == "watch" for f in u.files))


def _ends(u: Understanding) -> bool:
    return bool(u.topics_out or u.served or u.calls or any(r.write for r in u.registers)
                or any(n.write for n in u.opcua_nodes)
                or any(f.mode in ("append", "overwrite") for f in u.files))


def _resolve_file(text: str, path: str | None) -> str:
    """Name the request's one file where a lane only says "the file" or "gives it back"."""
    if path is None or path in text or not _ANAPHOR.search(text):
        return text
    if _WRITES.search(text):
        return f"{text} (overwrite {path})"
    if _READS.search(text):
        return f"{text} (read from {path})"
    if _APPENDS.search(text):
        return f"{text} (append to {path})"
    return text


def _in_folder(text: str, folder: str | None) -> str:
    """"drop it in there as line1_shift.txt": a bare file name lives in the named folder."""
    if folder is None:
        return text
    return re.sub(r"(?<![\w/.])(?P<name>[\w-]+\.(?:txt|csv|json|jsonl|log|xml|zpl))\b",
                  lambda m: f"{folder.rstrip('/')}/{m.group('name')}", text)


def split_lanes(request: str, whole: Understanding) -> list[str] | None:
    """The text of each lane (context sentences included), or None for a single flow."""
    if whole.onnx is not None or whole.join_count or whole.rate_limit or whole.deadband \
            or whole.changes_only or whole.wants_errors:
        return None  # stages that span the whole request: keep it one flow
    files = [f.path for f in whole.files if f.mode != "watch" and f.path.startswith("/")
             and "." in f.path.rsplit("/", 1)[-1]]
    path = files[0] if len(set(files)) == 1 else None
    folders = [f.path for f in whole.files if f.mode == "watch"]
    folder = folders[0] if len(folders) == 1 else None
    sentences = [_resolve_file(_in_folder(s, folder), path) for s in _sentences(request)]
    if len(sentences) < 2:
        return None
    kinds = []
    for sentence in sentences:
        u, _ = understand(sentence)
        only_the_file = path is not None and not _starts(u) and [f.path for f in u.files] == [
            path] and not (u.topics_out or u.calls or u.registers or u.opcua_nodes)
        # "the recipe lives in /data/r.json" only says where the lanes' file is
        kinds.append((False, False) if only_the_file else (_starts(u), _ends(u)))
    if sum(1 for starts, ends in kinds if starts and ends) < 2:
        return None
    # Sentences that only say where things are; one that only describes the file the
    # lanes now name themselves would add that file a second time.
    context = [s for s, (starts, ends) in zip(sentences, kinds, strict=True)
               if not starts and not ends and (path is None or path not in s)]
    lanes: list[list[str]] = []
    for sentence, (starts, ends) in zip(sentences, kinds, strict=True):
        if starts and ends:
            lanes.append([sentence])
        elif starts or ends:
            if lanes:
                lanes[-1].append(sentence)
            else:
                lanes.append([sentence])  # joins the next full lane below
    merged: list[list[str]] = []
    for lane in lanes:
        full = any(kinds[sentences.index(s)] == (True, True) for s in lane)
        if merged and not any(kinds[sentences.index(s)] == (True, True) for s in merged[-1]):
            merged[-1].extend(lane)
        elif full or not merged:
            merged.append(lane)
        else:
            merged[-1].extend(lane)
    texts = [" ".join([*context, *lane]) for lane in merged]
    return texts if len(texts) >= 2 else None


def build_lanes(request: str, whole: Understanding) -> Lanes | None:
    """One skeleton with every lane laid out, or None when the request is one flow."""
    texts = split_lanes(request, whole)
    if texts is None:
        return None
    merged = Plan(name=plan_title(request))
    functions: dict[str, FunctionSpec] = {}
    contexts: dict[str, tuple[Understanding, Extracted]] = {}
    for i, text in enumerate(texts, 1):
        u, found = understand(text)
        skeleton = build_skeleton(u, found)
        prefix = f"l{i}"

        def key(k: str, prefix: str = prefix) -> str:
            return f"{prefix}{k}"

        for node in skeleton.plan.nodes:
            node.key = key(node.key)
            merged.add(node)
        merged.wires.extend((key(a), port, key(b)) for a, port, b in skeleton.plan.wires)
        for node in skeleton.plan.nodes:
            if isinstance(node.props.get("scope"), list):
                node.props["scope"] = [key(k) for k in node.props["scope"]]
        for config in skeleton.plan.configs:
            existing = next((c for c in merged.configs if c.key == config.key), None)
            if existing is None:
                merged.configs.append(config)
            elif existing.props.get("broker") == PLACEHOLDER_BROKER:
                existing.props.update(config.props)  # a lane that names the broker wins
        for note in skeleton.plan.notes:
            if note not in merged.notes:
                merged.notes.append(note)
        for k, spec in skeleton.functions.items():
            functions[key(k)] = spec
            contexts[key(k)] = (u, found)
    if not any(c.props.get("broker") == PLACEHOLDER_BROKER for c in merged.configs):
        merged.notes = [n for n in merged.notes if PLACEHOLDER_BROKER not in n]
    return Lanes(Skeleton(merged, functions), contexts)
