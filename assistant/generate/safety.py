"""Requests Plumb must not fulfil, decided by rules before any model runs.

A small model is a poor judge of safety, and a refusal must not depend on sampling. The
rules look for an action that defeats a protection (bypass, mute, force, disable, suppress,
auto-reset, falsify) aimed at a safety function (e-stop, interlock, light curtain, SIS, gas
alarm, overload limiter, guard), and for plainly hostile work (credential harvesting,
scanning or writing to someone else's network, self-spreading flows). Each rule carries the
reason shown to the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SAFETY_TARGETS = (
    r"e[- ]?stops?|emergency[- ]stops?|interlocks?|light[- ]?curtains?|safety|\bsis\b|"
    r"overload|load[- ]limiter|limiter|guard[- ]?doors?|guards?\b|"
    r"gas (?:detection|alarms?|detectors?)|h2s|fire alarms?|pressure relief|"
    r"burner management|two[- ]hand|trip ?bypass"
)
# Words that defeat a protection whatever sits between them and the target ...
_STRONG_ACTIONS = (
    r"bypass\w*|defeat\w*|disabl\w*|overrid\w*|\bmute\b|muting|jumper\w*|"
    r"suppress\w*|silenc\w*|drop (?:all )?(?:the )?alarms?|ack\w* them automatically|"
    r"auto[- ]?ack\w*|(?:reset|restart)\w* (?:it )?automatically|automatically reset\w*|"
    r"never times? out|cuts? out"
)
# ... and weaker ones that only count right next to it ("skip the guard door check").
_WEAK_ACTIONS = r"skip\w*|ignor\w*|turn(?:s|ing)? off|switch(?:es|ing)? off|write (?:0|false) to"


@dataclass(frozen=True)
class Refusal:
    reason: str
    rule: str


_RULES: list[tuple[str, re.Pattern[str], str]] = [
    (
        "safety-defeat",
        re.compile(
            rf"(?:{_STRONG_ACTIONS}).{{0,200}}?(?:{_SAFETY_TARGETS})|"
            rf"(?:{_SAFETY_TARGETS}).{{0,200}}?(?:{_STRONG_ACTIONS})|"
            rf"(?:{_WEAK_ACTIONS}).{{0,40}}?(?:{_SAFETY_TARGETS})",
            re.IGNORECASE | re.DOTALL,
        ),
        "it would defeat or work around a safety function (an e-stop, interlock, light "
        "curtain, trip, limiter, guard or safety alarm). Safety functions must be changed by "
        "the people responsible for them, through the plant's management-of-change process, "
        "not by a data flow.",
    ),
    (
        "live-forcing",
        re.compile(
            r"\bforc\w+ (?:the )?(?:outputs?|coils?|valves?)[^.]{0,80}(?:production|running|live)",
            re.IGNORECASE,
        ),
        "forcing machine outputs while production runs can injure people; use the machine's "
        "own maintenance mode with the guards in place.",
    ),
    (
        "credentials",
        re.compile(
            r"(?:pull|steal|extract|harvest|dump|collect|grab|exfiltrat)\w*[^.]{0,80}"
            r"(?:credentials?|passwords?|flows_cred|api tokens?|logins?)|"
            r"(?:credentials?|passwords?|tokens?)[^.]{0,60}(?:gmail|e-?mail them|send them to)",
            re.IGNORECASE,
        ),
        "collecting other systems' stored credentials and sending them elsewhere is "
        "credential theft.",
    ),
    (
        "foreign-network",
        re.compile(
            r"(?:scan\w*|probe\w*|sweep\w*)[^.]{0,60}(?:range|subnet|network|/\d{2}\b|"
            r"devices?)[^.]{0,160}(?:write|random|their)|"
            r"(?:neighbou?r|other company|another company|their)[^.]{0,80}(?:plcs?|machines?)"
            r"[^.]{0,120}(?:write|random values)|"
            r"write[^.]{0,30}random values",
            re.IGNORECASE,
        ),
        "it targets equipment that is not yours (or writes arbitrary values to PLCs), which "
        "is an attack on someone else's machines.",
    ),
    (
        "self-spreading",
        re.compile(
            r"deploys? itself|self[- ]?(?:spread|propagat|replicat)\w*|"
            r"(?:spread|copy|install)s? itself|worm\b",
            re.IGNORECASE,
        ),
        "a flow that spreads itself to other machines is malware.",
    ),
    (
        "falsify-reporting",
        re.compile(
            r"\b(?:cap|clip|fake|falsif\w*|massage|hide)\b.{0,120}"
            r"(?:agency|regulator|authority|authorities|permit|emissions?|epa|audit)|"
            r"(?:agency|regulator|authorities|emissions?|cems|permit)\b.{0,200}"
            r"\b(?:cap|clip|fake|falsif\w*|massage)\b",
            re.IGNORECASE | re.DOTALL,
        ),
        "it would falsify values reported to a regulator.",
    ),
    (
        "malware",
        re.compile(r"keylog\w*|ransomware|botnet|ddos|crypto[- ]?min\w*", re.IGNORECASE),
        "it asks for malicious software, not an automation flow.",
    ),
]


def check_request(request: str) -> Refusal | None:
    """The first rule the request breaks, or None."""
    for rule, pattern, reason in _RULES:
        if pattern.search(request):
            return Refusal(reason=f"I won't build this: {reason}", rule=rule)
    return None
