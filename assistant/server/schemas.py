"""Request and answer bodies of the assistant's routes (the fleet's live beside their
routers). Flows are Node-RED's flow JSON: a list of node objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.generate.pipeline import MAX_REQUEST_CHARS

Flow = Annotated[list[dict[str, Any]], Field(
    description="Node-RED flow JSON: the array of node objects (as exported by Node-RED).",
    max_length=20000)]
RequestText = Annotated[str, Field(min_length=1, max_length=MAX_REQUEST_CHARS,
                                   description="What the flow should do, in plain words.")]


class Strict(BaseModel):
    """A request body: unknown keys are refused, and so are values of the wrong JSON type
    (`"stream": 0` is not a boolean), as the OpenAPI document says."""

    model_config = ConfigDict(extra="forbid", strict=True)


class GenerateCreate(Strict):
    request: RequestText
    stream: bool = Field(default=False, description="Answer with Server-Sent Events: "
                         "queued, started, step, token, then result or error, then done.")


class EditCreate(Strict):
    flow: Flow
    request: RequestText = Field(description="The change, e.g. 'poll every 2 s instead'.")
    stream: bool = Field(default=False, description="Answer with Server-Sent Events.")


class FindingPublic(BaseModel):
    severity: Literal["error", "warning", "info"]
    code: str
    message: str
    hint: str | None = None
    node_id: str | None = Field(default=None, description="The node it concerns, if any.")
    property: str | None = None


class StagePublic(BaseModel):
    name: str
    seconds: float


class OutcomePublic(BaseModel):
    """Exactly one of: a flow, a clarifying question, a refusal."""

    outcome: Literal["flow", "clarify", "refuse"]
    message: str = Field(description="The explanation, the question or the reason.")
    flow: list[dict[str, Any]] | None = None
    choices: list[str] = []
    notes: list[str] = []
    understood: list[str] = []
    changes: list[str] = []
    stages: list[StagePublic] = []
    tokens: int = 0
    seconds: float = 0.0
    findings: list[FindingPublic] = []


class ExplainCreate(Strict):
    flow: Flow
    node_ids: list[str] | None = Field(
        default=None, max_length=20000,
        description="Explain only these nodes (and the wires between them).")
    phrase: bool = Field(default=False, description="Let the model phrase the summary "
                         "(checked against the facts; queued behind other model work).")


class ExplainPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    summary: str
    summary_by: Literal["model", "deterministic"]
    summary_note: str | None = None
    text: str = Field(description="The whole explanation as readable text.")
    seconds: float


class ValidateCreate(Strict):
    flow: Any = Field(description="The flow JSON to check; anything is accepted and what "
                      "is wrong with it is reported as findings.")


class ValidatePublic(BaseModel):
    valid: bool
    nodes: int
    errors: int
    warnings: int
    findings: list[FindingPublic]


class DocHit(BaseModel):
    id: str
    kind: str
    title: str
    node_type: str | None = None
    package: str | None = None
    source: str | None = None
    score: float
    text: str


class DocsPublic(BaseModel):
    query: str
    hits: list[DocHit]


class ModelPublic(BaseModel):
    name: str
    description: str = ""
    installed: bool
    default: bool
    serving: bool = Field(description="The model this server answers with.")


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    serving: str
    state: str = Field(description="loaded, loading, not loaded or unavailable.")
    error: str | None = None


class SessionCreate(Strict):
    title: str = Field(default="", max_length=200)
    flow: Flow | None = Field(default=None, description="Start from this flow.")


class SessionUpdate(Strict):
    flow: Flow | None = Field(description="Replace the session's current flow (null clears "
                              "it: the next message builds a new flow).")


class MessageCreate(Strict):
    content: RequestText
    stream: bool = Field(default=False, description="Answer with Server-Sent Events.")


class MessagePublic(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    outcome: OutcomePublic | None = None
    created_at: str


class SessionSummary(BaseModel):
    id: str
    title: str
    created_at: str
    updated_at: str
    has_flow: bool


class SessionPublic(SessionSummary):
    flow: list[dict[str, Any]] | None
    messages: list[MessagePublic]


class TurnPublic(BaseModel):
    """A chat turn: the stored question and answer."""

    session_id: str
    user_message: MessagePublic
    assistant_message: MessagePublic


class StatusPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ok"]
    version: str
    auth: Literal["local", "token"]
    model: str
    model_state: str
    queue: dict[str, Any]
