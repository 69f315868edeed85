"""A phantom of known hand through the whole chain and the real RELION (issue 24, "What to build" 2).

Three balls of different sizes on an L (tests/phantom.py), two copies off the tomogram's central
plane, projected exactly at a real mdoc's tilt angles about a tilt axis of 85.3°, are the movies of a
SerialEM- or Tomo5-style tilt series. cryocc runs its chain on them with the real relion_schemer
(workstation site): the real RELION import, and the contract fakes, which do honest arithmetic here
(motion correction averages the frames, AreTomo2 reports the alignment of these exact data in its
.aln format, WarpTools' ts_reconstruct backprojects in Warp's own geometry). Then the real
relion_tomo_reconstruct_tomogram reconstructs from cryocc's tilt-series STAR (rlnTomoXTilt/YTilt/ZRot,
shifts), and relion_tomo_subtomo and relion_tomo_reconstruct_particle the object at the known
positions of its copies.

Which way the stage really tilted is a fact of the microscope that no file tells: the spec says it.
`invert_tilt_angles: true` says that the tilt is the recorded angle read the way WarpTools reads it
when it inverts (its default, which its help says matches IMOD); without it, cryocc follows the chain
validated against ground truth, which always imports with --dont_invert, and the tilt is minus that
(docs/science.md, point 1). Either way, every reconstruction, Warp's and RELION's, must show the
phantom unmirrored, within two voxels of where it is, in its orientation.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from conftest import tool_env
from phantom import (
    AXIS,
    BALLS,
    BOX,
    COPIES,
    IMAGE,
    PIXEL,
    TOMO,
    best_shift,
    object_volume,
    project,
    real_tilts,
    rot_y,
    rot_z,
    serialem_mdoc,
    tomo5_mdoc,
    tomogram_volume,
    wedge,
    write_movies,
)
from schemer import run_scheme
from typer.testing import CliRunner

from cryocc.cli import app
from cryocc.star import read_star

pytestmark = pytest.mark.usefixtures("relion")

PIPELINE = """cryocc: 1
name: phantom
site: workstation
data:
  frames: data/frames/*.mrc
  mdocs: data/mdoc/*.mdoc
  acquisition: {{voltage: 300, dose_per_tilt: 3.0{invert}}}
jobs:
  import:      {{type: import_movies}}
  motion:      {{type: fs_motion_ctf}}
  tsimport:    {{type: ts_import, params: {{tomo_dimensions: {w}x{h}x{d}}}}}
  align:       {{type: ts_alignment, params: {{method: aretomo, sample_thickness_nm: 50, rescale_angpixs: {px}}}}}
  ctf:         {{type: ts_ctf}}
  reconstruct: {{type: ts_reconstruct, params: {{rescale_angpixs: {px}}}}}
"""
NAMES = {"SerialEM": "TS_01", "Tomo5": "Position_1"}


class Run:
    """One tilt series of the phantom through cryocc's chain, then the real RELION programs."""

    def __init__(self, root: Path, software: str, inverted: bool) -> None:
        self.project, self.name = root / "project", NAMES[software]
        data = root / "spec" / "data"
        tilts = real_tilts()
        # the stage tilted by +angle when the spec says the angles are to be inverted, else by -angle
        write_movies(data / "frames", self.name, tilts, stage_sign=1.0 if inverted else -1.0)
        (data / "mdoc").mkdir(parents=True)
        mdoc = serialem_mdoc if software == "SerialEM" else tomo5_mdoc
        (data / "mdoc" / f"{self.name}.mdoc").write_text(mdoc(self.name, tilts))
        pipeline = root / "spec" / "pipeline.yaml"
        w, h, d = TOMO
        pipeline.write_text(PIPELINE.format(w=w, h=h, d=d, px=PIXEL, invert=", invert_tilt_angles: true" if inverted else ""))
        result = CliRunner().invoke(app, ["apply", str(pipeline), "--project", str(self.project)])
        assert result.exit_code == 0, result.output
        self.scheme = run_scheme(self.project, tool_env())
        assert self.scheme.exit_code == 0, self.scheme.output
        self.dirs = {node: d for node, d, _ in self.scheme.jobs}

    def relion(self, program: str, *args: object) -> None:
        env = tool_env()
        out = subprocess.run([program, *map(str, args)], cwd=self.project, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{program}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}"

    def warp_tomogram(self) -> np.ndarray:
        star = read_star(self.project / self.dirs["reconstruct"] / "tomograms.star")["global"]
        return _read(self.project / star[0]["rlnTomoReconstructedTomogram"])

    def relion_tomogram(self) -> np.ndarray:
        w, h, d = TOMO
        self.relion("relion_tomo_reconstruct_tomogram", "--t", self.dirs["reconstruct"] + "tomograms.star", "--tn", self.name,
                    "--o", "phantom/rec/", "--w", w, "--h", h, "--d", d, "--bin", 1, "--j", 1)
        return _read(self.project / f"phantom/rec/tomograms/rec_{self.name}.mrc")  # reconstruct_tomogram.cpp:148-149, 824-826

    def particle(self) -> np.ndarray:
        """The object averaged over its copies, picked at their true positions (Å from the tomogram's centre)."""
        rows = "".join(f"{self.name} {x * PIXEL:.2f} {y * PIXEL:.2f} {z * PIXEL:.2f}\n" for x, y, z in COPIES)
        (self.project / "phantom").mkdir(exist_ok=True)
        (self.project / "phantom/particles.star").write_text(
            "\ndata_particles\n\nloop_\n_rlnTomoName #1\n_rlnCenteredCoordinateXAngst #2\n_rlnCenteredCoordinateYAngst #3\n"
            "_rlnCenteredCoordinateZAngst #4\n" + rows)
        (self.project / "phantom/optimisation_set.star").write_text(
            "\ndata_optimisation_set\n\n_rlnTomoParticlesFile phantom/particles.star\n"
            f"_rlnTomoTomogramsFile {self.dirs['reconstruct']}tomograms.star\n")
        self.relion("relion_tomo_subtomo", "--i", "phantom/optimisation_set.star", "--o", "phantom/subtomo/",
                    "--b", BOX, "--bin", 1, "--no_ctf", "--j", 1)
        # --SNR 1: a fixed Wiener constant; RELION's heuristic, meant for noisy data, leaves these exact data ringing
        self.relion("relion_tomo_reconstruct_particle", "--i", "phantom/subtomo/optimisation_set.star", "--o", "phantom/particle/",
                    "--b", BOX, "--no_ctf", "--SNR", 1, "--j", 1)
        return -_read(self.project / "phantom/particle/merged.mrc")  # RELION inverts the contrast (reconstruct_particle.cpp:117)


def _read(path: Path) -> np.ndarray:
    with mrcfile.open(path, permissive=True) as m:
        return np.asarray(m.data, dtype=float)


def _assert_comes_back(volume: np.ndarray, truth: np.ndarray, others: dict[str, np.ndarray], what: str) -> None:
    """The volume matches the truth within two voxels, and better than any of the others (the mirror
    image, the object turned); each as the tilt range can show it (the missing wedge taken out)."""
    cc, shift = best_shift(volume, wedge(truth))
    rivals = {name: best_shift(volume, wedge(v))[0] for name, v in others.items()}
    report = f"{what}: truth {cc:.3f} at shift (z, y, x) {shift}, " + ", ".join(f"{n} {c:.3f}" for n, c in rivals.items())
    assert max(abs(s) for s in shift) <= 2, report
    assert all(cc > c + 0.05 for c in rivals.values()), report


@pytest.fixture(scope="module", params=[("SerialEM", False), ("SerialEM", True), ("Tomo5", False), ("Tomo5", True)],
                ids=["serialem", "serialem-inverted", "tomo5", "tomo5-inverted"])
def run(request, tmp_path_factory, relion) -> Run:
    software, inverted = request.param
    return Run(tmp_path_factory.mktemp(f"phantom-{software}-{inverted}"), software, inverted)


def test_warps_tomogram_shows_the_phantom_with_its_hand(run):
    _assert_comes_back(run.warp_tomogram(), tomogram_volume(), {"mirror": tomogram_volume(mirror_z=True)}, "WarpTools tomogram")


def test_relions_tomogram_from_cryoccs_metadata_shows_the_phantom_with_its_hand(run):
    _assert_comes_back(run.relion_tomogram(), tomogram_volume(), {"mirror": tomogram_volume(mirror_z=True)}, "RELION tomogram")


def test_relions_particle_at_the_known_positions_is_the_object_in_its_orientation(run):
    truth = object_volume()
    turned = {"mirror": object_volume(mirror_z=True), "turned about z": np.rot90(truth, 2, axes=(1, 2)),
              "turned about y": np.rot90(truth, 2, axes=(0, 2)), "turned about x": np.rot90(truth, 2, axes=(0, 1))}
    _assert_comes_back(run.particle(), truth, turned, "RELION particle")


def test_the_phantom_is_what_the_test_says():
    """The test's own geometry: the tilt images are exact projections of the balls (their summed
    density is the balls' volume at any tilt), and a point lands where RELION's definition puts it."""
    volume = len(COPIES) * sum(4 / 3 * np.pi * r ** 3 for _, r in BALLS)
    for angle in (0.0, 60.0):
        assert project(angle, AXIS).sum() == pytest.approx(volume, rel=0.03)
    assert project(0.0, AXIS).shape == (IMAGE, IMAGE)
    # Ry(+90°) turns +z into +x (right-handed, as relion:src/jaz/gravis/t3Matrix.h:478-500)
    assert rot_y(90.0) @ np.array([0.0, 0.0, 1.0]) == pytest.approx([1.0, 0.0, 0.0])
    assert rot_z(90.0) @ np.array([1.0, 0.0, 0.0]) == pytest.approx([0.0, 1.0, 0.0])
