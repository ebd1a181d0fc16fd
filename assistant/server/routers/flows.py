"""POST /explain and /validate: read a flow, say what it does and what is wrong with it."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.server import work
from assistant.server.auth import AssistantUser
from assistant.server.deps import ServiceDep
from assistant.server.schemas import ExplainCreate, ExplainPublic, ValidateCreate, ValidatePublic
from runtime.fleet.errors import FleetError

router = APIRouter(tags=["assistant"])


@router.post("/explain", response_model=ExplainPublic)
async def explain(body: ExplainCreate, service: ServiceDep, _caller: AssistantUser
                  ) -> JSONResponse:
    """Explain a flow (or the chosen nodes): summary, paths, devices, risks. The facts come
    from the graph; with `phrase`, the model rewords the summary and waits its turn."""
    flow = body.flow
    if body.node_ids is not None:
        try:
            flow = work.select_nodes(flow, body.node_ids)
        except KeyError as exc:
            raise FleetError(422, "invalid_request", str(exc.args[0])) from None
    if body.phrase:
        result = await service.run(lambda _ticket, _emit: work.explain(flow, service.model()))
    else:
        result = await anyio.to_thread.run_sync(work.explain, flow, None)
    return JSONResponse(result)


@router.post("/validate", response_model=ValidatePublic)
async def validate(body: ValidateCreate, _caller: AssistantUser) -> JSONResponse:
    """Check a flow against the node catalog and Node-RED's rules; never needs the model."""
    return JSONResponse(await anyio.to_thread.run_sync(work.validate, body.flow))
