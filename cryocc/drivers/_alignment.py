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


def read_imod_xf(xf: Path, tlt: Path) -> dict[int, TiltAlignment]:
    """IMOD .xf rows "A11 A12 A21 A22 DX DY" (one per stack section) and .tlt angles, converted as
    WarpTools imports them into the geometry of the tomogram it reconstructs
    (WarpLib/TiltSeries/TiltSeries.ImportAlignments.cs:99-116, 162-183; docs/science.md): rotation
    atan2(-A21, A11) (Matrix3.EulerFromMatrix, WarpLib/Tools/Matrix3.cs:312), shifts A^T (-DX, -DY),
    angles as written. RELION's own import (yet_another_imod_wrapper utils/xf.py) gives the same for
    a pure rotation, but moves the shifts through A^-1 (they differ where IMOD solved magnification
    or stretch) and may negate the rotation to lie nearer a nominal axis; WarpTools does neither,
    and the picks come from WarpTools' tomogram."""
    lines = [line.split() for line in xf.read_text().splitlines() if line.strip()]
    tilts = [float(x) for x in tlt.read_text().split()]
    if len(lines) != len(tilts):
        raise JobFailed(f"{xf.name} has {len(lines)} rows but {tlt.name} {len(tilts)} angles")
    rows = {}
    for i, (parts, tilt) in enumerate(zip(lines, tilts)):
        a11, a12, a21, a22, dx, dy = (float(x) for x in parts)
        rows[i] = TiltAlignment(tilt=tilt, rot=math.degrees(math.atan2(-a21, a11)),
                                tx=a11 * -dx + a21 * -dy, ty=a12 * -dx + a22 * -dy)
    return rows


def relion_columns(a: TiltAlignment, pixel: float) -> dict[str, float]:
    """One tilt's RELION 5 geometry (rlnTomoXTilt/YTilt/ZRot, shifts in Å) from the aligner's row, as
    RELION's own alignment import writes it (src/tomography_python_programs/align_tilt_series/
    aretomo/utils.py:13-22, imod/_utils.py:21-34, aretomo/align_tilt_series.py:63-68) but for the
    tilt's sign: the aligner's angles are WarpTools' (whatever ts_import's --dont_invert), and Warp's
    geometry tilts by the negative of RELION's, so rlnTomoYTilt = -TILT puts RELION in WarpTools'
    tomogram, where the picks come from (docs/science.md, point 2; tests/test_phantom.py,
    tests/test_oracles.py). The shifts are the aligner's, in pixels of the stack it aligned."""
    return {"rlnTomoXTilt": 0.0, "rlnTomoYTilt": -a.tilt, "rlnTomoZRot": a.rot,
            "rlnTomoXShiftAngst": a.tx * pixel, "rlnTomoYShiftAngst": a.ty * pixel}
