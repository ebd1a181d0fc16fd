"""Pipelines: stages laid out by owners, promotion from one stage to a later one with the
target stage's defaults, protected stages waiting for approval, and who may do what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.fleet.models import Role
from tests.fleet.rollout_helpers import Fleet

Headers = Callable[[Role], dict[str, str]]


def post(fleet: Fleet, url: str, headers: dict[str, str], expect: int, **body: Any
         ) -> dict[str, Any]:
    response = fleet.client.post(f"/api/v1{url}", json=body, headers=headers)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def test_owners_lay_out_pipelines_and_everyone_reads_them(
        fleet: Fleet, user_headers: Headers) -> None:
    owner, member, viewer = (user_headers(r) for r in (Role.owner, Role.member, Role.viewer))
    dev, prod = fleet.group("dev"), fleet.group("prod")
    post(fleet, "/pipelines", member, 403, name="main")
    assert fleet.client.post("/api/v1/pipelines", json={"name": "x"}).status_code == 401
    pipeline = post(fleet, "/pipelines", owner, 201, name="main")
    assert pipeline["stages"] == []
    post(fleet, "/pipelines", owner, 409, name="main")
    pid = pipeline["id"]
    first = post(fleet, f"/pipelines/{pid}/stages", owner, 201, name="dev", group_id=dev,
                 rollout_defaults={"soak_seconds": 5, "waves": [{"percent": 100}]})
    assert first["position"] == 0 and first["protected"] is False
    assert first["rollout_defaults"] == {"soak_seconds": 5.0, "waves": [{"percent": 100.0}]}
    second = post(fleet, f"/pipelines/{pid}/stages", owner, 201, name="prod", group_id=prod,
                  protected=True)
    assert second["position"] == 1
    post(fleet, f"/pipelines/{pid}/stages", member, 403, name="qa", group_id=dev)
    post(fleet, f"/pipelines/{pid}/stages", owner, 409, name="dev", group_id=dev)
    post(fleet, f"/pipelines/{pid}/stages", owner, 409, name="qa", group_id=dev, position=1)
    post(fleet, f"/pipelines/{pid}/stages", owner, 404, name="qa", group_id=999)
    post(fleet, f"/pipelines/{pid}/stages", owner, 422, name="qa", group_id=dev,
         rollout_defaults={"waves": [{"percent": 0}]})
    post(fleet, "/pipelines/999/stages", owner, 404, name="qa", group_id=dev)
    listed = fleet.client.get("/api/v1/pipelines", headers=viewer).json()
    assert listed["count"] == 1
    assert [s["name"] for s in listed["data"][0]["stages"]] == ["dev", "prod"]
    one = fleet.client.get(f"/api/v1/pipelines/{pid}", headers=viewer).json()
    assert one["stages"][1]["protected"] is True and one["stages"][1]["snapshot_id"] is None
    # Changing a stage: owners only, audited with what changed.
    url = f"/api/v1/pipelines/{pid}/stages/{first['id']}"
    assert fleet.client.patch(url, json={"protected": True},
                              headers=member).status_code == 403
    changed = fleet.client.patch(url, json={"protected": True,
                                            "rollout_defaults": {"soak_seconds": 1}},
                                 headers=owner)
    assert changed.status_code == 200 and changed.json()["protected"] is True
    [event] = fleet.events("stage.updated")
    assert set(event.details["changes"]) == {"protected", "rollout_defaults"}
    assert [e.details["name"] for e in fleet.events("stage.created")] == ["dev", "prod"]
    assert len(fleet.events("pipeline.created")) == 1


def test_promotion_takes_a_stage_snapshot_to_the_next_stage(
        fleet: Fleet, user_headers: Headers) -> None:
    owner, member, viewer = (user_headers(r) for r in (Role.owner, Role.member, Role.viewer))
    dev_group, prod_group = fleet.group("dev"), fleet.group("prod")
    old, new = fleet.snapshot("old"), fleet.snapshot("new")
    dev_devices = fleet.devices(dev_group, 1, running=old, prefix="dev")
    prod_devices = fleet.devices(prod_group, 3, running=old, prefix="prod")
    pid = post(fleet, "/pipelines", owner, 201, name="main")["id"]
    dev = post(fleet, f"/pipelines/{pid}/stages", owner, 201, name="dev", group_id=dev_group,
               rollout_defaults={"soak_seconds": 0})
    prod = post(fleet, f"/pipelines/{pid}/stages", owner, 201, name="prod",
                group_id=prod_group, protected=True,
                rollout_defaults={"soak_seconds": 0, "abort_percent": 34,
                                  "waves": {"exponential": {"first": 1, "factor": 2}}})
    promote = f"/pipelines/{pid}/promote"
    # Nothing has reached dev yet.
    assert post(fleet, promote, member, 409, from_stage="dev",
                to_stage="prod")["error"] == "nothing_to_promote"
    rollout = post(fleet, "/rollouts", member, 201, snapshot_id=new, stage_id=dev["id"])
    assert rollout["status"] == "running" and rollout["soak_seconds"] == 0
    fleet.tick()
    fleet.check_in(dev_devices[0], new)
    fleet.tick()
    assert fleet.rollout(rollout["id"], viewer)["status"] == "succeeded"
    stages = fleet.client.get(f"/api/v1/pipelines/{pid}", headers=viewer).json()["stages"]
    assert stages[0]["snapshot_id"] == new and stages[1]["snapshot_id"] is None
    post(fleet, promote, viewer, 403, from_stage="dev", to_stage="prod")
    post(fleet, promote, member, 422, from_stage="prod", to_stage="dev")
    post(fleet, promote, member, 404, from_stage="dev", to_stage="nowhere")
    promoted = post(fleet, promote, member, 201, from_stage=dev["id"], to_stage="prod")
    assert promoted["snapshot_id"] == new and promoted["stage_id"] == prod["id"]
    assert promoted["group_id"] == prod_group
    assert promoted["status"] == "awaiting_approval"
    assert promoted["wave_sizes"] == [1, 2] and promoted["abort_percent"] == 34
    assert promoted["name"] == "main: dev -> prod"
    [created] = [e for e in fleet.events("rollout.created")
                 if e.target_id == str(promoted["id"])]
    assert created.details["promoted_from"] == "dev" and created.details["stage"] == "prod"
    post(fleet, f"/rollouts/{promoted['id']}/approve", owner, 200)
    fleet.tick()
    fleet.check_in(prod_devices[0], new)
    fleet.tick()
    for device in prod_devices[1:]:
        fleet.check_in(device, new)
    fleet.tick()
    assert fleet.rollout(promoted["id"], viewer)["status"] == "succeeded"
    stages = fleet.client.get(f"/api/v1/pipelines/{pid}", headers=viewer).json()["stages"]
    assert stages[1]["snapshot_id"] == new
