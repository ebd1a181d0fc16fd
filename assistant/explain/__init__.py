"""`ask explain`: what a Node-RED flow does, where it talks, and what could go wrong.

The facts come from the flow's graph and the node catalog, deterministically
(`explain_flow`); a language model may only rephrase the summary paragraph
(`phrase_summary`), and its answer is checked against those facts before it is used.
"""

from assistant.explain.facts import Explanation, Findings, FlowFacts, Note, explain_flow
from assistant.explain.phrasing import PhrasingResult, build_prompt, phrase_summary, try_phrase
from assistant.explain.render import render_text

__all__ = [
    "Explanation",
    "Findings",
    "FlowFacts",
    "Note",
    "PhrasingResult",
    "build_prompt",
    "explain_flow",
    "phrase_summary",
    "render_text",
    "try_phrase",
]
