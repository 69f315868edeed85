"""One read-only view of a RELION project on disk, and what happened to each job learned back from
it: the scheme.star that ran the job (rlnSchemeJobName, HasStarted), default_pipeline.star, the job
directory's sentinels, the driver's receipt, and, for a job with no sentinel yet, its own process or
its own SLURM job. plan, status, run, abort, gc and the watchdog read the project through it; a stat
where it can.

One truth about running: a job runs only while its own process (a job script run by bash records
its pid) or its own SLURM job does; the schemer runs only while the relion_schemer cryocc started
(its pid in .cryocc/run.json) does. A site that runs jobs by bash never has squeue asked about them:
any of the user's SLURM jobs would say nothing about a job that is in no queue."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .. import confine
from ..contract import (
    ABORTED,
    ARRAY_IDS,
    EXTERNAL_DIR,
    FAILURE,
    JOB_PID,
    PIPELINE,
    RECEIPT,
    RUN_RECORD,
    SLURM_ID,
    SUCCESS,
    WATCHDOG_NOTE,
    Outcome,
    Receipt,
    RunRecord,
    scheme_dir,
    schemer_lock_dir,
)
from ..errors import ProjectError
from ..lockfile.lockfile import JobLock, Lockfile
from ..project_files import ABSENT, SMALL_LIMIT, damaged, expect_fields, read_json, read_text
from ..star import Blocks, pairs_of, parse_star, rows_of
from ..states import Status
from . import arrays
from .receipts import outputs_missing, read_receipt, receipt_mismatch


@dataclass
class JobState:
    name: str
    status: Status
    job_dir: str | None = None
    scheme: str | None = None
    receipt: Receipt | None = None
    detail: str = ""
    mismatch: str = ""  # why its receipt does not match the lockfile's fingerprint (it is then incomplete)
    slurm: dict[str, str] = field(default_factory=dict)  # id, state for a job still in SLURM
    failed_items: dict[str, str | None] = field(default_factory=dict)  # tilt series the job succeeded without, and why
    continues: str | None = None  # an extension not run yet: the job directory it will run in again
    array: dict[str, Any] | None = None  # a job run as SLURM arrays, while it runs: arrays.Progress.to_json()


class Project:
    """Lazy, cached reads of one project's RELION files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._schemes: dict[str, Blocks] = {}
        self._pipeline: Blocks | None = None
        self._status: dict[str, str] | None = None
        self._queue: list[tuple[str, str, str, str]] | None = None
        self._asked = False  # squeue is asked once, when first needed
        self._real = os.path.realpath(root)
        self._schemer: RunRecord | None | bool = False  # False: not looked for yet

    def scheme(self, name: str) -> Blocks:
        if name not in self._schemes:
            self._schemes[name] = read_star_file(self.root / scheme_dir(name) / "scheme.star", SCHEME_SHAPE,
                                                 writing=lambda: self.scheme_locked(name))
        return self._schemes[name]

    def scheme_rows(self, scheme: str) -> list[dict[str, str]]:
        return rows_of(self.scheme(scheme), "scheme_jobs")

    def scheme_started(self, scheme: str) -> bool:
        """True once relion_schemer has touched the scheme (lock dir, a started job, or a moved current node)."""
        if self.scheme_locked(scheme):
            return True
        jobs = self.scheme_rows(scheme)
        if not jobs:
            return False
        first = jobs[0]["rlnSchemeJobNameOriginal"]
        general = pairs_of(self.scheme(scheme), "scheme_general")
        # a continued job's row says started from the beginning (it names its directory): only new rows tell
        return any(r.get("rlnSchemeJobHasStarted") == "1" and r.get("rlnSchemeJobMode") == "new" for r in jobs) or \
            general.get("rlnSchemeCurrentNodeName") != first

    def current_job_dir(self, scheme: str) -> str | None:
        """The job directory of the scheme's current node, once it has one."""
        node = pairs_of(self.scheme(scheme), "scheme_general").get("rlnSchemeCurrentNodeName")
        for row in self.scheme_rows(scheme):
            if row.get("rlnSchemeJobNameOriginal") == node and row.get("rlnSchemeJobName", "").startswith(EXTERNAL_DIR + "/"):
                return row["rlnSchemeJobName"]
        return None

    def started_job_dirs(self, scheme: str) -> list[str]:
        """The job directories the schemer has started for the scheme."""
        return [r["rlnSchemeJobName"] for r in self.scheme_rows(scheme)
                if r.get("rlnSchemeJobHasStarted") == "1" and r.get("rlnSchemeJobName", "").startswith(EXTERNAL_DIR + "/")]

    def scheme_job_dir(self, scheme: str, job: str) -> str | None:
        for row in self.scheme_rows(scheme):
            if row.get("rlnSchemeJobNameOriginal") == job and row.get("rlnSchemeJobHasStarted") == "1":
                name = row.get("rlnSchemeJobName", "")
                return name if name.startswith(EXTERNAL_DIR + "/") else None
        return None

    def scheme_locked(self, scheme: str) -> bool:
        return (self.root / schemer_lock_dir(scheme)).exists()

    def queue(self) -> list[tuple[str, str, str, str]] | None:
        """This user's SLURM jobs, array tasks among them, from the one squeue call of this look."""
        if not self._asked:
            self._queue, self._asked = squeue(), True
        return self._queue

    def slurm(self, job_dir: str) -> dict[str, str] | None:
        """The SLURM job RELION submitted for job_dir, if still queued or running ({} if not; None when
        SLURM cannot be asked). Every RELION project names its jobs External/jobNNN/, so a job is ours
        by its working directory (RELION submits from the project directory) and the id its script
        recorded as it started, or else (still queued) its name: a stale id may be another's job now."""
        queue = self.queue()
        if queue is None:
            return None
        # an id an earlier run of a continued job recorded is not this run's
        recorded = this_run(self.root / job_dir, SLURM_ID)
        job_id = (read_text(self.root / job_dir / SLURM_ID, "SLURM job id", SMALL_LIMIT) or "").strip() if recorded else ""
        for jid, state, workdir, name in queue:
            ours = (jid == job_id if job_id else name == job_dir) and os.path.realpath(workdir) == self._real
            if ours:
                return {"id": jid, "state": state}
        return {}

    def recorded_arrays(self, job_dir: str) -> arrays.Recorded | None:
        """The arrays of the job's latest run (None: it ran none): its supervisor's, or an earlier run's
        while SLURM still has some of their tasks. A damaged manifest or list is an error naming it."""
        recorded = arrays.read_recorded(self.root, job_dir)
        if recorded is None or this_run(self.root / job_dir, ARRAY_IDS) or self.live_arrays(recorded):
            return recorded
        return None

    def live_arrays(self, recorded: arrays.Recorded) -> list[str]:
        """The ids of recorded arrays that squeue lists as arrays of ours working in this project."""
        queue = self.queue() if recorded.arrays else None
        return arrays.alive_arrays(queue, recorded, self._real) if queue is not None else []

    def array_progress(self, recorded: arrays.Recorded) -> arrays.Progress:
        return arrays.progress(self.root, recorded, self.queue() if recorded.arrays else None)

    def submitted_with_sbatch(self, job_dir: str) -> bool | None:
        """Whether RELION submitted the job's latest run with sbatch, by the qsub of the job.star it
        writes into the job directory as it submits (None: that job.star says nothing readable)."""
        text = read_small(self.root / job_dir / "job.star", "job.star")
        try:
            rows = rows_of(parse_star(text), "joboptions_values") if text else []
        except (ProjectError, ValueError, IndexError):  # RELION may be writing it: nothing said yet
            rows = []
        qsub = next((r.get("rlnJobOptionValue") for r in rows if r.get("rlnJobOptionVariable") == "qsub"), None)
        return None if qsub is None else is_sbatch(qsub)

    def job_process(self, job_dir: str) -> tuple[str, int] | None:
        """(host, pid) of the job script run by bash, as it recorded itself for this run (a record
        older than the job.star RELION wrote as it submitted the run is an earlier run's)."""
        d = self.root / job_dir
        if not this_run(d, JOB_PID):
            return None
        words = (read_small(d / JOB_PID, "job process record") or "").split()
        if len(words) != 2 or not words[1].isdigit():
            return None
        return words[0], int(words[1])

    def liveness(self, job_dir: str) -> tuple[bool | None, str, dict[str, str]]:
        """Whether the job started in job_dir runs now, by its own process or its own SLURM job (None:
        it cannot be told from here), why, and its SLURM job (id, state) while queued or running."""
        how = self.submitted_with_sbatch(job_dir)
        if how is None:  # RELION writes job.star as it submits: without it, neither squeue nor a pid can say
            return None, "RELION's job.star in it says nothing of how it was submitted", {}
        if how is False:  # run by bash on this machine: never in squeue
            proc = self.job_process(job_dir)
            if proc is None:
                return None, "its script has not recorded its process", {}
            host, pid = proc
            if host != socket.gethostname():
                return None, f"its process {pid} runs on {host}, which cannot be checked from here", {}
            if process_runs(pid, job_dir, self._real):
                return True, f"its process {pid} runs", {}
            return False, f"its process {pid} ended without a sentinel", {}
        slurm = self.slurm(job_dir)
        if slurm is None:
            return None, "SLURM cannot be asked (squeue did not answer)", {}
        if slurm:
            return True, f"SLURM job {slurm['id']} {slurm['state']}", slurm
        return False, "SLURM does not know it", {}

    def schemer(self) -> RunRecord | None:
        """The relion_schemer cryocc started for this project, while it runs."""
        if self._schemer is False:
            self._schemer = live_schemer(self.root)
        return None if isinstance(self._schemer, bool) else self._schemer

    def schemer_runs(self, scheme: str) -> bool:
        """Whether a relion_schemer of the scheme runs: the one cryocc started, or one started by
        hand (it holds the scheme's lock)."""
        record = self.schemer()
        if record is not None:
            return bool(record["scheme"] == scheme)
        return self.scheme_locked(scheme) and foreign_schemer(self.root, scheme)

    def pipeline(self) -> Blocks:
        """default_pipeline.star: RELION's processes, nodes and edges ({} before RELION ran a job)."""
        if self._pipeline is None:
            self._pipeline = read_star_file(self.root / PIPELINE, PIPELINE_SHAPE,
                                            writing=(self.root / ".relion_lock" / f"lock_{PIPELINE}").exists)
        return self._pipeline

    def pipeline_status(self, job_dir: str) -> str | None:
        if self._status is None:
            rows = rows_of(self.pipeline(), "pipeline_processes")
            self._status = {r["rlnPipeLineProcessName"]: r.get("rlnPipeLineProcessStatusLabel", "") for r in rows}
        return self._status.get(job_dir)


