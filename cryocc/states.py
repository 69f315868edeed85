"""The words plan, status, the lockfile and the JSON output share: what became of a job, what a
plan does with it, and why. StrEnums, so that they are written (JSON, the lockfile, the terminal)
as the plain words they always were."""

from __future__ import annotations

from enum import StrEnum


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
