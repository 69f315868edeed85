"""Metadata the tools do not write for us: RELION 5 tilt-series and tomogram STAR files, read
and written with cryocc's own STAR code (no pandas on the nodes), and the WarpTools/AreTomo/IMOD
files the drivers turn into them."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..star import block_loop, block_pairs, read_star
from ._runtime import Context, JobFailed


@dataclass
class TiltSeries:
    name: str
    row: dict[str, str]  # the global row (rlnTomoName, optics values, ...)
    tilts: list[dict[str, str]] = field(default_factory=list)


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


def _columns(rows: list[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def _text(v) -> str:
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else f"{v:.6f}"
    return str(v)


def write_tilt_series(ctx: Context, filename: str, series: list[TiltSeries]) -> None:
    """<job>/<filename> (data_global) and <job>/tilt_series/<ts>.star, paths relative to the project."""
    if not series:
        raise JobFailed(f"no tilt series left to write to {filename}")
    ts_dir = ctx.path("tilt_series")
    ts_dir.mkdir(exist_ok=True)
    rows = []
    for ts in series:
        star = ts_dir / f"{ts.name}.star"
        if ts.tilts:
            cols = _columns(ts.tilts)
            write_text_atomic(star, block_loop(ts.name, cols, [[_text(t.get(c, "")) for c in cols] for t in ts.tilts]))
        rows.append({**ts.row, "rlnTomoTiltSeriesStarFile": ctx.rel(star)})
    write_global(ctx, filename, rows)


def write_global(ctx: Context, filename: str, rows: list[dict]) -> None:
    cols = _columns(rows)
    write_text_atomic(ctx.path(filename), block_loop("global", cols, [[_text(r.get(c, "")) for c in cols] for r in rows]))


def write_pairs(ctx: Context, filename: str, block: str, pairs: dict[str, str]) -> None:
    write_text_atomic(ctx.path(filename), block_pairs(block, pairs))


def read_global(path: Path) -> list[dict[str, str]]:
    rows = read_star(path).get("global")
    if not isinstance(rows, list):
        raise JobFailed(f"{path}: no data_global table")
    return rows


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- WarpTools XML ------------------------------------------------------------------------------

def warp_ctf(xml: Path) -> dict[str, float]:
    """Frame-series CTF: <CTF><Param Name="Defocus" Value=".."/> (µm)."""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise JobFailed(f"cannot read {xml.name}: {exc}") from None
    params = {p.get("Name"): p.get("Value") for p in root.iter("Param")}
    try:
        return {k: float(params[k]) for k in ("Defocus", "DefocusDelta", "DefocusAngle")}
    except (KeyError, TypeError, ValueError):
        raise JobFailed(f"{xml.name} has no complete <CTF> (Defocus, DefocusDelta, DefocusAngle)") from None


@dataclass
class WarpTiltSeriesCtf:
    inverted: bool
    movies: list[str]  # frame ids in the XML's tilt order
    defocus: dict[int, float]  # by Z
    delta: dict[int, float]
    angle: dict[int, float]


def warp_tilt_series_ctf(xml: Path) -> WarpTiltSeriesCtf:
    """Tilt-series XML: AreAnglesInverted, <MoviePath> tilt list, GridCTF* nodes addressed by Z."""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise JobFailed(f"cannot read {xml.name}: {exc}") from None

    def grid(tag: str) -> dict[int, float]:
        node = root.find(tag)
        return {int(n.get("Z")): float(n.get("Value")) for n in node.iter("Node")} if node is not None else {}

    movies_node = root.find("MoviePath")
    movies = [frame_id(n.text or "") for n in movies_node.iter("string")] if movies_node is not None else []
    return WarpTiltSeriesCtf(root.get("AreAnglesInverted", "False").lower() == "true", movies,
                             grid("GridCTF"), grid("GridCTFDefocusDelta"), grid("GridCTFDefocusAngle"))


# --- alignments ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TiltAlignment:
    tilt: float  # refined tilt angle, °
    rot: float  # in-plane rotation, °
    tx: float  # shift, px of the aligned stack
    ty: float


def read_aretomo_aln(path: Path) -> list[TiltAlignment]:
    """AreTomo .aln: numeric rows (SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT) before '# Local Alignment'."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("# Local Alignment"):
            break
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        v = [float(x) for x in line.split()]
        rows.append((int(v[0]), TiltAlignment(tilt=v[9], rot=v[1], tx=v[3], ty=v[4])))
    return [a for _, a in sorted(rows, key=lambda r: r[0])]


def read_imod_xf(xf: Path, tlt: Path) -> list[TiltAlignment]:
    """IMOD .xf rows [a b c d tx ty] map aligned -> raw; invert for shifts and rotation; tilts from .tlt."""
    tilts = [float(x) for x in tlt.read_text().split()]
    out = []
    for line, tilt in zip(xf.read_text().splitlines(), tilts):
        a, b, c, d, tx, ty = (float(x) for x in line.split())
        det = a * d - b * c
        ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
        sx, sy = -(ia * tx + ib * ty), -(ic * tx + id_ * ty)
        out.append(TiltAlignment(tilt=tilt, rot=math.degrees(math.atan2(ic, ia)), tx=sx, ty=sy))
    return out


def read_tomostar_movies(path: Path) -> list[str]:
    """The frame ids of a .tomostar, in its row order (the order of the aligned stack)."""
    blocks = read_star(path)
    rows = next((b for b in blocks.values() if isinstance(b, list)), [])
    return [frame_id(r["wrpMovieName"]) for r in rows]


def mrc_shape(path: Path) -> tuple[int, int, int]:
    """(nx, ny, nz) from an MRC header: the first three int32 words."""
    import struct

    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12:
        raise JobFailed(f"{path.name} is not an MRC file")
    return struct.unpack("<3i", head)
