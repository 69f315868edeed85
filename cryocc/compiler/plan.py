"""Decide, job by job, what to keep, run or re-run, and why.

A job is kept only when everything agrees: the lockfile's fingerprint parts equal the new ones,
RELION_JOB_EXIT_SUCCESS exists, the driver's receipt carries the lockfile's fingerprint, its
promised outputs are still there, and no job upstream of it runs. Fingerprints are compared by
their parts, so a plan can say which key changed from what to what."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError, did_you_mean
from ..lockfile.lockfile import Lockfile
from .state import JobState, outputs_missing, read_receipt

MAX_FILES_LISTED = 20
STATE_REASONS = {"failed", "aborted", "incomplete", "outputs_missing", "running"}  # a job status that is its own reason


@dataclass
class JobPlan:
    name: str
    type: str
    action: str  # keep | run | rerun | orphan
    reasons: list[dict[str, Any]] = field(default_factory=list)
    job_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "action": self.action, "reasons": self.reasons, "job_dir": self.job_dir}


@dataclass
class Plan:
    jobs: list[JobPlan]
    waiting: list[list[Any]] = field(default_factory=list)  # tilt series left out until their frames are there
    excluded: dict[str, str] = field(default_factory=dict)  # tilt series left out by data.exclude, and why
    notes: list[str] = field(default_factory=list)  # what the user should know about this plan
    estimate: dict[str, Any] = field(default_factory=dict)  # what running it will cost (compiler.estimate)

    @property
    def to_run(self) -> list[str]:
        return [j.name for j in self.jobs if j.action in ("run", "rerun")]

    @property
    def kept(self) -> dict[str, str]:
        return {j.name: j.job_dir for j in self.jobs if j.action == "keep" and j.job_dir}

    @property
    def running(self) -> list[JobPlan]:
        return [j for j in self.jobs if any(r["kind"] == "running" for r in j.reasons)]

    def summary(self) -> dict[str, int]:
        out = {"keep": 0, "run": 0, "rerun": 0, "orphan": 0}
        for j in self.jobs:
            out[j.action] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [j.to_json() for j in self.jobs], "summary": self.summary(), "notes": self.notes, "estimate": self.estimate,
                "data": {"waiting": [{"name": n, "frames": there, "of": total} for n, there, total in self.waiting],
                         "excluded": self.excluded}}


class FileMap(Mapping[str, dict[str, Any]]):
    """Small files at hand, frames loaded only when a change has to be explained (10^5 of them)."""

    def __init__(self, small: dict[str, dict[str, Any]], frames: Callable[[], dict[str, tuple[int, int]]]) -> None:
        self.small, self._load, self._frames = small, frames, None

    def _all_frames(self) -> dict[str, dict[str, Any]]:
        if self._frames is None:
            self._frames = {k: {"size": s, "mtime_ns": m} for k, (s, m) in self._load().items()}
        return self._frames

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.small[key] if key in self.small else self._all_frames()[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.small
        yield from (k for k in self._all_frames() if k not in self.small)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _file_change(old: dict | None, new: dict | None) -> str:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    if old.get("size") != new.get("size"):
        return f"size {old.get('size')} -> {new.get('size')}"
    if old.get("sha256") and new.get("sha256") and old["sha256"] != new["sha256"]:
        return "content changed"
    if old.get("mtime_ns") != new.get("mtime_ns"):
        return "modified (mtime)"
    return "changed"


def param_reasons(old: dict[str, Any], new: dict[str, Any], files_old: dict, files_new: dict,
                  fingerprint_of) -> list[dict[str, Any]]:
    """Why two fingerprints' parts differ, key by key (upstream changes are explained by the upstream job)."""
    reasons: list[dict[str, Any]] = []
    if old.get("type") != new.get("type"):
        return [{"kind": "params", "key": "type", "old": old.get("type"), "new": new.get("type")}]
    if old.get("type_version") != new.get("type_version"):
        reasons.append({"kind": "params", "key": "type_version", "old": old.get("type_version"), "new": new.get("type_version")})
    for section, prefix in (("params", ""), ("acquisition", "acquisition.")):
        o, n = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(o) | set(n)):
            if o.get(key) != n.get(key):
                reasons.append({"kind": "params", "key": prefix + key, "old": o.get(key), "new": n.get(key)})
    o, n = old.get("inputs") or {}, new.get("inputs") or {}
    for path in sorted(set(o) | set(n)):
        if o.get(path) != n.get(path):
            reasons.append({"kind": "input", "path": path, "change": _file_change(files_old.get(path), files_new.get(path))})
    if old.get("data") != new.get("data"):
        changed = [p for p in sorted(set(files_old) | set(files_new))
                   if fingerprint_of(files_old.get(p)) != fingerprint_of(files_new.get(p))]
        for path in changed[:MAX_FILES_LISTED]:
            reasons.append({"kind": "input", "path": path, "change": _file_change(files_old.get(path), files_new.get(path))})
        if len(changed) > MAX_FILES_LISTED:
            reasons.append({"kind": "input", "path": f"... {len(changed) - MAX_FILES_LISTED} more files", "change": "changed"})
        if not changed:
            reasons.append({"kind": "input", "path": "data", "change": "the set of frames or mdocs changed"})
    return reasons


