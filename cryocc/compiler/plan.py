"""Decide, job by job, what to keep, run or re-run, and why.

A job is kept only when everything agrees: the lockfile's fingerprint parts equal the new ones,
RELION_JOB_EXIT_SUCCESS exists, the driver's receipt carries the lockfile's fingerprint, its
promised outputs are still there, and no job upstream of it runs. Fingerprints are compared by
their parts, so a plan can say which key changed from what to what."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..contract import Outcome, Receipt
from ..errors import SpecError, did_you_mean
from ..lockfile.lockfile import FileRecord, Lockfile
from ..observe.project import JobState
from ..observe.receipts import outputs_missing, read_receipt, receipt_mismatch
from ..states import (
    RUNS,
    STATE_REASONS,
    Action,
    Estimate,
    InputReason,
    ItemReason,
    ItemsJSON,
    ItemsReason,
    JobPlanJSON,
    PlanJSON,
    PlanReason,
    Reason,
    ReceiptReason,
    Status,
    StatusReason,
)

if TYPE_CHECKING:
    from ..lockfile.lockfile import JobLock
    from .compile import Compiled
    from .recipe import JobRecipe
    from .results import Entry, Results

MAX_FILES_LISTED = 20


@dataclass
class JobPlan:
    name: str
    type: str
    action: Action
    reasons: list[PlanReason] = field(default_factory=list)
    job_dir: str | None = None  # for extend: the directory it runs in again
    items: Items | None = None  # per-tilt-series jobs that run: what becomes of each tilt series

    def to_json(self) -> JobPlanJSON:
        out: JobPlanJSON = {"name": self.name, "type": self.type, "action": self.action, "reasons": self.reasons, "job_dir": self.job_dir}
        if self.items is not None and self.action in RUNS:
            out["items"] = self.items.to_json()
        return out


@dataclass
class Items:
    """A per-tilt-series job's tilt series, as a plan sees them."""

    fingerprints: dict[str, str]  # every tilt series this job may see -> its item fingerprint
    todo: list[str]  # what it will (re)process
    keep: list[str]  # what it keeps from its earlier run (extend only)
    after: set[str]  # what it will hand on downstream, if all goes well
    why: dict[str, Any] = field(default_factory=dict)  # new, changed, failed, upstream, removed

    def to_json(self) -> ItemsJSON:
        return cast(ItemsJSON, {"todo": self.todo, "keep": len(self.keep), **self.why})  # why: by ItemReason


@dataclass
class Plan:
    jobs: list[JobPlan]
    waiting: list[list[Any]] = field(default_factory=list)  # tilt series left out until their frames are there
    excluded: dict[str, str] = field(default_factory=dict)  # tilt series left out by data.exclude, and why
    notes: list[str] = field(default_factory=list)  # what the user should know about this plan
    estimate: Estimate = field(default_factory=lambda: Estimate())  # what running it will cost (compiler.estimate)

    @property
    def to_run(self) -> list[str]:
        return [j.name for j in self.jobs if j.action in RUNS]

    @property
    def kept(self) -> dict[str, str]:
        return {j.name: j.job_dir for j in self.jobs if j.action == Action.KEEP and j.job_dir}

    @property
    def running(self) -> list[JobPlan]:
        return [j for j in self.jobs if any(r["kind"] == Reason.RUNNING for r in j.reasons)]

    def summary(self) -> dict[str, int]:
        out = dict.fromkeys(map(str, Action), 0)
        for j in self.jobs:
            out[j.action] += 1
        return out

    def to_json(self) -> PlanJSON:
        return {"jobs": [j.to_json() for j in self.jobs], "summary": self.summary(), "notes": self.notes, "estimate": self.estimate,
                "data": {"waiting": [{"name": n, "frames": there, "of": total} for n, there, total in self.waiting],
                         "excluded": self.excluded}}


class FileMap(Mapping[str, FileRecord]):
    """Small files at hand, frames (10^5 of them, as (size, mtime_ns)) loaded only when a change has
    to be explained."""

    def __init__(self, small: dict[str, FileRecord], frames: Callable[[], dict[str, tuple[int, int]]] = dict) -> None:
        self.small, self._load = small, frames
        self._frames: dict[str, tuple[int, int]] | None = None

    def frames(self) -> dict[str, tuple[int, int]]:
        if self._frames is None:
            self._frames = self._load()
        return self._frames

    def __getitem__(self, key: str) -> FileRecord:
        if key in self.small:
            return self.small[key]
        size, mtime = self.frames()[key]
        return {"size": size, "mtime_ns": mtime}

    def __iter__(self) -> Iterator[str]:
        yield from self.small
        yield from (k for k in self.frames() if k not in self.small)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# param_reasons' word that a job's data changed; make_plan names the files (DataChanges) only for the
