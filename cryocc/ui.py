"""What the CLI prints as rich tables: validate, status, jobs and the live view of run (plan and apply print
plain text: report.py)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .compiler.recipe import Recipe
from .report import LABELS, UNITS, fmt


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def acquisition_table(recipe: Recipe) -> Table:
    s = recipe.summary
    acq = s["acquisition"]
    t = Table(title=f"Acquisition ({s['tilt_series']} tilt series, {s['frames']} frames, {acq['software']})", title_justify="left")
    t.add_column("value")
    t.add_column("", justify="right")
    t.add_column("source")
    for key, label in LABELS.items():
        t.add_row(label, f"{fmt(acq[key])} {UNITS.get(key, '')}".rstrip(), s["sources"].get(key, ""))
    return t


def tilt_series_table(recipe: Recipe) -> Table:
    t = Table(title="Tilt series per acquisition (as the mdocs say)", title_justify="left")
    for col in ("tilts", "angles °", "pixel Å", "kV", "dose", "axis °", "count"):
        t.add_column(col, justify="right")
    for row in recipe.summary["groups"]:
        t.add_row(*map(fmt, row))
    return t


def jobs_table(recipe: Recipe) -> Table:
    t = Table(title="Jobs in run order", title_justify="left")
    for col in ("job", "type", "inputs", "resources"):
        t.add_column(col)
    for name in recipe.order:
        j = recipe.jobs[name]
        ins = ", ".join(f"{w.slot} <- {w.upstream}" for w in j.wires) or "data"
        r = j.resources
        res = f"{r['cpus']} cpu {r['mem']} {r['time']}" + (f" {r['gpus']} gpu" if r["gpus"] else "") + \
            (f" {r['partition']}" if r["partition"] else "")
        t.add_row(name, j.type, ins, res)
    return t


def print_status(out: Console, doc: dict, project) -> None:
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
            out.print(f"{j['name']} ({j['job_dir']}run.out):", markup=False)
            for line in j["log_tail"]:
                out.print(f"  | {line}", markup=False)
    last = doc["last_apply"]
    if last:
        out.print(f"Last apply: Schemes/{last['name']}/ with {', '.join(last['jobs'])}")
    s = doc.get("schemer")
    out.print(f"relion_schemer: running Schemes/{s['scheme']}/ (pid {s['pid']}, since {s['started']})" if s
              else "relion_schemer: not running (cryocc run starts or resumes it)")


def jobs_live_table(states, scheme: str) -> Table:
    """The live view of `cryocc run --wait`: one row per job of the running scheme."""
    t = Table(title=f"Schemes/{scheme}/", title_justify="left")
    for col in ("job", "state", "directory", "SLURM", "time"):
        t.add_column(col)
    for st in states:
        slurm = f"{st.slurm['id']} {st.slurm['state']}" if st.slurm else ""
        secs = (st.receipt or {}).get("seconds")
        t.add_row(st.name, st.status, st.job_dir or "-", slurm, f"{secs:.0f} s" if secs is not None else "")
    return t
