"""HTTP endpoints and calls, numbers in code, files, exact texts and how the flow starts."""

from __future__ import annotations

import re

from assistant.extract import Extracted, FilePath
from assistant.valuecheck.flow import (
    Flow,
    Mismatch,
    has,
    id_list,
    norm_url,
    num,
    num_eq,
    quote,
    strings,
)

# --- HTTP -------------------------------------------------------------------------------


def check_http(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    ins = f.of("http in")
    served = [(str(n.get("method", "get")).lower(), norm_url(str(n.get("url", "")))) for n in ins]
    for h in x.http_endpoints:
        path = norm_url(h.path)
        same = [n for n, (_, url) in zip(ins, served, strict=True) if url == path]
        listing = quote(f"{m.upper()} {u}" for m, u in served)
        if not same:
            out.append(
                Mismatch(
                    "http_endpoint",
                    f"{h.method.upper()} {h.path}",
                    [f"{m.upper()} {u}" for m, u in served],
                    f"the request asks for {h.method.upper()} {h.path}, but no http in "
                    f"node serves that url; http in: {listing}",
                    id_list(ins),
                )
            )
        elif h.method_stated and not any(
            str(n.get("method", "get")).lower() == h.method for n in same
        ):
            out.append(
                Mismatch(
                    "http_endpoint",
                    f"{h.method.upper()} {h.path}",
                    [f"{m.upper()} {u}" for m, u in served],
                    f"the request asks for {h.method.upper()} {h.path}, but that url is "
                    f"served for {quote(str(n.get('method')).upper() for n in same)}",
                    id_list(same),
                )
            )
    reqs = f.of("http request")
    for r in x.http_requests:
        want = norm_url(r.url)
        same = [n for n in reqs if norm_url(str(n.get("url", ""))) == want]
        if not same:
            prefix = re.split(r"<[^>]*>|\{", r.url)[0]
            same = [
                n
                for n in reqs
                if not str(n.get("url", "")).strip()
                and prefix in f.text_of(f.upstream(str(n["id"])))
            ]
        urls = [str(n.get("url", "")) for n in reqs]
        if not same:
            out.append(
                Mismatch(
                    "http_request",
                    r.url,
                    urls,
                    f"the request calls {r.url}, but no http request node has that url "
                    f"(or gets it from msg.url set upstream); http request urls: "
                    f"{quote(urls)}",
                    id_list(reqs),
                )
            )
        elif r.method and not any(
            str(n.get("method", "GET")).upper() in (r.method, "USE") for n in same
        ):
            out.append(
                Mismatch(
                    "http_request",
                    f"{r.method} {r.url}",
                    [str(n.get("method")) for n in same],
                    f"the request says {r.method} {r.url}, but the http request node "
                    f"uses {quote(str(n.get('method')) for n in same)}",
                    id_list(same),
                )
            )
    text = f.all_text()
    for c in x.status_codes:
        if c.code == 200:
            continue
        if any(num_eq(num(n.get("statusCode")), float(c.code)) for n in f.of("http response")):
            continue
        if re.search(rf"(?<![\d.]){c.code}(?![\d.])", text):
            continue
        out.append(
            Mismatch(
                "status_code",
                str(c.code),
                [],
                f"the request wants HTTP status {c.code}, but no http response or function sets it",
                id_list(f.of("http response")),
            )
        )
    return out

def _numbers(text: str) -> set[float]:
    return {float(m) for m in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\d)", text)}


def check_thresholds(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    numbers = _numbers(f.all_text())
    for t in x.thresholds:
        for value in [t.value] + ([t.high] if t.high is not None else []):
            scaled = {value * 10**k for k in range(-3, 4)}
            if not any(num_eq(n, v) for n in numbers for v in scaled):
                out.append(
                    Mismatch(
                        "threshold",
                        f"{value:g}",
                        [],
                        f"the request compares with {value:g} ('{t.text}'), but that "
                        f"number appears in no switch rule, function or expression",
                        [],
                        "warning",
                    )
                )
    return out


def check_decimals(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    text = f.all_text()
    for d in x.decimals:
        n = d.places
        power = str(10**n)
        patterns = [
            rf"toFixed\(\s*{n}\s*\)",
            rf"round\([^;]*,\s*{n}\s*\)",
            rf"\*\s*{power}(?:\.0)?\s*\)\s*/\s*{power}\b",
            r"\bround\(" if n == 0 else "^$",
        ]
        if n and any(str(r.get("round")) in ("true", "True") for r in f.of("range")):
            patterns.append(".")
        if not any(re.search(p, text) for p in patterns):
            out.append(
                Mismatch(
                    "decimals",
                    str(n),
                    [],
                    f"the request wants {n} decimal(s), but no node rounds to {n}",
                    [],
                    "warning",
                )
            )
    return out

def _file_names(f: Flow) -> list[tuple[str, str]]:
    names = []
    for n in f.of("file", "file in"):
        names.append((str(n.get("filename", "")), str(n["id"])))
    for n in f.of("watch"):
        names += [(p.strip(), str(n["id"])) for p in str(n.get("files", "")).split(",")]
    for n in f.of("plumb-onnx"):
        names.append((str(n.get("model", "")), str(n["id"])))
    return [(p, i) for p, i in names if p]


def check_file(p: FilePath, f: Flow) -> list[Mismatch]:
    names = _file_names(f)
    paths = [n for n, _ in names]
    target = p.path.rstrip("/")
    if p.relative and any(n == target or n.endswith("/" + target) for n in paths):
        return []
    watched = [n for n, i in names if f.by_id[i].get("type") == "watch"]
    if p.mode == "watch" and p.kind == "folder":
        paths_ok = target in watched
    else:
        paths_ok = target in paths or (
            p.kind == "folder" and any(n.startswith(target + "/") for n in paths)
        )
    if paths_ok:
        return []
    prefix = re.split(r"<[^>]*>|\{\w*\}|YYYY|yyyy|\*", p.path)[0]
    text = f.code_text()
    dynamic = [
        n
        for n in f.of("file", "file in")
        if str(n.get("filenameType", "str")) != "str" or not str(n.get("filename", "")).strip()
    ]
    if dynamic and (
        (p.mode != "watch" and has(text, p.path))
        or (prefix != p.path and len(prefix) > 1 and prefix in text)
    ):
        return []
    what = {"model": "model", "folder": "folder"}.get(p.kind, "file")
    return [
        Mismatch(
            "file",
            p.path,
            paths,
            f"the request names {what} {p.path}, but no file, file in, watch or model "
            f"node uses it; paths in the flow: {quote(paths)}",
            [i for _, i in names],
            "warning" if p.relative else "error",
        )
    ]


def check_literals(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    text = "\n".join(v for n in f.nodes if n.get("type") != "comment" for v in strings(n))
    names = "\n".join(str(n.get("name", "")) for n in f.nodes)
    for lit in x.literals:
        if lit.example:
            continue  # 'like ...': an example of the format, not the exact text
        parts = [s for s in re.split(r"<[^>]*>|\{\w+\}", lit.value) if s.strip()]
        if all(part.strip() in text for part in parts) or lit.value in names:
            continue
        out.append(
            Mismatch(
                "literal",
                lit.value,
                [],
                f"the request wants the text {lit.value!r}, but no node produces it",
                [],
                "error" if lit.quoted and lit.output else "warning",
            )
        )
    for j in x.json_shapes:
        if j.role != "out":
            continue
        missing = [k for k in j.keys if not re.search(rf"\b{re.escape(k)}\b", text, re.I)]
        if missing:
            out.append(
                Mismatch(
                    "json",
                    j.text,
                    [],
                    f"the request wants JSON {j.text}, but the flow never writes "
                    f"key(s) {', '.join(missing)}",
                    [],
                    "warning",
                )
            )
    return out


def check_triggers(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    kinds = {t.kind for t in x.triggers}
    if "button" in kinds and not f.of("inject"):
        out.append(
            Mismatch(
                "trigger",
                "button",
                [],
                "the request wants a button, but the flow has no inject node to click",
                [],
                "warning",
            )
        )
    if "startup" in kinds and not any(str(n.get("once")).lower() == "true" for n in f.of("inject")):
        out.append(
            Mismatch(
                "trigger",
                "startup",
                [],
                "the request wants it to run at start-up, but "
                "no inject node fires once after deploy",
                [],
                "warning",
            )
        )
    return out

