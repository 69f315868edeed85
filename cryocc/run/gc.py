"""cryocc gc: the job directories no job of the pipeline uses any more, listed with their sizes and,
with --yes, deleted the way RELION deletes a job (relion:src/pipeliner.cpp:1052-1150, 2134-2340):
under RELION's pipeline lock, the processes leave default_pipeline.star together with their
output nodes and edges, a deleted_pipeline.star holding them is written into the first of them
(so the RELION GUI can undelete them), and the directories move to Trash/. Nothing is removed
until `cryocc trash --empty` empties Trash/.

A directory is in use when the spec (pipeline.yaml as it is now, planned as `cryocc plan` does)
keeps, reuses or extends it, when a job of the spec names it in the lockfile or ran in it since,
or when such a directory consumed its outputs (default_pipeline.star's edges, followed upstream:
STAR files point into the directories their jobs read). Only cryocc's own job directories are
candidates, never one that runs or is queued. Every directory a project file names is confined
(confine.py) before it is read, moved or written into, and so are Trash/ and RELION's .Nodes/."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..confine import JOB_DIR, RELION_JOB_DIR, confined, job_dir
from ..contract import ABORTED, EXTERNAL_DIR, FAILURE, PIPELINE, RECEIPT, ended, external_job_dir, scheme_dir, schemer_lock_dir
from ..errors import CryoccError, Location, ProjectError, os_failure
from ..fsio import atomic_write, make_dirs, touch
from ..lockfile.lockfile import LOCKFILE, Lockfile, read_lockfile
from ..observe.project import JobState, Project
from ..observe.receipts import read_receipt
from ..star import block_loop, block_pairs, pairs_of, rows_of

TABLES = {  # the tables of a RELION 5 pipeline, with their columns (relion:src/pipeliner.cpp:2188-2290)
    "pipeline_processes": ["rlnPipeLineProcessName", "rlnPipeLineProcessAlias", "rlnPipeLineProcessTypeLabel",
                           "rlnPipeLineProcessStatusLabel"],
    "pipeline_nodes": ["rlnPipeLineNodeName", "rlnPipeLineNodeTypeLabel", "rlnPipeLineNodeTypeLabelDepth"],
    "pipeline_input_edges": ["rlnPipeLineEdgeFromNode", "rlnPipeLineEdgeProcess"],
    "pipeline_output_edges": ["rlnPipeLineEdgeProcess", "rlnPipeLineEdgeToNode"],
}
LOCK_WAIT_SECONDS = 60  # as RELION's own PipeLine::read waits
TRASH = "Trash"  # where RELION (and gc) move deleted job directories: Trash/External/jobNNN/
TRASH_HINT = "gc moves job directories into Trash/ of the project: make Trash/ (and Trash/External/) plain directories there"


@dataclass
class Unused:
    job_dir: str
    job: str | None  # the pipeline job it ran for, from its receipt
    why: str  # superseded | no longer in pipeline.yaml | failed | ...
    size: int  # bytes, symlinks counted as links


def refuse_while_running(project: Path) -> None:
    from .runner import live_schemer

    locks = sorted(p.name for p in project.glob(schemer_lock_dir("*")))
    if live_schemer(project) or locks:
        raise ProjectError(f"a relion_schemer runs in {project}" + (f" ({', '.join(locks)})" if locks else ""),
                           hint="gc waits until nothing runs: cryocc status shows what does")


def unused(project: Path, pipeline: Path) -> tuple[list[Unused], set[str]]:
    """The job directories gc would move, and those it keeps because they are in use: what the
    spec (pipeline) keeps, reuses or extends as `cryocc plan` plans it, what its jobs ran in, and
    what those read."""
    from ..compiler import plan_pipeline
    from ..states import Action

    lock = _named_lock(project)
    the_plan, states = plan_pipeline(pipeline, project, lock=lock)
    current = {j.name for j in the_plan.jobs if j.action != Action.ORPHAN}
    if not current & set(lock.jobs):
        raise ProjectError(f"{pipeline} has none of the jobs of {project / LOCKFILE} ({', '.join(sorted(lock.jobs))})",
                           hint="give gc the pipeline.yaml this project was applied from")
    named = {j.job_dir for j in the_plan.jobs if j.action != Action.ORPHAN}
    for name in current & set(lock.jobs):
        named |= {lock.jobs[name].job_dir, lock.jobs[name].continues, *_observed(project, states.get(name))}
    relion = Project(project)
    rows = {t: rows_of(relion.pipeline(), t) for t in TABLES}
    live = _upstream_closure({d for d in named if d}, rows)
    status = _processes(project, rows["pipeline_processes"])
    out = []
    for name in sorted((set(status) | _on_disk(project)) - live):
        d = project / name
        if not (d / RECEIPT).is_file() or status.get(name) in ("Running", "Scheduled") or not ended(d) or relion.liveness(name)[0]:
            continue  # not cryocc's, or not finished, or its process or SLURM job still there: never touched
        job = _job_of(d)
        out.append(Unused(name, job, _why(d, job, current), _size(d)))
    return out, live


def _named_lock(project: Path) -> Lockfile:
    """The lockfile, refused when it names no jobs (a bad merge: gc would take every job directory
    for unused) or a job directory outside External/jobNNN/."""
    lock = read_lockfile(project)
    path = str(project / LOCKFILE)
    if lock is None:
        raise ProjectError(f"{project}: no cryocc.lock", hint="gc keeps what the last apply uses: run cryocc apply first")
    if not lock.jobs:
        raise ProjectError("names no jobs: gc would take every job directory of the project for unused", location=Location(path),
                           key="jobs", hint="run cryocc apply PIPELINE --project DIR to rebuild it from the receipts, then gc")
    for name, j in lock.jobs.items():
        for key, value in (("job_dir", j.job_dir), ("continues", j.continues)):
            if value:
                job_dir(project, value, source=path, key=f"jobs.{name}.{key}")
    return lock


def _observed(project: Path, state: JobState | None) -> tuple[str | None, ...]:
    """The directories a job was seen in (its scheme.star's rlnSchemeJobName), confined."""
    if state is None:
        return ()
    source = str(project / (f"{scheme_dir(state.scheme)}/scheme.star" if state.scheme else LOCKFILE))
    for d in (state.job_dir, state.continues):
        if d:
            job_dir(project, d, source=source, key="rlnSchemeJobName")
    return state.job_dir, state.continues


def _processes(project: Path, rows: list[dict[str, str]]) -> dict[str, str]:
    """cryocc's processes of default_pipeline.star (External/jobNNN/), with their status label; other
    RELION jobs (Import/job001/) are skipped, any other name is refused."""
    out = {}
    for r in rows:
        name = r.get("rlnPipeLineProcessName", "")
        if RELION_JOB_DIR.fullmatch(name) and not name.startswith(EXTERNAL_DIR + "/"):
            continue  # a job RELION ran itself: never cryocc's
        job_dir(project, name, source=str(project / PIPELINE), key="pipeline_processes.rlnPipeLineProcessName")
        out[name] = r.get("rlnPipeLineProcessStatusLabel", "")
    return out


def _on_disk(project: Path) -> set[str]:
    """The job directories in External/, confined (a symlinked one is refused)."""
    try:
        with os.scandir(project / "External") as it:
            names = [d for e in it if JOB_DIR.fullmatch(d := external_job_dir(e.name))]
    except (FileNotFoundError, NotADirectoryError):
        return set()
    for name in names:
        job_dir(project, name, source=str(project / name))
    return set(names)


def _upstream_closure(named: set[str], rows: dict[str, list[dict[str, str]]]) -> set[str]:
    producer = {r.get("rlnPipeLineEdgeToNode"): r.get("rlnPipeLineEdgeProcess", "") for r in rows["pipeline_output_edges"]}
    inputs: dict[str, list[str]] = {}
    for r in rows["pipeline_input_edges"]:
        inputs.setdefault(r.get("rlnPipeLineEdgeProcess", ""), []).append(r.get("rlnPipeLineEdgeFromNode", ""))
    live, todo = set(), list(named)
    while todo:
        d = todo.pop()
        if d in live:
            continue
        live.add(d)
        todo += [producer[n] for n in inputs.get(d, ()) if n in producer]
    return live


def _job_of(d: Path) -> str | None:
    return (read_receipt(d.parent, d.name) or {}).get("job")


def _why(d: Path, job: str | None, current: set[str]) -> str:
    if job not in current:
        return "no longer in pipeline.yaml"
    if (d / FAILURE).exists():
        return "failed, run again elsewhere"
    if (d / ABORTED).exists():
        return "aborted, run again elsewhere"
    return "superseded"


def _size(d: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(d):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(root, x))]:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


