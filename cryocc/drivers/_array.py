"""A job run as SLURM arrays (execution: array): the supervisor and its tasks.

The supervisor is the driver RELION submitted. It works out the tilt series to do as a job run on one
node would (_items.start: new, changed, failed), splits them into tasks, writes the manifest and
submits one `sbatch --array` of those tasks (split where SLURM's MaxArraySize demands), throttled to
max_parallel, from an argument list: values never reach a shell. Each task runs this same driver on
its tilt series in the job directory, writes its job-level files as its own copies
(Context.job_name) and what became of each tilt series as cryocc_array/tasks/<task>.json, and never
a RELION sentinel. The supervisor asks SLURM about all its arrays in one squeue call per poll, stops
them on RELION_JOB_ABORT_NOW or its own end, merges the tasks' files into the job's, and main()
writes the one sentinel. A task that ended without its record (time limit, memory, a lost node)
fails its tilt series with the last words of its log, which are SLURM's.

A supervisor started again in the same directory (after a crash) finds the arrays it recorded: the
tasks still queued or running are waited for, not submitted again, and tasks already done are kept.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

from ..contract import (
    ABORT_NOW,
    ARRAY_DIR,
    ARRAY_FORMAT,
    ARRAY_IDS,
    ARRAY_LOGS,
    ARRAY_MANIFEST,
    ARRAY_TASKS,
    INPUT_FLAGS,
    ArrayEntry,
    ArrayManifest,
    ArrayRun,
    ArraySettings,
    ItemsPlan,
    Outcome,
    ParamsDoc,
    TaskRecord,
    other_format,
    task_log,
)
from ..fsio import atomic_write
from . import driver_module
from ._context import Context, task_copy
from ._errors import Aborted, JobFailed

TASK_SCRIPT = "#!/bin/sh\n# cryocc: runs one array task of this job: its arguments are the driver's command line\nexec \"$@\"\n"
SQUEUE_FORMAT = "%i|%T|%r"  # 1234_5|RUNNING|None, 1234_[6-9%4]|PENDING|JobArrayTaskLimit
STOP_WAIT_SECONDS = 30.0
SETTLE_SECONDS = 10.0  # how long records missing once SLURM has no task left are looked for again


# --- the supervisor ------------------------------------------------------------------------

def supervise(ctx: Context, argv: list[str]) -> None:
    """Run the job's pending tilt series as array tasks and merge what they made into the job.
    argv: the driver's own arguments (--job, --o, the inputs), which each task is given."""
    settings = _settings_of(ctx.doc)
    tasks = _chunks(list(items_of(ctx.doc)["todo"]), settings["tilt_series_per_task"])
    manifest = ArrayManifest(format=ARRAY_FORMAT, job=ctx.doc["job"], fingerprint=ctx.doc["fingerprint"], tasks=tasks,
                             max_parallel=settings["max_parallel"])
    adopted = _adopt(ctx, manifest)
    if adopted is None:
        decide = getattr(driver_module(ctx.doc["type"]), "decide", None)
        if decide is not None:  # what the job decides over all its tilt series, before they go their ways
            decide(ctx)
        _fresh(ctx, {**manifest, "decisions": ctx.decisions})
        arrays: list[ArrayEntry] = []
        missing = list(range(len(tasks)))
    else:
        arrays, missing, ctx.decisions = adopted
        ctx.say(f"cryocc driver: an earlier start of this job submitted arrays {', '.join(a['id'] for a in arrays)}: "
                f"{len(tasks) - len(missing)} of its {len(tasks)} tasks are done or still run, and are not submitted again")
    try:
        if missing:
            arrays += _submit(ctx, argv, missing, settings, after=arrays)
        ctx.array = ArrayRun(ids=[a["id"] for a in arrays], tasks=len(tasks), max_parallel=settings["max_parallel"])
        _wait(ctx, arrays, len(tasks), settings["poll_seconds"])
    except Aborted:
        raise  # _wait cancelled the arrays and waited for them
    except BaseException:
        # SIGTERM (scancel, the supervisor's time limit: SIGKILL follows after KillWait), a failed sbatch, a bug:
        # cancel every array recorded, and vouch for what the tasks finished before the sentinel, without waiting
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        recorded = _arrays_recorded(ctx) or arrays
        _cancel(ctx, recorded, wait=False)
        try:
            _merge(ctx, tasks, recorded, final=False)
        except Exception as exc:  # noqa: BLE001 (the first error is the job's; this one only goes to the log)
            ctx.say(f"cryocc driver: could not keep what the tasks finished: {exc}")
        raise
    _merge(ctx, tasks, arrays)


