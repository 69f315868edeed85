"""cryocc gc: the job directories no job of the pipeline uses any more, listed with their sizes and,
with --yes, deleted the way RELION deletes a job (relion:src/pipeliner.cpp:1052-1150, 2134-2340):
under RELION's pipeline lock, the processes leave default_pipeline.star together with their
output nodes and edges, a deleted_pipeline.star holding them is written into the first of them
(so the RELION GUI can undelete them), and the directories move to Trash/. Nothing is removed.

A directory is in use when a job of pipeline.yaml (as last applied: the lockfile's order) names
it, when an extension is to run in it, or when such a directory consumed its outputs
(default_pipeline.star's edges, followed upstream: STAR files point into the directories their
jobs read). Only cryocc's own job directories are candidates, never one that runs or is queued."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contract import ABORTED, FAILURE, PIPELINE, RECEIPT, ended, scheme_lock
from .errors import ProjectError
from .fsio import atomic_write, make_dirs
from .lockfile.lockfile import read_lockfile
from .project import Project, observe_job, read_receipt
from .star import block_loop, block_pairs, pairs_of, read_star, rows_of

TABLES = {  # the tables of a RELION 5 pipeline, with their columns (relion:src/pipeliner.cpp:2188-2290)
    "pipeline_processes": ["rlnPipeLineProcessName", "rlnPipeLineProcessAlias", "rlnPipeLineProcessTypeLabel",
                           "rlnPipeLineProcessStatusLabel"],
    "pipeline_nodes": ["rlnPipeLineNodeName", "rlnPipeLineNodeTypeLabel", "rlnPipeLineNodeTypeLabelDepth"],
    "pipeline_input_edges": ["rlnPipeLineEdgeFromNode", "rlnPipeLineEdgeProcess"],
    "pipeline_output_edges": ["rlnPipeLineEdgeProcess", "rlnPipeLineEdgeToNode"],
}
LOCK_WAIT_SECONDS = 60  # as RELION's own PipeLine::read waits


@dataclass
class Unused:
    job_dir: str
    job: str | None  # the pipeline job it ran for, from its receipt
    why: str  # superseded | no longer in pipeline.yaml | failed | ...
    size: int  # bytes, symlinks counted as links


def refuse_while_running(project: Path) -> None:
    from .runner import live_schemer

    locks = sorted(p.name for p in project.glob(scheme_lock("*")))
    if live_schemer(project) or locks:
        raise ProjectError(f"a relion_schemer runs in {project}" + (f" ({', '.join(locks)})" if locks else ""),
                           hint="gc waits until nothing runs: cryocc status shows what does")


def unused(project: Path) -> tuple[list[Unused], set[str]]:
    """The job directories gc would move, and those it keeps because they are in use."""
    lock = read_lockfile(project)
    if lock is None:
        raise ProjectError(f"{project}: no cryocc.lock", hint="gc keeps what the last apply uses: run cryocc apply first")
    current = set(lock.pipeline.get("order") or lock.jobs)
    relion = Project(project)
    named = {d for name, j in lock.jobs.items() if name in current  # and the directory a run made since
             for d in (j.job_dir, j.continues, observe_job(relion, name, j).job_dir) if d}
    rows = {t: rows_of(relion.pipeline(), t) for t in TABLES}
    live = _upstream_closure(named, rows)
    status = {r["rlnPipeLineProcessName"]: r.get("rlnPipeLineProcessStatusLabel", "") for r in rows["pipeline_processes"]}
    dirs = set(status) | {f"External/{d.name}/" for d in (project / "External").glob("job*") if d.is_dir()}
    out = []
    for job_dir in sorted(dirs - live):
        d = project / job_dir
        if not (d / RECEIPT).is_file() or status.get(job_dir) in ("Running", "Scheduled") or not ended(d) or relion.slurm(job_dir):
            continue  # not cryocc's, or not finished, or still in SLURM: never touched
        job = _job_of(d)
        out.append(Unused(job_dir, job, _why(d, job, current), _size(d)))
    return out, live


def _upstream_closure(named: set[str], rows: dict[str, list[dict[str, str]]]) -> set[str]:
    producer = {r["rlnPipeLineEdgeToNode"]: r["rlnPipeLineEdgeProcess"] for r in rows["pipeline_output_edges"]}
    inputs: dict[str, list[str]] = {}
    for r in rows["pipeline_input_edges"]:
        inputs.setdefault(r["rlnPipeLineEdgeProcess"], []).append(r["rlnPipeLineEdgeFromNode"])
    live, todo = set(), list(named)
    while todo:
        job_dir = todo.pop()
        if job_dir in live:
            continue
        live.add(job_dir)
        todo += [producer[n] for n in inputs.get(job_dir, ()) if n in producer]
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
    lock_file.touch()
    try:
        yield
    finally:
        lock_file.unlink(missing_ok=True)
        lock_dir.rmdir()


def move_to_trash(project: Path, job_dirs: list[str]) -> None:
    """RELION's delete of these processes (not recursive: what uses them is in use, so kept)."""
    gone = set(job_dirs)
    with pipeline_lock(project):
        blocks = read_star(project / PIPELINE) if (project / PIPELINE).is_file() else {}
        rows = {t: rows_of(blocks, t) for t in TABLES}
        nodes = {r["rlnPipeLineEdgeToNode"] for r in rows["pipeline_output_edges"] if r["rlnPipeLineEdgeProcess"] in gone}
        keep, drop = {}, {}
        for table in TABLES:
            deleted = [_deleted(table, r, gone, nodes) for r in rows[table]]
            keep[table] = [r for r, d in zip(rows[table], deleted) if not d]
            drop[table] = [r for r, d in zip(rows[table], deleted) if d]
        general = pairs_of(blocks, "pipeline_general") or {"rlnPipeLineJobCounter": "1"}
        if any(drop.values()):
            atomic_write(project / job_dirs[0] / "deleted_pipeline.star", _pipeline_text(general, drop))
            atomic_write(project / PIPELINE, _pipeline_text(general, keep))
        for job_dir in job_dirs:
            target = project / "Trash" / job_dir.rstrip("/")
            if target.exists():
                raise ProjectError(f"{target} exists already", hint="move it away first: gc never deletes")
            make_dirs(target.parent)
            shutil.move(str(project / job_dir), str(target))
        for node in nodes:  # RELION's .Nodes/<type>/<node> markers of the deleted outputs
            for marker in (project / ".Nodes").glob(f"*/{node}"):
                marker.unlink(missing_ok=True)
        (project / ".pipeline_has_changed").touch()


def _deleted(table: str, row: dict[str, str], gone: set[str], nodes: set[str]) -> bool:
    if table == "pipeline_processes":
        return row["rlnPipeLineProcessName"] in gone
    if table == "pipeline_nodes":
        return row["rlnPipeLineNodeName"] in nodes
    process = row["rlnPipeLineEdgeProcess"]
    node = row.get("rlnPipeLineEdgeFromNode") or row.get("rlnPipeLineEdgeToNode")
    return process in gone or node in nodes


def _pipeline_text(general: dict[str, Any], tables: dict[str, list[dict[str, str]]]) -> str:
    """A pipeline file; an empty table is left out (RELION refuses an empty loop)."""
    text = block_pairs("pipeline_general", general)
    for table, labels in TABLES.items():
        if tables[table]:
            text += block_loop(table, labels, [[r.get(k, "") for k in labels] for r in tables[table]])
    return text