@contextmanager
def pipeline_lock(project: Path) -> Iterator[None]:
    """RELION's own: the directory .relion_lock and in it lock_default_pipeline.star, made by
    mkdir (relion:src/pipeliner.cpp:1904-1950) and removed after the write (:2330-2342)."""
    lock_dir = project / ".relion_lock"
    deadline = time.time() + LOCK_WAIT_SECONDS
    while True:
        try:
            lock_dir.mkdir(mode=0o700)
            break
        except FileExistsError:
            if time.time() > deadline:
                raise ProjectError(f"{lock_dir} has been there for {LOCK_WAIT_SECONDS} s: RELION is writing the pipeline",
                                   hint="try again once RELION is done; remove it only if no RELION process runs") from None
            time.sleep(1)
    lock_file = lock_dir / f"lock_{PIPELINE}"
    touch(lock_file)
    try:
        yield
    finally:
        lock_file.unlink(missing_ok=True)
        lock_dir.rmdir()


def move_to_trash(project: Path, job_dirs: list[str]) -> None:
    """RELION's delete of these processes (not recursive: what uses them is in use, so kept).
    Everything it will touch is confined first: a refusal leaves the project as it was."""
    gone = set(job_dirs)
    trash = trash_dir(project) / "External"
    targets = [trash / job_dir(project, d, source=str(project / PIPELINE), key="pipeline_processes.rlnPipeLineProcessName").name
               for d in job_dirs]
    if there := [t for t in targets if os.path.lexists(t)]:
        raise ProjectError(f"{there[0]} exists already", hint="move it away first: gc never deletes")
    changed = confined(project, ".pipeline_has_changed", ".pipeline_has_changed", source=str(project / ".pipeline_has_changed"))
    with pipeline_lock(project):
        blocks = Project(project).pipeline()  # read again under RELION's lock, as a project file (project_files)
        rows = {t: rows_of(blocks, t) for t in TABLES}
        produced = {r.get("rlnPipeLineEdgeToNode", ""): r.get("rlnPipeLineEdgeProcess", "")
                    for r in rows["pipeline_output_edges"] if r.get("rlnPipeLineEdgeProcess") in gone}
        markers = _node_markers(project, produced)
        make_dirs(trash)  # before the first write: a file in its place stops gc here
        keep, drop = {}, {}
        for table in TABLES:
            deleted = [_deleted(table, r, gone, set(produced)) for r in rows[table]]
            keep[table] = [r for r, d in zip(rows[table], deleted) if not d]
            drop[table] = [r for r, d in zip(rows[table], deleted) if d]
        general = pairs_of(blocks, "pipeline_general") or {"rlnPipeLineJobCounter": "1"}
        done: list[str] = []  # what is written, for an error on the way (everything was checked before it)
        try:
            if any(drop.values()):
                atomic_write(project / job_dirs[0] / "deleted_pipeline.star", _pipeline_text(general, drop))
                done.append(f"{job_dirs[0]}deleted_pipeline.star")
                atomic_write(project / PIPELINE, _pipeline_text(general, keep))
                done.append(f"{PIPELINE} without them")
            for d, target in zip(job_dirs, targets):
                shutil.move(str(project / d), str(target))
                done.append(f"{d} moved to {TRASH}/External/")
            for marker in markers:
                marker.unlink(missing_ok=True)
            touch(changed)
        except (CryoccError, OSError) as exc:
            failure = os_failure(exc) if isinstance(exc, OSError) else exc
            if done:
                failure.written = f"gc had written: {'; '.join(done)} (RELION's GUI can undelete what is in {TRASH}/)."
            raise failure from None


