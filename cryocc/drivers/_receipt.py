"""What a driver leaves in its job directory as it ends: the check that every promised output
exists, the receipt (written just before the sentinel, atomically), and exactly one sentinel."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contract import END_SENTINELS, RECEIPT, RECEIPT_FORMAT, Receipt, ReceiptItem, ReceiptOutput, ReceiptTool
from ..fsio import atomic_write
from ._errors import JobFailed

if TYPE_CHECKING:
    from ._context import Context


def check_outputs(ctx: Context) -> list[ReceiptOutput]:
    """Every promised output exists and is non-empty; returns them with their sizes, and a folder
    with every file in it (so that keeping the job can check each one, by stat)."""
    found: list[ReceiptOutput] = []
    missing: list[ReceiptOutput] = []
    for out in ctx.doc["outputs"]:
        p = ctx.path(out["path"])
        entry = ReceiptOutput(path=out["path"], is_dir=out["is_dir"])
        if out["is_dir"]:
            files = {str(f.relative_to(p)): f.stat().st_size for f in sorted(p.rglob("*")) if f.is_file()} if p.is_dir() else {}
            ok = bool(files)
            entry["size"], entry["files"] = sum(files.values()), files
        else:
            ok = p.is_file() and p.stat().st_size > 0
            entry["size"] = p.stat().st_size if ok else 0
        (found if ok else missing).append(entry)
    if missing:
        names = ", ".join(m["path"] + ("/" if m["is_dir"] else "") for m in missing)
        raise JobFailed(f"the tool finished but promised outputs are missing or empty: {names}")
    return found


def write_receipt(ctx: Context, status: str, started: float, outputs: list[ReceiptOutput], reason: str | None) -> None:
    tool = ctx.doc.get("tool")
    receipt = Receipt(
        format=RECEIPT_FORMAT,
        job=ctx.doc["job"],
        type=ctx.doc["type"],
        type_version=ctx.doc["type_version"],
        fingerprint=ctx.doc["fingerprint"],
        params_file=ctx.params_file,
        job_dir=ctx.rel(ctx.job_dir) + "/",
        status=status,
        reason=reason,
        tool=ReceiptTool(image=tool.get("image") if tool else None, bin_dir=tool.get("bin_dir") if tool else None,
                         commands=ctx.tools_run),
        host=socket.gethostname(),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
        array=ctx.array,  # a supervisor's arrays
        decisions=ctx.decisions,
        started=_iso(started),
        ended=_iso(time.time()),
        seconds=round(time.time() - started, 3),
        outputs=outputs,
        items={name: _with_quality(r, ctx.quality.get(name)) for name, r in sorted(ctx.items.items())},
        # what the tools measured of tilt series that have no item record (a job that pools them: _quality)
        quality={name: q for name, q in sorted(ctx.quality.items()) if name not in ctx.items},
        cryocc=ctx.doc.get("cryocc"),
    )
    atomic_write(ctx.path(RECEIPT), json.dumps(receipt, indent=1, sort_keys=True) + "\n")


def _with_quality(item: ReceiptItem, quality: dict[str, Any] | None) -> ReceiptItem:
    """An item record with what the tools measured of its tilt series, if they measured anything."""
    return {**item, "quality": quality} if quality is not None else item


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def write_sentinel(job_dir: Path, name: str) -> None:
    """Exactly one sentinel: leftovers from an earlier run in this directory are removed first."""
    for other in END_SENTINELS:
        if other != name:
            (job_dir / other).unlink(missing_ok=True)
    (job_dir / name).touch()
