"""Runs relion_schemer for `cryocc run` and watches what RELION does not: the schemer waits for a
job's sentinel forever, with no look at whether anything still runs the job (relion-schemes.md
§4.3 f). A started job that has no sentinel and that neither its own process nor its own SLURM job
runs, twice in a row, gets RELION_JOB_EXIT_FAILURE from here, with a note saying why: its
submission failed (with what the submit command printed, from the schemer's stderr, also put in the
job's run.err), it was cancelled while queued or its node was lost, or its process was killed. A
job that cannot be told (SLURM does not answer) is never guessed at. A lost job run as SLURM arrays
has its arrays cancelled too (those squeue lists as ours, in the project): no supervisor waits for
their tasks any more.

Started detached by cryocc.run.runner as
`python -m cryocc.run.watchdog --project P --scheme S --tell-pid FD -- CMD...`: it writes the
schemer's pid to FD, so that `cryocc run` records and reports the schemer, not the watchdog."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from .. import confine
from ..contract import FAILURE, JOB_PID, SLURM_ID, WATCHDOG_NOTE, ended, scheme_dir
from ..errors import CryoccError, ProjectError
from ..fsio import atomic_write, touch
from ..observe.arrays import one_line, scancel
from ..observe.project import Project, this_run


def lost_jobs(project: Path, scheme: str) -> list[tuple[str, str]]:
    """(job directory, why) of each job of the scheme that started, has no sentinel, and that
    nothing runs any more."""
    p = Project(project)
    out = []
    for job_dir in p.started_job_dirs(scheme):
        try:  # a job directory the scheme names out of the project: never written to, only reported
            confine.job_dir(project, job_dir, source=str(project / scheme_dir(scheme) / "scheme.star"), key="rlnSchemeJobName")
        except ProjectError as exc:
            _say_once(f"cryocc watchdog: skipped: {exc.render()}")
            continue
        if ended(project / job_dir) or p.pipeline_status(job_dir) != "Running":
            continue
        running, why, _ = p.liveness(job_dir)
        if running is False:
            out.append((job_dir, why))
    return out


_said: set[str] = set()


def _say_once(text: str) -> None:
    """Into the schemer's run.out, once: the watchdog looks every few seconds."""
    if text not in _said:
        _said.add(text)
        print(text, flush=True)


class StderrLog:
    """Schemes/<scheme>/run.err, where the schemer's stderr goes, and with it what a submit command
    it ran printed. Its size is noted at each look, so that the lines written since a job was
    submitted can be told from those before."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sizes: deque[tuple[float, int]] = deque([(0.0, self._size())], maxlen=10_000)

    def _size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def note(self) -> None:
        self.sizes.append((time.time(), self._size()))

    def since(self, t: float, limit: int = 1 << 14) -> list[str]:
        """The lines written since time t (from the last size noted before it), at most limit bytes."""
        start = next((size for when, size in reversed(self.sizes) if when <= t), self.sizes[0][1])
        try:
            with open(self.path, "rb") as fh:
                fh.seek(start)
                text = fh.read(limit).decode(errors="replace")
        except OSError:
            return []
        return [line.rstrip() for line in text.splitlines() if line.strip()]


def _submitted_at(job_dir: Path) -> float:
    """When RELION last submitted the job: it writes run_submit.script just before."""
    try:
        return os.stat(job_dir / "run_submit.script").st_mtime
    except OSError:
        return 0.0


def fail(project: Path, job_dir: str, why: str, printed: list[str], also: str = "") -> str:
    """Write the job's RELION_JOB_EXIT_FAILURE and a note why (and also what the watchdog did about it);
    returns the note's first line."""
    d = project / job_dir
    never_ran = not any(this_run(d, name) for name in (SLURM_ID, JOB_PID))
    if never_ran and printed:
        summary = "its submission failed: " + "; ".join(printed[-3:])
        atomic_write(d / "run.err", "\n".join(printed) + "\n")  # where the job's own errors would be
    elif never_ran:
        summary = f"{why} and it left no sentinel (cancelled while queued, node lost, or killed before its script ran)"
    else:
        summary = f"{why} (killed, or its node was lost)"
    summary += also
    atomic_write(d / WATCHDOG_NOTE, summary + "\n" + "".join(f"  {line}\n" for line in printed if never_ran)
                 + f"cryocc wrote {FAILURE} so that relion_schemer stops waiting.\n")
    touch(d / FAILURE)
    return summary


def watch(project: Path, scheme: str, child: subprocess.Popen[str], interval: float) -> int:
    stderr = StderrLog(project / scheme_dir(scheme) / "run.err")
    suspects: set[str] = set()
    while True:
        try:
            return child.wait(timeout=interval)  # ends with the schemer, not an interval later
        except subprocess.TimeoutExpired:
            pass
        stderr.note()
        try:
            suspects = _fail_lost(project, scheme, stderr, suspects)
        except CryoccError as exc:  # a damaged project file: said, and looked at again next time; the schemer runs on
            _say_once(f"cryocc watchdog: {exc.render()}")


def _fail_lost(project: Path, scheme: str, stderr: StderrLog, suspects: set[str]) -> set[str]:
    """Fail each job lost now that was lost at the last look too; returns the jobs lost now."""
    lost = dict(lost_jobs(project, scheme))
    for job_dir in lost.keys() & suspects:
        if not ended(project / job_dir):
            cancelled = cancel_arrays(project, job_dir)
            also = f"; cryocc cancelled its array {', '.join(cancelled)}" if cancelled else ""
            said = fail(project, job_dir, lost[job_dir], stderr.since(_submitted_at(project / job_dir)), also)
            print(f"cryocc watchdog: {job_dir}: {said}; wrote {FAILURE}", flush=True)
    return set(lost)


def cancel_arrays(project: Path, job_dir: str) -> list[str]:
    """A lost job run as SLURM arrays leaves tasks that no supervisor waits for: scancel each of its
    recorded arrays that squeue lists as ours, working in this project. Returns their ids."""
    p = Project(project)
    try:
        recorded = p.recorded_arrays(job_dir)
    except ProjectError as exc:
        _say_once(f"cryocc watchdog: cannot cancel the arrays of {job_dir}: {one_line(exc)}")
        return []
    live = p.live_arrays(recorded) if recorded else []
    if problem := scancel(live):
        _say_once(f"cryocc watchdog: {job_dir}: {problem}")
    return live


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cryocc.run.watchdog")
    ap.add_argument("--project", required=True)
    ap.add_argument("--scheme", required=True)
    ap.add_argument("--interval", type=float, default=float(os.environ.get("CRYOCC_WATCHDOG_SECONDS", "5")))
    ap.add_argument("--tell-pid", type=int, help="a file descriptor to write the schemer's pid to")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    child = subprocess.Popen(cmd, cwd=a.project, stdin=subprocess.DEVNULL, text=True)
    if a.tell_pid is not None:
        os.write(a.tell_pid, f"{child.pid}\n".encode())
        os.close(a.tell_pid)
    return watch(Path(a.project), a.scheme, child, a.interval)


if __name__ == "__main__":
    sys.exit(main())
