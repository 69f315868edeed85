"""What a plan will cost: per job to run, its wall time (from this project's own history of that job
type, else a per-type default scaled by the tilt series) and its GPU-hours (wall time x the GPUs it
asks for). An extension costs its share of tilt series. The scheme runs its jobs one after another,
so the plan's wall time is their sum.

A job run as SLURM arrays (execution: array) is its tasks: each costs the type's fixed seconds (a
tool's start, its inputs read) and its tilt series' (tilt_series_per_task), asks for the job's GPUs,
and at most max_parallel run at once, so its wall time is the makespan of waves of tasks (SLURM
willing: a task that waits for a node waits longer). Its GPU-hours are every task's. Per-type
defaults only: an array run's receipt says how long its supervisor waited, which is no task's time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..states import Action, ArrayCost, Estimate, JobCost

if TYPE_CHECKING:
    from .compile import Compiled
    from .plan import Plan
    from .results import Results

# Before a project has run a job type: (seconds per job, seconds per tilt series of 41 tilts),
# typical for a 4k camera and one GPU. Rough, and said to be: the history replaces it.
DEFAULT_COST = {
    "import_movies": (30, 1), "fs_motion_ctf": (60, 90), "ts_import": (30, 1), "ts_alignment": (60, 60),
    "ts_ctf": (60, 30), "tilt_filter": (10, 0.5), "ts_reconstruct": (60, 60), "denoise_train": (3600, 0),
    "denoise_predict": (60, 120), "template_match": (120, 900), "candidate_extract": (30, 5),
    "subtomo_extraction": (120, 30), "reconstruct_particle": (600, 0), "class3d": (7200, 0),
}


def estimate(plan: Plan, compiled: Compiled, results: Results | None) -> Estimate:
    """{"jobs": {name: {seconds, gpu_hours, source}}, "seconds", "gpu_hours", "gpus"} for the jobs the plan runs."""
    n_series = len(compiled.recipe.tilt_series)
    history = results.seconds_by_type() if results is not None and plan.to_run else {}  # a plan that keeps all looks at none
    jobs: dict[str, JobCost] = {}
    planned = {j.name: j for j in plan.jobs}
    for name in plan.to_run:
        job = compiled.jobs[name]
        items = planned[name].items
        todo = len(items.todo) if items is not None and planned[name].action == Action.EXTEND else n_series
        past = [s for t in job.names for s in history.get(t, ())]
        if job.array and todo:
            jobs[name] = _array_cost(job.type, todo, job.array, job.resources)
            continue
        if past:
            seconds, source = _median(past), f"median of {len(past)} earlier run{'s' if len(past) > 1 else ''}"
            seconds *= todo / max(n_series, 1)
        else:
            fixed, per_series = DEFAULT_COST.get(job.type, (600, 60))
            seconds, source = fixed + per_series * todo, "default for the type"
        gpus = job.resources.get("gpus") or 0
        jobs[name] = {"seconds": round(seconds), "gpu_hours": round(seconds * gpus / 3600, 2), "source": source}
    total = sum(j["seconds"] for j in jobs.values())
    return {"jobs": jobs, "seconds": total, "gpu_hours": round(sum(j["gpu_hours"] for j in jobs.values()), 2),
            "gpus": max((compiled.jobs[n].resources.get("gpus") or 0 for n in jobs), default=0)}


def _array_cost(job_type: str, todo: int, array: dict[str, Any], resources: dict[str, Any]) -> JobCost:
    """An array job's tasks, each task's time, their GPU-hours and the makespan at the throttle; and
    whether its supervisor's time limit is shorter than the tasks' limits allow the array to take."""
    fixed, per_series = DEFAULT_COST.get(job_type, (600, 60))
    gpus = resources.get("gpus") or 0
    per_task = max(1, int(array["tilt_series_per_task"]))
    tasks = math.ceil(todo / per_task)
    task_seconds = fixed + per_series * min(per_task, todo)
    at_once = max(1, min(int(array["max_parallel"]), tasks))
    waves = math.ceil(tasks / at_once)
    makespan = waves * task_seconds
    out: ArrayCost = {"tasks": tasks, "task_seconds": round(task_seconds), "max_parallel": at_once, "gpus_per_task": gpus}
    longest, supervisor = waves * walltime_seconds(resources.get("time")), walltime_seconds(array["supervisor"].get("time"))
    if supervisor and longest > supervisor:  # the supervisor's end cancels its array
        out["outlasts_supervisor"] = {"tasks_may_take": longest, "supervisor_time": array["supervisor"]["time"]}
    return {"seconds": round(makespan), "gpu_hours": round(tasks * task_seconds * gpus / 3600, 2), "source": "default for the type",
            "array": out}


def walltime_seconds(value: Any) -> int:
    """A SLURM wall time (M, M:S, H:M:S, D-H[:M[:S]], as the spec's models accept them) in seconds; 0 if none."""
    text = str(value or "")
    days, _, rest = text.rpartition("-") if "-" in text else ("", "", text)
    parts = [int(p) for p in rest.split(":") if p.isdigit()]
    if not parts or not (days.isdigit() or not days):
        return 0
    if days:  # D-H, D-H:M, D-H:M:S
        h, m, s = (parts + [0, 0])[:3]
        return ((int(days) * 24 + h) * 60 + m) * 60 + s
    if len(parts) == 1:  # M
        return parts[0] * 60
    if len(parts) == 2:  # M:S
        return parts[0] * 60 + parts[1]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]  # H:M:S


def array_lines(est: Estimate) -> list[str]:
    """One line per array job: '  motion: 176 tasks of ~ 2 min, 5.9 GPU-h, ~ 18 min at 20 at once'."""
    lines = []
    for name, job in est["jobs"].items():
        if a := job.get("array"):
            gpu = f", {job['gpu_hours']:g} GPU-h" if job["gpu_hours"] else ""
            lines.append(f"  {name}: {a['tasks']} array task{'s' * (a['tasks'] != 1)} of ~ {duration(a['task_seconds'])}{gpu}, "
                         f"~ {duration(job['seconds'])} at {a['max_parallel']} at once")
            if late := a.get("outlasts_supervisor"):
                lines.append(f"    warning: at their time limits its tasks may take {duration(late['tasks_may_take'])}, longer than its "
                             f"supervisor's {late['supervisor_time']}, whose end cancels them: raise the site's arrays.supervisor.time "
                             "or max_parallel")
    return lines


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def summary_line(est: Estimate) -> str | None:
    if not est["jobs"]:
        return None
    gpu = f"{est['gpu_hours']:g} GPU-h, " if est["gpu_hours"] else ""
    defaults = sum(1 for j in est["jobs"].values() if j["source"] == "default for the type")
    basis = "from this project's history" if not defaults else \
        f"per-type defaults for {defaults} of {len(est['jobs'])} jobs, which have no history here yet"
    arrays = " (an array's tasks up to its throttle at once)" if any("array" in j for j in est["jobs"].values()) else ""
    return f"Estimate: ~ {gpu}{duration(est['seconds'])} wall, one job after another{arrays} ({basis})."


def _median(values: list[float]) -> float:
    ordered, half = sorted(values), len(values) // 2  # statistics.median, without its import (every plan pays it)
    return ordered[half] if len(values) % 2 else (ordered[half - 1] + ordered[half]) / 2
