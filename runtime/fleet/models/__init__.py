"""The fleet's tables, one module per concern; importing this registers them all."""

from runtime.fleet.models.audit import ActorKind, AuditEvent
from runtime.fleet.models.devices import Device, DeviceGroup, DeviceStatus, ProvisioningToken
from runtime.fleet.models.rollouts import (
    Approval,
    DeploymentState,
    DeviceDeployment,
    Pipeline,
    Rollout,
    RolloutControl,
    Stage,
)
from runtime.fleet.models.snapshots import Snapshot
from runtime.fleet.models.users import ApiToken, Role, User

__all__ = ["ActorKind", "ApiToken", "Approval", "AuditEvent", "DeploymentState", "Device",
           "DeviceDeployment", "DeviceGroup", "DeviceStatus", "Pipeline", "ProvisioningToken",
           "Role", "Rollout", "RolloutControl", "Snapshot", "Stage", "User"]
