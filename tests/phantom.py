"""A phantom of known hand for tests/test_phantom.py: three balls of different sizes on an L, its exact
projections, and mdocs in SerialEM's and Tomo5's formats at a real mdoc's tilt angles.

The geometry is this file's own, written down from RELION's definition of a tilt image
(relion:src/jaz/tomography/tomogram.cpp:17-61, setProjectionMatrix): a point p of a tomogram of
w x h x d voxels appears in a tilt image of W x H pixels at
    Rz(zrot) . Ry(ytilt) . Rx(xtilt) . (p - (w/2, h/2, d/2)) + (W/2, H/2) + shift,
with right-handed active rotations in degrees (relion:src/jaz/gravis/t3Matrix.h:478-500). Nothing of
cryocc is used to make the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

REAL_MDOC = Path(__file__).resolve().parent / "fixtures/real/teamtomo-mdocfile/tilt_series.mdoc"
AXIS = 85.3  # that mdoc's "Tilt axis angle": far from 0, so an axis taken wrongly would show
PIXEL = 10.0  # Å
IMAGE = 96  # px, square
TOMO = (96, 96, 48)  # w, h, d in pixels (binning 1)
BOX = 32  # the particle box, voxels
# the object, centred in its box: (offset from its centre in voxels (x, y, z), radius): big at the
# corner of the L, middle-sized along +x, small along +y and 11 voxels higher in z, so that neither a
# mirror nor a turn maps it onto itself
BALLS = (((-4.0, -4.0, -5.0), 4.5), ((7.0, -4.0, -5.0), 3.5), ((-4.0, 7.0, 6.0), 3.0))
# where the two copies sit in the tomogram, from its centre (voxels): off the central plane both ways,
# so that a tomogram mirrored in z puts them elsewhere
COPIES = ((-18.0, 14.0, 9.0), (16.0, -12.0, -8.0))


@dataclass(frozen=True)
class Tilt:
    z: int  # ZValue, in acquisition order
    angle: float  # as the mdoc records it


def real_tilts(step: float = 6.0) -> list[Tilt]:
    """The real mdoc's sections whose angle is a multiple of `step` (0, ±6, …, ±60), in its order."""
    angles = [float(line.split("=")[1]) for line in REAL_MDOC.read_text().splitlines() if line.startswith("TiltAngle")]
    chosen = [a for a in angles if abs(a / step - round(a / step)) < 0.01]
    return [Tilt(z, a) for z, a in enumerate(chosen)]


def rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def balls_in_tomogram() -> list[tuple[np.ndarray, float]]:
    """Every ball of every copy: (position from the tomogram's centre in voxels, radius)."""
    return [(np.add(copy, offset), r) for copy in COPIES for offset, r in BALLS]