def items_of(doc: ParamsDoc) -> ItemsPlan:
    """The tilt series of a job run as arrays: it works tilt series by tilt series."""
    items = doc.get("items")
    if not items:
        raise JobFailed(f"its params document gives job {doc.get('job')} no tilt series: only a job of tilt series runs as arrays")
    return items


def _settings_of(doc: ParamsDoc) -> ArraySettings:
    settings = doc.get("array")
    if not settings:
        raise JobFailed(f"its params document does not run job {doc.get('job')} as arrays")
    return settings


def _chunks(names: list[str], size: int) -> list[list[str]]:
    return [names[i:i + size] for i in range(0, len(names), size)]


def _fresh(ctx: Context, manifest: ArrayManifest) -> None:
    """A new manifest; what earlier tasks in this directory recorded is gone (their logs stay)."""
    tasks_dir = ctx.path(ARRAY_TASKS)
    if tasks_dir.is_dir():
        for old in tasks_dir.iterdir():
            if old.suffix == ".json":
                old.unlink()
    atomic_write(ctx.path(ARRAY_IDS), "[]\n")
    atomic_write(ctx.path(ARRAY_MANIFEST), json.dumps(manifest, indent=1) + "\n")
    atomic_write(ctx.path(f"{ARRAY_DIR}/task.sh"), TASK_SCRIPT)


