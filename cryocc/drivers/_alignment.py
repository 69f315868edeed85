"""Tilt-series alignments as the aligners write them: AreTomo2's .aln, IMOD's .xf and .tlt."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ._errors import JobFailed


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