def project(ytilt: float, zrot: float) -> np.ndarray:
    """The exact tilt image (H, W) of the balls: a ball of radius r projects to a disc of thickness
    2·sqrt(r² - ρ²) around its projected centre, in any direction."""
    yy, xx = np.mgrid[0:IMAGE, 0:IMAGE].astype(float)
    image = np.zeros((IMAGE, IMAGE))
    rotation = rot_z(zrot) @ rot_y(ytilt)
    for centre, r in balls_in_tomogram():
        px, py, _ = rotation @ centre + (IMAGE // 2, IMAGE // 2, 0)
        rho2 = (xx - px) ** 2 + (yy - py) ** 2
        image += 2 * np.sqrt(np.clip(r * r - rho2, 0, None))
    return image


def object_volume(size: int = BOX, mirror_z: bool = False) -> np.ndarray:
    """The object alone, centred in a box (z, y, x), voxel (size/2, size/2, size/2) its centre."""
    z, y, x = np.mgrid[0:size, 0:size, 0:size].astype(float) - size // 2
    volume = np.zeros((size, size, size))
    for (ox, oy, oz), r in BALLS:
        oz = -oz if mirror_z else oz
        volume += ((x - ox) ** 2 + (y - oy) ** 2 + (z - oz) ** 2 <= r * r)
    return volume


def tomogram_volume(mirror_z: bool = False) -> np.ndarray:
    """The whole tomogram (z, y, x) with both copies; mirror_z: its mirror image through the central plane."""
    w, h, d = TOMO
    z, y, x = np.mgrid[0:d, 0:h, 0:w].astype(float)
    x, y, z = x - w // 2, y - h // 2, z - d // 2
    volume = np.zeros((d, h, w))
    for (cx, cy, cz), r in balls_in_tomogram():
        cz = -cz if mirror_z else cz
        volume += ((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r)
    return volume


# --- the data: movies and an mdoc ---------------------------------------------------------------

def frame_name(ts: str, tilt: Tilt) -> str:
    return f"{ts}_{tilt.z:03d}_{tilt.angle:.2f}.mrc"


def write_movies(frames: Path, ts: str, tilts: list[Tilt], stage_sign: float) -> None:
    """Two frames per tilt whose mean is the exact projection (on a flat background, which WarpTools'
    ts_import needs to see the tilt as exposed): the microscope tilted the stage by stage_sign x the
    angle its software recorded."""
    frames.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for tilt in tilts:
        image = 10.0 + project(stage_sign * tilt.angle, AXIS)
        wiggle = rng.normal(0, 0.5, image.shape)
        with mrcfile.new(frames / frame_name(ts, tilt), overwrite=True) as m:
            m.set_data(np.stack([image + wiggle, image - wiggle]).astype(np.float32))
            m.voxel_size = PIXEL


def _section(tilt: Tilt, ts: str, extra: str, path_prefix: str, when: str) -> str:
    return (f"[ZValue = {tilt.z}]\nTiltAngle = {tilt.angle:.5f}\nExposureDose = 3\nPixelSpacing = {PIXEL}\n{extra}"
            f"SubFramePath = {path_prefix}{frame_name(ts, tilt)}\nNumSubFrames = 2\nDateTime = {when}  10:{tilt.z:02d}:30\n\n")


def serialem_mdoc(ts: str, tilts: list[Tilt]) -> str:
    """SerialEM's layout (the real mdoc's header and title lines, its axis in the second title)."""
    head = (f"PixelSpacing = {PIXEL}\nVoltage = 300\nImageFile = {ts}.mrc\nImageSize = {IMAGE} {IMAGE}\nDataMode = 1\n\n"
            "[T = SerialEM: Digitized on EMBL Krios                       30-Nov-15  15:14:20    ]\n\n"
            f"[T =     Tilt axis angle = {AXIS}, binning = 4  spot = 8  camera = 2]\n\n")
    return head + "".join(_section(t, ts, "RotationAngle = 175.3\n", "D:\\DATA\\frames\\", "30-Nov-15") for t in tilts)


def tomo5_mdoc(ts: str, tilts: list[Tilt]) -> str:
    """Tomo5's layout (tests/fixtures/tomo5/README.md): a 'Tomography:' title, a second title whose
    TiltAxisAngle is not the axis (RotationAngle - 90, as in the real files), and the axis as -RotationAngle
    in every section."""
    head = (f"PixelSpacing = {PIXEL}\nVoltage = 300\nImageFile = {ts}.mrc\nImageSize = {IMAGE} {IMAGE}\nDataMode = 1\n\n"
            "[T = Tomography: TITAN52337180 2023-05-04 10:12:03]\n\n"
            f"[T =   TiltAxisAngle = {-AXIS - 90:.2f}  Binning = 1  SpotSize = 7]\n\n")
    return head + "".join(_section(t, ts, f"RotationAngle = {-AXIS}\n", f"X:\\Tomo5\\{ts}\\", "04-May-2023") for t in tilts)


# --- comparing volumes ------------------------------------------------------------------------------

def normalised(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return (v - v.mean()) / (v.std() or 1.0)


def wedge(volume: np.ndarray, max_tilt: float = 60.0) -> np.ndarray:
    """The volume as a tilt series to ±max_tilt about the tomogram's y axis can show it: without the
    Fourier components in the missing wedge around kz, which no reconstruction has."""
    kz, _, kx = np.meshgrid(*(np.fft.fftfreq(n) for n in volume.shape), indexing="ij")
    seen = np.abs(kz) <= np.abs(kx) * math.tan(math.radians(max_tilt)) + 1e-9
    return np.real(np.fft.ifftn(np.fft.fftn(volume) * seen))


def best_shift(volume: np.ndarray, reference: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """The highest normalised cross-correlation over circular shifts and the shift (z, y, x) at which
    volume matches reference."""
    cc = np.real(np.fft.ifftn(np.fft.fftn(normalised(volume)) * np.conj(np.fft.fftn(normalised(reference))))) / volume.size
    peak = np.unravel_index(int(np.argmax(cc)), cc.shape)
    shift = tuple(int(p if p <= n // 2 else p - n) for p, n in zip(peak, cc.shape))
    return float(cc.max()), shift
