"""What the CLI prints: tables for validate, plan and status."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from .compiler.compile import Compiled
from .compiler.plan import Plan

UNITS = {"pixel_size": "Å/px", "voltage": "kV", "cs": "mm", "dose_per_tilt": "e/Å²", "tilt_axis": "°"}
LABELS = {
    "pixel_size": "pixel size", "voltage": "voltage", "cs": "Cs", "amplitude_contrast": "amplitude contrast",
    "dose_per_tilt": "dose per tilt", "tilt_axis": "tilt axis", "eer_grouping": "EER grouping",
    "invert_defocus_hand": "invert defocus hand", "invert_tilt_angles": "invert tilt angles",
}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def acquisition_table(c: Compiled) -> Table:
    ds = c.dataset
    acq = ds.acquisition
    n_frames = sum(len(ts.frames) for ts in ds.tilt_series)
    t = Table(title=f"Acquisition ({len(ds.tilt_series)} tilt series, {n_frames} frames, {acq.software})", title_justify="left")
    t.add_column("value")
    t.add_column("", justify="right")
    t.add_column("source")
    for key, label in LABELS.items():
        v = getattr(acq, key)
        t.add_row(label, f"{_fmt(v)} {UNITS.get(key, '')}".rstrip(), acq.sources.get(key, ""))
    return t


def print_acquisition_line(out: Console, ds) -> None:
    """One line of what was inferred (validate shows the full table), then the notes."""
    a = ds.acquisition
    n_frames = sum(len(ts.frames) for ts in ds.tilt_series)
    parts = [f"{LABELS[k]} {_fmt(getattr(a, k))} {UNITS.get(k, '')}".rstrip() + f" ({a.sources[k]})"
             for k in ("pixel_size", "voltage", "dose_per_tilt", "tilt_axis")]
    out.print(f"Data: {len(ds.tilt_series)} tilt series, {n_frames} frames; " + ", ".join(parts), markup=False)
    for note in ds.notes:
        out.print(f"note: {note}", markup=False)
    out.print()


def tilt_series_table(c: Compiled) -> Table:
    groups = Counter()
    for m in c.dataset.mdocs:
        angles = [t.angle for t in m.tilts]
        groups[(len(m.tilts), f"{min(angles):.1f} .. {max(angles):.1f}", _fmt(m.pixel_size), _fmt(m.voltage),
                _fmt(m.dose_per_tilt), _fmt(m.tilt_axis))] += 1
    t = Table(title="Tilt series per acquisition (as the mdocs say)", title_justify="left")
    for col in ("tilts", "angles °", "pixel Å", "kV", "dose", "axis °", "count"):
        t.add_column(col, justify="right")
    for key, n in sorted(groups.items()):
        t.add_row(*map(str, key), str(n))
    return t


def jobs_table(c: Compiled) -> Table:
    t = Table(title="Jobs in run order", title_justify="left")
    for col in ("job", "type", "inputs", "resources"):
        t.add_column(col)
    for name in c.order:
        j = c.jobs[name]
        ins = ", ".join(f"{w.slot} <- {w.upstream}" for w in j.wires) or "data"
        r = j.resources
        res = f"{r.cpus} cpu {r.mem} {r.time}" + (f" {r.gpus} gpu" if r.gpus else "") + (f" {r.partition}" if r.partition else "")
        t.add_row(name, j.type.name, ins if j.type.inputs else "data", res)
    return t


SYMBOL = {"keep": "=", "run": "+", "rerun": "~", "orphan": "?"}
STYLE = {"keep": "dim", "run": "green", "rerun": "yellow", "orphan": "magenta"}


def _reason(r: dict) -> str:
    kind, detail = r["kind"], r.get("detail")
    if kind == "params":
        return f"{r['key']}: {r['old']!r} -> {r['new']!r}"
    if kind == "input":
        return f"input {r['path']}: {r.get('change', 'changed')}"
    if kind == "upstream":
        return f"upstream {r['job']} runs"
    text = {"new": "new job", "failed": "last run failed", "aborted": "last run was aborted",
            "incomplete": "started, no sentinel, not running", "outputs_missing": "outputs missing",
            "forced": "forced", "removed": "no longer in pipeline.yaml", "running": "running now"}.get(kind, kind)
    if kind == "new" and detail:
        return detail
    return f"{text}: {detail}" if detail and kind not in ("incomplete",) else text


def print_plan(out: Console, plan: Plan) -> None:
    """Terraform-style: verdict first, then the job, its type, its directory and why."""
    width = max((len(j.name) for j in plan.jobs), default=4)
    for j in plan.jobs:
        reasons = "; ".join(_reason(r) for r in j.reasons)
        where = j.job_dir or "-"
        out.print(f"[{STYLE[j.action]}]{SYMBOL[j.action]} {j.action:<6} {j.name:<{width}}[/]  {j.type:<19} {where:<17} {reasons}",
                  markup=True, highlight=False)
    s = plan.summary()
    out.print(f"\nPlan: {s['run']} to run, {s['rerun']} to re-run, {s['keep']} to keep, {s['orphan']} orphaned.")


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
