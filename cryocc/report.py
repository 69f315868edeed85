"""Plain text for validate, plan and apply (to out, else stdout), coloured on a terminal: these run
before every change, and rich costs more to import than a plan over 300 tilt series takes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from .compiler.estimate import array_lines, summary_line
from .compiler.plan import Plan
from .compiler.recipe import Recipe
from .states import Action, ItemReason, ItemsFailedReason, ItemsReason, PlanReason, Reason, ReceiptReason, ReuseReason

UNITS = {"pixel_size": "Å/px", "voltage": "kV", "cs": "mm", "dose_per_tilt": "e/Å²", "tilt_axis": "°"}
LABELS = {
    "pixel_size": "pixel size", "voltage": "voltage", "cs": "Cs", "amplitude_contrast": "amplitude contrast",
    "dose_per_tilt": "dose per tilt", "tilt_axis": "tilt axis", "eer_grouping": "EER grouping",
    "invert_defocus_hand": "invert defocus hand", "invert_tilt_angles": "invert tilt angles",
}
SYMBOL = {Action.KEEP: "=", Action.RUN: "+", Action.RERUN: "~", Action.EXTEND: "~", Action.ORPHAN: "?"}
COLOUR = {Action.KEEP: "2", Action.RUN: "32", Action.RERUN: "33", Action.EXTEND: "36", Action.ORPHAN: "35"}  # ANSI SGR: dim, green, yellow, cyan, magenta
ITEM_KINDS = ((ItemReason.CHANGED, "changed"), (ItemReason.FAILED, "failed"), (ItemReason.UNFINISHED, "unfinished"),
              (ItemReason.UPSTREAM, "re-run upstream"), (ItemReason.REMOVED, "gone from the data"))
NAMES_SHOWN = 5


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


REASON_TEXT = {Reason.NEW: "new job", Reason.FAILED: "last run failed", Reason.ABORTED: "last run was aborted",
               Reason.INCOMPLETE: "started, no sentinel, not running", Reason.OUTPUTS_MISSING: "outputs missing",
               Reason.FORCED: "forced", Reason.REMOVED: "no longer in pipeline.yaml", Reason.RUNNING: "running now"}


def reason(r: PlanReason) -> str:
    kind, detail = Reason(r["kind"]), r.get("detail")
    if (line := _REASON_LINES.get(kind)) is not None:
        return line(r)
    if kind == Reason.NEW and detail:
        return str(detail)
    text = REASON_TEXT[kind]
    return f"{text}: {detail}" if detail and kind != Reason.INCOMPLETE else text


def _items_line(r: ItemsReason) -> str:
    """'+5 new, 1 changed (TS_07 mdoc), 2 failed (TS_03, TS_11), 292 kept'."""
    named: Mapping[str, Any] = r  # the tilt series by ItemReason
    parts = [f"+{len(named[ItemReason.NEW])} new"] if named.get(ItemReason.NEW) else []
    for key, label in ITEM_KINDS:
        if named.get(key):
            names = sorted(named[key].items())
            shown = ", ".join(f"{n} {d}" if key == "changed" and d else n for n, d in names[:NAMES_SHOWN])
            more = f", {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
            parts.append(f"{len(names)} {label} ({shown}{more})")
    decided = [f"{k} {d['value']} as decided from {d['tilt_series']} tilt series (--force decides again)"
               for k, d in (r.get("decided") or {}).items()]
    return ", ".join(parts + [f"{r['kept']} kept" + (f" (from {r['from']}, made with these parameters)" if r.get("from") else "")]
                     + [f"uses {', '.join(decided)}"] * bool(decided))


def _reuse_line(r: ReuseReason) -> str:
    when = (r.get("ended") or "")[:16].replace("T", " ")
    return f"reuse {r['job_dir']} (same fingerprint, job {r.get('job')}, finished {when})"


def _receipt_line(r: ReceiptReason) -> str:
    return (f"{r['job_dir']}: " if r.get("job_dir") else "") + f"its receipt does not match: {r.get('detail')}"


def _items_failed_line(r: ItemsFailedReason) -> str:
    items = r["items"]
    return f"without {len(items)} failed tilt series (on_item_failure: continue): " + _named(sorted(items.items()))


# the kinds whose line is made of their own fields (each function takes its kind's shape); the others
# are REASON_TEXT, with the detail after it
_REASON_LINES: dict[Reason, Callable[[Any], str]] = {
    Reason.PARAMS: lambda r: f"{r['key']}: {r['old']!r} -> {r['new']!r}",
    Reason.INPUT: lambda r: f"input {r['path']}: {r.get('change', 'changed')}",
    Reason.UPSTREAM: lambda r: f"upstream {r['job']}: {r['detail']}" if r.get("detail") else f"upstream {r['job']} runs",
    Reason.REUSE: _reuse_line,
    Reason.RECEIPT: _receipt_line,
    Reason.ITEMS: _items_line,
    Reason.POOLS: lambda r: f"every tilt series again: {r.get('detail')}",
    Reason.DECIDED: lambda r: f"{r.get('detail')}, made from {r['tilt_series']} tilt series: new ones use it (--force decides again)",
    Reason.ITEMS_FAILED: _items_failed_line,
}


def print_plan(plan: Plan, out: TextIO | None = None) -> None:
    """Terraform-style: verdict first, then the job, its type, its directory and why."""
    width = max((len(j.name) for j in plan.jobs), default=4)
    type_width = max((len(j.type) for j in plan.jobs), default=4)
    colour = _colour(out or sys.stdout)
    for j in plan.jobs:
        verdict = f"{SYMBOL[j.action]} {j.action:<6} {j.name:<{width}}"
        if colour:
            verdict = f"\033[{COLOUR[j.action]}m{verdict}\033[0m"
        print(f"{verdict}  {j.type:<{type_width}} {j.job_dir or '-':<17} {'; '.join(reason(r) for r in j.reasons)}".rstrip(), file=out)
    s = plan.summary()
    extend = f"{s['extend']} to extend, " if s["extend"] else ""
    print(f"\nPlan: {s['run']} to run, {s['rerun']} to re-run, {extend}{s['keep']} to keep, {s['orphan']} orphaned.", file=out)
    for line in data_lines(plan.waiting, plan.excluded):
        print(line, file=out)
    if plan.estimate and (cost := summary_line(plan.estimate)):
        print(cost, file=out)
        for line in array_lines(plan.estimate):
            print(line, file=out)
    for note in plan.notes:
        print(f"note: {note}", file=out)


def data_lines(waiting: list[list[Any]], excluded: dict[str, str], excluded_tilts: dict[str, Any] | None = None) -> list[str]:
    """The tilt series left out, and why: still waiting for frames, or excluded by the spec; and the tilts
    the spec leaves out (ZValues)."""
    lines = []
    if waiting:
        lines.append(f"Waiting: {len(waiting)} tilt series whose frames are not all there yet (left out until they are): "
                     + ", ".join(f"{name} ({there} of {total} frames)" for name, there, total in waiting))
    if excluded:
        lines.append("Excluded (data.exclude): " + _named(excluded.items()))
    if excluded_tilts:
        lines.append("Tilts excluded (data.exclude_tilts, by ZValue): " + _named(
            (f"{name} {', '.join(map(str, e['zvalues']))}", e["why"]) for name, e in excluded_tilts.items()))
    return lines


def _named(items: Iterable[tuple[str, str | None]]) -> str:
    """Tilt series with why: 'TS_02 (cracked ice), TS_07'."""
    return ", ".join(f"{name} ({why})" if why else name for name, why in items)


def print_acquisition_line(summary: dict[str, Any], out: TextIO | None = None) -> None:
    """One line of what was inferred (validate shows the full table), then the notes."""
    acq, sources = summary["acquisition"], summary["sources"]
    parts = [f"{LABELS[k]} {fmt(acq[k])} {UNITS.get(k, '')}".rstrip() + f" ({sources[k]})"
             for k in ("pixel_size", "voltage", "dose_per_tilt", "tilt_axis")]
    print(f"Data: {summary['tilt_series']} tilt series, {summary['frames']} frames; " + ", ".join(parts), file=out)
    for note in summary["notes"]:
        print(f"note: {note}", file=out)
    for line in data_lines(summary.get("waiting", []), summary.get("excluded", {}), summary.get("excluded_tilts")):
        print(line, file=out)
    print(file=out)


def table(title: str, headers: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> str:
    """A titled table of aligned columns; columns listed in right are right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([title, line(headers), line(["-" * w for w in widths]), *map(line, rows)]) + "\n"