def _adopt(ctx: Context, manifest: ArrayManifest) -> tuple[list[ArrayEntry], list[int], dict[str, Any]] | None:
    """An earlier start of this same manifest in this directory (a supervisor requeued or started again
    after a crash): its arrays, the tasks neither succeeded nor still queued or running (their old
    records removed), and the decisions its tasks were given; None: start afresh (a manifest of
    another format is another manifest)."""
    try:
        old = json.loads(ctx.path(ARRAY_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    arrays = _arrays_recorded(ctx)
    if not isinstance(old, dict) or {k: old.get(k) for k in manifest} != manifest or not arrays:
        return None
    alive = _alive(ctx, arrays)
    if alive is None:  # never a second array beside tasks that may still run
        raise JobFailed("squeue did not answer: cannot tell whether the tasks an earlier start of this job submitted still run")
    records = _recorded(ctx, arrays)
    running = {a["base"] + i for a in arrays for i in a["indices"] if (a["id"], i) in alive}
    done = {n for n, r in records.items() if r.get("status") == "succeeded"}
    missing = [t for t in range(len(manifest["tasks"])) if t not in done and t not in running]
    for t in missing:
        ctx.path(f"{ARRAY_TASKS}/{t}.json").unlink(missing_ok=True)
    return arrays, missing, dict(old.get("decisions") or {})


def _arrays_recorded(ctx: Context) -> list[ArrayEntry]:
    """The arrays this job directory's supervisors submitted (arrays.json), each {id, base, indices}."""
    try:
        arrays = json.loads(ctx.path(ARRAY_IDS).read_text())
    except (OSError, ValueError):
        return []
    ok = isinstance(arrays, list) and all(isinstance(a, dict) and str(a.get("id", "")).isdigit() and isinstance(a.get("base"), int)
                                          and isinstance(a.get("indices"), list) for a in arrays)
    return cast(list[ArrayEntry], arrays) if ok else []


def _submit(ctx: Context, argv: list[str], todo: list[int], settings: ArraySettings, after: list[ArrayEntry]) -> list[ArrayEntry]:
    """One sbatch --array per block of tasks SLURM's MaxArraySize allows (indices 0..MaxArraySize-1),
    each recorded as soon as SLURM took it. The throttle is the job's: each array starts after the one
    before it has ended (--dependency=afterany), as do the first and arrays of an earlier start still running."""
    limit = _max_array_size()
    if after:  # SLURM refuses a dependency on a job it has forgotten: only arrays it still has
        alive = _alive(ctx, after) or {}
        after = [a for a in after if any(array_id == a["id"] for array_id, _ in alive)]
    arrays: list[ArrayEntry] = []
    by_base: dict[int, list[int]] = {}
    for t in todo:
        by_base.setdefault(t // limit * limit, []).append(t)
    for base, block in sorted(by_base.items()):
        indices = [t - base for t in block]
        before = [a["id"] for a in (arrays[-1:] or after)]
        array_id = _sbatch(ctx, argv, base, indices, settings, before)
        arrays.append(ArrayEntry(id=array_id, base=base, indices=indices))
        atomic_write(ctx.path(ARRAY_IDS), json.dumps(_arrays_recorded(ctx) + [arrays[-1]], indent=1) + "\n")
        ctx.say(f"cryocc driver: submitted array {array_id}: {len(indices)} tasks, at most {settings['max_parallel']} at once"
                + (f", after {', '.join(before)}" if before else ""))
    return arrays


def _max_array_size() -> int:
    """SLURM's MaxArraySize (scontrol show config), 1001 (its default) when it cannot be read."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 1001
    for line in out.decode(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return 1001


def array_spec(indices: list[int], throttle: int) -> str:
    """--array's value: ranges of the indices, then %throttle (never more than there are tasks)."""
    parts, start = [], None
    for i, n in enumerate(indices):
        if start is None:
            start = n
        if i + 1 == len(indices) or indices[i + 1] != n + 1:
            parts.append(str(n) if n == start else f"{start}-{n}")
            start = None
    return ",".join(parts) + f"%{max(1, min(throttle, len(indices)))}"


def sbatch_argv(ctx: Context, argv: list[str], base: int, indices: list[int], settings: ArraySettings,
                after: list[str] | None = None) -> list[str]:
    r = settings["resources"]
    logs = str(ctx.path(ARRAY_LOGS)).replace("%", "%%")  # sbatch expands % in file names: %% is one
    args = ["sbatch", "--parsable", f"--array={array_spec(indices, settings['max_parallel'])}",
            f"--job-name={ctx.doc['job']}.tasks", f"--chdir={ctx.project}", "--nodes=1", "--ntasks=1",
            f"--cpus-per-task={r['cpus']}", f"--mem={r['mem']}", f"--time={r['time']}",
            f"--output={logs}/%A_%a.out", f"--error={logs}/%A_%a.err"]
    args += [f"--partition={r['partition']}"] * bool(r.get("partition"))
    args += [f"--gres=gpu:{r['gpus']}"] * bool(r.get("gpus"))
    args += [f"--constraint={r['constraint']}"] * bool(r.get("constraint"))
    args += [f"--dependency=afterany:{':'.join(after or ())}"] * bool(after)
    args += list(r.get("sbatch") or ())
    task = [sys.executable, "-m", "cryocc.drivers", "--task-base", str(base), *argv]
    return [*args, str(ctx.path(f"{ARRAY_DIR}/task.sh")), *task]


def _sbatch(ctx: Context, argv: list[str], base: int, indices: list[int], settings: ArraySettings, after: list[str]) -> str:
    ctx.path(ARRAY_LOGS).mkdir(parents=True, exist_ok=True)
    command = sbatch_argv(ctx, argv, base, indices, settings, after)
    ctx.say(f"+ {shlex.join(command[:command.index(str(ctx.path(f'{ARRAY_DIR}/task.sh')))])} {ARRAY_DIR}/task.sh ...")
    try:
        done = subprocess.run(command, capture_output=True, env=task_environment(), timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobFailed(f"sbatch could not submit the array: {exc}") from None
    words = (done.stderr or done.stdout).decode(errors="replace").strip()
    array_id = done.stdout.decode(errors="replace").strip().split(";")[0]
    if done.returncode != 0 or not array_id.isdigit():
        raise JobFailed(f"sbatch refused the array (exit {done.returncode}): {words or 'no output'}")
    return array_id


def task_environment() -> dict[str, str]:
    """The supervisor's environment without its own allocation: a task's SLURM_* and SBATCH_* are its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}


def _alive(ctx: Context, arrays: list[ArrayEntry]) -> dict[tuple[str, int], str] | None:
    """The tasks of these arrays SLURM still has queued or running, (array id, index) -> state, from one
    squeue call (--array: a line per task, pending ones too); None when squeue cannot say."""
    ids = ",".join(a["id"] for a in arrays)
    try:
        done = subprocess.run(["squeue", "--noheader", "--array", f"--jobs={ids}", f"--format={SQUEUE_FORMAT}"],
                              capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        # SLURM forgets a finished job after MinJobAge: squeue then refuses its id, which means it is gone
        return {} if b"Invalid job id" in done.stderr else None
    alive: dict[tuple[str, int], str] = {}
    for line in done.stdout.decode(errors="replace").splitlines():
        job, _, rest = line.partition("|")
        array_id, _, index = job.strip().partition("_")
        if index.isdigit():
            alive[(array_id, int(index))] = rest.partition("|")[0]
    return alive


def _recorded(ctx: Context, arrays: list[ArrayEntry], known: dict[int, TaskRecord] | None = None) -> dict[int, TaskRecord]:
    """The tasks that wrote their record, by number: a regular file, written by a task of one of these
    arrays under its own number (not a stray task of another start); known: those read before. Such a
    record of another format (a task that ran another cryocc) fails the job: what it says cannot be read."""
    out: dict[int, TaskRecord] = dict(known or {})
    folder = ctx.path(ARRAY_TASKS)
    if not folder.is_dir():
        return out
    ours = {f"{a['id']}_{i}": a["base"] + i for a in arrays for i in a["indices"]}
    for entry in os.scandir(folder):
        stem, _, suffix = entry.name.partition(".")
        if suffix != "json" or not stem.isdigit() or int(stem) in out or not entry.is_file(follow_symlinks=False):
            continue
        try:
            record = json.loads(Path(entry.path).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or ours.get(str(record.get("slurm"))) != int(stem) or record.get("task") != int(stem):
            continue
        if problem := other_format(record, (ARRAY_FORMAT,)):
            raise JobFailed(f"the task record {ctx.rel(Path(entry.path))} {problem}: run the job again with this cryocc")
        if isinstance(record.get("items"), dict) and isinstance(record.get("files", {}), dict):
            out[int(stem)] = cast(TaskRecord, record)
    return out


def _wait(ctx: Context, arrays: list[ArrayEntry], n_tasks: int, poll_seconds: float) -> None:
    """Until every task has its record, or SLURM has none of them left; RELION_JOB_ABORT_NOW cancels them."""
    last_ask, said, failures = 0.0, "", 0
    records: dict[int, TaskRecord] = {}
    while True:
        if (ctx.job_dir / ABORT_NOW).exists():
            _cancel(ctx, arrays)
            raise Aborted("RELION_JOB_ABORT_NOW found: its array was cancelled")
        records = _recorded(ctx, arrays, records)
        if len(records) >= n_tasks:
            return
        if time.monotonic() - last_ask >= poll_seconds:
            last_ask = time.monotonic()
            alive = _alive(ctx, arrays)
            failures = failures + 1 if alive is None else 0
            if failures >= 10:
                raise JobFailed("squeue has not answered about the array 10 times in a row")
            if alive is not None and not alive:
                _settle(ctx, arrays, records, n_tasks)
                return
            line = progress(records, alive, n_tasks)
            if line != said:
                ctx.say(f"cryocc driver: array {', '.join(a['id'] for a in arrays)}: {line}")
                said = line
        time.sleep(min(1.0, poll_seconds))


def _settle(ctx: Context, arrays: list[ArrayEntry], records: dict[int, TaskRecord], n_tasks: int) -> None:
    """SLURM has none of the tasks left, but some records are missing: on a shared file system a record
    written on another node moments ago may not be listed here yet. Look again for a while before they
    count as lost."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(_recorded(ctx, arrays, records)) < n_tasks and time.monotonic() < deadline:
        time.sleep(1.0)


def progress(records: dict[int, TaskRecord], alive: dict[tuple[str, int], str] | None, n_tasks: int) -> str:
    """'150 done, 20 running, 4 pending, 2 failed (TS_07, TS_31)': tasks, and the tilt series that failed."""
    failed = sorted(name for r in records.values() for name, i in (r.get("items") or {}).items()
                    if isinstance(i, dict) and i.get("outcome") == Outcome.FAILED)
    running = sum(1 for state in (alive or {}).values() if state in ("RUNNING", "COMPLETING"))
    pending = sum(1 for state in (alive or {}).values() if state not in ("RUNNING", "COMPLETING"))
    words = f"{len(records)} done, {running} running, {pending} pending"
    return words + (f", {len(failed)} failed ({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''})" if failed else "")


def _cancel(ctx: Context, arrays: list[ArrayEntry], wait: bool = True) -> None:
    """scancel every array, then (wait) until SLURM has none of their tasks left, at most 30 s. Without
    waiting when the supervisor itself is ending: SLURM kills it KillWait after its SIGTERM."""
    if not arrays:
        return
    try:
        subprocess.run(["scancel", *(a["id"] for a in arrays)], capture_output=True, timeout=10 if not wait else 60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return
    if not wait:
        return
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        alive = _alive(ctx, arrays)
        if alive is not None and not alive:
            return
        time.sleep(0.5)


# --- merging -----------------------------------------------------------------------------

def _merge(ctx: Context, tasks: list[list[str]], arrays: list[ArrayEntry], final: bool = True) -> None:
    """Each task's record into the job's items, and its job-level files into the job's. Not final (the
    supervisor is ending early): what the tasks finished is vouched for, the rest fails as cancelled."""
    records = _recorded(ctx, arrays)
    files: dict[str, str] = {}
    for number, names in enumerate(tasks):
        record = records.get(number)
        if record is None:
            why = _lost(ctx, number, arrays) if final else "cancelled with its supervisor before it ended"
            for name in names:
                ctx.item(name, Outcome.FAILED, why)
            continue
        for name, how in (record.get("files") or {}).items():  # a task that only wrote its own copy does not decide
            if _job_level_name(name) and how in MERGES and (how or name not in files):
                files[name] = how
        _merge_items(ctx, number, names, record, arrays)
    first = next((records[n] for n in sorted(records) if records[n].get("commands")), None)
    if first is not None:  # the supervisor's own commands (a decision), then one task's, for the receipt
        ctx.tools_run.extend(first["commands"])
    ok = [n for n in range(len(tasks)) if n in records and records[n].get("status") == "succeeded"]
    for name, how in sorted(files.items()):
        _merge_file(ctx, name, how, ok, range(len(tasks)))
    merge = getattr(driver_module(ctx.doc["type"]), "merge", None)
    if merge is not None and ok:  # what only the job type knows how to put together (subtomo_extraction's particles)
        merge(ctx, ok)



def _merge_items(ctx: Context, number: int, names: list[str], record: TaskRecord, arrays: list[ArrayEntry]) -> None:
    """One task's tilt series into the job's items: as the task recorded them if it succeeded, else
    failed with its reason (and SLURM's words for its end, from the task's log)."""
    items = record.get("items") or {}
    whole = record.get("status") == "succeeded"
    slurm = "" if whole else _slurm_words(ctx, number, arrays)  # a SIGTERM's cause: SLURM says it in the task's log
    for name in names:
        if whole and name in items:
            ctx.items[name] = items[name]
        elif whole:
            ctx.items.pop(name, None)  # the input did not hold it
            continue
        else:  # a task that failed as a whole handed on nothing of it
            why = (items.get(name) or {}).get("reason") or record.get("reason") or f"its task {record.get('status')}"
            ctx.item(name, Outcome.FAILED, f"{why}: {slurm}" if slurm and slurm not in why else why)
        ctx.seen.add(name)
    ctx.quality.update(record.get("quality") or {})

MERGES = ("rows", "loop", "table", "one", "")  # Context.job_name's


def _job_level_name(name: Any) -> bool:
    """A job-level file as a task names it: relative, inside the job directory (a record is a file in a
    group-writable project: what it names is checked before anything is moved or removed by it)."""
    return isinstance(name, str) and bool(name) and not name.startswith("/") and ".." not in Path(name).parts and "\0" not in name


def _lost(ctx: Context, number: int, arrays: list[ArrayEntry]) -> str:
    """Why a task left no record: SLURM's words in its error log, else its last line."""
    place = _place(number, arrays)
    if place is None:
        return f"task {number} was never submitted"
    lines = _err_lines(ctx, *place)
    last = (_slurm_words(ctx, number, arrays) or (lines or [""])[-1])[:300]
    return f"task {number} (SLURM {place[0]}_{place[1]}) ended without a result" + \
        (f": {last}" if last else " (killed: its time or memory limit, or its node was lost)")


def _place(number: int, arrays: list[ArrayEntry]) -> tuple[str, int] | None:
    """(array id, index) of a task: its latest submission."""
    return next(((a["id"], number - a["base"]) for a in reversed(arrays) if number - a["base"] in a["indices"]), None)


def _err_lines(ctx: Context, array_id: str, index: int) -> list[str]:
    try:
        text = ctx.path(task_log(array_id, index, "err")).read_text(errors="replace")
    except OSError:
        return []
    return [ln.strip() for ln in text.splitlines()[-200:] if ln.strip()]


def _slurm_words(ctx: Context, number: int, arrays: list[ArrayEntry]) -> str:
    """The last line slurmstepd wrote into a task's error log (a time limit, an out-of-memory kill,
    a cancellation), or ''."""
    place = _place(number, arrays)
    said = [ln for ln in _err_lines(ctx, *place) if "slurmstepd" in ln] if place else []
    return said[-1][:300] if said else ""


def task_name(ctx: Context, name: str, number: int) -> Path:
    return ctx.path(task_copy(name, number))


def _merge_file(ctx: Context, name: str, how: str, ok: list[int], every: range) -> None:
    copies = [task_name(ctx, name, n) for n in ok]
    present = [c for c in copies if c.is_file() and not c.is_symlink()]
    if how == "rows" and name == ctx.doc.get("items_star"):
        from ._relion_star import read_global, write_global

        rows = [r for c in present for r in read_global(c)]
        if rows or ctx.kept_rows:
            write_global(ctx, name, rows)
    elif how == "loop":  # one loop of rows by tomogram (picks): the tasks', and an extension's kept ones
        _merge_loop(ctx, name, present)
    elif how == "table" and present:
        lines = [ln for c in present for ln in c.read_text().splitlines()]
        header = lines[0] if lines else ""
        atomic_write(ctx.path(name), "\n".join([header, *(ln for ln in lines if ln != header)]) + "\n")
    elif how in ("one", "rows") and present:
        os.replace(present[0], ctx.path(name))
    for n in every:  # every task's own copy, also of failed tasks: the job directory holds the job's
        task_name(ctx, name, n).unlink(missing_ok=True)


def _merge_loop(ctx: Context, name: str, present: list[Path]) -> None:
    from ..star import read_star
    from ._relion_star import by_tomogram, loop_text

    loops = [(block, rows) for c in present for block, rows in read_star(c).items() if isinstance(rows, list)]
    old = ctx.path(name)
    kept = [r for rows in (read_star(old).values() if ctx.keep and old.is_file() else ()) if isinstance(rows, list)
            for r in rows if r.get("rlnTomoName") in ctx.keep]
    rows = [r for _, block_rows in loops for r in block_rows]
    if not rows and not kept:
        raise JobFailed(f"no task wrote a row of {name} (for picks: no candidates above the cut-off in any tomogram)")
    atomic_write(old, loop_text(loops[0][0] if loops else "particles", by_tomogram(kept, rows)))


# --- a task ------------------------------------------------------------------------------

def task_number(base: int) -> int:
    index = os.environ.get("SLURM_ARRAY_TASK_ID", "")
    if not index.isdigit():
        raise JobFailed("an array task runs with SLURM_ARRAY_TASK_ID set (sbatch --array)")
    return base + int(index)


def task_of(job_dir: Path, doc: ParamsDoc, number: int) -> tuple[list[str], dict[str, Any]]:
    """A task's tilt series, and the job's decisions, from the manifest its supervisor wrote (in the
    format this cryocc reads: the supervisor is this same cryocc, or the task cannot tell what to do)."""
    manifest = json.loads((job_dir / ARRAY_MANIFEST).read_text())
    if problem := other_format(manifest, (ARRAY_FORMAT,)):
        raise JobFailed(f"{job_dir / ARRAY_MANIFEST} {problem}: run the job again with this cryocc")
    if manifest.get("fingerprint") != doc["fingerprint"] or not 0 <= number < len(manifest["tasks"]):
        raise JobFailed(f"{ARRAY_MANIFEST} has no task {number} of this job")
    return list(manifest["tasks"][number]), dict(manifest.get("decisions") or {})



def write_task_record(ctx: Context, status: str, reason: str | None, started: float) -> None:
    assert ctx.task is not None
    record = TaskRecord(format=ARRAY_FORMAT, task=ctx.task, status=status, reason=reason,
                        items=ctx.items, quality=ctx.quality, files=ctx.task_files, commands=ctx.tools_run,
                        devices=os.environ.get("CUDA_VISIBLE_DEVICES"),  # the GPUs SLURM gave the task (gres), as its tools see them
                        host=os.uname().nodename, slurm=f"{os.environ.get('SLURM_ARRAY_JOB_ID', '')}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}",
                        started=round(started, 3), seconds=round(time.time() - started, 3))
    atomic_write(ctx.path(f"{ARRAY_TASKS}/{ctx.task}.json"), json.dumps(record, indent=1, sort_keys=True) + "\n")


def own_argv(argv: list[str]) -> list[str]:
    """The driver's arguments a task is given: --job, --o and the inputs RELION passed, nothing else."""
    keep = {"--job", "--o", "--j", *INPUT_FLAGS.values()}
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        flag, eq, value = arg.partition("=")
        if flag in keep:
            out += [flag, value if eq else next(it, "")]
    return out
