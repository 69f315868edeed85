"""The lockfile an apply writes: from the compiled pipeline, its plan, the lockfile before it and
what was learned from the project since."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..contract import Receipt, params_job
from ..lockfile.lockfile import JobLock, Lockfile, PipelineRecord, SchemeRecord, frames_file, frames_text
from ..states import Action, Reason, Status

if TYPE_CHECKING:
    from ..observe.project import JobState
    from .compile import Compiled
    from .plan import Plan
    from .recipe import Recipe


def frame_map(compiled: Compiled) -> tuple[str, str]:
    """(project-relative path, content) of the map of every frame the tilt series use."""
    text = frames_text(compiled.files.frames)
    return frames_file(text), text


def _pipeline_record(recipe: Recipe) -> PipelineRecord:
    """The pipeline as applied, with the tilt series, and tilts (name -> {zvalues, frames, why}), it left out and why."""
    pipeline = PipelineRecord(name=recipe.name, path=recipe.path, spec_sha256=recipe.spec_sha256, site=recipe.site["name"],
                              order=list(recipe.order))
    for key in ("excluded", "excluded_tilts", "waiting"):
        if recipe.summary.get(key):
            pipeline[key] = recipe.summary[key]
    return pipeline


def new_lockfile(compiled: Compiled, plan: Plan, old: Lockfile | None, states: dict[str, JobState],
                 scheme: str | None, files: dict[str, str], frames: str, copies: dict[str, str] | None = None) -> Lockfile:
    """copies: for a new scheme, the project-relative paths of the pipeline and site profile it was compiled from."""
    recipe = compiled.recipe
    lock = Lockfile(
        pipeline=_pipeline_record(recipe),
        frame_check=recipe.frame_check,
        files=dict(sorted(compiled.files.small.items())),
        frames=frames,
        schemes=list(old.schemes) if old else [],
    )
    old_jobs = old.jobs if old else {}
    params_files = {job: p for p in files if (job := params_job(p))}
    for jp in plan.jobs:
        recipe_fp = compiled.recipe_fingerprints.get(jp.name)
        reuse = next((r for r in jp.reasons if r["kind"] == Reason.REUSE), None)
        if reuse:  # an earlier result with this fingerprint, wherever it is
            lock.jobs[jp.name] = JobLock(type=compiled.jobs[jp.name].type, fingerprint=compiled.fingerprints[jp.name],
                                         parts=compiled.parts[jp.name], scheme=None, job_dir=reuse["job_dir"],
                                         state=Status.SUCCEEDED, params_file=reuse.get("params_file"), recipe_fingerprint=recipe_fp)
            continue
        if jp.action in (Action.KEEP, Action.ORPHAN):
            entry = JobLock(**old_jobs[jp.name].to_json())
            st = states.get(jp.name)
            if st is not None:  # what was learned from the project since the last apply
                entry.job_dir = st.job_dir or entry.job_dir
                entry.state = st.status
                if st.job_dir:
                    entry.continues = None
                if recipe_fp and st.receipt and st.receipt.get("items"):
                    entry.items = {t: f"{r.get('fingerprint', '-')} {r['outcome']}" for t, r in st.receipt["items"].items()}
                entry.decisions = _decisions(st.receipt) or entry.decisions
            if jp.action == Action.KEEP and recipe_fp:
                entry.recipe_fingerprint = recipe_fp
            lock.jobs[jp.name] = entry
            continue
        items = jp.items
        lock.jobs[jp.name] = JobLock(type=compiled.jobs[jp.name].type, fingerprint=compiled.fingerprints[jp.name],
                                     parts=compiled.parts[jp.name], scheme=scheme,
                                     job_dir=None, state=Status.SCHEDULED, params_file=params_files.get(jp.name),
                                     recipe_fingerprint=recipe_fp,
                                     items={t: f"{fp} {'kept' if t in items.keep else Status.SCHEDULED}"
                                            for t, fp in sorted(items.fingerprints.items())} if items else None,
                                     continues=jp.job_dir if jp.action == Action.EXTEND else None,
                                     decisions=_decisions(states[jp.name].receipt) if jp.action == Action.EXTEND and jp.name in states else None)
    if scheme and not any(s["name"] == scheme for s in lock.schemes):
        record = SchemeRecord(name=scheme, jobs=plan.to_run)
        if copies:  # the spec copies it was compiled from
            record["pipeline"], record["site"] = copies["pipeline"], copies["site"]
        lock.schemes.append(record)
    return lock


def _decisions(receipt: Receipt | None) -> dict[str, Any] | None:
    """A job's decisions as its receipt records them (an extension keeps them), or None."""
    decided = (receipt or {}).get("decisions")
    return dict(decided) if isinstance(decided, dict) and decided else None
