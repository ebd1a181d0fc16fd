"""Pipelines and their stages: owners lay them out, members promote a stage's snapshot
to a later stage (a protected one waits for an owner's approval), everyone reads them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from runtime.fleet import pipelines as service
from runtime.fleet import rollouts
from runtime.fleet.auth import Caller, Permission, SessionDep, require
from runtime.fleet.models import Pipeline, Stage
from runtime.fleet.routers import RowId
from runtime.fleet.routers.rollouts import RolloutPublic, public_of
from runtime.fleet.waves import RolloutParams

router = APIRouter(prefix="/pipelines", tags=["pipelines"])

Reader = Annotated[Caller, require(Permission.read)]
Manager = Annotated[Caller, require(Permission.manage_pipelines)]
Starter = Annotated[Caller, require(Permission.start_rollout)]
NowDep = Annotated[dt.datetime, Depends(rollouts.clock)]
Name = Annotated[str, Field(min_length=1, max_length=service.NAME_LENGTH)]


class PipelineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class StageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    group_id: int
    protected: bool = False
    position: int | None = Field(default=None, ge=0,
                                 description="Order in the pipeline; null: last.")
    rollout_defaults: RolloutParams = Field(default_factory=RolloutParams)


class StageUpdate(BaseModel):
    """Fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    group_id: int | None = None
    protected: bool | None = None
    rollout_defaults: RolloutParams | None = None


class Promotion(BaseModel):
    """Stages by id (a number) or by name (a string)."""

    model_config = ConfigDict(extra="forbid")
    from_stage: int | str
    to_stage: int | str
    name: str = Field(default="", max_length=200)


class StagePublic(BaseModel):
    id: int
    name: str
    position: int
    group_id: int
    protected: bool
    snapshot_id: str | None = Field(description="What the stage's group last received "
                                    "through a successful rollout.")
    rollout_defaults: dict[str, Any]


class PipelinePublic(BaseModel):
    id: int
    name: str
    created_at: dt.datetime
    stages: list[StagePublic]


class PipelinesPublic(BaseModel):
    data: list[PipelinePublic]
    count: int


def _stage_public(stage: Stage) -> StagePublic:
    return StagePublic(id=stage.id, name=stage.name, position=stage.position,
                       group_id=stage.group_id, protected=stage.protected,
                       snapshot_id=stage.snapshot_id, rollout_defaults=stage.rollout_defaults)


def _public(pipeline: Pipeline, stages: list[Stage]) -> PipelinePublic:
    return PipelinePublic(id=pipeline.id, name=pipeline.name, created_at=pipeline.created_at,
                          stages=[_stage_public(s) for s in stages])


def _one(session: Session, pipeline: Pipeline) -> PipelinePublic:
    return _public(pipeline, service.stages_of(session, [pipeline.id])[pipeline.id])


@router.post("", status_code=201)
def create_pipeline(body: PipelineCreate, caller: Manager, session: SessionDep
                    ) -> PipelinePublic:
    pipeline = service.create_pipeline(session, caller.actor, body.name)
    session.commit()
    return _public(pipeline, [])


@router.get("")
def list_pipelines(caller: Reader, session: SessionDep) -> PipelinesPublic:
    found = service.list_pipelines(session)
    stages = service.stages_of(session, [p.id for p in found])
    return PipelinesPublic(data=[_public(p, stages[p.id]) for p in found], count=len(found))


@router.get("/{pipeline_id}")
def get_pipeline(pipeline_id: RowId, caller: Reader, session: SessionDep) -> PipelinePublic:
    return _one(session, service.get_pipeline(session, pipeline_id))


@router.post("/{pipeline_id}/stages", status_code=201)
def add_stage(pipeline_id: RowId, body: StageCreate, caller: Manager, session: SessionDep
              ) -> StagePublic:
    pipeline = service.get_pipeline(session, pipeline_id)
    stage = service.add_stage(session, caller.actor, pipeline, name=body.name,
                              group_id=body.group_id, protected=body.protected,
                              position=body.position, rollout_defaults=body.rollout_defaults)
    session.commit()
    return _stage_public(stage)


@router.patch("/{pipeline_id}/stages/{stage_id}")
def update_stage(pipeline_id: RowId, stage_id: RowId, body: StageUpdate, caller: Manager,
                 session: SessionDep) -> StagePublic:
    pipeline = service.get_pipeline(session, pipeline_id)
    stage = service.find_stage(session, pipeline, stage_id)
    service.update_stage(session, caller.actor, pipeline, stage, name=body.name,
                         group_id=body.group_id, protected=body.protected,
                         rollout_defaults=body.rollout_defaults)
    session.commit()
    return _stage_public(stage)


@router.post("/{pipeline_id}/promote", status_code=201)
def promote(pipeline_id: RowId, body: Promotion, caller: Starter, session: SessionDep,
            now: NowDep) -> RolloutPublic:
    """Roll `from_stage`'s snapshot out to the later `to_stage` with its defaults; the
    rollout waits for approval when `to_stage` is protected."""
    pipeline = service.get_pipeline(session, pipeline_id)
    rollout = service.promote(session, caller.actor, pipeline, body.from_stage, body.to_stage,
                              created_by=caller.user.id, name=body.name, now=now)
    session.commit()
    return public_of(session, rollout)
