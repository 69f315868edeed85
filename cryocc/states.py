"""The words plan, status, the lockfile and the JSON output share: what became of a job, what a
plan does with it, and why. StrEnums, so that they are written (JSON, the lockfile, the terminal)
as the plain words they always were."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict


class Status(StrEnum):
    """What became of a job, learned back from the project (cryocc.observe.project.observe_job)."""

    SCHEDULED = "scheduled"  # applied, not started
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    INCOMPLETE = "incomplete"  # started, no sentinel, not running; or its receipt is not this job's
    OUTPUTS_MISSING = "outputs_missing"  # succeeded, but a promised output is gone or changed since


class Action(StrEnum):
    """What a plan does with a job."""

    KEEP = "keep"
    RUN = "run"  # never ran
    RERUN = "rerun"  # in a new job directory
    EXTEND = "extend"  # again in its own directory, for the tilt series it has not done
    ORPHAN = "orphan"  # no longer in the pipeline: its result stays


RUNS = (Action.RUN, Action.RERUN, Action.EXTEND)


class Reason(StrEnum):
    """Why a plan does what it does with a job (a reason's "kind")."""

    NEW = "new"
    FORCED = "forced"
    PARAMS = "params"  # a parameter (or the job type, or its version) changed
    INPUT = "input"  # an input file or the data changed
    UPSTREAM = "upstream"  # an upstream job runs, or keeps another result
    REUSE = "reuse"  # an earlier result with this fingerprint is kept, wherever it is
    RECEIPT = "receipt"  # a receipt claims the result, but does not match the params document it names or the recipe
    ITEMS = "items"  # an extension: which tilt series are new, changed, failed, ...
    ITEMS_FAILED = "items_failed"  # it succeeded without some tilt series
    POOLS = "pools"  # one result depends on every tilt series: all of them run again
    DECIDED = "decided"  # a result decided once over some tilt series (a model): new tilt series use it, kept
    REMOVED = "removed"
    # a job's status that is its own reason to run again
    FAILED = Status.FAILED.value
    ABORTED = Status.ABORTED.value
    INCOMPLETE = Status.INCOMPLETE.value
    OUTPUTS_MISSING = Status.OUTPUTS_MISSING.value
    RUNNING = Status.RUNNING.value


class ItemReason(StrEnum):
    """Why one tilt series of an extension runs (or leaves it)."""

    NEW = "new"  # new to the project (new upstream too)
    CHANGED = "changed"  # its fingerprint: its mdoc or its frames
    FAILED = "failed"
    UNFINISHED = "unfinished"  # a run that stopped midway
    UPSTREAM = "upstream"  # re-run upstream
    REMOVED = "removed"  # no longer in the data


STATE_REASONS = (Status.FAILED, Status.ABORTED, Status.INCOMPLETE, Status.OUTPUTS_MISSING, Status.RUNNING)  # a status that is its own reason


# A plan's reasons (`plan --json`'s "reasons", report.reason words them): one shape per kind, told
# apart by "kind".

class NewReason(TypedDict):
    kind: Literal[Reason.NEW]
    detail: NotRequired[str]  # applied, not run yet


class ForcedReason(TypedDict):
    kind: Literal[Reason.FORCED]


class ParamsReason(TypedDict):
    kind: Literal[Reason.PARAMS]
    key: str  # the parameter (dotted), type, type_version, or data.exclude_tilts.<tilt series>
    old: Any
    new: Any


class InputReason(TypedDict):
    kind: Literal[Reason.INPUT]
    path: str  # a file, or "data"
    change: str


class UpstreamReason(TypedDict):
    kind: Literal[Reason.UPSTREAM]
    job: str
    detail: NotRequired[str]


class ReuseReason(TypedDict):
    kind: Literal[Reason.REUSE]
    job_dir: str
    ended: str | None
    job: str | None
    params_file: str | None


class ReceiptReason(TypedDict):
    kind: Literal[Reason.RECEIPT]
    detail: str
    job_dir: NotRequired[str]  # another job directory's receipt (a result found by its fingerprint)


# an extension: kept, then tilt series by ItemReason (name -> detail), the directory it continues in
# when that is another one of its type ("from"), and the decisions it uses
ItemsReason = TypedDict("ItemsReason", {
    "kind": Literal[Reason.ITEMS], "kept": int, "from": NotRequired[str], "decided": NotRequired[dict[str, dict[str, Any]]],
    "new": NotRequired[dict[str, str]], "changed": NotRequired[dict[str, str]], "failed": NotRequired[dict[str, str]],
    "unfinished": NotRequired[dict[str, str]], "upstream": NotRequired[dict[str, str]], "removed": NotRequired[dict[str, str]]})


class ItemsFailedReason(TypedDict):
    kind: Literal[Reason.ITEMS_FAILED]
    items: dict[str, str | None]  # tilt series -> why it failed


class PoolsReason(TypedDict):
    kind: Literal[Reason.POOLS]
    detail: str


class DecidedReason(TypedDict):
    kind: Literal[Reason.DECIDED]
    detail: str
    tilt_series: int


class RemovedReason(TypedDict):
    kind: Literal[Reason.REMOVED]


class StatusReason(TypedDict):
    """A job's status that is its own reason to run again (STATE_REASONS)."""

    kind: Literal[Reason.FAILED, Reason.ABORTED, Reason.INCOMPLETE, Reason.OUTPUTS_MISSING, Reason.RUNNING]
    detail: str


PlanReason = (NewReason | ForcedReason | ParamsReason | InputReason | UpstreamReason | ReuseReason | ReceiptReason | ItemsReason
              | ItemsFailedReason | PoolsReason | DecidedReason | RemovedReason | StatusReason)


# `plan --json` (compiler/plan.Plan.to_json), and what a plan's estimate says (compiler/estimate.py)

class ArrayCost(TypedDict, total=False):
    tasks: int
    task_seconds: int
    max_parallel: int
    gpus_per_task: int
    outlasts_supervisor: dict[str, Any]  # tasks_may_take, supervisor_time: its end would cancel the array


class JobCost(TypedDict):
    seconds: int
    gpu_hours: float
    source: str
    array: NotRequired[ArrayCost]


class Estimate(TypedDict, total=False):
    jobs: dict[str, JobCost]
    seconds: int
    gpu_hours: float
    gpus: int


class ItemsJSON(TypedDict):
    """A per-tilt-series job's tilt series: what it runs, how many it keeps, and by ItemReason the names."""

    todo: list[str]
    keep: int
    new: NotRequired[dict[str, str]]
    changed: NotRequired[dict[str, str]]
    failed: NotRequired[dict[str, str]]
    unfinished: NotRequired[dict[str, str]]
    upstream: NotRequired[dict[str, str]]
    removed: NotRequired[dict[str, str]]


class JobPlanJSON(TypedDict):
    name: str
    type: str
    action: Action
    reasons: list[PlanReason]
    job_dir: str | None
    items: NotRequired[ItemsJSON]


class PlanJSON(TypedDict):
    jobs: list[JobPlanJSON]
    summary: dict[str, int]  # action -> how many jobs
    notes: list[str]
    estimate: Estimate
    data: dict[str, Any]  # waiting: [{name, frames, of}], excluded: {tilt series: why}
