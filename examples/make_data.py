"""Writes the examples' synthetic image data (run from anywhere: python examples/make_data.py).

quickstart/data/frames/: one movie per SubFramePath of data/mdoc/TS_01.mdoc, each 64x64 pixels at
5.4 Å/px, 2 frames of Poisson counts (MRC mode 0): stand-ins small enough for a repository, real
enough that WarpTools-like tools and RELION read them. full-catalog/refs/: a 16³ template (a
Gaussian blob) and its spherical mask at 10 Å/voxel, the tomograms' voxel size there.
Deterministic: the same bytes on every run."""

from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent


def frames() -> None:
    mdoc = (HERE / "quickstart/data/mdoc/TS_01.mdoc").read_text()
    names = [line.split("\\")[-1].strip() for line in mdoc.splitlines() if line.startswith("SubFramePath")]
    rng = np.random.default_rng(2015)
    for name in names:
        with mrcfile.new(HERE / "quickstart/data/frames" / name, overwrite=True) as m:
            m.set_data(rng.poisson(2.0, (2, 64, 64)).astype(np.int8))
            m.voxel_size = 5.4


def refs() -> None:
    z, y, x = np.mgrid[-8:8, -8:8, -8:8] + 0.5
    r2 = x * x + y * y + z * z
    for name, data in (("ribo_10A.mrc", -np.exp(-r2 / 18.0)), ("ribo_mask.mrc", (r2 < 49).astype(float))):
        with mrcfile.new(HERE / "full-catalog/refs" / name, overwrite=True) as m:
            m.set_data(data.astype(np.float32))
            m.voxel_size = 10.0


if __name__ == "__main__":
    frames()
    refs()
