"""Timers, timeouts, rate limits and cron schedules."""

from __future__ import annotations

import itertools
import re

from assistant.extract import Extracted, Interval
from assistant.valuecheck.flow import UNIT_S, Flow, Mismatch, num, num_eq, quote


def timers(f: Flow) -> list[tuple[float, str, str]]:
    found: list[tuple[float, str, str]] = []
    for n in f.nodes:
        t, nid = n.get("type"), str(n["id"])
        if t == "inject":
            s = num(n.get("repeat"))
            if s:
                found.append((s, f"inject repeat {s:g} s", nid))
            period = cron_period(str(n.get("crontab") or ""))
            if period:
                found.append((period, f"inject crontab '{n.get('crontab')}'", nid))
        elif t == "modbus-read":
            rate, unit = num(n.get("rate")), UNIT_S.get(str(n.get("rateUnit", "s")))
            if rate and unit:
                found.append((rate * unit, f"modbus-read every {rate:g} {n.get('rateUnit')}", nid))
        elif t == "OpcUa-Client" and str(n.get("action")) in ("subscribe", "monitor", "events"):
            time, unit = num(n.get("time")), UNIT_S.get(str(n.get("timeUnit", "s")))
            if time and unit:
                found.append(
                    (
                        time * unit,
                        f"OpcUa-Client {n.get('action')} every {time:g} {n.get('timeUnit')}",
                        nid,
                    )
                )
            found += _sampling(f, nid)
    return found


def _sampling(f: Flow, client_id: str) -> list[tuple[float, str, str]]:
    """The sampling interval an OpcUa-Client subscription gets from its trigger message: a
    number in msg.payload or msg.interval, in milliseconds."""
    found = []
    for up in f.upstream(client_id) - {client_id}:
        n = f.by_id.get(up, {})
        ms = None
        if n.get("type") == "inject" and str(n.get("payloadType")) == "num":
            ms = num(n.get("payload"))
        for rule in n.get("rules") or [] if n.get("type") == "change" else []:
            if isinstance(rule, dict) and rule.get("p") in ("interval", "payload"):
                ms = num(rule.get("to")) or ms
        if ms:
            found.append((ms / 1000, f"{n.get('type')} sampling interval {ms:g} ms", up))
    return found


def _durations(f: Flow) -> list[tuple[float, str, str]]:
    found: list[tuple[float, str, str]] = []
    for n in f.nodes:
        t, nid = n.get("type"), str(n["id"])
        if t == "trigger":
            d, unit = num(n.get("duration")), UNIT_S.get(str(n.get("units", "ms")))
            if d and unit:
                found.append((d * unit, f"trigger {d:g} {n.get('units')}", nid))
        elif t == "delay" and str(n.get("pauseType", "delay")) in ("delay", "delayv", "random"):
            d, unit = num(n.get("timeout")), UNIT_S.get(str(n.get("timeoutUnits", "seconds")))
            if d and unit:
                found.append((d * unit, f"delay {d:g} {n.get('timeoutUnits')}", nid))
        elif t == "join" and num(n.get("timeout")):
            found.append((num(n.get("timeout")) or 0.0, f"join timeout {n.get('timeout')} s", nid))
    return found


def _rates(f: Flow) -> list[tuple[float, str, str]]:
    found = []
    for n in f.of("delay"):
        if str(n.get("pauseType")) in ("rate", "queue", "timed"):
            rate, nb = num(n.get("rate")) or 1.0, num(n.get("nbRateUnits")) or 1.0
            unit = UNIT_S.get(str(n.get("rateUnits", "second")), 1.0)
            found.append(
                (
                    rate / (nb * unit),
                    f"delay {rate:g} msg per {nb:g} {n.get('rateUnits')}",
                    str(n["id"]),
                )
            )
    return found


def _in_code(seconds: float, text: str) -> bool:
    """The duration written in code: as milliseconds (setTimeout(f, 5000)) or next to a unit."""
    ms = f"{seconds * 1000:g}"
    return bool(
        re.search(rf"(?<![\w.]){re.escape(ms)}(?![\w.])", text)
        or re.search(
            rf"(?<![\w.]){seconds:g}\s*\*\s*1000|(?<![\w.]){seconds:g}\s*(?:s|sec|seconds)\b", text
        )
    )


