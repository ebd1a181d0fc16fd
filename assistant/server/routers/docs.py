"""GET /docs/search: node documentation and example flows, from the local index."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from assistant.server.auth import AssistantUser
from assistant.server.deps import ServerSettingsDep
from assistant.server.schemas import DocsPublic
from assistant.server.settings import ServerSettings
from runtime.fleet.errors import FleetError

router = APIRouter(tags=["docs"])

_lock = threading.Lock()
_indexes: dict[str, Any] = {}


def _index(settings: ServerSettings) -> Any:
    """The index, opened once; built on first use when missing (takes a minute)."""
    from corpus.build import index_builtin
    from corpus.index import CorpusIndex

    key = str(settings.index_dir())
    with _lock:
        index = _indexes.get(key)
        if index is None:
            index = CorpusIndex(settings.index_dir())
            if not index.exists():
                index_builtin(index, None)
            _indexes[key] = index
        return index


@router.get("/docs/search", response_model=DocsPublic)
async def search_docs(
    settings: ServerSettingsDep,
    _caller: AssistantUser,
    q: Annotated[str, Query(min_length=1, max_length=500, description="The question.")],
    k: Annotated[int, Query(ge=1, le=20, description="How many passages.")] = 5,
    kind: Annotated[Literal["doc", "example", "help"] | None,
                    Query(description="Only this kind of passage.")] = None,
    node_type: Annotated[str | None, Query(max_length=100,
                                           description="Only about this node type.")] = None,
    mode: Annotated[Literal["hybrid", "dense", "lexical"],
                    Query(description="Ranking.")] = "hybrid",
) -> JSONResponse:
    """Search node documentation and example flows (the same index as `ask docs`; built
    on the first search when missing, which takes about a minute)."""
    try:
        from corpus.index import CorpusIndexError, QueryError
    except ImportError as exc:
        raise FleetError(503, "index_unavailable",
                         f"docs search needs the retrieval packages ({exc.name} is missing): "
                         "pip install 'plumb[retrieval]'") from None

    def search() -> list[dict[str, Any]]:
        hits = _index(settings).search(q, k, kind=kind, node_type=node_type, mode=mode)
        return [h.to_dict() for h in hits]

    try:
        hits = await anyio.to_thread.run_sync(search)
    except ImportError as exc:
        raise FleetError(503, "index_unavailable",
                         f"docs search needs the retrieval packages ({exc.name} is missing): "
                         "pip install 'plumb[retrieval]'") from None
    except QueryError as exc:
        raise FleetError(422, "invalid_request", str(exc)) from None
    except CorpusIndexError as exc:
        raise FleetError(503, "index_unavailable", str(exc)) from None
    return JSONResponse({"query": q, "hits": hits})
