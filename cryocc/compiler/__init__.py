"""From a validated spec to files on disk: data scan, graph, resolve, render, plan, apply.

plan_pipeline and apply_pipeline are the two ways in: both compile the pipeline against the
project's lockfile and plan it against what the project holds; apply then writes the plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contract import DAMAGED_DIR
from ..errors import ProjectError
from ..fsio import make_dirs
from ..lockfile.lockfile import DamagedLockfile, Lockfile, read_frames, read_lockfile
from ..observe.project import JobState, observe
from .compile import Compiled, compile_pipeline
from .estimate import estimate
from .mutex import apply_mutex
from .plan import Plan, make_plan
from .results import Results

if TYPE_CHECKING:
    from .apply import ApplyResult

__all__ = ["ApplyResult", "apply_pipeline", "plan_pipeline", "apply_mutex"]


def __getattr__(name: str) -> Any:
    """The write side (apply: rendering, the lockfile's build), imported when asked for: plan never is."""
    if name == "ApplyResult":
        from . import apply
        return apply.ApplyResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def plan_pipeline(pipeline: Path, project: Path, *, force: list[str] | tuple[str, ...] = (),
                  lock: Lockfile | None = None) -> tuple[Plan, dict[str, JobState]]:
    """The plan apply would carry out, without writing anything. lock: the project's lockfile, if the
    caller has just read it (gc): not read again."""
    project = Path(project)
    old, note, compiled = _compile_against(pipeline, project, (lock, None) if lock is not None else None)
    plan, states, _ = _plan(compiled, project, force, old, note)
    return plan, states


def apply_pipeline(pipeline: Path, project: Path, *, force: list[str] | tuple[str, ...] = (), ignore_running: bool = False,
                   lock_timeout: float = 0) -> ApplyResult:
    from .apply import confine, write_apply

    project = Path(project)
    # validate before creating anything, so a bad spec leaves the project untouched
    seen, _, compiled = _compile_against(pipeline, project)
    confine(project, compiled)
    make_dirs(project)
    with apply_mutex(project, lock_timeout):
        old, note = read_lock(project)
        if (old.to_text() if old else None) != (seen.to_text() if seen else None):  # another apply came between
            old, note, compiled = _compile_against(pipeline, project)
        plan, states, results = _plan(compiled, project, force, old, note)
        if plan.running and not ignore_running:
            names = ", ".join(f"{j.name} ({j.job_dir})" for j in plan.running)
            raise ProjectError(f"jobs of this project are still running: {names}",
                               hint="wait for them (cryocc status), or pass --ignore-running if they are not")
        return write_apply(project, compiled, plan, old, states, results)


def read_lock(project: Path) -> tuple[Lockfile | None, str | None]:
    """The lockfile (None for a new project, or one whose lockfile is lost or damaged: the plan then
    finds the results through the receipts), and a note when it had to do without one."""
    if not project.is_dir():
        return None, None
    try:
        lock = read_lockfile(project)
    except DamagedLockfile as exc:
        return None, f"{exc.render().splitlines()[0]}: rebuilt from the receipts in External/ (apply keeps the damaged copy in {DAMAGED_DIR}/)"
    if lock is None and (project / "External").is_dir():
        return None, "no cryocc.lock: rebuilt from the receipts in External/"
    return lock, None


def _compile_against(pipeline: Path, project: Path, read: tuple[Lockfile | None, str | None] | None = None) \
        -> tuple[Lockfile | None, str | None, Compiled]:
    """The project's lockfile (None for a new project), a note if it had to do without one, and the
    pipeline compiled against it. read: what read_lock just gave."""
    old, note = read if read is not None else read_lock(project)
    return old, note, compile_pipeline(pipeline, known_files=old.files if old else None)


def _plan(compiled: Compiled, project: Path, force: list[str] | tuple[str, ...], old: Lockfile | None,
          note: str | None) -> tuple[Plan, dict[str, JobState], Results]:
    states = observe(project, old)
    results = Results(project)
    plan = make_plan(compiled, old, states, force, old_frames=lambda: read_frames(project, old.frames if old else None), results=results)
    if note:
        plan.notes.append(note)
    plan.estimate = estimate(plan, compiled, results)
    return plan, states, results