def check_interval(i: Interval, f: Flow) -> list[Mismatch]:
    if i.kind in ("source", "window"):
        return []
    if i.kind in ("poll", "unknown"):
        found = timers(f)
        if any(num_eq(s, i.seconds) for s, _, _ in found):
            return []
        if any(num_eq(1 / r, i.seconds) for r, _, _ in _rates(f)):
            return []  # a delay node releasing one message per period paces it as well
        return [
            Mismatch(
                "interval",
                f"{i.seconds:g} s",
                [d for _, d, _ in found],
                f"the request says '{i.text}' ({i.seconds:g} s), but no inject repeat, "
                f"modbus-read rate or OpcUa-Client interval has it; timers: "
                f"{quote(d for _, d, _ in found)}",
                [n for _, _, n in found],
                "error" if i.kind == "poll" else "warning",
            )
        ]
    if i.kind == "rate_limit":
        rates = _rates(f)
        want = (i.count or 1) / i.seconds
        if any(num_eq(r, want) for r, _, _ in rates):
            return []
        if not rates and (
            any(num_eq(s, i.seconds) for s, _, _ in _durations(f))
            or _in_code(i.seconds, f.all_text())
        ):
            return []
        return [
            Mismatch(
                "rate_limit",
                f"{i.count} per {i.seconds:g} s",
                [d for _, d, _ in rates],
                f"the request limits to '{i.text}', but no delay node rate-limits to "
                f"{i.count} message(s) per {i.seconds:g} s; rate limits: "
                f"{quote(d for _, d, _ in rates)}",
                [n for _, _, n in rates],
                "error" if rates else "warning",
            )
        ]
    durations = _durations(f) + (timers(f) if i.cue == "at least" else [])
    if any(num_eq(s, i.seconds) for s, _, _ in durations):
        return []
    if not durations and _in_code(i.seconds, f.all_text()):
        return []
    return [
        Mismatch(
            i.kind,
            f"{i.seconds:g} s",
            [d for _, d, _ in durations],
            f"the request says '{i.text}' ({i.kind} of {i.seconds:g} s), but no trigger, "
            f"delay or function uses {i.seconds:g} s; timers: "
            f"{quote(d for _, d, _ in durations)}",
            [n for _, _, n in durations],
            "error" if durations else "warning",
        )
    ]


_CRON_NAMES = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_CRON_NAMES.update(
    {
        n: i + 1
        for i, n in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    }
)
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def _expand(field_text: str, low: int, high: int) -> frozenset[int] | None:
    values: set[int] = set()
    for part in field_text.lower().split(","):
        m = re.fullmatch(r"(\*|\?|[\w]+(?:-[\w]+)?)(?:/(\d+))?", part)
        if not m:
            return None
        rng, step = m.group(1), int(m.group(2) or 1)
        if rng in ("*", "?"):
            a, b = low, high
        else:
            ends = [int(v) if v.isdigit() else _CRON_NAMES.get(v[:3], -1) for v in rng.split("-")]
            if any(v < 0 for v in ends):
                return None
            a, b = ends[0], ends[-1] if len(ends) > 1 else (high if m.group(2) else ends[0])
        values.update(range(a, b + 1, step))
    if high == 6:
        values = {0 if v == 7 else v for v in values}
    return frozenset(values)


def cron_sets(expr: str) -> tuple[frozenset[int], ...] | None:
    """The minutes, hours, days, months and weekdays a 5-field crontab fires on."""
    fields = expr.split()
    if len(fields) == 6:
        fields = fields[1:]  # seconds first
    if len(fields) != 5:
        return None
    sets = [_expand(t, lo, hi) for t, (lo, hi) in zip(fields, _RANGES, strict=True)]
    return None if any(s is None for s in sets) else tuple(s for s in sets if s is not None)


def cron_period(expr: str) -> float | None:
    """Seconds between firings when a crontab fires at an even pace every day."""
    sets = cron_sets(expr) if expr.strip() else None
    if not sets or len(sets[2]) != 31 or len(sets[3]) != 12 or len(sets[4]) != 7:
        return None
    times = sorted(h * 60 + m for h in sets[1] for m in sets[0])
    if len(times) < 2:
        return 86400.0 if times else None
    gaps = {b - a for a, b in itertools.pairwise(times)} | {times[0] + 1440 - times[-1]}
    return gaps.pop() * 60.0 if len(gaps) == 1 else None


def check_schedules(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    crons = [(str(n.get("crontab") or ""), str(n["id"])) for n in f.of("inject")]
    for s in x.schedules:
        want = cron_sets(s.cron)
        if any(c and cron_sets(c) == want for c, _ in crons):
            continue
        found = [c for c, _ in crons if c]
        out.append(
            Mismatch(
                "schedule",
                s.cron,
                found,
                f"the request says '{s.text}' (cron {s.cron}), but no inject node "
                f"fires then; inject crontabs: {quote(found)}",
                [i for _, i in crons],
            )
        )
    return out