# jobs whose reasons are shown, and once for all of them
DATA_CHANGED: InputReason = {"kind": Reason.INPUT, "path": "data", "change": "the set of frames or mdocs changed"}


class DataChanges:
    """The data files that changed between the lockfile and now, compared once per plan: the small
    files by their hash, the frames by the stats the listing took (sizes only when lenient)."""

    def __init__(self, files_old: FileMap, files_new: FileMap, fingerprint_of: Callable[[Any], str | None], lenient: bool) -> None:
        self.old, self.new, self.fingerprint_of, self.lenient = files_old, files_new, fingerprint_of, lenient
        self._reasons: list[InputReason] | None = None

    def changed(self) -> list[str]:
        o, n, fp = self.old.small, self.new.small, self.fingerprint_of
        small = o.keys() | n.keys()
        out = {p for p in small if fp(o.get(p)) != fp(n.get(p))}
        of, nf = self.old.frames(), self.new.frames()
        if self.lenient:
            frames = (of.keys() ^ nf.keys()) | {k for k in of.keys() & nf.keys() if of[k][0] != nf[k][0]}
        else:
            frames = {k for k in of.keys() | nf.keys() if of.get(k) != nf.get(k)}
        return sorted(out | (frames - small))

    def reasons(self) -> list[InputReason]:
        if self._reasons is None:
            changed = self.changed()
            self._reasons = [{"kind": Reason.INPUT, "path": p, "change": _file_change(self.old.get(p), self.new.get(p))}
                             for p in changed[:MAX_FILES_LISTED]]
            if len(changed) > MAX_FILES_LISTED:
                self._reasons.append({"kind": Reason.INPUT, "path": f"... {len(changed) - MAX_FILES_LISTED} more files", "change": "changed"})
            if not changed:
                self._reasons.append(InputReason(**DATA_CHANGED))
        return [InputReason(**r) for r in self._reasons]

    def explain(self, reasons: list[PlanReason]) -> list[PlanReason]:
        """reasons with DATA_CHANGED replaced by the files that changed."""
        return [x for r in reasons for x in (list[PlanReason](self.reasons()) if r is DATA_CHANGED else [r])]


def _file_change(old: FileRecord | None, new: FileRecord | None) -> str:
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


