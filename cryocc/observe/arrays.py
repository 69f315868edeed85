"""What cryocc sees of a job run as SLURM arrays (execution: array), from the files its supervisor and
tasks write in the job directory (drivers/_array.py, the layout in contract.py) and from the one squeue
call a command makes (project.squeue): status, `run --wait` and plan show its progress, `logs --item`
finds a tilt series' task log, abort and the watchdog cancel its arrays.

Truth on disk first: a task is done when its record is there (tasks/<task>.json), whatever SLURM says;
SLURM says only which of the rest are running or pending. Every file is read through project_files,
confined to its job directory; each is checked for the shape used here, so a damaged one is an error
naming the file and key. An array id reaches scancel only when it is digits and squeue lists it as an
array of ours working in this project. Standard library only: plan and status import it."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .. import confine
from ..contract import ARRAY_FORMAT, ARRAY_IDS, ARRAY_MANIFEST, ARRAY_TASKS, ArrayEntry, Outcome, TaskRecord, other_format
from ..errors import ProjectError
from ..project_files import ABSENT, SMALL_LIMIT, damaged, expect, expect_fields, read_json

ARRAY_ID = re.compile(r"[0-9]{1,18}")  # a SLURM job id: digits only, never an option scancel would read
# %i of an array in squeue: one task (1234_5) or, for pending tasks, their ranges (1234_[5-9,12%4])
TASK_ID = re.compile(r"([0-9]+)_([0-9]+)")
RANGE_ID = re.compile(r"([0-9]+)_\[([0-9,\-:]+)(?:%[0-9]+)?\]")
# squeue's states of a task that holds no node (slurm: src/common/slurm_protocol_defs.c job_state_string)
WAITING = frozenset({"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"})
NAMES_SHOWN = 5
RECORD_LIMIT = 16 << 20  # a task's record: its tilt series' items and quality
OTHER_CRYOCC = "another version of cryocc ran this job: see it with that version, or run the job again with this one"

Queue = list[tuple[str, str, str, str]]  # project.squeue: (id, state, working directory, name)


@dataclass
class Recorded:
    """The manifest and arrays.json of a job directory, as their shapes were checked."""

    job_dir: str
    tasks: list[list[str]]  # task number -> its tilt series
    max_parallel: int
    arrays: list[ArrayEntry]  # in the order they were submitted
    _indices: list[frozenset[int]] = field(init=False, repr=False)  # each array's indices, as a set

    def __post_init__(self) -> None:
        self._indices = [frozenset(a["indices"]) for a in self.arrays]

    def ids(self) -> list[str]:
        return [a["id"] for a in self.arrays]

    def task_of(self, array_id: str, index: int) -> int | None:
        """The task number SLURM's array id and index stand for (base + index), if recorded."""
        for a, indices in zip(self.arrays, self._indices):
            if a["id"] == array_id and index in indices:
                return a["base"] + index
        return None

    def slurm_of(self, task: int) -> tuple[str, int] | None:
        """(array id, index) of a task's latest submission: a supervisor started again submits the
        tasks its earlier arrays lost in a new array."""
        for a, indices in zip(reversed(self.arrays), reversed(self._indices)):
            if task - a["base"] in indices:
                return a["id"], task - a["base"]
        return None


def _source(root: Path, rel: str) -> str:
    return str(root / rel)


def own_file(root: Path, job_dir: str, rel: str) -> Path:
    """A file of the job's arrays: in its job directory, never through a symlink out of it."""
    return confine.confined(root, job_dir + rel, job_dir, source=_source(root, job_dir + rel))


def check_format(doc: Any, path: Path, what: str) -> None:
    """A manifest or task record of the format this cryocc reads (ARRAY_FORMAT), else an error at its
    format key: one of another format is said as such first (its shape may be another too), one
    without a format once its shape is checked."""
    if problem := other_format(doc, (ARRAY_FORMAT,)):
        raise damaged(path, f"the {what} {problem}", key="format", hint=OTHER_CRYOCC)


def _formatted(doc: Any) -> bool:
    return isinstance(doc, dict) and "format" in doc


