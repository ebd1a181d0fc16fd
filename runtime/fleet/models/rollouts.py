"""Pipelines of stages, rollouts in waves, and each device's part in a rollout.

A rollout's status is never stored: it is derived from the per-device deployment states
(`runtime.fleet.rollouts`). What is stored is what people decided (`control`: run, pause,
abort; approvals) and how far the controller has opened the waves (`opened_waves`).

Rollouts and deployments carry a version counter (SQLAlchemy's `version_id_col`): the
controller and a device's check-in may both move the same deployment on, and the one that
read an older row fails its flush (StaleDataError) instead of overwriting the other.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from runtime.fleet.db import Base, UtcDateTime, utcnow


class DeploymentState(enum.StrEnum):
    """One device's progress in one rollout. Terminal states never change again."""

    pending = "pending"            # waiting for its wave
    deploying = "deploying"        # told to run the snapshot; not yet reported running
    soaking = "soaking"            # running it; health watched for the soak period
    healthy = "healthy"            # passed the soak; succeeded once the rollout completes
    rolling_back = "rolling_back"  # told to go back to its previous snapshot
    succeeded = "succeeded"
    failed = "failed"              # did not get healthy (the agent went back by itself)
    rolled_back = "rolled_back"    # was updated, then sent back when the rollout failed
    rollback_failed = "rollback_failed"
    aborted = "aborted"            # never started: the rollout stopped first
    skipped = "skipped"            # decommissioned or gone before its turn

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({DeploymentState.succeeded, DeploymentState.failed,
                      DeploymentState.rolled_back, DeploymentState.rollback_failed,
                      DeploymentState.aborted, DeploymentState.skipped})


class RolloutControl(enum.StrEnum):
    """What people asked of a rollout (its status is derived, never set)."""

    run = "run"
    pause = "pause"
    abort = "abort"


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "position"),
                      UniqueConstraint("pipeline_id", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    group_id: Mapped[int] = mapped_column(ForeignKey("device_groups.id"))
    protected: Mapped[bool] = mapped_column(default=False)
    # The snapshot this stage's group last received through a finished rollout.
    snapshot_id: Mapped[str | None] = mapped_column(ForeignKey("snapshots.id"), nullable=True)
    # Defaults for rollouts to this stage (waves, soak, abort threshold).
    rollout_defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Rollout(Base):
    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshots.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("device_groups.id"), index=True)
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"), nullable=True)
    # Cumulative wave sizes: [{"devices": 1}, {"percent": 10}, {"percent": 50},
    # {"percent": 100}], or {"exponential": {"first": 1, "factor": 2}} expanded at start.
    waves: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The waves as expanded over the group's active devices at start: devices per wave.
    wave_sizes: Mapped[list[int]] = mapped_column(JSON, default=list)
    soak_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    deploy_timeout_seconds: Mapped[float] = mapped_column(Float, default=300.0)
    abort_percent: Mapped[float] = mapped_column(Float, default=20.0)
    abort_min_devices: Mapped[int] = mapped_column(Integer, default=1)
    control: Mapped[RolloutControl] = mapped_column(
        Enum(RolloutControl, native_enum=False, length=20), default=RolloutControl.run)
    needs_approval: Mapped[bool] = mapped_column(default=False)
    opened_waves: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                   nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set by the controller once no device is left moving (the status says how it ended).
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True,
                                                            index=True)
    # Why it failed or was stopped, in words (the status itself is derived).
    reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (read once, by the mapper)


class Approval(Base):
    """A decision on a rollout to a protected stage, by someone other than its author."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"),
                                            index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeviceDeployment(Base):
    """One device in one rollout."""

    __tablename__ = "device_deployments"
    __table_args__ = (UniqueConstraint("rollout_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"),
                                            index=True)
    # None once the device row was deleted (the deployment stays, for the rollout's record).
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True, index=True)
    wave: Mapped[int] = mapped_column(Integer)
    state: Mapped[DeploymentState] = mapped_column(
        Enum(DeploymentState, native_enum=False, length=20), default=DeploymentState.pending,
        index=True)
    previous_snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    state_since: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (read once, by the mapper)