def _differing(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Iterator[tuple[str, Any, Any]]:
    """Each key whose value differs between two sections (either may be absent), in sorted order, with
    its old and new value."""
    o, n = old or {}, new or {}
    for key in sorted(set(o) | set(n)):
        if o.get(key) != n.get(key):
            yield key, o.get(key), n.get(key)


def param_reasons(old: dict[str, Any], new: dict[str, Any], files_old: Mapping[str, Any], files_new: Mapping[str, Any]) -> list[PlanReason]:
    """Why two fingerprints' parts differ, key by key (upstream changes are explained by the upstream job)."""
    if old.get("type") != new.get("type"):
        return [{"kind": Reason.PARAMS, "key": "type", "old": old.get("type"), "new": new.get("type")}]
    reasons: list[PlanReason] = []
    if old.get("type_version") != new.get("type_version"):
        reasons.append({"kind": Reason.PARAMS, "key": "type_version", "old": old.get("type_version"), "new": new.get("type_version")})
    for section, prefix in (("params", ""), ("acquisition", "acquisition."), ("exclude_tilts", "data.exclude_tilts.")):
        reasons += ({"kind": Reason.PARAMS, "key": prefix + key, "old": o, "new": n} for key, o, n in _differing(old.get(section), new.get(section)))
    reasons += ({"kind": Reason.INPUT, "path": path, "change": _file_change(files_old.get(path), files_new.get(path))}
                for path, _, _ in _differing(old.get("inputs"), new.get("inputs")))
    if old.get("data") != new.get("data"):
        reasons.append(DATA_CHANGED)  # named by make_plan, where shown (DataChanges)
    return reasons


def _reusable(results: Results, fingerprint: str) -> tuple[tuple[str, Entry] | None, list[ReceiptReason]]:
    """The newest job directory that succeeded with this fingerprint and whose outputs are intact, and
    the reasons of those whose receipt claims it but does not match."""
    refused: list[ReceiptReason] = []
    for job_dir, entry in results.find(fingerprint):
        receipt = read_receipt(results.root, job_dir)
        if receipt is None:
            continue
        mismatch = receipt_mismatch(results.root, receipt, fingerprint)
        if mismatch:
            refused.append({"kind": Reason.RECEIPT, "job_dir": job_dir, "detail": mismatch})
        elif not outputs_missing(results.root, job_dir, receipt):
            return (job_dir, entry), refused
    return None, refused


KEPT_OUTCOMES = (Outcome.SUCCEEDED, Outcome.FILTERED)


def _present(job: JobRecipe, compiled: Compiled, plans: dict[str, JobPlan]) -> set[str]:
    """The tilt series a job will see: all of them for a job that reads the data, else those every
    per-tilt-series job upstream hands on."""
    upstream = [i for w in job.wires if (i := plans[w.upstream].items) is not None]
    if job.reads_data or not upstream:
        return {ts.name for ts in compiled.recipe.tilt_series}
    return set.intersection(*(u.after for u in upstream))


def _plan_items(jp: JobPlan, job: JobRecipe, compiled: Compiled, old: JobLock | None, state: JobState | None, plans: dict[str, JobPlan], forced: bool,
                files_old: FileMap, results: Results | None = None, old_exclusions: dict[str, Any] | None = None) -> None:
    """Look at a per-tilt-series job tilt series by tilt series. A job that would run becomes an
    extension of its last job directory when its recipe is unchanged, no job upstream that pools
    tilt series runs, and that directory's receipt vouches for some of the tilt series; a kept job
    hands on the tilt series its receipt lists."""
    present = _present(job, compiled, plans)
    records = (state.receipt or {}).get("items") or {} if state and jp.job_dir in (state.job_dir, state.continues) else {}
    if jp.action == Action.KEEP:
        done = {t for t, r in records.items() if r.get("outcome") == Outcome.SUCCEEDED}
        jp.items = Items({}, [], [], done & present if records else present)
        return
    ups = [plans[w.upstream] for w in job.wires]
    up_items = [u.items for u in ups if u.items is not None]
    own = (state.job_dir or state.continues) if state else None
    fingerprints = {t: fp for t, fp in compiled.items(jp.name).items() if t in present}
    todo_upstream = set().union(*(u.todo for u in up_items))
    # forced, or below a job that pools tilt series and runs: every tilt series again
    whole = forced or any(u.items is None and u.action in RUNS for u in ups)
    extendable = (not whole and old is not None and own is not None and state is not None
                  and state.status in (Status.SUCCEEDED, Status.FAILED, Status.SCHEDULED)
                  and old.recipe_fingerprint == compiled.recipe_fingerprints[jp.name])

    def kept_of(records: dict[str, Any]) -> list[str]:
        return sorted(t for t, fp in fingerprints.items() if t not in todo_upstream
                      and (records.get(t) or {}).get("fingerprint") == fp and records[t].get("outcome") in KEPT_OUTCOMES)

    keep = kept_of(records) if extendable else []
    home = own if keep else None
    if not keep and not whole and results is not None:
        # another directory of this job type may hold some tilt series as they are now (a recipe reverted)
        home, records, keep = _other_home(results, job.names, kept_of, exclude=state.job_dir if state else None)
    todo = sorted(set(fingerprints) - set(keep))
    jp.items = Items(fingerprints, todo, keep, {t for t in keep if records[t]["outcome"] == Outcome.SUCCEEDED} | set(todo))
    if not keep:
        return
    why = _why(todo, records, fingerprints, up_items, compiled, files_old, old_exclusions if jp.name in compiled.sees_exclusion else None)
    removed = sorted(t for t, r in records.items() if t not in present and r.get("outcome") in KEPT_OUTCOMES)
    if removed:
        why[ItemReason.REMOVED] = dict.fromkeys(removed, "")
    jp.items.why = why
    moved = home != own
    jp.action, jp.job_dir = Action.EXTEND, home
    # the data's files are explained tilt series by tilt series instead
    # why's keys are ItemReason's words (ItemsReason lists them): built as a dict, so told as one
    items = cast(ItemsReason, {"kind": Reason.ITEMS, "kept": len(keep), **why, **({"from": home} if moved else {}),
                               **_decided(state.receipt if state is not None and not moved else None)})
    jp.reasons = [items, *(r for r in jp.reasons if r["kind"] not in (Reason.INPUT, Reason.ITEMS_FAILED))]


def _decided(receipt: Receipt | None) -> dict[str, Any]:
    """What the job decided once over its tilt series (its receipt's decisions), which an extension uses."""
    decisions = (receipt or {}).get("decisions")
    if not isinstance(decisions, dict) or not decisions:
        return {}
    return {"decided": {k: {"value": str(v.get("value")), "tilt_series": len(v.get("from") or [])}
                        for k, v in sorted(decisions.items()) if isinstance(v, dict)}}


def _decided_kept(jp: JobPlan, job: JobRecipe, compiled: Compiled, old: JobLock | None, state: JobState | None,
                  plans: dict[str, JobPlan], forced: bool) -> bool:
    """A decision (a trained model) is kept when all that changed upstream is tilt series it was not made
    from: its parameters, its recipe upstream and the tilt series it was made from are as they were."""
    if not job.decides or forced or jp.action != Action.RERUN or old is None or state is None or state.status != Status.SUCCEEDED:
        return False
    if any(r["kind"] != Reason.UPSTREAM for r in jp.reasons) or old.recipe_fingerprint != compiled.recipe_fingerprints.get(jp.name):
        return False
    made_from = {t for d in ((state.receipt or {}).get("decisions") or {}).values() if isinstance(d, dict) for t in d.get("from") or ()}
    ups = [plans[w.upstream] for w in job.wires]
    if not made_from or any(u.action not in (Action.KEEP, Action.EXTEND) for u in ups):
        return False
    if any(set(u.items.todo) & made_from for u in ups if u.items is not None and u.action == Action.EXTEND):
        return False
    jp.action, jp.job_dir = Action.KEEP, state.job_dir
    jp.reasons = [{"kind": Reason.DECIDED, "detail": job.decides, "tilt_series": len(made_from)}]
    return True


def _other_home(results: Results, type_names: tuple[str, ...], kept_of: Callable[[dict[str, Any]], list[str]],
                exclude: str | None) -> tuple[str | None, dict[str, Any], list[str]]:
    """The job directory of this type whose receipt vouches for the most tilt series, newest first on a tie."""
    best: tuple[str | None, dict[str, Any], list[str]] = (None, {}, [])
    for job_dir in results.of_type(type_names):
        if job_dir == exclude:
            continue
        records = (read_receipt(results.root, job_dir) or {}).get("items") or {}
        keep = kept_of(records)
        if len(keep) > len(best[2]):
            best = (job_dir, records, keep)
    return best


def _why(todo: list[str], records: dict[str, Any], fingerprints: dict[str, str], ups: list[Items], compiled: Compiled,
         files_old: FileMap, old_exclusions: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """Why each tilt series of an extension runs: new (to the project: new upstream too), failed,
    changed (its fingerprint), unfinished (a run that stopped midway), or re-run upstream.
    old_exclusions (a job that sees data.exclude_tilts): data.exclude_tilts as the lockfile records it."""
    excluded = _changed_exclusions(old_exclusions, compiled) if old_exclusions is not None else set()
    mdocs = {ts.name: ts.mdoc for ts in compiled.recipe.tilt_series}
    why: dict[str, dict[str, str]] = {}
    for t in todo:
        rec = records.get(t)
        if rec is None:
            kind = ItemReason.NEW if not ups or any(t in u.why.get(ItemReason.NEW, ()) for u in ups) else ItemReason.UPSTREAM
        elif rec.get("outcome") == Outcome.FAILED:
            kind = ItemReason.FAILED
        elif rec.get("fingerprint") != fingerprints[t]:
            kind = ItemReason.CHANGED
        else:
            kind = ItemReason.UNFINISHED if rec.get("outcome") not in KEPT_OUTCOMES else ItemReason.UPSTREAM
        detail = "excluded tilts" if kind == ItemReason.CHANGED and t in excluded else _item_detail(kind, rec, mdocs.get(t), compiled, files_old)
        why.setdefault(kind, {})[t] = detail
    return why


def _changed_exclusions(old: dict[str, Any], compiled: Compiled) -> set[str]:
    """The tilt series whose data.exclude_tilts changed since the lockfile was written."""
    new = compiled.recipe.summary.get("excluded_tilts") or {}
    return {t for t in set(old) | set(new) if (old.get(t) or {}).get("zvalues") != (new.get(t) or {}).get("zvalues")}


def _item_detail(kind: ItemReason, rec: dict[str, Any] | None, mdoc: str | None, compiled: Compiled, files_old: FileMap) -> str:
    """failed: the driver's reason; changed: what of the tilt series changed (its mdoc or its frames)."""
    if kind == ItemReason.FAILED:
        return (rec or {}).get("reason") or ""
    if kind != ItemReason.CHANGED or mdoc is None:
        return ""
    was, is_now = files_old.small.get(mdoc), compiled.files.small.get(mdoc)
    before, now = was.get("sha256") if was else None, is_now.get("sha256") if is_now else None
    return "mdoc" if before and before != now else "frames"


@dataclass
class _Planning:
    """What each job's plan is made from, and the plans made so far (of the jobs before it, in pipeline order)."""

    compiled: Compiled
    old_jobs: Mapping[str, JobLock]
    states: dict[str, JobState]
    force: list[str] | tuple[str, ...]
    files_old: FileMap
    files_new: FileMap
    results: Results | None
    old_exclusions: dict[str, Any] | None  # data.exclude_tilts as the lockfile records it (None: no lockfile)
    plans: dict[str, JobPlan] = field(default_factory=dict)


def _state_reasons(state: JobState | None, forced: bool) -> list[PlanReason]:
    """What the job's own last run (or --force) says against keeping it."""
    reasons: list[PlanReason] = [{"kind": Reason.FORCED}] if forced else []
    if state is None or state.status == Status.SCHEDULED:
        reasons.append({"kind": Reason.NEW, "detail": "applied, not run yet"})
    elif state.mismatch:
        reasons.append({"kind": Reason.RECEIPT, "detail": state.mismatch})
    elif state.status in STATE_REASONS:
        reasons.append(cast(StatusReason, {"kind": Reason(state.status), "detail": state.detail}))  # one of STATE_REASONS
    return reasons


def _keeps_another_result(p: _Planning, upstream: str) -> bool:
    """The upstream job now keeps another result (an earlier one, reused) than the one the lockfile records."""
    old = p.old_jobs.get(upstream)
    plan = p.plans[upstream]
    return plan.job_dir != (old.job_dir if old is not None else None) and any(r["kind"] == Reason.REUSE for r in plan.reasons)


def _add_upstream_reasons(p: _Planning, jp: JobPlan, job: JobRecipe) -> None:
    """Each upstream job that runs (a job that never ran needs no more reason); with no reason at all,
    the first upstream job that keeps another result than this job was made from."""
    upstreams = list(dict.fromkeys(w.upstream for w in job.wires))
    if not any(r["kind"] == Reason.NEW for r in jp.reasons):
        jp.reasons += ({"kind": Reason.UPSTREAM, "job": u} for u in upstreams if p.plans[u].action in RUNS)
    if jp.reasons:
        return
    moved = next((u for u in upstreams if _keeps_another_result(p, u)), None)
    if moved is not None:
        jp.reasons.append({"kind": Reason.UPSTREAM, "job": moved, "detail": "it keeps another result"})


def _keep_or_rerun(jp: JobPlan, job: JobRecipe, state: JobState | None) -> None:
    """A job with no reason to run is kept; one with a job directory re-runs (there) instead of running anew."""
    if not jp.reasons:
        jp.action = Action.KEEP
        if state is not None and state.failed_items:  # not done for every tilt series: say so
            jp.reasons.append({"kind": Reason.ITEMS_FAILED, "items": state.failed_items})
            if job.per_item:  # and try them again (an extension, _plan_items)
                jp.action = Action.RERUN
    elif state is not None and state.job_dir:
        jp.action = Action.RERUN


def _compare_with_lock(p: _Planning, jp: JobPlan, job: JobRecipe, old: JobLock, state: JobState | None, forced: bool) -> None:
    """A job the lockfile has: its reasons to run (its fingerprint's parts, its last run, its upstream
    jobs), and so whether it is kept or re-run."""
    jp.job_dir = state.job_dir if state else None
    jp.reasons += param_reasons(old.parts, p.compiled.parts[jp.name], p.files_old, p.files_new)
    jp.reasons += _state_reasons(state, forced)
    _add_upstream_reasons(p, jp, job)
    _keep_or_rerun(jp, job, state)


def _may_reuse(p: _Planning, jp: JobPlan, job: JobRecipe, forced: bool) -> bool:
    """Whether an earlier result may stand in for a run: not when forced, when an upstream job runs (its
    inputs are not made yet), when the job is running, or when it is to try failed tilt series again."""
    if jp.action == Action.KEEP or forced:
        return False
    upstream_runs = any(p.plans[w.upstream].action in RUNS for w in job.wires)
    return not upstream_runs and not any(r["kind"] in (Reason.RUNNING, Reason.ITEMS_FAILED) for r in jp.reasons)


def _reuse(jp: JobPlan, results: Results, fingerprint: str) -> None:
    """Keep the newest intact job directory with this fingerprint instead of running, if there is one."""
    hit, refused = _reusable(results, fingerprint)
    jp.reasons += [r for r in refused if r["job_dir"] != jp.job_dir]  # its own: said above
    if hit:
        job_dir, entry = hit
        jp.action, jp.job_dir = Action.KEEP, job_dir
        jp.reasons = [{"kind": Reason.REUSE, "job_dir": job_dir, "ended": entry.get("ended"), "job": entry.get("job"),
                       "params_file": entry.get("params_file")}]


def _note_pooling(jp: JobPlan, job: JobRecipe) -> None:
    """A job that pools tilt series re-runs on all of them when its inputs changed: say so."""
    if job.pools and jp.action == Action.RERUN and any(r["kind"] in (Reason.INPUT, Reason.UPSTREAM) for r in jp.reasons):
        jp.reasons.append({"kind": Reason.POOLS, "detail": job.pools})


def _plan_job(p: _Planning, name: str) -> JobPlan:
    job = p.compiled.jobs[name]
    jp = JobPlan(name, job.type, Action.RUN)
    old, state, forced = p.old_jobs.get(name), p.states.get(name), name in p.force
    if old is None:
        jp.reasons.append({"kind": Reason.NEW})
    else:
        _compare_with_lock(p, jp, job, old, state, forced)
    if p.results is not None and _may_reuse(p, jp, job, forced):
        _reuse(jp, p.results, p.compiled.fingerprints[name])
    if job.per_item:
        _plan_items(jp, job, p.compiled, old, state, p.plans, forced, p.files_old, p.results, p.old_exclusions)
    elif not _decided_kept(jp, job, p.compiled, old, state, p.plans, forced):
        _note_pooling(jp, job)
    return jp


def _orphans(old_jobs: Mapping[str, JobLock], plans: dict[str, JobPlan], states: dict[str, JobState]) -> list[JobPlan]:
    """The lockfile's jobs the pipeline no longer has."""
    out = []
    for name, old in old_jobs.items():
        if name not in plans:
            st = states.get(name)
            out.append(JobPlan(name, old.type, Action.ORPHAN, [{"kind": Reason.REMOVED}], st.job_dir if st else old.job_dir))
    return out


def make_plan(compiled: Compiled, lock: Lockfile | None, states: dict[str, JobState], force: list[str] | tuple[str, ...] = (),
              old_frames: Callable[[], dict[str, tuple[int, int]]] = dict, results: Results | None = None) -> Plan:
    """old_frames: loads the frame map the lockfile names (only called to explain a data change).
    results: the project's results by fingerprint (compiler.results.Results): a job that would run
    is kept instead when a job directory already holds its result."""
    for name in force:
        if name not in compiled.jobs:
            raise SpecError(f"--force {name}: no such job in the pipeline", hint=did_you_mean(name, compiled.jobs))
    old_jobs = lock.jobs if lock else {}
    files_old = FileMap(lock.files if lock else {}, old_frames)
    files_new = FileMap(compiled.files.small, lambda: compiled.files.frames)
    data_changes = DataChanges(files_old, files_new, compiled.files.fingerprint, compiled.files.mode == "lenient")
    p = _Planning(compiled, old_jobs, states, force, files_old, files_new, results,
                  (lock.pipeline.get("excluded_tilts") or {}) if lock else None)
    for name in compiled.order:
        p.plans[name] = _plan_job(p, name)
    out = list(p.plans.values())
    for jp in out:
        jp.reasons = data_changes.explain(jp.reasons)
    data = compiled.recipe.summary
    return Plan(out + _orphans(old_jobs, p.plans, states), data.get("waiting", []), data.get("excluded", {}))
