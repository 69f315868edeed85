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
from ._runtime import Context, JobFailed, items_failed


@dataclass
class TiltSeries:
    name: str
    row: dict[str, str]  # the global row (rlnTomoName, optics values, ...)
    tilts: list[dict[str, str]] = field(default_factory=list)


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
    ts_dir = ctx.path("tilt_series")
    ts_dir.mkdir(exist_ok=True)
    rows = []
    for ts in series:
        star = ts_dir / f"{ts.name}.star"
        if ts.tilts:
            write_text_atomic(star, loop_text(ts.name, ts.tilts))
        rows.append({**ts.row, "rlnTomoTiltSeriesStarFile": ctx.rel(star)})
    write_global(ctx, filename, rows)


def write_global(ctx: Context, filename: str, rows: list[dict]) -> None:
    """A data_global table; the job's combined one (items_star) also holds the rows an extension keeps."""
    rows = combined(ctx, filename, rows)
    if not rows:
        failed = ctx.failed_items()
        raise JobFailed(items_failed(failed, len(ctx.items)) if failed else f"no tilt series left to write to {filename}")
    write_text_atomic(ctx.path(filename), loop_text("global", rows))


def loop_text(block: str, rows: list[dict]) -> str:
    """One loop of every column any row has, in the order they first appear."""
    cols = _columns(rows)
    return block_loop(block, cols, [[_text(r.get(c, "")) for c in cols] for r in rows])


def combined(ctx: Context, filename: str, rows: list[dict]) -> list[dict]:
    """This run's rows and, for an extension, the kept ones: each tilt series once, by name."""
    if filename != ctx.doc.get("items_star") or not ctx.kept_rows:
        return rows
    return by_tomogram(ctx.kept_rows, rows)


def by_tomogram(kept: list[dict], new: list[dict]) -> list[dict]:
    """The kept rows of the tomograms this run wrote none for, and this run's, in tomogram order (a
    tomogram's own rows keep theirs): how an extension's combined STAR files are made."""
    written = {r["rlnTomoName"] for r in new}
    return sorted([r for r in kept if r["rlnTomoName"] not in written] + new, key=lambda r: r["rlnTomoName"])


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


# --- WarpTools XML (warpem/warp v2.0.0dev36; docs/tools.md) -------------------------------------------

def _xml_root(xml: Path) -> ET.Element:
    try:
        return ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise JobFailed(f"cannot read {xml.name}: {exc}") from None


def warp_ctf(xml: Path) -> dict[str, float]:
    """Frame-series CTF: the <CTF> element's Param nodes (WarpLib/Movie/Movie.cs:1124-1126), in µm."""
    ctf = _xml_root(xml).find("CTF")
    params = {p.get("Name"): p.get("Value") for p in (ctf if ctf is not None else [])}
    try:
        return {k: float(params[k]) for k in ("Defocus", "DefocusDelta", "DefocusAngle")}
    except (KeyError, TypeError, ValueError):
        raise JobFailed(f"{xml.name} has no complete <CTF> (Defocus, DefocusDelta, DefocusAngle)") from None


def relion_defocus(defocus: float, delta: float, angle: float) -> dict[str, float]:
    """Warp's CTF (µm; DefocusDelta is U - V) as RELION columns (Å), the way Warp's own RELION export
    writes them (WarpTools/Commands/Tiltseries/ExportParticlesTiltseries.cs:972-976)."""
    u, v = (defocus + delta / 2) * 1e4, (defocus - delta / 2) * 1e4
    return {"rlnDefocusU": u, "rlnDefocusV": v, "rlnDefocusAngle": angle, "rlnCtfAstigmatism": u - v}


@dataclass
class WarpTiltSeries:
    """A tilt-series XML (WarpLib/TiltSeries/TiltSeries.cs:2124-2323): per-tilt values are one text
    node each, joined by newlines, in the order of <MoviePath>; CTF grids are addressed by Z."""

    inverted: bool  # AreAnglesInverted: the defocus handedness is flipped
    unselected: bool  # UnselectManual: WarpTools failed this tilt series
    movies: list[str]  # frame ids in the XML's tilt order
    use: list[bool]  # UseTilt
    defocus: dict[int, float]  # by Z
    delta: dict[int, float]
    angle: dict[int, float]


