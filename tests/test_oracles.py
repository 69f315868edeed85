"""Oracles: cryocc's geometry conversions held to code the tools' own authors wrote (docs/science.md).

Run here, on the same inputs: RELION 5's Python tomography programs (their AreTomo and IMOD import and
their projection model), in RELION's own interpreter, and pytom-match-pick's RELION 5 coordinates.
Source-derived, not run (C#, WarpTools needs .NET and a GPU): WarpTools' import of alignments and the
projection model its tomograms are reconstructed with, each encoded below with repository, path and line
(`warp:` is warpem/warp at v2.0.0dev36, `relion:` 3dem/relion at 73f0a3c, `aretomo2:` AreTomo2 v1.0.0).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_relion

from cryocc.drivers._alignment import TiltAlignment, read_aretomo_aln, read_imod_xf, relion_columns
from cryocc.drivers._warp_xml import relion_defocus, relion_hand

# AreTomo2's global alignment of a 5-tilt stack whose section 2 it found dark: SEC ROT TX TY TILT
ALN_ROWS = [(0, 84.8123, 12.345, -3.21, -39.87), (1, 85.0011, 5.5, 1.25, -19.92), (3, 85.2034, -7.75, 4.5, 20.11),
            (4, 85.4455, -15.125, 9.875, 40.06)]
GPU_STUB = str(Path(__file__).resolve().parent / "fake_tools" / "gpu_stub")
PIXEL = 6.0  # Å, of the stack the aligner aligned (ts_alignment's rescale_angpixs)


def write_aln(path: Path) -> Path:
    """An .aln as AreTomo2 writes it (aretomo2:MrcUtil/CSaveAlignFile.cpp:65-106), with a dark frame."""
    lines = ["# AreTomo Alignment / Priims bprmMn ", "# RawSize = 512 512 5", "# NumPatches = 0",
             "# DarkFrame =     2    2     0.05",
             "# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT"]
    lines += [f"{sec:5d}  {rot:9.4f}  {1.0:9.5f}  {tx:9.3f}  {ty:9.3f}  {1.0:7.2f}  {1.0:7.2f}  {1.0:7.2f}  {0.0:7.2f}  {tilt:8.2f}"
              for sec, rot, tx, ty, tilt in ALN_ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


def aretomo_xf(rot: float, tx: float, ty: float) -> tuple[float, float, float, float, float, float]:
    """The .xf row AreTomo2 writes for WarpTools and RELION 4 (-OutImod): a rotation by -ROT and the
    shift moved through it (aretomo2:ImodUtil/CSaveXF.cpp:55-66)."""
    r = math.radians(rot)
    a11, a12, a21, a22 = math.cos(-r), -math.sin(-r), math.sin(-r), math.cos(-r)
    return a11, a12, a21, a22, a11 * -tx + a12 * -ty, a21 * -tx + a22 * -ty


# --- RELION's own alignment import, run ---------------------------------------------------------------

RELION_ARETOMO = """
import json, sys
from tomography_python_programs.align_tilt_series.aretomo.utils import get_specimen_shifts, get_xyz_extrinsic_euler_angles
aln, pixel = sys.argv[1], float(sys.argv[2])
# align_tilt_series/aretomo/align_tilt_series.py:63-68
print(json.dumps({"euler": get_xyz_extrinsic_euler_angles(aln).tolist(), "shifts": (get_specimen_shifts(aln) * pixel).tolist()}))
"""


def test_aretomo_aln_read_as_relion_reads_it(tmp_path: Path, relion_python: str) -> None:
    aln = write_aln(tmp_path / "TS_01.st.aln")
    oracle = run_relion(relion_python, RELION_ARETOMO, aln, PIXEL)
    ours = read_aretomo_aln(aln)
    assert sorted(ours) == [sec for sec, *_ in ALN_ROWS]  # keyed by stack section: the dark one has no row
    for i, sec in enumerate(sorted(ours)):  # RELION's rows are the file's, in order
        cols = relion_columns(ours[sec], PIXEL)
        # RELION's own import writes +TILT for a tomogram it reconstructs itself; ours is WarpTools' (point 2)
        assert [cols["rlnTomoXTilt"], -cols["rlnTomoYTilt"], cols["rlnTomoZRot"]] == pytest.approx(oracle["euler"][i], abs=1e-9)
        assert [cols["rlnTomoXShiftAngst"], cols["rlnTomoYShiftAngst"]] == pytest.approx(oracle["shifts"][i], abs=1e-9)


RELION_IMOD = """
import json, sys
import numpy as np
from yet_another_imod_wrapper.utils.io import read_tlt
from yet_another_imod_wrapper.utils.xf import XF
xf, tlt, axis = sys.argv[1], sys.argv[2], float(sys.argv[3])
# align_tilt_series/imod/_utils.py:9-34 (with no AngleOffset in align.log) and imod/align_tilt_series.py:56-60
x = XF.from_file(xf, initial_tilt_axis_rotation_angle=axis)
print(json.dumps({"rot": x.in_plane_rotations.tolist(), "shifts": np.atleast_2d(x.specimen_shifts).tolist(),
                  "tilt": read_tlt(tlt).tolist()}))
