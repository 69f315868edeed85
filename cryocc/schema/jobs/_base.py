"""What every job type declares: params, input slots, output assets, tool, RELION wiring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...contract import INPUT_FLAGS


class Params(BaseModel):
    """Base of every job type's params model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def param(default: Any, description: str, *, unit: str | None = None, affects_results: bool = True, **kw: Any) -> Any:
    """A params field with its one-line description, unit, and whether it changes results."""
    extra: dict[str, Any] = {}
    if unit:
        extra["unit"] = unit
        description = f"{description} [{unit}]"
    if not affects_results:
        extra["affects_results"] = False
    return Field(default, description=description, json_schema_extra=extra or None, **kw)


@dataclass(frozen=True)
class InputSlot:
    """One thing a job consumes: asset kinds accepted (preferred first) and the RELION option it rides in."""

    kinds: tuple[str, ...]
    option: str  # one of INPUT_FLAGS
    description: str
    required: bool = True


@dataclass(frozen=True)
class Output:
    """One thing a job promises: a kind other jobs can consume, and its path in the job directory."""

    kind: str | None  # None: promised and checked, but not wired to other jobs
    path: str
    description: str
    is_dir: bool = False


@dataclass(frozen=True)
class JobType:
    """One job type: the catalog's name (`type:` in pipeline.yaml) and everything that goes with it."""

    name: str  # `type:` in pipeline.yaml, and the stem of schema/jobs/<name>.py and drivers/<name>.py
    summary: str
    tool: str  # key into the site profile's tools
    tool_label: str  # what users call the tool
    params: type[Params]
    inputs: dict[str, InputSlot]
    outputs: tuple[Output, ...]
    acquisition: tuple[str, ...] = ()  # acquisition values the job uses (inferred from mdocs)
    reads_data: bool = False  # reads the frames/mdocs/gain of data: directly
    type_version: int = 1  # bump when the driver's results change for the same params
    # The names users of the system cryocc replaces know it by, accepted wherever a type is named.
    # The first is also the type's name in fingerprints (JobRecipe.fingerprint_name): renaming a type
    # must not re-run a project.
    aliases: tuple[str, ...] = ()
    is_tomo: bool = True  # job.star's _rlnJobIsTomo
    gpu: bool = False  # needs a GPU: one by default, unless the site profile's resources say otherwise
    # params whose default depends on the data: (params, acquisition values) -> params; ValueError if it cannot
    derive: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    # Works tilt series by tilt series, so a job can be extended with some of them and keep the rest.
    per_tilt_series: bool = False
    items_star: str | None = None  # the STAR file (data_global, a row per tilt series) of its combined result
    # Why the job (with these params) pools tilt series, one result depending on them all, or None:
    # such a job re-runs every tilt series when the set changes, and the plan says why.
    pools: Callable[[dict[str, Any]], str | None] | None = None
    # Can run as a SLURM array, a task per tilt series (or a few): its driver then writes its combined
    # STAR file (items_star) per task and the supervisor merges them (drivers/_array.py).
    array: bool = False
    # The params an array task runs with, where they differ (ts_alignment: the tilt axis refined per tilt series).
    array_params: Callable[[dict[str, Any], int], dict[str, Any]] | None = None  # (params, tilt series per task)
    # A pooled result that is a decision (a trained model): what it is. Kept when only new tilt series
    # arrive, which use it; jobs below it extend. --force decides again (compiler/plan.py _decided_kept).
    decides: str | None = None
    excludes_tilts: bool = False  # leaves data.exclude_tilts out of the tilt series (and every job after it sees that)
    # How a job with these params departs from the chain the lab validated against ground truth, and the
    # setting that reproduces it, or None: validate shows each such note once (docs/science.md).
    deviation: Callable[[dict[str, Any]], str | None] | None = None

    catalog: ClassVar[dict[str, JobType]] = {}
    alias_of: ClassVar[dict[str, str]] = {}  # alias -> name

    def produces(self) -> dict[str, Output]:
        return {o.kind: o for o in self.outputs if o.kind}

    def per_item(self, params: dict[str, Any]) -> bool:
        return self.per_tilt_series and not (self.pools and self.pools(params))

    def result_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The params that change results (the ones a fingerprint covers)."""
        fields = self.params.model_fields
        # a key that is no field (array_params') changes results
        return {k: v for k, v in params.items() if k not in fields or _extra(fields[k].json_schema_extra).get("affects_results", True)}


def _extra(extra: Any) -> dict[str, Any]:
    """A field's json_schema_extra: param() sets a dict or nothing."""
    return extra if isinstance(extra, dict) else {}


def register(job: JobType) -> JobType:
    if job.name in JobType.catalog or job.name in JobType.alias_of:
        raise RuntimeError(f"job type {job.name} registered twice")
    for alias in job.aliases:
        if alias in JobType.alias_of or alias in JobType.catalog:
            raise RuntimeError(f"{job.name}: alias {alias} is taken")
        JobType.alias_of[alias] = job.name
    for slot in job.inputs.values():
        if slot.option not in INPUT_FLAGS:
            raise RuntimeError(f"{job.name}: unknown RELION input option {slot.option}")
    JobType.catalog[job.name] = job
    return job