def this_run(job_dir: Path, name: str) -> bool:
    """Whether a file a job script writes as it starts is there for the job's latest run: RELION writes
    the job's job.star into its directory as it submits each run (a continued job runs again there),
    so one older than that is an earlier run's."""
    try:
        written = os.stat(job_dir / name).st_mtime_ns
    except OSError:
        return False
    try:
        return written >= os.stat(job_dir / "job.star").st_mtime_ns
    except OSError:
        return True


def is_sbatch(command: str) -> bool:
    """Whether a submit command (a site profile's submit, RELION's qsub) is SLURM's sbatch."""
    words = command.split()
    return bool(words) and os.path.basename(words[0]) == "sbatch"


def read_small(path: Path, what: str) -> str | None:
    """A small file a job script, a driver or RELION wrote in a job directory (None when absent);
    a FIFO, a device or bytes that are not UTF-8 are an error naming it (project_files)."""
    return read_text(path, what, SMALL_LIMIT)


def _args(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read(1 << 16).split(b"\0")
    except OSError:
        return None


def process_runs(pid: int, job_dir: str, root_real: str) -> bool:
    """Whether pid is still the job script run for job_dir from the project (not a process that got
    its pid since): its command line names the job directory and it works in the project."""
    args = _args(pid)
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return args is not None and any(job_dir.encode() in a for a in args) and cwd == root_real


def schemer_alive(pid: int, scheme: str) -> bool:
    """Whether pid is a relion_schemer (natively or in its container) running the scheme."""
    args = _args(pid) or []
    return any(a == b"--scheme" and b == scheme.encode() for a, b in zip(args, args[1:], strict=False))


def live_schemer(root: Path) -> RunRecord | None:
    """The relion_schemer cryocc started for this project (.cryocc/run.json: host, pid, scheme), if it
    still runs on this host."""
    record = read_run_record(root)
    if record is None or record["host"] != socket.gethostname():
        return None
    return record if schemer_alive(record["pid"], record["scheme"]) else None


def foreign_schemer(root: Path, scheme: str) -> bool:
    """A relion_schemer of this scheme started outside cryocc, in this project (every project's
    first scheme is cryocc_001: one working elsewhere is not this one)."""
    if not shutil.which("pgrep"):
        return False
    out = subprocess.run(["pgrep", "-f", f"relion_schemer.*--scheme {scheme}( |$)"], capture_output=True, text=True)
    real = os.path.realpath(root)
    for pid in out.stdout.split():
        try:
            if os.readlink(f"/proc/{pid}/cwd") == real:
                return True
        except OSError:
            continue
    return False


def squeue() -> list[tuple[str, str, str, str]] | None:
    """This user's SLURM jobs as (id, state, working directory, name); None when SLURM cannot be asked."""
    if not shutil.which("squeue"):
        return None
    try:
        out = subprocess.run(["squeue", "-h", "--me", "-o", "%i\t%T\t%Z\t%j"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    # bytes as the file system names them: any job of the user's may run in a directory whose name is not UTF-8
    text = os.fsdecode(out.stdout)
    return [tuple(line.split("\t", 3)) for line in text.splitlines() if line.count("\t") >= 3]  # type: ignore[misc]


# The blocks cryocc reads of a STAR file (the first one is always there) and the labels each row of a loop must have.
SCHEME_SHAPE = {"scheme_general": (), "scheme_jobs": ("rlnSchemeJobNameOriginal", "rlnSchemeJobName")}
PIPELINE_SHAPE = {"pipeline_general": (), "pipeline_processes": ("rlnPipeLineProcessName",),
                  "pipeline_input_edges": ("rlnPipeLineEdgeFromNode", "rlnPipeLineEdgeProcess"),
                  "pipeline_output_edges": ("rlnPipeLineEdgeProcess", "rlnPipeLineEdgeToNode")}


def read_star_file(path: Path, shape: dict[str, tuple[str, ...]], writing: Callable[[], bool] = lambda: False) -> Blocks:
    """A STAR file RELION or cryocc wrote in the project ({} when there is none), when it has the
    blocks and labels of shape; else an error naming the file and the block. RELION rewrites its
    STAR files in place: a damaged one is read again, once, and then as long as writing() (its lock
    is held: the writer may have finished, and let go of its lock, between our read and our look)."""
    for attempt in range(STAR_RETRIES):
        try:
            return _star_of_shape(path, shape)
        except ProjectError:  # damaged, or not STAR as RELION reads it (half written?)
            if attempt and not writing():
                raise
            time.sleep(0.25)
    return _star_of_shape(path, shape)


STAR_RETRIES = 8


def _star_of_shape(path: Path, shape: dict[str, tuple[str, ...]]) -> Blocks:
    text = read_text(path, "STAR file")
    if text is None:
        return {}
    blocks = parse_star(text, str(path))
    first = next(iter(shape))
    if first not in blocks:
        raise damaged(path, f"no data_{first} block: not a STAR file RELION or cryocc wrote", key=f"data_{first}")
    for block, labels in shape.items():
        for i, row in enumerate(rows_of(blocks, block)):
            lacking = next((label for label in labels if label not in row), None)
            if lacking:
                raise damaged(path, f"row {i + 1} has no {lacking}: not a STAR file RELION or cryocc wrote", key=f"data_{block}")
    return blocks


def read_run_record(root: Path) -> RunRecord | None:
    """.cryocc/run.json, or None before cryocc started a schemer in the project."""
    path = root / RUN_RECORD
    doc = read_json(path, "run record", SMALL_LIMIT)
    if doc is ABSENT:
        return None
    record = cast(RunRecord, expect_fields(doc, {"scheme": str, "pid": int, "host": str}, path, "run record",
                                           required=("scheme", "pid", "host")))
    if not confine.PLAIN_NAME.fullmatch(record["scheme"]):
        raise damaged(path, f"{confine.shown(record['scheme'])} is not a scheme name: not a run record cryocc wrote", key="scheme")
    return record


def end_note(root: Path, job_dir: str, receipt: Receipt | None) -> str:
    """Why the job ended as it did: its receipt's reason, or, where cryocc wrote the sentinel for it
    since (its submission failed, it vanished from SLURM, abort found it not running), cryocc's note."""
    d = root / job_dir
    try:
        noted = os.stat(d / WATCHDOG_NOTE).st_mtime_ns
    except OSError:
        noted = None
    try:
        received = os.stat(d / RECEIPT).st_mtime_ns if receipt else None
    except OSError:
        received = None
    if noted is not None and (received is None or noted >= received):
        return (read_small(d / WATCHDOG_NOTE, "watchdog note") or "").split("\n", 1)[0]
    return str((receipt.get("reason") if receipt else None) or "")


def _reached(project: Project, scheme: str, name: str, job_dir: str) -> bool:
    """Whether relion_schemer has run a continued job again: it writes the job's job.star into the job
    directory as it starts it (relion-schemes.md §4.3 d.2), after apply wrote the scheme's."""
    try:
        return os.stat(project.root / job_dir / "job.star").st_mtime_ns > \
            os.stat(project.root / scheme_dir(scheme) / name / "job.star").st_mtime_ns
    except OSError:
        return False


def _confined_job(project: Project, job_dir: str, named_in: str, key: str) -> None:
    confine.job_dir(project.root, job_dir, source=str(project.root / named_in), key=key)


def observe_job(project: Project, name: str, lock: JobLock) -> JobState:
    scheme = lock.scheme
    if scheme:
        confine.scheme_dir(project.root, scheme, source=str(project.root / "cryocc.lock"), key=f"jobs.{name}.scheme")
    if lock.continues and not lock.job_dir and scheme and not _reached(project, scheme, name, lock.continues):
        _confined_job(project, lock.continues, "cryocc.lock", f"jobs.{name}.continues")
        return JobState(name, Status.SCHEDULED, None, scheme, read_receipt(project.root, lock.continues),
                        detail="applied, not run yet", continues=lock.continues)
    job_dir = lock.job_dir or (project.scheme_job_dir(scheme, name) if scheme else None)
    if job_dir is None:
        return JobState(name, Status.SCHEDULED, None, scheme, detail="applied, not run yet")
    # nothing is read in a directory a project file names before it is known to be one of the project's
    _confined_job(project, job_dir, "cryocc.lock" if lock.job_dir else f"{scheme_dir(scheme or '')}/scheme.star",
                  f"jobs.{name}.job_dir" if lock.job_dir else "rlnSchemeJobName")
    d = project.root / job_dir
    receipt = read_receipt(project.root, job_dir)
    state = JobState(name, Status.INCOMPLETE, job_dir, scheme, receipt)
    if (d / SUCCESS).exists():
        _judge_success(project.root, state, lock.fingerprint)
        return state
    if (d / FAILURE).exists():
        state.status, state.detail = Status.FAILED, end_note(project.root, job_dir, receipt)
        return state
    if (d / ABORTED).exists():
        state.status, state.detail = Status.ABORTED, end_note(project.root, job_dir, receipt)
        return state
    running, why, slurm = project.liveness(job_dir)
    if running is None and scheme and project.schemer_runs(scheme) and project.current_job_dir(scheme) == job_dir:
        running, why = True, f"{why}; its relion_schemer runs and waits for it"
    if running:
        state.status, state.slurm, state.detail = Status.RUNNING, slurm, why
    else:
        state.detail = "started, no sentinel, not running" + (f" ({why})" if running is None else "")
    _observe_arrays(project, state)
    return state


def _judge_success(root: Path, state: JobState, fingerprint: str) -> None:
    """A job with RELION's success sentinel: succeeded only with a receipt that is evidence of this
    result and every output it promised still there."""
    receipt, job_dir = state.receipt, state.job_dir or ""
    if receipt is None:
        state.status, state.detail = Status.INCOMPLETE, "its receipt is missing"
    elif mismatch := receipt_mismatch(root, receipt, fingerprint):
        state.status, state.detail, state.mismatch = Status.INCOMPLETE, f"its receipt does not match: {mismatch}", mismatch
    elif missing := outputs_missing(root, job_dir, receipt):
        state.status, state.detail = Status.OUTPUTS_MISSING, ", ".join(missing)
    else:
        state.status = Status.SUCCEEDED
        failed = {n: i.get("reason", "") for n, i in (receipt.get("items") or {}).items() if i.get("outcome") == Outcome.FAILED}
        if failed:  # on_item_failure: continue
            state.failed_items = failed
            state.detail = f"continued without {len(failed)} failed tilt series: " + ", ".join(sorted(failed))


def _observe_arrays(project: Project, state: JobState) -> None:
    """A job run as SLURM arrays: its progress, in its detail (running) or, when its supervisor is gone
    but SLURM still has tasks of its arrays, after it. A damaged array file is said there, not raised:
    the job's own state stands without it."""
    job_dir = state.job_dir or ""
    try:
        recorded = project.recorded_arrays(job_dir)
        if recorded is None:
            return
        progress, alive = project.array_progress(recorded), project.live_arrays(recorded)
    except ProjectError as exc:
        state.detail += f"; its arrays cannot be read: {arrays.one_line(exc)}"
        return
    state.array = progress.to_json()
    if state.status == Status.RUNNING:
        state.detail = progress.line() if state.slurm else f"{progress.line()}; {state.detail}"
    elif alive:
        state.detail += f"; SLURM still has tasks of its {progress.line()}"


def observe(project_root: Path, lock: Lockfile | None) -> dict[str, JobState]:
    if lock is None:
        return {}
    project = Project(project_root)
    return {name: observe_job(project, name, job) for name, job in lock.jobs.items()}