def print_validated(recipe: Recipe, pipeline: str, out: TextIO | None = None) -> None:
    """What validate found: the acquisition and where each value came from, the tilt series as the
    mdocs describe them, and the jobs as wired."""
    s, acq = recipe.summary, recipe.summary["acquisition"]
    print(f"{pipeline}: valid ({len(recipe.jobs)} jobs, site {recipe.site['name']})\n", file=out)
    print(table(f"Acquisition ({s['tilt_series']} tilt series, {s['frames']} frames, {acq['software']})", ["value", "", "source"],
                [[label, f"{fmt(acq[key])} {UNITS.get(key, '')}".rstrip(), s["sources"].get(key, "")] for key, label in LABELS.items()],
                right=(1,)), file=out)
    print(table("Tilt series per acquisition (as the mdocs say)", ["tilts", "angles °", "pixel Å", "kV", "dose", "axis °", "count"],
                [list(map(fmt, row)) for row in s["groups"]], right=tuple(range(7))), file=out)
    rows = []
    for name in recipe.order:
        job, r = recipe.jobs[name], recipe.jobs[name].resources
        resources = f"{r['cpus']} cpu {r['mem']} {r['time']}" + (f" {r['gpus']} gpu" if r["gpus"] else "") + \
            (f" {r['partition']}" if r["partition"] else "")
        rows.append([name, job.type, ", ".join(f"{w.slot} <- {w.upstream}" for w in job.wires) or "data", resources])
    print(table("Jobs in run order", ["job", "type", "inputs", "resources"], rows), file=out)
    for note in s["notes"]:
        print(f"note: {note}", file=out)
    for line in data_lines(s.get("waiting", []), s.get("excluded", {}), s.get("excluded_tilts")):
        print(line, file=out)
    for warning in s.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr if out is None else out)
