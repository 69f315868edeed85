"""Runs relion_schemer for `cryocc run` and watches what RELION does not: a job that ends in SLURM
without a sentinel (cancelled while queued, node lost, killed before its script's guard could
run) would make the schemer wait forever. When a started job has no sentinel and SLURM no longer
knows it, twice in a row, the supervisor writes RELION_JOB_EXIT_FAILURE for it, with a note why.
It watches only where the site submits with sbatch: elsewhere no job is ever in squeue.

Started detached by cryocc.runner as `python -m cryocc.supervisor --project P --scheme S -- CMD...`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .contract import FAILURE, ended
from .project import Project

NOTE = "cryocc_watchdog.txt"


def orphaned_jobs(project: Path, scheme: str) -> list[str]:
    """Job directories of the scheme that started, have no sentinel, and SLURM does not know."""
    p = Project(project)
    out = []
    for job_dir in p.started_job_dirs(scheme):
        d = project / job_dir
        if ended(d) or p.pipeline_status(job_dir) != "Running":
            continue
        if p.slurm(job_dir) == {}:  # None: SLURM could not be asked; never guess
            out.append(job_dir)
    return out


def watch(project: Path, scheme: str, child: subprocess.Popen[str], interval: float) -> int:
    suspects: set[str] = set()
    while child.poll() is None:
        time.sleep(interval)
        now = set(orphaned_jobs(project, scheme))
        for job_dir in now & suspects:
            d = project / job_dir
            if not ended(d):
                (d / NOTE).write_text("SLURM no longer knows this job and it left no sentinel "
                                      "(cancelled while queued, node lost, or killed before its script ran); "
                                      f"cryocc wrote {FAILURE} so that relion_schemer stops waiting.\n")
                (d / FAILURE).touch()
                print(f"cryocc watchdog: {job_dir} vanished from SLURM without a sentinel; wrote {FAILURE}", flush=True)
        suspects = now
    return child.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cryocc.supervisor")
    ap.add_argument("--project", required=True)
    ap.add_argument("--scheme", required=True)
    ap.add_argument("--interval", type=float, default=float(os.environ.get("CRYOCC_WATCHDOG_SECONDS", "5")))
    ap.add_argument("--slurm", action="store_true", help="the site submits with sbatch: watch its jobs in SLURM")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    child = subprocess.Popen(cmd, cwd=a.project, stdin=subprocess.DEVNULL, text=True)
    return watch(Path(a.project), a.scheme, child, a.interval) if a.slurm else child.wait()


if __name__ == "__main__":
    sys.exit(main())
