"""Pipelines: ordered stages (dev, staging, prod...), each a device group with rollout
defaults, some protected. A snapshot moves on by promotion: the snapshot a stage last
received through a successful rollout goes, in a new rollout, to a later stage (which
needs an owner's approval when that stage is protected).

Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runtime.fleet import audit
from runtime.fleet.audit import Actor
from runtime.fleet.errors import FleetError, not_found
from runtime.fleet.models import DeviceGroup, Pipeline, Rollout, Stage
from runtime.fleet.rollouts import create_rollout
from runtime.fleet.waves import RolloutParams

NAME_LENGTH = 100


def _name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise FleetError(422, "invalid_request", f"a {what} has 1 to {NAME_LENGTH} characters")
    return name


def _group(session: Session, group_id: int) -> DeviceGroup:
    group = session.get(DeviceGroup, group_id)
    if group is None:
        raise not_found("group", group_id)
    return group


def create_pipeline(session: Session, actor: Actor, name: str) -> Pipeline:
    name = _name(name, "pipeline name")
    if session.scalars(select(Pipeline).where(Pipeline.name == name)).first() is not None:
        raise FleetError(409, "conflict", f"a pipeline named {name!r} exists")
    pipeline = Pipeline(name=name)
    session.add(pipeline)
    session.flush()
    audit.record(session, actor, "pipeline.created", "pipeline", pipeline.id, {"name": name})
    return pipeline


def get_pipeline(session: Session, pipeline_id: int) -> Pipeline:
    pipeline = session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise not_found("pipeline", pipeline_id)
    return pipeline


def list_pipelines(session: Session) -> list[Pipeline]:
    return list(session.scalars(select(Pipeline).order_by(Pipeline.name)))


def stages_of(session: Session, pipeline_ids: list[int]) -> dict[int, list[Stage]]:
    """Each pipeline's stages in order."""
    result: dict[int, list[Stage]] = {pipeline_id: [] for pipeline_id in pipeline_ids}
    if pipeline_ids:
        for stage in session.scalars(select(Stage).where(Stage.pipeline_id.in_(pipeline_ids))
                                     .order_by(Stage.pipeline_id, Stage.position)):
            result[stage.pipeline_id].append(stage)
    return result


def find_stage(session: Session, pipeline: Pipeline, key: int | str) -> Stage:
    """A stage of `pipeline` by id (a number) or by name (a string)."""
    query = select(Stage).where(Stage.pipeline_id == pipeline.id)
    query = query.where(Stage.id == key) if isinstance(key, int) else query.where(
        Stage.name == key.strip())
    stage = session.scalars(query).first()
    if stage is None:
        raise not_found(f"stage in pipeline {pipeline.name!r}", key)
    return stage


def _stage_details(session: Session, pipeline: Pipeline, stage: Stage) -> dict[str, Any]:
    group = session.get(DeviceGroup, stage.group_id)
    return {"pipeline": pipeline.name, "name": stage.name, "position": stage.position,
            "group": group.name if group else None, "protected": stage.protected,
            "rollout_defaults": stage.rollout_defaults}


def _name_free(session: Session, pipeline: Pipeline, name: str, stage: Stage | None) -> None:
    clash = session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id,
                                                Stage.name == name)).first()
    if clash is not None and clash is not stage:
        raise FleetError(409, "conflict",
                         f"pipeline {pipeline.name!r} has a stage named {name!r}")


def add_stage(session: Session, actor: Actor, pipeline: Pipeline, *, name: str,
              group_id: int, protected: bool = False, position: int | None = None,
              rollout_defaults: RolloutParams | None = None) -> Stage:
    """A stage deploying to `group_id`; without a position it goes last."""
    name = _name(name, "stage name")
    _name_free(session, pipeline, name, None)
    _group(session, group_id)
    if position is None:
        last = session.scalar(select(func.max(Stage.position))
                              .where(Stage.pipeline_id == pipeline.id))
        position = 0 if last is None else last + 1
    elif session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id,
                                             Stage.position == position)).first():
        raise FleetError(409, "conflict", f"pipeline {pipeline.name!r} has a stage at "
                         f"position {position}")
    stage = Stage(pipeline_id=pipeline.id, name=name, group_id=group_id, protected=protected,
                  position=position,
                  rollout_defaults=rollout_defaults.stored() if rollout_defaults else {})
    session.add(stage)
    session.flush()
    audit.record(session, actor, "stage.created", "stage", stage.id,
                 _stage_details(session, pipeline, stage))
    return stage


def update_stage(session: Session, actor: Actor, pipeline: Pipeline, stage: Stage, *,
                 name: str | None = None, group_id: int | None = None,
                 protected: bool | None = None,
                 rollout_defaults: RolloutParams | None = None) -> Stage:
    """Change what is given; rollouts already started keep what they started with."""
    changes: dict[str, Any] = {}
    if name is not None and _name(name, "stage name") != stage.name:
        new = _name(name, "stage name")
        _name_free(session, pipeline, new, stage)
        changes["name"] = {"from": stage.name, "to": new}
        stage.name = new
    if group_id is not None and group_id != stage.group_id:
        changes["group"] = {"from": stage.group_id, "to": _group(session, group_id).id}
        stage.group_id = group_id
    if protected is not None and protected != stage.protected:
        changes["protected"] = {"from": stage.protected, "to": protected}
        stage.protected = protected
    if rollout_defaults is not None and rollout_defaults.stored() != stage.rollout_defaults:
        changes["rollout_defaults"] = {"from": stage.rollout_defaults,
                                       "to": rollout_defaults.stored()}
        stage.rollout_defaults = rollout_defaults.stored()
    if changes:
        session.flush()
        audit.record(session, actor, "stage.updated", "stage", stage.id,
                     {**_stage_details(session, pipeline, stage), "changes": changes})
    return stage


def promote(session: Session, actor: Actor, pipeline: Pipeline, from_stage: int | str,
            to_stage: int | str, *, created_by: int | None = None, name: str = "",
            params: RolloutParams | None = None, now: dt.datetime | None = None) -> Rollout:
    """A rollout of `from_stage`'s snapshot to the later stage `to_stage`, with its
    defaults (under `params`); awaiting approval when `to_stage` is protected."""
    source = find_stage(session, pipeline, from_stage)
    target = find_stage(session, pipeline, to_stage)
    if target.position <= source.position:
        raise FleetError(422, "invalid_request", f"promotion goes to a later stage: "
                         f"{target.name!r} does not come after {source.name!r}")
    if source.snapshot_id is None:
        raise FleetError(409, "nothing_to_promote", f"stage {source.name!r} has no snapshot "
                         "yet: no rollout to it has succeeded")
    return create_rollout(
        session, actor, snapshot_id=source.snapshot_id, stage_id=target.id, params=params,
        name=name or f"{pipeline.name}: {source.name} -> {target.name}",
        created_by=created_by, now=now,
        details={"pipeline": pipeline.name, "promoted_from": source.name})
