"""RELION 5 tilt-series and tomogram STAR files, which the tools do not write for us, and Warp's
.tomostar, read and written with cryocc's own STAR code (no pandas on the nodes)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fsio import atomic_write
from ..star import block_loop, block_pairs, read_star
from ._context import Context
from ._errors import JobFailed, items_failed


@dataclass
class TiltSeries:
    name: str
    row: dict[str, Any]  # the global row (rlnTomoName, optics values, ...): as read, str; drivers set numbers
    tilts: list[dict[str, Any]] = field(default_factory=list)


class TomogramRow:
    """A row of a tomograms STAR file as an item of work: its tilt-series name and the row."""

    def __init__(self, row: dict[str, str]) -> None:
        self.name, self.row = row["rlnTomoName"], row


def frame_id(movie: str) -> str:
    """A movie's id: its file name with only the last extension stripped (dots in angles survive)."""
    return os.path.splitext(os.path.basename(movie))[0]


def read_tilt_series(path: Path, project: Path) -> list[TiltSeries]:
    """A global tilt-series STAR and the per-tilt-series STARs it names."""
    blocks = read_star(path)
    rows = blocks.get("global")
    if not isinstance(rows, list) or not rows:
        raise JobFailed(f"{os.path.relpath(path, project)}: no data_global table of tilt series")
    out = []
    for row in rows:
        name = row["rlnTomoName"]
        ref = row.get("rlnTomoTiltSeriesStarFile")
        if ref is None:
            out.append(TiltSeries(name, row))
            continue
        candidates = [Path(ref)] if os.path.isabs(ref) else [project / ref, path.parent / ref]
        ts_path = next((c for c in candidates if c.exists()), None)
        if ts_path is None:
            raise JobFailed(f"tilt series {name}: {ref} not found")
        ts_blocks = read_star(ts_path)
        tilts = ts_blocks.get(name)
        if not isinstance(tilts, list):
            tilts = next((b for b in ts_blocks.values() if isinstance(b, list)), [])
        out.append(TiltSeries(name, dict(row), [dict(t) for t in tilts]))
    return out


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def _text(v: Any) -> str:
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else f"{v:.6f}"
    return str(v)


def write_tilt_series(ctx: Context, filename: str, series: list[TiltSeries]) -> None:
    """<job>/<filename> (data_global) and <job>/tilt_series/<ts>.star, paths relative to the project."""
    ts_dir = ctx.path("tilt_series")
    ts_dir.mkdir(exist_ok=True)
    rows = []
    for ts in series:
        star = ts_dir / f"{ts.name}.star"
        if ts.tilts:
            atomic_write(star, loop_text(ts.name, ts.tilts))
        rows.append({**ts.row, "rlnTomoTiltSeriesStarFile": ctx.rel(star)})
    write_global(ctx, filename, rows)


def write_global(ctx: Context, filename: str, rows: list[dict[str, Any]]) -> None:
    """A data_global table; the job's combined one (items_star) also holds the rows an extension keeps."""
    rows = combined(ctx, filename, rows)
    if not rows:
        failed = ctx.failed_items()
        raise JobFailed(items_failed(failed, len(ctx.items)) if failed else f"no tilt series left to write to {filename}")
    atomic_write(ctx.job_file(filename, "rows"), loop_text("global", rows))


def loop_text(block: str, rows: list[dict[str, Any]]) -> str:
    """One loop of every column any row has, in the order they first appear."""
    cols = _columns(rows)
    return block_loop(block, cols, [[_text(r.get(c, "")) for c in cols] for r in rows])


def combined(ctx: Context, filename: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This run's rows and, for an extension, the kept ones: each tilt series once, by name."""
    if filename != ctx.doc.get("items_star") or not ctx.kept_rows:
        return rows
    return by_tomogram(ctx.kept_rows, rows)


def by_tomogram(kept: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The kept rows of the tomograms this run wrote none for, and this run's, in tomogram order (a
    tomogram's own rows keep theirs): how an extension's combined STAR files are made."""
    written = {r["rlnTomoName"] for r in new}
    return sorted([r for r in kept if r["rlnTomoName"] not in written] + new, key=lambda r: r["rlnTomoName"])


def write_pairs(ctx: Context, filename: str, block: str, pairs: dict[str, str]) -> None:
    """A block of pairs naming the job's files (the same in every array task: one is kept)."""
    atomic_write(ctx.job_file(filename, "one"), block_pairs(block, pairs))


def read_global(path: Path) -> list[dict[str, str]]:
    rows = read_star(path).get("global")
    if not isinstance(rows, list):
        raise JobFailed(f"{path}: no data_global table")
    return rows




def read_tomostar_movies(path: Path) -> list[str]:
    """The frame ids of a .tomostar, in its row order (the order of the aligned stack)."""
    blocks = read_star(path)
    rows = next((b for b in blocks.values() if isinstance(b, list)), [])
    return [frame_id(r["wrpMovieName"]) for r in rows]
