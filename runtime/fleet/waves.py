"""Rollout parameters and waves: the knobs a rollout (or a stage's defaults) sets, and
how a wave spec becomes devices per wave.

Specs are cumulative steps, `[{"devices": 1}, {"percent": 10}, {"percent": 50},
{"percent": 100}]`, or `{"exponential": {"first": 1, "factor": 2}}` (waves of 1, 2, 4...
devices). They are expanded once, over the group's active devices when the rollout starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WaveStep(BaseModel):
    """One cumulative step: this many devices, or this share of the group, in all."""

    model_config = ConfigDict(extra="forbid")
    devices: int | None = Field(default=None, ge=1)
    percent: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _one(self) -> WaveStep:
        if (self.devices is None) == (self.percent is None):
            raise ValueError("a wave step names either devices or percent")
        return self


class Exponential(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first: int = Field(default=1, ge=1)
    factor: float = Field(default=2.0, ge=1, le=100)


class ExponentialWaves(BaseModel):
    """Waves of `first`, `first*factor`, `first*factor²`... devices."""

    model_config = ConfigDict(extra="forbid")
    exponential: Exponential


WaveSpec = list[WaveStep] | ExponentialWaves


class RolloutParams(BaseModel):
    """A rollout's knobs; None leaves it to the stage's defaults, then `DEFAULTS`."""

    model_config = ConfigDict(extra="forbid")
    waves: list[WaveStep] | ExponentialWaves | None = Field(default=None)
    soak_seconds: float | None = Field(default=None, ge=0)
    deploy_timeout_seconds: float | None = Field(default=None, gt=0)
    abort_percent: float | None = Field(default=None, ge=0, le=100)
    abort_min_devices: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some_waves(self) -> RolloutParams:
        if isinstance(self.waves, list) and not self.waves:
            raise ValueError("waves needs at least one step")
        return self

    def stored(self) -> dict[str, Any]:
        """The JSON a stage keeps as its defaults (only what was given)."""
        return self.model_dump(mode="json", exclude_none=True)


DEFAULTS = RolloutParams(
    waves=[WaveStep(devices=1), WaveStep(percent=10), WaveStep(percent=50),
           WaveStep(percent=100)],
    soak_seconds=30.0, deploy_timeout_seconds=300.0, abort_percent=20.0, abort_min_devices=1)


def resolve(*layers: RolloutParams | dict[str, Any] | None) -> RolloutParams:
    """`DEFAULTS` overlaid with each layer in turn (later layers win; None is no say)."""
    merged = DEFAULTS.model_dump(exclude_none=True)
    for layer in layers:
        if layer is None:
            continue
        params = (layer if isinstance(layer, RolloutParams)
                  else RolloutParams.model_validate(layer))
        merged.update({key: getattr(params, key) for key in params.model_fields_set
                       if getattr(params, key) is not None})
    return RolloutParams.model_validate(merged)


def stored_waves(spec: WaveSpec) -> list[dict[str, Any]]:
    """A wave spec as `Rollout.waves` keeps it (always a list)."""
    if isinstance(spec, ExponentialWaves):
        return [spec.model_dump(mode="json")]
    return [step.model_dump(mode="json", exclude_none=True) for step in spec]


def parse_waves(stored: Sequence[dict[str, Any]]) -> WaveSpec:
    if len(stored) == 1 and "exponential" in stored[0]:
        return ExponentialWaves.model_validate(stored[0])
    return [WaveStep.model_validate(step) for step in stored]


def _as_spec(spec: WaveSpec | Sequence[dict[str, Any]]) -> WaveSpec:
    if isinstance(spec, ExponentialWaves):
        return spec
    items: list[Any] = list(spec)
    if all(isinstance(item, WaveStep) for item in items):
        return items
    return parse_waves(items)


def _ceil(value: float) -> int:
    return math.ceil(round(value, 9))  # 7% of 100 is 7, not 8 (float noise)


def expand_waves(spec: WaveSpec | Sequence[dict[str, Any]], total: int) -> list[int]:
    """Devices per wave over `total` devices. Steps are cumulative (a percent rounds up);
    whatever the last step leaves out forms one more wave, so every device gets its turn;
    waves that would add nobody are dropped. Every wave has at least one device and the
    sizes add up to `total`."""
    spec = _as_spec(spec)
    if total <= 0:
        return []
    sizes: list[int] = []
    if isinstance(spec, ExponentialWaves):
        left, size = total, float(spec.exponential.first)
        while left > 0:
            wave = min(left, max(1, _ceil(size)))
            sizes.append(wave)
            left -= wave
            size *= spec.exponential.factor
        return sizes
    reached = 0
    for step in spec:  # cumulative steps
        want = (min(total, step.devices) if step.devices is not None
                else min(total, _ceil(total * (step.percent or 0) / 100)))
        if want > reached:
            sizes.append(want - reached)
            reached = want
    if reached < total:
        sizes.append(total - reached)
    return sizes