def _node_markers(project: Path, produced: dict[str, str]) -> list[Path]:
    """RELION's .Nodes/<type>/<node> markers of the deleted processes' outputs; each must lie in its
    process's folder there (a node named External/job005/../../../x is refused, not followed)."""
    nodes = project / ".Nodes"
    try:
        with os.scandir(nodes) as it:
            types = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for node, process in produced.items():
        for t in types:
            marker = confined(project, f".Nodes/{t}/{node}", f".Nodes/{t}/{process}", source=str(project / PIPELINE),
                              key="pipeline_output_edges.rlnPipeLineEdgeToNode")
            if os.path.lexists(marker):
                out.append(marker)
    return out


def trash_dir(project: Path) -> Path:
    """Trash/ of the project (it may not exist yet): a real directory there, as is its External/,
    never a symlink, even to elsewhere in the project."""
    for rel in (TRASH, f"{TRASH}/External"):
        confined(project, rel, rel, source=str(project / rel), hint=TRASH_HINT)
    return project / TRASH


def trash_contents(project: Path) -> tuple[list[str], int]:
    """The job directories in Trash/ (<type>/jobNNN/, e.g. External/job005/) and the bytes Trash/
    holds: disk space that moving them there did not free."""
    trash = trash_dir(project)
    if not trash.is_dir():
        return [], 0
    jobs = sorted(f"{p.parent.name}/{p.name}/" for p in trash.glob("*/*") if p.is_dir() and not p.is_symlink())
    return jobs, _size(trash)


def empty_trash(project: Path) -> tuple[int, int]:
    """Delete everything in Trash/ for good, under RELION's pipeline lock (its GUI undeletes from
    there); Trash/ itself stays. Returns (entries deleted, bytes freed). Links are removed, never
    followed (shutil.rmtree does not follow them)."""
    trash = trash_dir(project)
    if not trash.is_dir():
        return 0, 0
    size = _size(trash)
    with pipeline_lock(project):
        with os.scandir(trash) as it:
            entries = list(it)
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
    return len(entries), size


def _deleted(table: str, row: dict[str, str], gone: set[str], nodes: set[str]) -> bool:
    if table == "pipeline_processes":
        return row.get("rlnPipeLineProcessName") in gone
    if table == "pipeline_nodes":
        return row.get("rlnPipeLineNodeName") in nodes
    process = row.get("rlnPipeLineEdgeProcess")
    node = row.get("rlnPipeLineEdgeFromNode") or row.get("rlnPipeLineEdgeToNode")
    return process in gone or node in nodes


def _pipeline_text(general: dict[str, Any], tables: dict[str, list[dict[str, str]]]) -> str:
    """A pipeline file; an empty table is left out (RELION refuses an empty loop)."""
    text = block_pairs("pipeline_general", general)
    for table, labels in TABLES.items():
        if tables[table]:
            text += block_loop(table, labels, [[r.get(k, "") for k in labels] for r in tables[table]])
    return text
