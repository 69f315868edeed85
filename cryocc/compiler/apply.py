"""Write the project: under a project lock, atomic writes, scheme.star next to last, lockfile last.

A crash between any two writes leaves the project as before (the lockfile still describes the
last complete apply; files already written are content-addressed or belong to a scheme no
lockfile names) and the next apply converges to the same project as an uninterrupted one."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..contract import STATE_DIR
from ..errors import ProjectError
from ..fsio import atomic_write, inside, make_dirs, project_root, refuse_escapes, sha256_bytes
from ..lockfile.lockfile import FRAMES_DIR, LOCKFILE, DamagedLockfile, JobLock, Lockfile, frames_file, frames_text, read_frames, read_lockfile, write_lockfile
from ..project import JobState, Project, observe
from .compile import Compiled, compile_pipeline
from .estimate import estimate
from .plan import Plan, make_plan
from .render import check_scheme_refs, render_job, render_scheme, scheme_ref
from .results import Results

SCHEME_PREFIX = "cryocc_"
APPLY_LOCK = f"{STATE_DIR}/apply.lock"
SPECS_DIR = f"{STATE_DIR}/specs"  # the pipeline and site profile each scheme was compiled from, named by content


def spec_copies(compiled: Compiled) -> dict[str, str]:
    """{"pipeline": path, "site": path} -> (project-relative path, text), content-addressed so that
    writing them never changes what an earlier scheme names."""
    out = {}
    for what, source in (("pipeline", compiled.recipe.path), ("site", compiled.recipe.site_path)):
        text = Path(source).read_text()
        out[what] = (f"{SPECS_DIR}/{what}-{sha256_bytes(text.encode())[:16]}.yaml", text)
    return out


@dataclass
class ApplyResult:
    plan: Plan
    summary: dict  # what the data looked like (Recipe.summary)
    scheme: str | None  # the scheme to run; None when nothing runs
    written: list[str]
    noop: bool


def _before_write(path: str) -> None:
    """Test hook: tests replace it to simulate a crash between two writes."""


@contextmanager
def project_lock(project: Path, timeout: float = 0) -> Iterator[None]:
    """One apply at a time; the second waits up to timeout seconds, then is told who holds the lock."""
    import socket

    from filelock import FileLock, Timeout

    make_dirs(project / STATE_DIR)
    owner = project / STATE_DIR / "apply.owner"
    lock = FileLock(str(project / APPLY_LOCK), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        who = owner.read_text().strip() if owner.exists() else "another cryocc process"
        waited = f" (waited {timeout:g} s)" if timeout else ""
        raise ProjectError(f"project {project} is locked by {who}{waited}",
                           hint="wait for that apply to finish, or pass --lock-timeout SECONDS to wait for it; "
                                "the lock is released when its process ends") from None
    try:
        atomic_write(owner, f"cryocc apply, pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def scheme_started(project: Path, scheme: str) -> bool:
    return Project(project).scheme_started(scheme)


def existing_schemes(project: Path) -> list[str]:
    d = project / "Schemes"
    return sorted(p.name for p in d.glob(f"{SCHEME_PREFIX}[0-9]*") if p.is_dir()) if d.is_dir() else []


def render_files(compiled: Compiled, plan: Plan, scheme: str) -> dict[str, str]:
    """Project-relative path -> content, in write order; scheme.star last: a scheme is runnable only once whole."""
    site = compiled.recipe.site
    run, kept = plan.to_run, plan.kept
    plans = {j.name: j for j in plan.jobs}
    files: dict[str, str] = {}
    stars: dict[str, str] = {}
    for name in run:
        job = compiled.jobs[name]
        values = {w.option: scheme_ref(scheme, w.upstream, w.path) if w.upstream in run
                  else f"{kept[w.upstream].rstrip('/')}/{w.path}" for w in job.wires}
        items = plans[name].items
        rendered = render_job(job, compiled.fingerprints[name], compiled.recipe.data, site, values,
                              items and {"fingerprints": items.fingerprints, "todo": items.todo, "keep": items.keep})
        files[rendered.params_path] = rendered.params_text
        files[rendered.script_path] = rendered.script_text
        stars[name] = files[f"Schemes/{scheme}/{name}/job.star"] = rendered.job_star
    check_scheme_refs(scheme, run, stars)
    continued = {j.name: j.job_dir for j in plan.jobs if j.action == "extend"}
    files[f"Schemes/{scheme}/scheme.star"] = render_scheme(scheme, run, continued)
    return files


def _identical(project: Path, files: dict[str, str]) -> bool:
    try:
        return all((project / rel).read_bytes() == text.encode() for rel, text in files.items())
    except OSError:
        return False


def frame_map(compiled: Compiled) -> tuple[str, str]:
    """(project-relative path, content) of the map of every frame the tilt series use."""
    text = frames_text(compiled.files.frames)
    return frames_file(text), text


def new_lockfile(compiled: Compiled, plan: Plan, old: Lockfile | None, states: dict[str, JobState],
                 scheme: str | None, files: dict[str, str], frames: str, copies: dict[str, str] | None = None) -> Lockfile:
    """copies: for a new scheme, the project-relative paths of the pipeline and site profile it was compiled from."""
    recipe = compiled.recipe
    left_out = {k: recipe.summary[k] for k in ("excluded", "waiting") if recipe.summary.get(k)}  # tilt series, and why
    lock = Lockfile(
        pipeline={"name": recipe.name, "path": recipe.path, "spec_sha256": recipe.spec_sha256,
                  "site": recipe.site["name"], "order": list(recipe.order), **left_out},
        frame_check=recipe.frame_check,
        files=dict(sorted(compiled.files.small.items())),
        frames=frames,
        schemes=list(old.schemes) if old else [],
    )
    old_jobs = old.jobs if old else {}
    params_files = {p.split("/")[2]: p for p in files if p.startswith(f"{STATE_DIR}/jobs/")}
    for jp in plan.jobs:
        recipe_fp = compiled.recipe_fingerprints.get(jp.name)
        reuse = next((r for r in jp.reasons if r["kind"] == "reuse"), None)
        if reuse:  # an earlier result with this fingerprint, wherever it is
            lock.jobs[jp.name] = JobLock(type=compiled.jobs[jp.name].type, fingerprint=compiled.fingerprints[jp.name],
                                         parts=compiled.parts[jp.name], scheme=None, job_dir=reuse["job_dir"],
                                         state="succeeded", params_file=reuse.get("params_file"), recipe_fingerprint=recipe_fp)
            continue
        if jp.action in ("keep", "orphan"):
            entry = JobLock(**old_jobs[jp.name].to_json())
            st = states.get(jp.name)
            if st is not None:  # what was learned from the project since the last apply
                entry.job_dir = st.job_dir or entry.job_dir
                entry.state = st.status
                if st.job_dir:
                    entry.continues = None
                if recipe_fp and st.receipt and st.receipt.get("items"):
                    entry.items = {t: f"{r.get('fingerprint', '-')} {r['outcome']}" for t, r in st.receipt["items"].items()}
            if jp.action == "keep" and recipe_fp:
                entry.recipe_fingerprint = recipe_fp
            lock.jobs[jp.name] = entry
            continue
        items = jp.items
        lock.jobs[jp.name] = JobLock(type=compiled.jobs[jp.name].type, fingerprint=compiled.fingerprints[jp.name],
                                     parts=compiled.parts[jp.name], scheme=scheme,
                                     job_dir=None, state="scheduled", params_file=params_files.get(jp.name),
                                     recipe_fingerprint=recipe_fp,
                                     items=items and {t: f"{fp} {'kept' if t in items.keep else 'scheduled'}"
                                                      for t, fp in sorted(items.fingerprints.items())},
                                     continues=jp.job_dir if jp.action == "extend" else None)
    if scheme and not any(s["name"] == scheme for s in lock.schemes):
        lock.schemes.append({"name": scheme, "jobs": plan.to_run, **(copies or {})})
    return lock


def _pick_scheme(project: Path, old: Lockfile | None, compiled: Compiled, plan: Plan) -> tuple[str, bool]:
    """(scheme name, already there). A scheme never started is reused: as is when the lockfile
    names it and it holds exactly this plan (no-op), overwritten when no lockfile names it (an
    apply that crashed before its lockfile). Otherwise the next number."""
    schemes = existing_schemes(project)
    recorded = {s["name"] for s in old.schemes} if old else set()
    if schemes and not scheme_started(project, schemes[-1]):
        last = schemes[-1]
        if last not in recorded:
            return last, False
        if _identical(project, render_files(compiled, plan, last)):
            return last, True
    number = int(schemes[-1][len(SCHEME_PREFIX):]) + 1 if schemes else 1
    return f"{SCHEME_PREFIX}{number:03d}", False


def _clear_unrecorded(project: Path, scheme: str, keep: list[str]) -> None:
    """Job templates a crashed apply left in a scheme no lockfile names (cryocc's own files only)."""
    d = project / "Schemes" / scheme
    for sub in d.iterdir() if d.is_dir() else ():
        star = sub / "job.star"
        if sub.is_dir() and sub.name not in keep and star.is_file():
            star.unlink()
            if not any(sub.iterdir()):
                sub.rmdir()


def _read_lock(project: Path) -> tuple[Lockfile | None, str | None]:
    """The lockfile (None for a new project, or one whose lockfile is lost or damaged: the plan then
    finds the results through the receipts), and a note when it had to do without one."""
    if not project.is_dir():
        return None, None
    try:
        lock = read_lockfile(project)
    except DamagedLockfile as exc:
        return None, f"{exc.message}: rebuilt from the receipts in External/ (apply keeps the damaged copy in {DAMAGED_DIR}/)"
    if lock is None and (project / "External").is_dir():
        return None, "no cryocc.lock: rebuilt from the receipts in External/"
    return lock, None


def _compile_against(pipeline: Path, project: Path) -> tuple[Lockfile | None, str | None, Compiled]:
    """The project's lockfile (None for a new project), a note if it had to do without one, and the
    pipeline compiled against it."""
    old, note = _read_lock(project)
    return old, note, compile_pipeline(pipeline, known_files=old.files if old else None)


def _plan(compiled: Compiled, project: Path, force: list[str], old: Lockfile | None,
          note: str | None) -> tuple[Plan, dict[str, JobState], Results]:
    states = observe(project, old)
    results = Results(project)
    plan = make_plan(compiled, old, states, force, old_frames=lambda: read_frames(project, old.frames if old else None), results=results)
    if note:
        plan.notes.append(note)
    plan.estimate = estimate(plan, compiled, results)
    return plan, states, results


def apply_pipeline(pipeline: Path, project: Path, *, force: list[str] = (), ignore_running: bool = False,
                   lock_timeout: float = 0) -> ApplyResult:
    project = Path(project)
    # validate before creating anything, so a bad spec leaves the project untouched
    seen, _, compiled = _compile_against(pipeline, project)
    _confine(project, compiled)
    make_dirs(project)
    with project_lock(project, lock_timeout):
        old, note = _read_lock(project)
        if (old.to_text() if old else None) != (seen.to_text() if seen else None):  # another apply came between
            old, note, compiled = _compile_against(pipeline, project)
        plan, states, results = _plan(compiled, project, force, old, note)
        if plan.running and not ignore_running:
            names = ", ".join(f"{j.name} ({j.job_dir})" for j in plan.running)
            raise ProjectError(f"jobs of this project are still running: {names}",
                               hint="wait for them (cryocc status), or pass --ignore-running if they are not")
        frames, frames_body = frame_map(compiled)
        if not plan.to_run:
            lock = new_lockfile(compiled, plan, old, states, None, {}, frames)
            changed = old is None or lock.to_text() != old.to_text()
            if changed:
                _remove_stale_temps(project)
                _write_frame_map(project, frames, frames_body)
                _write_lock(project, lock, old, results)
                _prune_frame_maps(project, frames)
            return ApplyResult(plan, compiled.recipe.summary, None, ["cryocc.lock"] if changed else [], noop=True)
        scheme, already = _pick_scheme(project, old, compiled, plan)
        if already:
            return ApplyResult(plan, compiled.recipe.summary, scheme, [], noop=True)
        _remove_stale_temps(project)
        _clear_unrecorded(project, scheme, plan.to_run)
        copies = spec_copies(compiled)
        files = {
            **{path: text for path, text in copies.values() if not (project / path).is_file()},
            **({} if (project / frames).is_file() else {frames: frames_body}),
            **render_files(compiled, plan, scheme),
        }
        lock = new_lockfile(compiled, plan, old, states, scheme, files, frames, {k: path for k, (path, _) in copies.items()})
        written = []
        for rel, text in files.items():
            _before_write(rel)
            atomic_write(inside(project, rel), text)
            written.append(rel)
        _write_lock(project, lock, old, results)
        written.append("cryocc.lock")
        _prune_frame_maps(project, frames)
        return ApplyResult(plan, compiled.recipe.summary, scheme, written, noop=False)


def _confine(project: Path, compiled: Compiled) -> None:
    """Refuse, before anything is written, a project whose writes could leave it or land among the data."""
    root = project_root(project)
    listing = compiled.listing
    heads = {k.rpartition("/")[0] for files in (listing.frames, listing.mdocs) for k in files}  # keys, not paths: 10^5 frames
    data_dirs = {listing.path(h or ".") for h in heads}
    if compiled.recipe.data.get("gain"):
        data_dirs.add(os.path.dirname(compiled.recipe.data["gain"]))
    for d in sorted({Path(d).resolve() for d in data_dirs}):
        if root == d or d in root.parents:
            raise ProjectError(f"--project {project} is {'the' if root == d else 'inside the'} data directory {d}",
                               hint="put the project beside the data, not in it: cryocc and RELION write thousands of files there")
    refuse_escapes(root, [STATE_DIR, "Schemes", LOCKFILE])


def _write_frame_map(project: Path, rel: str, text: str) -> None:
    if not (project / rel).is_file():  # named by its content: one that exists is this one
        _before_write(rel)
        atomic_write(inside(project, rel), text)


STALE_TEMP = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")  # what atomic_write leaves when killed mid-write


def _remove_stale_temps(project: Path) -> None:
    """Temp files an apply killed mid-write left behind, where apply writes (under the project lock,
    so none of them is being written)."""
    places = [(project, False), (project / STATE_DIR, True)] + [(d, True) for d in (project / "Schemes").glob(f"{SCHEME_PREFIX}*")]
    for top, deep in places:
        for path in (top.rglob(".*.tmp") if deep else top.glob(".*.tmp")):
            if STALE_TEMP.fullmatch(path.name) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)