def _reusable(results, fingerprint: str) -> tuple[str, dict[str, Any]] | None:
    """The newest job directory that succeeded with this fingerprint and whose outputs are intact."""
    for job_dir, entry in results.find(fingerprint):
        receipt = read_receipt(results.root, job_dir)
        if receipt and receipt.get("fingerprint") == fingerprint and not outputs_missing(results.root, job_dir, receipt):
            return job_dir, entry
    return None


def make_plan(compiled, lock: Lockfile | None, states: dict[str, JobState], force: list[str] = (),
              old_frames: Callable[[], dict[str, tuple[int, int]]] = dict, results=None) -> Plan:
    """old_frames: loads the frame map the lockfile names (only called to explain a data change).
    results: the project's results by fingerprint (compiler.results.Results): a job that would run
    is kept instead when a job directory already holds its result."""
    for name in force:
        if name not in compiled.jobs:
            raise SpecError(f"--force {name}: no such job in the pipeline", hint=did_you_mean(name, compiled.jobs))
    old_jobs = lock.jobs if lock else {}
    files_old = FileMap(lock.files if lock else {}, old_frames)
    files_new = FileMap(compiled.files.small, lambda: compiled.files.frames)
    fp = compiled.files.fingerprint

    plans: dict[str, JobPlan] = {}
    for name in compiled.order:
        job = compiled.jobs[name]
        jp = JobPlan(name, job.type, "run")
        old = old_jobs.get(name)
        state = states.get(name)
        if old is None:
            jp.reasons.append({"kind": "new"})
        else:
            jp.job_dir = state.job_dir if state else None
            jp.reasons += param_reasons(old.parts, compiled.parts[name], files_old, files_new, fp)
            if name in force:
                jp.reasons.append({"kind": "forced"})
            if state is None or state.status == "scheduled":
                jp.reasons.append({"kind": "new", "detail": "applied, not run yet"})
            elif state.status in STATE_REASONS:
                jp.reasons.append({"kind": state.status, "detail": state.detail})
            never_ran = any(r["kind"] == "new" for r in jp.reasons)
            for upstream in dict.fromkeys(w.upstream for w in job.wires):
                if plans[upstream].action in ("run", "rerun") and not never_ran:
                    jp.reasons.append({"kind": "upstream", "job": upstream})
            if not jp.reasons:
                jp.action = "keep"
                if state is not None and state.failed_items:  # kept, but not for every tilt series: say so
                    jp.reasons.append({"kind": "items_failed", "items": state.failed_items})
            elif state is not None and state.job_dir:
                jp.action = "rerun"
        upstream_runs = any(plans[w.upstream].action in ("run", "rerun") for w in job.wires)
        blocked = name in force or upstream_runs or any(r["kind"] == "running" for r in jp.reasons)
        if jp.action != "keep" and results is not None and not blocked:
            hit = _reusable(results, compiled.fingerprints[name])
            if hit:
                job_dir, entry = hit
                jp.action, jp.job_dir = "keep", job_dir
                jp.reasons = [{"kind": "reuse", "job_dir": job_dir, "ended": entry.get("ended"), "job": entry.get("job"),
                               "params_file": entry.get("params_file")}]
        plans[name] = jp
    out = list(plans.values())
    for name, old in old_jobs.items():
        if name not in plans:
            st = states.get(name)
            out.append(JobPlan(name, old.type, "orphan", [{"kind": "removed"}], st.job_dir if st else old.job_dir))
    data = compiled.recipe.summary
    return Plan(out, data.get("waiting", []), data.get("excluded", {}))

