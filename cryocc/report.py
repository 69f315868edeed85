"""Plain text for plan and apply (to out, else stdout), coloured on a terminal: these run before every change, and rich
costs more to import than a plan over 300 tilt series takes."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from .compiler.plan import Plan

UNITS = {"pixel_size": "Å/px", "voltage": "kV", "cs": "mm", "dose_per_tilt": "e/Å²", "tilt_axis": "°"}
LABELS = {
    "pixel_size": "pixel size", "voltage": "voltage", "cs": "Cs", "amplitude_contrast": "amplitude contrast",
    "dose_per_tilt": "dose per tilt", "tilt_axis": "tilt axis", "eer_grouping": "EER grouping",
    "invert_defocus_hand": "invert defocus hand", "invert_tilt_angles": "invert tilt angles",
}
SYMBOL = {"keep": "=", "run": "+", "rerun": "~", "orphan": "?"}
COLOUR = {"keep": "2", "run": "32", "rerun": "33", "orphan": "35"}  # ANSI SGR: dim, green, yellow, magenta


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def reason(r: dict) -> str:
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


def print_plan(plan: Plan, out: TextIO | None = None) -> None:
    """Terraform-style: verdict first, then the job, its type, its directory and why."""
    width = max((len(j.name) for j in plan.jobs), default=4)
    colour = _colour(out or sys.stdout)
    for j in plan.jobs:
        verdict = f"{SYMBOL[j.action]} {j.action:<6} {j.name:<{width}}"
        if colour:
            verdict = f"\033[{COLOUR[j.action]}m{verdict}\033[0m"
        print(f"{verdict}  {j.type:<19} {j.job_dir or '-':<17} {'; '.join(reason(r) for r in j.reasons)}".rstrip(), file=out)
    s = plan.summary()
    print(f"\nPlan: {s['run']} to run, {s['rerun']} to re-run, {s['keep']} to keep, {s['orphan']} orphaned.", file=out)


def print_acquisition_line(summary: dict, out: TextIO | None = None) -> None:
    """One line of what was inferred (validate shows the full table), then the notes."""
    acq, sources = summary["acquisition"], summary["sources"]
    parts = [f"{LABELS[k]} {fmt(acq[k])} {UNITS.get(k, '')}".rstrip() + f" ({sources[k]})"
             for k in ("pixel_size", "voltage", "dose_per_tilt", "tilt_axis")]
    print(f"Data: {summary['tilt_series']} tilt series, {summary['frames']} frames; " + ", ".join(parts), file=out)
    for note in summary["notes"]:
        print(f"note: {note}", file=out)
    print(file=out)
