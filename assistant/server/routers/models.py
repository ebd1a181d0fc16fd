"""GET /models and /status: what the server answers with, and how busy it is."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.server.auth import AssistantUser
from assistant.server.deps import ServerSettingsDep, ServiceDep
from assistant.server.schemas import ModelsPublic, StatusPublic

router = APIRouter(tags=["models"])


def model_rows(serving: str) -> list[dict[str, Any]]:
    from assistant.models.install import ModelState, state
    from assistant.models.registry import all_models, default_model_name

    default = default_model_name()
    rows = []
    for spec in all_models().values():
        installed = spec.backend == "openai" or state(spec) in (
            ModelState.INSTALLED, ModelState.NOT_ASSEMBLED, ModelState.REMOTE)
        rows.append({"name": spec.name, "description": spec.description,
                     "installed": installed, "default": spec.name == default,
                     "serving": spec.name == serving})
    if serving == "fake":
        rows.append({"name": "fake", "description": "Pass-through code, no weights (tests)",
                     "installed": True, "default": False, "serving": True})
    return rows


@router.get("/models", response_model=ModelsPublic)
def models(service: ServiceDep, _caller: AssistantUser) -> JSONResponse:
    """The models Plumb knows, which are installed, and the one this server uses."""
    serving = service.serving_name()
    return JSONResponse({"data": model_rows(serving), "serving": serving,
                         "state": service.model_state, "error": service.model_error})


@functools.cache
def _version() -> str:
    # Read once: the package metadata lookup touches the disk (~1 ms a call).
    from importlib.metadata import version

    return version("plumb")


@router.get("/status", response_model=StatusPublic)
def server_status(service: ServiceDep, settings: ServerSettingsDep) -> JSONResponse:
    """Liveness and load: the model's state and the queue. Needs no token."""
    return JSONResponse({"status": "ok", "version": _version(), "auth": settings.auth,
                         **service.status()})
