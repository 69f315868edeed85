"""Quality per tilt series, gathered from the receipts of the project's jobs: what each job's tools
measured (cryocc/drivers/_quality.py records it), with the job that measured it. Standard library
only: `cryocc status --tilt-series` reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..contract import Outcome, ReceiptStatus

if TYPE_CHECKING:
    from .project import JobState

# what a measure is called, its unit and format, in the order status shows them
LABELS = {
    "tilts": ("tilts", "", "{:.0f}"),
    "defocus_um": ("defocus", " µm", "{:.2f}"),
    "astigmatism_a": ("astigmatism", " Å", "{:.0f}"),
    "ctf_resolution_a": ("CTF fit", " Å", "{:.1f}"),
    "motion_a": ("motion", " Å", "{:.2f}"),
    "axis_deg": ("tilt axis", "°", "{:.2f}"),
    "shift_a": ("shift", " Å", "{:.1f}"),
    # IMOD's tiltalign: the mean and sd of the fit's residual over its points (drivers/_quality.imod_residual)
    "residual_a": ("residual", " Å", "{:.2f}"),
    "residual_sd_a": ("residual sd", " Å", "{:.2f}"),
    "hand": ("hand", "", "{}"),
    "picks": ("picks", "", "{:.0f}"),
    "particles": ("particles", "", "{:.0f}"),
}


def by_tilt_series(states: dict[str, JobState]) -> dict[str, list[dict[str, Any]]]:
    """Tilt series -> one entry per job (in run order) that recorded something about it:
    {job, type, job_dir, outcome, reason, quality}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, st in states.items():
        receipt = st.receipt or {}
        pooled = {ts: {"outcome": "succeeded", "quality": q} for ts, q in (receipt.get("quality") or {}).items()}
        for ts, record in sorted({**pooled, **(receipt.get("items") or {})}.items()):
            if not isinstance(record, dict):
                continue
            outcome, reason = record.get("outcome"), record.get("reason") or ""
            if outcome == Outcome.PENDING and receipt.get("status") not in (None, ReceiptStatus.RUNNING):
                # the run ended before this tilt series did: the plan calls it unfinished and runs it again
                outcome, reason = "unfinished", f"the job {receipt.get('status')} first: {receipt.get('reason') or st.detail}"
            out.setdefault(ts, []).append({"job": name, "type": receipt.get("type"), "job_dir": st.job_dir,
                                           "outcome": outcome, "reason": reason, "quality": record.get("quality") or {}})
    return dict(sorted(out.items()))


def summary_line(quality: dict[str, Any]) -> str:
    """The per-tilt-series numbers of one job, in words: `defocus 3.21 µm, CTF fit 7.4 Å, ...`."""
    parts = []
    for key, (label, unit, fmt) in LABELS.items():
        value = quality.get(key)
        if value is not None and not isinstance(value, (list, dict)):
            parts.append(f"{label} {fmt.format(value)}{unit}")
    dropped = quality.get("dropped") or []
    if dropped:
        parts.append(f"{len(dropped)} tilts dropped ({'; '.join(sorted({d['why'] for d in dropped}))})")
    if quality.get("tomogram"):
        parts.append("tomogram")
    return ", ".join(parts)


def table(tilt_series: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per tilt series with the latest value of each measure and the job it came from."""
    rows = []
    for ts, measures in tilt_series.items():
        row: dict[str, Any] = {"tilt_series": ts, "outcome": "", "by": {}}
        for m in measures:
            row["outcome"] = m["outcome"] if m["outcome"] != "succeeded" else row["outcome"] or "succeeded"
            for key, value in m["quality"].items():
                if key == "dropped":  # each job's own drops add up: the aligner's, then the filter's
                    row[key] = row.get(key, 0) + len(value)
                    row["by"][key] = ", ".join(filter(None, (row["by"].get(key), m["job"])))
                elif key in LABELS or key == "tomogram":
                    row[key] = value
                    row["by"][key] = m["job"]
        rows.append(row)
    return rows