def _lines(root: ET.Element, tag: str) -> list[str]:
    """TiltSeries.LoadMeta reads these as InnerXml.Split('\\n') (TiltSeries.cs:1924-1958)."""
    node = root.find(tag)
    text = node.text if node is not None else None
    return [v.replace(" ", "").replace("\r", "").replace("\t", "") for v in text.split("\n")] if text else []


def warp_tilt_series(xml: Path) -> WarpTiltSeries:
    root = _xml_root(xml)

    def grid(tag: str) -> dict[int, float]:
        node = root.find(tag)
        return {int(n.get("Z")): float(n.get("Value")) for n in node.iter("Node")} if node is not None else {}

    movies = [frame_id(m) for m in _lines(root, "MoviePath")]
    use = [v == "True" for v in _lines(root, "UseTilt")] or [True] * len(movies)
    return WarpTiltSeries(root.get("AreAnglesInverted", "False") == "True", root.get("UnselectManual") == "True",
                          movies, use, grid("GridCTF"), grid("GridCTFDefocusDelta"), grid("GridCTFDefocusAngle"))


def warp_settings(path: Path) -> dict[str, str]:
    """A .settings file's Import and Tomo parameters (WarpLib/OptionsWarp.cs:171-201)."""
    root = _xml_root(path)
    sections = [root.find(name) for name in ("Import", "Tomo")]
    return {p.get("Name"): p.get("Value") for section in sections if section is not None for p in section}


def set_use_tilt(xml: Path, use: list[bool]) -> None:
    """Rewrite <UseTilt>: WarpTools weights a tilt with False by 0.0001, i.e. leaves it out (TiltSeries.cs:937)."""
    tree = ET.parse(xml)
    node = tree.getroot().find("UseTilt")
    if node is None:
        node = ET.SubElement(tree.getroot(), "UseTilt")
    node.text = "\n".join(str(u) for u in use)
    tmp = xml.with_name(f".{xml.name}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, xml)


# --- alignments ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TiltAlignment:
    tilt: float  # refined tilt angle, °
    rot: float  # in-plane rotation, °
    tx: float  # shift, px of the aligned stack
    ty: float


def read_aretomo_aln(path: Path) -> dict[int, TiltAlignment]:
    """AreTomo2 .aln rows "SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT" before '# Local Alignment', by
    their 0-based stack section (MrcUtil/CSaveAlignFile.cpp:89-106); dark sections have no row."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.startswith("# Local Alignment"):
            break
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        v = [float(x) for x in line.split()]
        rows[int(v[0])] = TiltAlignment(tilt=v[9], rot=v[1], tx=v[3], ty=v[4])
    return rows


def read_imod_xf(xf: Path, tlt: Path, nominal_axis: float) -> dict[int, TiltAlignment]:
    """IMOD .xf rows "A11 A12 A21 A22 DX DY" (one per stack section) and .tlt angles, converted as
    RELION converts them (yet_another_imod_wrapper/utils/xf.py, XF.in_plane_rotations and
    specimen_shifts): rotation atan2(-A21, A11), its sign chosen to be nearer the nominal tilt axis,
    shifts -(A^-1 (DX, DY))."""
    lines = [line.split() for line in xf.read_text().splitlines() if line.strip()]
    tilts = [float(x) for x in tlt.read_text().split()]
    if len(lines) != len(tilts):
        raise JobFailed(f"{xf.name} has {len(lines)} rows but {tlt.name} {len(tilts)} angles")
    rots, shifts = [], []
    for parts in lines:
        a, b, c, d, dx, dy = (float(x) for x in parts)
        det = a * d - b * c
        ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
        rots.append(math.degrees(math.atan2(-c, a)))
        shifts.append((-(ia * dx + ib * dy), -(ic * dx + id_ * dy)))
    if sum(abs(-nominal_axis - r) for r in rots) < sum(abs(nominal_axis - r) for r in rots):
        rots = [-r for r in rots]
    return {i: TiltAlignment(tilt=t, rot=r, tx=sx, ty=sy) for i, (t, r, (sx, sy)) in enumerate(zip(tilts, rots, shifts))}


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