def _prune_frame_maps(project: Path, keep: str) -> None:
    """Frame maps the lockfile no longer names (one per data state, 10^5 lines each): only the
    lockfile's is ever read."""
    for path in (project / FRAMES_DIR).glob("*.tsv"):
        if path != project / keep:
            path.unlink(missing_ok=True)


def plan_pipeline(pipeline: Path, project: Path, *, force: list[str] = ()) -> tuple[Plan, dict[str, JobState]]:
    """The plan apply would carry out, without writing anything."""
    project = Path(project)
    old, note, compiled = _compile_against(pipeline, project)
    plan, states, _ = _plan(compiled, project, force, old, note)
    return plan, states


DAMAGED_DIR = f"{STATE_DIR}/damaged"


def _write_lock(project: Path, lock: Lockfile, old: Lockfile | None, results: Results) -> None:
    """The last writes of an apply: the results index, then the lockfile. A lockfile that is there
    but could not be read (old is None) is damaged: it is kept, named by its content, first."""
    if old is None and (project / LOCKFILE).is_file():
        data = (project / LOCKFILE).read_bytes()
        atomic_write(inside(project, f"{DAMAGED_DIR}/cryocc.lock.{sha256_bytes(data)[:16]}"), data)
    results.save()
    _before_write("cryocc.lock")
    write_lockfile(project, lock)
