"""What the CLI prints as rich tables: status, jobs and the live view of run (validate, plan and apply
print plain text: report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from .project import JobState


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_status(out: Console, doc: dict[str, Any], project: Path) -> None:
    t = Table(title=f"Jobs of {project}", title_justify="left")
    for col in ("job", "type", "state", "directory", "time", "detail"):
        t.add_column(col)
    for j in doc["jobs"]:
        secs = j["seconds"]
        took = f"{secs / 60:.1f} min" if secs and secs >= 60 else (f"{secs:.0f} s" if secs is not None else "")
        detail = j["detail"] + (f" (SLURM {j['slurm']['id']} {j['slurm']['state']})" if j.get("slurm") and j["slurm"]["id"] not in j["detail"] else "")
        t.add_row(j["name"], j["type"], j["state"], j["job_dir"] or "-", took, detail)
    out.print(t)
    for j in doc["jobs"]:
        if j["log_tail"]:
            out.print(f"{j['name']} ({j['log']}):", markup=False)
            for line in j["log_tail"]:
                out.print(f"  | {line}", markup=False)
    last = doc["last_apply"]
    if last:
        out.print(f"Last apply: Schemes/{last['name']}/ with {', '.join(last['jobs'])}")
    s = doc.get("schemer")
    out.print(f"relion_schemer: running Schemes/{s['scheme']}/ (pid {s['pid']}, since {s['started']})" if s
              else "relion_schemer: not running (cryocc run starts or resumes it)")


def jobs_live_table(states: list[JobState], scheme: str) -> Table:
    """The live view of `cryocc run --wait`: one row per job of the running scheme."""
    t = Table(title=f"Schemes/{scheme}/", title_justify="left")
    for col in ("job", "state", "directory", "SLURM", "time"):
        t.add_column(col)
    for st in states:
        slurm = f"{st.slurm['id']} {st.slurm['state']}" if st.slurm else ""
        secs = (st.receipt or {}).get("seconds")
        t.add_row(st.name, st.status, st.job_dir or "-", slurm, f"{secs:.0f} s" if secs is not None else "")
    return t