"""


def test_imod_xf_read_as_relion_reads_it(tmp_path: Path, relion_python: str) -> None:
    """Rotations near the nominal axis (the normal case, where RELION keeps the sign) and pure
    rotations (where A^-1 and WarpTools' A^T agree; see test_imod_shift_follows_warp_on_a_stretched_xf)."""
    xf, tlt = tmp_path / "TS_01.xf", tmp_path / "TS_01.tlt"
    rows = [aretomo_xf(rot, tx, ty) for _, rot, tx, ty, _ in ALN_ROWS]
    xf.write_text("".join(" ".join(f"{v:12.7f}" for v in row) + "\n" for row in rows))
    tlt.write_text("".join(f"{t:8.2f}\n" for *_, t in ALN_ROWS))
    oracle = run_relion(relion_python, RELION_IMOD, xf, tlt, 85.0)
    ours = read_imod_xf(xf, tlt)
    assert [ours[i].rot for i in range(len(rows))] == pytest.approx(oracle["rot"], abs=1e-4)
    np.testing.assert_allclose([[ours[i].tx, ours[i].ty] for i in range(len(rows))], oracle["shifts"], atol=1e-4)
    assert [ours[i].tilt for i in range(len(rows))] == pytest.approx(oracle["tilt"], abs=1e-9)
    # and the .xf AreTomo2 writes gives what its .aln says (the two files WarpTools and cryocc read)
    np.testing.assert_allclose([(ours[i].rot, ours[i].tx, ours[i].ty) for i in range(len(rows))],
                               [(rot, tx, ty) for _, rot, tx, ty, _ in ALN_ROWS], atol=1e-4)


# --- WarpTools' geometry, source-derived (not run) ------------------------------------------------------

def warp_euler(rot: float, tilt: float, psi: float) -> np.ndarray:
    """warp:WarpLib/Tools/Matrix3.cs:231-259 (radians), as a row-major 3x3 matrix."""
    ca, sa, cb, sb, cg, sg = math.cos(rot), math.sin(rot), math.cos(tilt), math.sin(tilt), math.cos(psi), math.sin(psi)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


def warp_import_xf(row: tuple[float, ...], tilt: float, pixel: float) -> tuple[float, float, tuple[float, float]]:
    """What WarpTools' ImportAlignments puts into a tilt series from one .xf row and .tlt angle:
    Angles (the .tlt, :162-183), TiltAxisAngles (EulerFromMatrix's gamma, Matrix3.cs:312, of the .xf
    matrix, ImportAlignments.cs:99-107) and TiltAxisOffsetX/Y = A^T (-DX, -DY) x pixel (:110-116)."""
    a11, a12, a21, a22, dx, dy = row
    axis = math.degrees(math.atan2(-a21, a11))
    return tilt, axis, ((a11 * -dx + a21 * -dy) * pixel, (a12 * -dx + a22 * -dy) * pixel)


def warp_project(points: np.ndarray, tilt: float, axis: float, offset: tuple[float, float]) -> np.ndarray:
    """Where WarpTools' tomogram puts a point (Å from the volume centre) in a tilt image (Å from the
    image centre): Euler(0, Angles, -TiltAxisAngles) x point + TiltAxisOffset, no level angles, no
    warp grids (warp:WarpLib/TiltSeries/TiltSeries.cs:427-462; the same in GetPositionsInOneTilt,
    :583-648, and the rotation WarpTools' RELION export writes, GetAngleInAllTilts :663-700 with
    WarpTools/Commands/Tiltseries/ExportParticlesTiltseries.cs:945-967)."""
    m = warp_euler(0.0, math.radians(tilt), math.radians(-axis))
    return (points @ m.T)[:, :2] + np.array(offset)


RELION_PROJECT = """
import json, sys
import numpy as np
import pandas as pd
from tomography_python_programs.align_tilt_series._job_utils import tilt_series_alignment_parameters_to_relion_projection_matrices
tilts, points = json.loads(sys.argv[1]), np.array(json.loads(sys.argv[2]))
homogeneous = np.c_[points, np.ones(len(points))]
out = []
for cols in tilts:
    # RELION's projection model (align_tilt_series/_job_utils.py:25-66; the same in the C++ programs,
    # relion:src/jaz/tomography/tomogram.cpp:17-63), in Å with a zero-sized specimen and image
    m = tilt_series_alignment_parameters_to_relion_projection_matrices(
        specimen_shifts=pd.DataFrame([[cols["rlnTomoXShiftAngst"], cols["rlnTomoYShiftAngst"]]]),
        euler_angles=pd.DataFrame([[cols[k] for k in ("rlnTomoXTilt", "rlnTomoYTilt", "rlnTomoZRot")]],
                                  columns=["rlnTomoXTilt", "rlnTomoYTilt", "rlnTomoZRot"]),
        tilt_image_dimensions=np.zeros(2), tomogram_dimensions=np.zeros(3))
    out.append((homogeneous @ m.T)[:, :3].tolist())
print(json.dumps({"projected": out}))
"""

POINTS = np.array([[0.0, 0.0, 0.0], [300.0, -200.0, 150.0], [-450.0, 120.0, -90.0], [80.0, 500.0, 240.0]])
# WarpTools hands the aligner its angles negated unless ts_import had --dont_invert, and reads the
# aligner's back as its own: cryocc's columns, and WarpTools' model, are the same either way


def relion_projection(python: str, tmp_path: Path) -> list[np.ndarray]:
    """POINTS through RELION's model of each tilt, with the columns cryocc writes."""
    aln = read_aretomo_aln(write_aln(tmp_path / "TS_01.st.aln"))
    cols = [relion_columns(aln[sec], PIXEL) for sec, *_ in ALN_ROWS]
    return [np.array(p) for p in run_relion(python, RELION_PROJECT, json.dumps(cols), json.dumps(POINTS.tolist()))["projected"]]


def test_relion_geometry_puts_warp_tomogram_points_where_warp_does(tmp_path: Path, relion_python: str) -> None:
    """The picks come from WarpTools' tomogram; RELION extracts them through cryocc's tilt-series STAR.
    Each point must land where WarpTools' own projection model puts it, at every tilt."""
    projected = relion_projection(relion_python, tmp_path)
    for (_, rot, tx, ty, tilt), relion in zip(ALN_ROWS, projected):
        # WarpTools gave the aligner its angles in its own sign (the .tomostar's, TiltSeries.StackTilts.cs:35-40)
        # and reads the aligner's .xf and .tlt back (AreTomo2 -OutImod 1)
        w_tilt, w_axis, w_offset = warp_import_xf(aretomo_xf(rot, tx, ty), tilt, PIXEL)
        np.testing.assert_allclose(relion[:, :2], warp_project(POINTS, w_tilt, w_axis, w_offset), atol=1e-3)


@pytest.mark.parametrize("defocus_flipped", [False, True], ids=["AreAnglesInverted-False", "AreAnglesInverted-True"])
def test_relion_defocus_gradient_is_warps(tmp_path: Path, relion_python: str, defocus_flipped: bool) -> None:
    """A particle's defocus off the tilt's central defocus: WarpTools adds 1e-4 x its depth Z (Å -> µm)
    in the rotated frame, with tilt and Z negated where AreAnglesInverted (warp:WarpLib/TiltSeries/TiltSeries.cs:
    583-648); RELION adds rlnTomoHand x its depth in its own frame (relion:src/jaz/tomography/tomogram.cpp:267-290).
    ts_ctf writes rlnTomoHand from AreAnglesInverted."""
    projected = relion_projection(relion_python, tmp_path)
    hand = relion_hand(defocus_flipped)
    for (_, rot, tx, ty, tilt), relion in zip(ALN_ROWS, projected):
        _, axis, _ = warp_import_xf(aretomo_xf(rot, tx, ty), tilt, PIXEL)
        if defocus_flipped:
            m = warp_euler(0.0, -math.radians(tilt), math.radians(-axis))
            depth = (POINTS * np.array([1.0, 1.0, -1.0])) @ m.T
        else:
            depth = POINTS @ warp_euler(0.0, math.radians(tilt), math.radians(-axis)).T
        np.testing.assert_allclose(hand * relion[:, 2], depth[:, 2], atol=1e-3)


def test_imod_rotation_follows_warp_not_relions_nominal_axis_guess(tmp_path: Path) -> None:
    """RELION's IMOD import negates an in-plane rotation that lies nearer minus the nominal axis
    (yet_another_imod_wrapper utils/xf.py in_plane_rotations); WarpTools never does
    (ImportAlignments.cs:104-107), and WarpTools' tomogram is the one the picks come from."""
    xf, tlt = tmp_path / "TS_01.xf", tmp_path / "TS_01.tlt"
    row = aretomo_xf(-84.0, 3.0, -2.0)  # an axis of -84°, whatever the mdoc's nominal axis says
    xf.write_text(" ".join(f"{v:12.7f}" for v in row) + "\n")
    tlt.write_text("10.0\n")
    assert read_imod_xf(xf, tlt)[0].rot == pytest.approx(warp_import_xf(row, 10.0, 1.0)[1], abs=1e-4)


def test_imod_shift_follows_warp_on_a_stretched_xf(tmp_path: Path) -> None:
    """IMOD's patch tracking solves magnification and stretch too, so A is no pure rotation. WarpTools
    moves the shift through A^T (ImportAlignments.cs:110-116), RELION through A^-1 (xf.py
    image_shifts): cryocc follows the tomogram's maker, WarpTools."""
    xf, tlt = tmp_path / "TS_01.xf", tmp_path / "TS_01.tlt"
    row = (0.1, -1.02, 0.99, 0.11, 14.0, -6.5)
    xf.write_text(" ".join(f"{v}" for v in row) + "\n")
    tlt.write_text("-30.0\n")
    got = read_imod_xf(xf, tlt)[0]
    _, axis, (ox, oy) = warp_import_xf(row, -30.0, PIXEL)
    assert (got.rot, got.tx * PIXEL, got.ty * PIXEL) == pytest.approx((axis, ox, oy), abs=1e-9)


def test_relion_columns_of_an_alignment() -> None:
    cols = relion_columns(TiltAlignment(tilt=-39.87, rot=84.8, tx=2.0, ty=-1.5), pixel=6.0)
    assert cols == {"rlnTomoXTilt": 0.0, "rlnTomoYTilt": 39.87, "rlnTomoZRot": 84.8,
                    "rlnTomoXShiftAngst": 12.0, "rlnTomoYShiftAngst": -9.0}


def test_defocus_as_warps_relion_export_writes_it() -> None:
    """warp:WarpTools/Commands/Tiltseries/ExportParticlesTiltseries.cs:972-976: rlnDefocusU/V =
    (Defocus ± DefocusDelta/2) x 10^4 (µm to Å), rlnDefocusAngle = DefocusAngle; DefocusDelta is
    U - V (Warp's CTF uses half of it each way, warp:WarpLib/CTF.cs:471)."""
    defocus, delta, angle = 3.2, 0.15, -47.5
    got = relion_defocus(defocus, delta, angle)
    assert got["rlnDefocusU"] == pytest.approx((defocus + delta / 2) * 1e4)
    assert got["rlnDefocusV"] == pytest.approx((defocus - delta / 2) * 1e4)
    assert got["rlnDefocusAngle"] == angle
    assert got["rlnDefocusU"] - got["rlnDefocusV"] == pytest.approx(delta * 1e4)


def pytom_extract(tmp_path: Path, shape: tuple[int, int, int], voxel: float, peaks: list[tuple[int, int, int]],
                  diameter: float) -> list[dict[str, float]]:
    """pytom-match-pick's own extract_particles (the code under pytom_extract_candidates.py,
    pytom:src/pytom_tm/extract.py:151-400), run on a score map with these peaks, --relion5-compat."""
    import sys
    from types import SimpleNamespace

    if GPU_STUB not in sys.path:  # pytom imports cupy at module level; extraction runs on the CPU
        sys.path.insert(0, GPU_STUB)
    from pytom_tm.extract import extract_particles
    from pytom_tm.io import write_mrc

    scores = np.zeros(shape, dtype=np.float32)
    for k, peak in enumerate(peaks):
        scores[peak] = 0.9 - 0.1 * k
    write_mrc(tmp_path / "TS_scores.mrc", scores, voxel)
    write_mrc(tmp_path / "TS_angles.mrc", np.zeros(shape, dtype=np.float32), voxel)
    job = SimpleNamespace(output_dir=tmp_path, tomo_id="TS", rotation_file=90.0, pytom_tm_version_number="0.10.0",
                          rotational_symmetry=1, tomogram_mask=None, tomo_shape=shape, search_origin=(0, 0, 0),
                          job_stats={"std": 0.01, "search_space": int(np.prod(shape))}, voxel_size=voxel,
                          particle_diameter=None)
    table, _ = extract_particles(job, len(peaks) + 1, particle_diameter=diameter, cut_off=0.05, create_plot=False,
                                 relion5_compat=True)
    return table.to_dict("records")  # type: ignore[no-any-return]


def test_pick_centres_agree_between_pytom_warp_and_relion(tmp_path: Path) -> None:
    """A pick at voxel i of WarpTools' tomogram: pytom's --relion5-compat writes (i - shape/2) x voxel
    (run), WarpTools centres its model on VolumeDimensionsPhysical/2 (warp:WarpLib/TiltSeries/TiltSeries.cs:400,
    source-derived), RELION on int(rlnTomoSizeX/2) unbinned pixels (relion:src/jaz/tomography/tomogram.cpp:44):
    the same point, within a binned voxel, when rlnTomoSize is WarpTools' unbinned Tomo/Dimensions
    (ts_reconstruct) and the binned tomogram is Dimensions x pixel / angpix voxels."""
    px, angpix, size = 1.5, 6.0, np.array([256, 320, 128])  # unbinned Å/px, ts_reconstruct's angpix, Tomo/Dimensions
    shape = tuple(int(round(n * px / angpix)) for n in size)
    peaks = [(10, 20, 8), (40, 70, 25), (60, 11, 5)]
    rows = pytom_extract(tmp_path, shape, angpix, peaks, diameter=30.0)  # type: ignore[arg-type]
    got = {(round(r["rlnCenteredCoordinateXAngst"], 3), round(r["rlnCenteredCoordinateYAngst"], 3),
            round(r["rlnCenteredCoordinateZAngst"], 3)) for r in rows}
    warp = {tuple(np.round(np.array(p) * angpix - size * px / 2, 3)) for p in peaks}
    relion = {tuple(np.round(np.array(p) * angpix - np.floor(size / 2) * px, 3)) for p in peaks}
    assert got == warp == relion


def test_pytom_particle_diameter_is_a_diameter(tmp_path: Path) -> None:
    """docs/science.md point 3: pytom boxes out a sphere of half the --particle-diameter around each pick
    (extract.py:263-264, 303-304, 357-363): two peaks 0.4 diameters apart are one particle when it
    gets the diameter, two when it gets the radius as the validated chain passed it
    (crboost_server drivers/extract_candidates_pytom.py:108)."""
    from cryocc.drivers.candidate_extract import extract_args
    from cryocc.schema.jobs.candidate_extract import CandidateExtractParams

    voxel, diameter = 10.0, 200.0
    peaks = [(30, 30, 30), (38, 30, 30)]  # 80 Å apart
    params = CandidateExtractParams(particle_diameter_ang=diameter).model_dump()
    args = extract_args(params, Path("TS_job.json"))
    passed = float(args[args.index("--particle-diameter") + 1])
    assert len(pytom_extract(tmp_path, (64, 64, 64), voxel, peaks, passed)) == 1
    validated = int(diameter / 2.0 / voxel) * voxel
    assert len(pytom_extract(tmp_path, (64, 64, 64), voxel, peaks, validated)) == 2


def warp_grid(tag: str, values: list[float]) -> str:
    """A 1 x 1 x NTilts grid as WarpTools saves it (warp:WarpLib/CubicGrid.cs:392-413)."""
    nodes = "".join(f'\n\t\t<Node X="0" Y="0" Z="{z}" Value="{v}" />' for z, v in enumerate(values))
    return f'\t<{tag} Width="1" Height="1" Depth="{len(values)}" MarginX="0" MarginY="0" MarginZ="0">{nodes}\n\t</{tag}>\n'


def test_per_tilt_ctf_as_warps_relion_export_takes_it(tmp_path: Path) -> None:
    """WarpTools' export takes tilt t's defocus, delta and angle from node t of each grid
    (GetTiltDefocusDelta/Angle, warp:WarpLib/TiltSeries/TiltSeries.cs:166-184, and the defocus at the
    volume centre, GetPositionsInOneTilt :583-648, ExportParticlesTiltseries.cs:945-976); tilt t is
    the t-th <MoviePath> (TiltSeries.cs:2159-2186). The tilts here are not in angle order."""
    from cryocc.drivers._warp_xml import warp_tilt_series

    movies = ["../warp_frameseries/TS_01_002_-3.0.mrc", "../warp_frameseries/TS_01_001_0.0.mrc", "../warp_frameseries/TS_01_003_3.0.mrc"]
    defocus, delta, angle = [3.1, 3.25, 2.95], [0.05, 0.12, -0.02], [12.5, -40.0, 88.0]
    xml = tmp_path / "TS_01.xml"
    xml.write_text('<?xml version="1.0" encoding="utf-8"?>\n<TiltSeries AreAnglesInverted="True" UnselectManual="False">\n'
                   "\t<Angles>-3\n0\n3</Angles>\n\t<UseTilt>True\nTrue\nTrue</UseTilt>\n"
                   f"\t<MoviePath>{chr(10).join(movies)}</MoviePath>\n"
                   + warp_grid("GridCTF", defocus) + warp_grid("GridCTFDefocusDelta", delta)
                   + warp_grid("GridCTFDefocusAngle", angle) + "</TiltSeries>\n")
    ts = warp_tilt_series(xml)
    assert ts.movies == ["TS_01_002_-3.0", "TS_01_001_0.0", "TS_01_003_3.0"] and ts.inverted
    for t in range(3):
        got = relion_defocus(ts.defocus[t], ts.delta[t], ts.angle[t])
        assert (got["rlnDefocusU"], got["rlnDefocusV"], got["rlnDefocusAngle"]) == pytest.approx(
            ((defocus[t] + delta[t] / 2) * 1e4, (defocus[t] - delta[t] / 2) * 1e4, angle[t]))