def read_recorded(root: Path, job_dir: str) -> Recorded | None:
    """The job's manifest and arrays (None when it has no manifest: not run as arrays); a damaged
    manifest or arrays.json, or a manifest of another format, is an error naming the file and key."""
    path = own_file(root, job_dir, ARRAY_MANIFEST)
    what = "task manifest"
    doc = read_json(path, what, RECORD_LIMIT)
    if doc is ABSENT:
        return None
    if _formatted(doc):
        check_format(doc, path, what)
    manifest = expect_fields(doc, {"tasks": list, "max_parallel": int}, path, what, required=("tasks", "max_parallel"))
    check_format(doc, path, what)
    for i, names in enumerate(manifest["tasks"]):
        expect(names, list, path, f"tasks[{i}]", what)
        for j, name in enumerate(names):
            expect(name, str, path, f"tasks[{i}][{j}]", what)
    ids_path = own_file(root, job_dir, ARRAY_IDS)
    listed = read_json(ids_path, "list of arrays", SMALL_LIMIT * 16)
    arrays: list[ArrayEntry] = []
    for i, entry in enumerate([] if listed is ABSENT else expect(listed, list, ids_path, "(top level)", "list of arrays")):
        a = expect_fields(entry, {"id": str, "base": int, "indices": list}, ids_path, "list of arrays", f"[{i}].",
                          required=("id", "base", "indices"))
        if not ARRAY_ID.fullmatch(a["id"]):
            raise damaged(ids_path, f"{confine.shown(a['id'])} is not a SLURM job id: not a list of arrays cryocc wrote", key=f"[{i}].id")
        if a["base"] < 0:
            raise damaged(ids_path, "a negative task number: not a list of arrays cryocc wrote", key=f"[{i}].base")
        for j, index in enumerate(a["indices"]):
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise damaged(ids_path, "not a task index: not a list of arrays cryocc wrote", key=f"[{i}].indices[{j}]")
        arrays.append(cast(ArrayEntry, a))
    return Recorded(job_dir, [list(t) for t in manifest["tasks"]], manifest["max_parallel"], arrays)


def read_records(root: Path, recorded: Recorded) -> tuple[dict[int, TaskRecord], dict[int, str]]:
    """The tasks' records by task number, and those that are not what a task writes, by task number
    with what is wrong (left out: one damaged record must not hide the others' progress)."""
    folder = own_file(root, recorded.job_dir, ARRAY_TASKS)
    out: dict[int, TaskRecord] = {}
    bad: dict[int, str] = {}
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return out, bad
    for entry in entries:
        stem, _, suffix = entry.name.partition(".")
        if suffix != "json" or not stem.isdigit() or int(stem) >= len(recorded.tasks):
            continue
        if entry.is_symlink():  # a record leads nowhere else
            bad[int(stem)] = f"{ARRAY_TASKS}/{entry.name} (a symlink)"
            continue
        try:
            out[int(stem)] = check_record(read_json(entry.path, "task record", RECORD_LIMIT), Path(entry.path))
        except ProjectError as exc:
            bad[int(stem)] = f"{ARRAY_TASKS}/{entry.name} (" + (f"{exc.key}: " if exc.key else "") + f"{exc.message})"
    return out, bad


def check_record(doc: Any, path: Path) -> TaskRecord:
    """doc, when it is a task record of this cryocc's format, with the shape of what is read here."""
    what = "task record"
    if _formatted(doc):
        check_format(doc, path, what)
    record = expect_fields(doc, {"status": str, "reason": (str, type(None)), "items": (dict, type(None))}, path, what,
                           required=("status",))
    for name, item in (record.get("items") or {}).items():
        expect_fields(item, {"outcome": str, "reason": (str, type(None))}, path, what, f"items.{name}.", required=("outcome",))
    check_format(doc, path, what)
    return cast(TaskRecord, record)


def queued(queue: Queue, recorded: Recorded, project_real: str) -> dict[int, str]:
    """The recorded tasks SLURM has now, by task number -> "running" or "pending": squeue's lines of
    these array ids that work in this project (a range of pending tasks names them by their indices)."""
    ids = set(recorded.ids())
    out: dict[int, str] = {}
    for jid, state, workdir, _name in queue:
        head = jid.partition("_")[0]
        if head not in ids or os.path.realpath(workdir) != project_real:
            continue
        how = "pending" if state in WAITING else "running"
        if one := TASK_ID.fullmatch(jid):
            task = recorded.task_of(one[1], int(one[2]))
            if task is not None:
                out[task] = how
        elif many := RANGE_ID.fullmatch(jid):
            for task in _in_ranges(recorded, many[1], many[2]):
                out[task] = how
    return out


def _in_ranges(recorded: Recorded, array_id: str, ranges: str) -> list[int]:
    """The recorded tasks of array_id whose index is in squeue's ranges (1-3,7 or 0-9:2): never an
    expansion of the ranges themselves, only a test of each recorded index."""
    spans = []
    for part in ranges.split(","):
        bounds, _, step = part.partition(":")
        first, _, last = bounds.partition("-")
        if first.isdigit() and (not last or last.isdigit()) and (not step or step.isdigit() and int(step) > 0):
            spans.append((int(first), int(last or first), int(step or 1)))
    out = []
    for a in recorded.arrays:
        if a["id"] == array_id:
            out += [a["base"] + i for i in a["indices"] if any(lo <= i <= hi and (i - lo) % step == 0 for lo, hi, step in spans)]
    return out


