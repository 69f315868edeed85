"""Tilt series as the unit of work, on the node: what an extension keeps, and what became of the rest.

An extension runs again in its job directory (RELION's continue) with a params file that lists the
tilt series to process and those to keep. Before the tool runs, the kept ones are checked against
the receipt (same item fingerprint) and their rows of the job's combined STAR file are set aside,
and the receipt is rewritten with the others as pending: a run killed midway leaves nothing that
looks done. After the driver, every tilt series it was given has an outcome."""

from __future__ import annotations

import json
from typing import Any

from ..contract import RECEIPT, Outcome, ReceiptItem, ReceiptStatus
from ._context import Context
from ._errors import JobFailed
from ._receipt import write_receipt
from ._relion_star import read_global, write_global


def start(ctx: Context, started: float) -> None:
    items = ctx.doc.get("items")
    if not items:
        return
    fingerprints, keep = items["fingerprints"], items["keep"]
    if keep:
        earlier = _receipt(ctx)
        ctx.decisions = earlier.get("decisions") or {}  # an extension goes on with what the job decided
        old = earlier.get("items") or {}
        star = ctx.doc.get("items_star")
        rows = (_rows(ctx, star) or {}) if star else None
        gone = [t for t in keep if (old.get(t) or {}).get("fingerprint") != fingerprints[t]
                or (rows is not None and old[t]["outcome"] == Outcome.SUCCEEDED and t not in rows)]
        if gone:
            raise JobFailed(f"{ctx.rel(ctx.job_dir)}/ no longer holds {', '.join(gone)} as cryocc apply found it "
                            "(run cryocc plan and apply again, or --force this job to run every tilt series)")
        ctx.kept_rows = [rows[t] for t in keep if rows and t in rows]
        ctx.items.update({t: old[t] for t in keep})
    mark_pending(ctx, items["todo"], fingerprints)
    write_receipt(ctx, ReceiptStatus.RUNNING, started, [], None)


def mark_pending(ctx: Context, names: list[str], fingerprints: dict[str, str]) -> None:
    """The tilt series this run processes, pending until it says what became of each, with the item
    fingerprint the plan gave each."""
    for t in names:
        ctx.items[t] = ReceiptItem(outcome=Outcome.PENDING, reason="", fingerprint=fingerprints[t])


def nothing_to_do(ctx: Context) -> bool:
    """An extension that only drops tilt series (gone from the data) runs no tool."""
    items = ctx.doc.get("items")
    if not items:
        return False
    return not items["todo"]


def end(ctx: Context) -> None:
    """Outcomes for the tilt series the driver was given and said nothing of: processed when the
    combined STAR file has its row, failed when not. Those the input did not hold are dropped."""
    items = ctx.doc.get("items")
    if not items:
        return
    star = ctx.doc.get("items_star")
    if nothing_to_do(ctx) and star:
        write_global(ctx, star, [])
    written = _rows(ctx, star) if star else {}
    for t in items["todo"]:
        if ctx.items.get(t, {}).get("outcome") != Outcome.PENDING:
            continue
        if t not in ctx.seen:
            del ctx.items[t]
        elif written is not None and t in written:
            ctx.item(t, Outcome.SUCCEEDED)
        else:
            ctx.item(t, Outcome.FAILED, f"no row in {star}" if star else "no result")


def _receipt(ctx: Context) -> dict[str, Any]:
    try:
        doc = json.loads(ctx.path(RECEIPT).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _rows(ctx: Context, star: str) -> dict[str, dict[str, str]] | None:
    path = ctx.job_file(star)
    if not path.is_file():
        return None
    return {r["rlnTomoName"]: r for r in read_global(path)}

