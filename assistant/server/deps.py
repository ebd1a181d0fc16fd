"""Dependencies the assistant's routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.server.service import AssistantService
from assistant.server.settings import ServerSettings
from assistant.server.store import SessionStore


def _service(request: Request) -> AssistantService:
    service: AssistantService = request.app.state.assistant
    return service


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.chat_sessions
    return store


def _settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.server_settings
    return settings


ServiceDep = Annotated[AssistantService, Depends(_service)]
StoreDep = Annotated[SessionStore, Depends(_store)]
ServerSettingsDep = Annotated[ServerSettings, Depends(_settings)]