def alive_arrays(queue: Queue, recorded: Recorded, project_real: str) -> list[str]:
    """The recorded arrays SLURM still lists as arrays (id_index or id_[ranges]) working in this project."""
    ids = set(recorded.ids())
    found = {jid.partition("_")[0] for jid, _, workdir, _ in queue
             if "_" in jid and jid.partition("_")[0] in ids and os.path.realpath(workdir) == project_real}
    return [i for i in recorded.ids() if i in found]


@dataclass
class Progress:
    """How far a job's arrays are: tilt series done (succeeded or filtered) and failed by the tasks'
    records; running and pending by squeue (None: it did not answer); lost: submitted, no record, and
    SLURM has them no more."""

    ids: list[str]
    tasks: int
    tilt_series: int
    max_parallel: int
    done: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # tilt series -> why
    running: int | None = None
    pending: int | None = None
    lost: int = 0
    unsubmitted: int = 0
    tasks_running: int | None = None
    tasks_pending: int | None = None
    unreadable: list[str] = field(default_factory=list)

    def line(self) -> str:
        """`array 1234: 150 done, 20 running, 4 pending, 2 failed (TS_07, TS_31)`: counts of tilt series."""
        if not self.ids:
            return f"array: submitting {self.tasks} task{'s' * (self.tasks != 1)}"
        head = f"array {', '.join(self.ids)}" + (f" ({self.tasks} tasks for {self.tilt_series} tilt series)"
                                                 if self.tasks != self.tilt_series else "")
        parts = [f"{self.done} done"]
        if self.running is None:
            parts.append("SLURM cannot be asked about the rest")
        else:
            parts += [f"{self.running} running", f"{self.pending} pending"]
        if self.failed:
            names = sorted(self.failed)
            parts.append(f"{len(names)} failed ({', '.join(names[:NAMES_SHOWN])}{', ...' if len(names) > NAMES_SHOWN else ''})")
        if self.lost:
            parts.append(f"{self.lost} lost (their tasks ended without a record)")
        if self.unsubmitted:
            parts.append(f"{self.unsubmitted} not submitted")
        if self.unreadable:
            parts.append(f"unreadable: {', '.join(self.unreadable[:2])}" + (", ..." if len(self.unreadable) > 2 else ""))
        return f"{head}: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"ids": self.ids, "tasks": self.tasks, "tilt_series": self.tilt_series, "max_parallel": self.max_parallel,
                "done": self.done, "running": self.running, "pending": self.pending, "failed": self.failed, "lost": self.lost,
                "unsubmitted": self.unsubmitted, "tasks_running": self.tasks_running, "tasks_pending": self.tasks_pending,
                "unreadable": self.unreadable, "line": self.line()}


def progress(root: Path, recorded: Recorded, queue: Queue | None) -> Progress:
    records, bad = read_records(root, recorded)
    n_series = sum(len(t) for t in recorded.tasks)
    p = Progress(recorded.ids(), len(recorded.tasks), n_series, recorded.max_parallel, unreadable=[bad[t] for t in sorted(bad)])
    now = queued(queue, recorded, os.path.realpath(root)) if queue is not None else None
    submitted = {a["base"] + i for a in recorded.arrays for i in a["indices"]}
    if now is not None:
        p.running = p.pending = p.tasks_running = p.tasks_pending = 0
    for task, names in enumerate(recorded.tasks):
        record = records.get(task)
        if record is not None:
            items = record.get("items") or {}
            for name in names:
                item = items.get(name)
                if item is None and record["status"] == "succeeded":
                    p.done += 1  # the input did not hold it: nothing to do for it
                elif item is None or item["outcome"] not in (Outcome.SUCCEEDED, Outcome.FILTERED):
                    p.failed[name] = (item or {}).get("reason") or record.get("reason") or f"its task {record['status']}"
                else:
                    p.done += 1
        elif now is None or task in bad:  # a record that cannot be read says the task ended, not how
            continue
        elif task in now:
            how = now[task]
            setattr(p, how, getattr(p, how) + len(names))
            setattr(p, f"tasks_{how}", getattr(p, f"tasks_{how}") + 1)
        elif task in submitted:
            p.lost += len(names)
        else:
            p.unsubmitted += len(names)
    return p


def one_line(exc: ProjectError) -> str:
    """A damaged array file as a status detail or a log line says it: file, key and what, not the hint."""
    return exc.render().split("\n", 1)[0]


def scancel(ids: list[str]) -> str:
    """scancel these array ids (each already checked: digits, ours, in this project); "" or why not."""
    ids = [i for i in ids if ARRAY_ID.fullmatch(i)]
    if not ids:
        return ""
    try:
        done = subprocess.run(["scancel", *ids], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scancel {' '.join(ids)}: {exc}"
    said = os.fsdecode(done.stderr).strip()
    return f"scancel {' '.join(ids)}: {said or f'exit {done.returncode}'}" if done.returncode else ""
