"""One read-only view of a RELION project on disk, and what happened to each job learned back from
it: the scheme.star that ran the job (rlnSchemeJobName, HasStarted), default_pipeline.star, the job
directory's sentinels, the driver's receipt, and, for a job with no sentinel yet, its own process or
its own SLURM job. plan, status, run, abort, gc and the supervisor read the project through it; a stat
where it can.

One truth about running: a job runs only while its own process (a job script run by bash records
its pid) or its own SLURM job does; the schemer runs only while the relion_schemer cryocc started
(its pid in .cryocc/run.json) does. A site that runs jobs by bash never has squeue asked about them:
any of the user's SLURM jobs would say nothing about a job that is in no queue."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import (
    ABORTED,
    FAILURE,
    JOB_PID,
    PIPELINE,
    RECEIPT,
    RUN_RECORD,
    SLURM_ID,
    SUCCESS,
    WATCHDOG_NOTE,
    Outcome,
    scheme_dir,
    scheme_lock,
)
from .lockfile.lockfile import JobLock, Lockfile
from .star import Blocks, pairs_of, parse_star, read_star, rows_of
from .states import Status


@dataclass
class JobState:
    name: str
    status: Status
    job_dir: str | None = None
    scheme: str | None = None
    receipt: dict[str, Any] | None = None
    detail: str = ""
    slurm: dict[str, str] = field(default_factory=dict)  # id, state for a job still in SLURM
    failed_items: dict[str, str] = field(default_factory=dict)  # tilt series the job succeeded without, and why
    continues: str | None = None  # an extension not run yet: the job directory it will run in again


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
        self._schemer: dict[str, Any] | None | bool = False  # False: not looked for yet

    def scheme(self, name: str) -> Blocks:
        if name not in self._schemes:
            path = self.root / scheme_dir(name) / "scheme.star"
            self._schemes[name] = read_star(path) if path.exists() else {}
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
            if row.get("rlnSchemeJobNameOriginal") == node and row.get("rlnSchemeJobName", "").startswith("External/"):
                return row["rlnSchemeJobName"]
        return None

    def started_job_dirs(self, scheme: str) -> list[str]:
        """The job directories the schemer has started for the scheme."""
        return [r["rlnSchemeJobName"] for r in self.scheme_rows(scheme)
                if r.get("rlnSchemeJobHasStarted") == "1" and r.get("rlnSchemeJobName", "").startswith("External/")]

    def scheme_job_dir(self, scheme: str, job: str) -> str | None:
        for row in self.scheme_rows(scheme):
            if row.get("rlnSchemeJobNameOriginal") == job and row.get("rlnSchemeJobHasStarted") == "1":
                name = row.get("rlnSchemeJobName", "")
                return name if name.startswith("External/") else None
        return None

    def scheme_locked(self, scheme: str) -> bool:
        return (self.root / scheme_lock(scheme)).exists()

    def slurm(self, job_dir: str) -> dict[str, str] | None:
        """The SLURM job RELION submitted for job_dir, if still queued or running ({} if not; None when
        SLURM cannot be asked). Every RELION project names its jobs External/jobNNN/, so a job is ours
        by the id its script recorded as it started, or else (still queued) by its name and its
        working directory (RELION submits from the project directory)."""
        if not self._asked:
            self._queue, self._asked = squeue(), True
        if self._queue is None:
            return None
        try:  # an id an earlier run of a continued job recorded is not this run's
            job_id = (self.root / job_dir / SLURM_ID).read_text().strip() if this_run(self.root / job_dir, SLURM_ID) else ""
        except OSError:
            job_id = ""
        for jid, state, workdir, name in self._queue:
            ours = jid == job_id if job_id else name == job_dir and os.path.realpath(workdir) == self._real
            if ours:
                return {"id": jid, "state": state}
        return {}

    def submitted_with_sbatch(self, job_dir: str) -> bool | None:
        """Whether RELION submitted the job's latest run with sbatch, by the qsub of the job.star it
        writes into the job directory as it submits (None: that job.star says nothing readable)."""
        text = read_small(self.root / job_dir / "job.star")
        try:
            rows = rows_of(parse_star(text), "joboptions_values") if text else []
        except (ValueError, IndexError):
            rows = []
        qsub = next((r.get("rlnJobOptionValue") for r in rows if r.get("rlnJobOptionVariable") == "qsub"), None)
        return None if qsub is None else is_sbatch(qsub)

    def job_process(self, job_dir: str) -> tuple[str, int] | None:
        """(host, pid) of the job script run by bash, as it recorded itself for this run (a record
        older than the job.star RELION wrote as it submitted the run is an earlier run's)."""
        d = self.root / job_dir
        if not this_run(d, JOB_PID):
            return None
        words = (read_small(d / JOB_PID, 256) or "").split()
        if len(words) != 2 or not words[1].isdigit():
            return None
        return words[0], int(words[1])

    def liveness(self, job_dir: str) -> tuple[bool | None, str, dict[str, str]]:
        """Whether the job started in job_dir runs now, by its own process or its own SLURM job (None:
        it cannot be told from here), why, and its SLURM job (id, state) while queued or running."""
        if self.submitted_with_sbatch(job_dir) is False:  # run by bash on this machine: never in squeue
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

    def schemer(self) -> dict[str, Any] | None:
        """The relion_schemer cryocc started for this project, while it runs."""
        if self._schemer is False:
            self._schemer = live_schemer(self.root)
        return self._schemer if isinstance(self._schemer, dict) else None

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
            path = self.root / PIPELINE
            self._pipeline = read_star(path) if path.is_file() else {}
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


def read_small(path: Path, limit: int = 1 << 16) -> str | None:
    """A small file a job script, a driver or cryocc wrote (None when absent or not a regular file):
    never waits on a FIFO, never reads more than limit bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fh.read(limit).decode(errors="replace")


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


def live_schemer(root: Path) -> dict[str, Any] | None:
    """The relion_schemer cryocc started for this project (.cryocc/run.json: host, pid, scheme), if it
    still runs on this host."""
    try:
        record = json.loads(read_small(root / RUN_RECORD) or "null")
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("host") != socket.gethostname():
        return None
    pid, scheme = record.get("pid"), record.get("scheme")
    if type(pid) is not int or not isinstance(scheme, str):
        return None
    return record if schemer_alive(pid, scheme) else None


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
        out = subprocess.run(["squeue", "-h", "--me", "-o", "%i\t%T\t%Z\t%j"], capture_output=True, text=True,
                             errors="surrogateescape", timeout=10)  # any byte: a directory name need not be UTF-8
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [tuple(line.split("\t", 3)) for line in out.stdout.splitlines() if line.count("\t") >= 3]  # type: ignore[misc]


def end_note(root: Path, job_dir: str, receipt: dict[str, Any] | None) -> str:
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
        return (read_small(d / WATCHDOG_NOTE) or "").split("\n", 1)[0]
    return str((receipt or {}).get("reason") or "")


def read_receipt(root: Path, job_dir: str) -> dict[str, Any] | None:
    """The driver's receipt in a job directory, or None when there is none (yet) or it is unreadable."""
    try:
        receipt: dict[str, Any] = json.loads((root / job_dir / RECEIPT).read_text())
        return receipt
    except (OSError, ValueError):
        return None


def outputs_missing(root: Path, job_dir: str, receipt: dict[str, Any]) -> list[str]:
    """Promised outputs gone or changed since the receipt, by stat: files by size, folders file by
    file (a receipt of format 1 lists no files: its folders by being non-empty)."""
    missing = []
    for out in receipt.get("outputs") or []:
        p = root / job_dir / out["path"]
        try:
            if out.get("is_dir") and "files" in out:
                changed = [name for name, size in out["files"].items() if _size(p / name) != size]
                if changed:
                    missing.append(f"{out['path']}/{changed[0]}" + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
                                   + (" (changed)" if _size(p / changed[0]) is not None else ""))
            elif out.get("is_dir"):
                with os.scandir(p) as it:
                    if next(it, None) is None:
                        missing.append(out["path"] + "/")
            elif os.stat(p).st_size != out["size"]:
                missing.append(f"{out['path']} (changed)")
        except OSError:
            missing.append(out["path"] + ("/" if out.get("is_dir") else ""))
    return missing


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _reached(project: Project, scheme: str, name: str, job_dir: str) -> bool:
    """Whether relion_schemer has run a continued job again: it writes the job's job.star into the job
    directory as it starts it (relion-schemes.md §4.3 d.2), after apply wrote the scheme's."""
    try:
        return os.stat(project.root / job_dir / "job.star").st_mtime_ns > \
            os.stat(project.root / scheme_dir(scheme) / name / "job.star").st_mtime_ns
    except OSError:
        return False


def observe_job(project: Project, name: str, lock: JobLock) -> JobState:
    scheme = lock.scheme
    if lock.continues and not lock.job_dir and scheme and not _reached(project, scheme, name, lock.continues):
        return JobState(name, Status.SCHEDULED, None, scheme, read_receipt(project.root, lock.continues),
                        detail="applied, not run yet", continues=lock.continues)
    job_dir = lock.job_dir or (project.scheme_job_dir(scheme, name) if scheme else None)
    if job_dir is None:
        return JobState(name, Status.SCHEDULED, None, scheme, detail="applied, not run yet")
    d = project.root / job_dir
    receipt = read_receipt(project.root, job_dir)
    state = JobState(name, Status.INCOMPLETE, job_dir, scheme, receipt)
    if (d / SUCCESS).exists():
        if not receipt or receipt.get("fingerprint") != lock.fingerprint:
            state.status, state.detail = Status.INCOMPLETE, "its receipt is missing or from other parameters"
        elif missing := outputs_missing(project.root, job_dir, receipt):
            state.status, state.detail = Status.OUTPUTS_MISSING, ", ".join(missing)
        else:
            state.status = Status.SUCCEEDED
            failed = {n: i.get("reason", "") for n, i in (receipt.get("items") or {}).items() if i.get("outcome") == Outcome.FAILED}
            if failed:  # on_item_failure: continue
                state.failed_items = failed
                state.detail = f"continued without {len(failed)} failed tilt series: " + ", ".join(sorted(failed))
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
    return state


def observe(project_root: Path, lock: Lockfile | None) -> dict[str, JobState]:
    if lock is None:
        return {}
    project = Project(project_root)
    return {name: observe_job(project, name, job) for name, job in lock.jobs.items()}
