"""Real, small MRC files for the fake tools (mrcfile), so that the real RELION programs downstream
can read what the fakes write: 2D tilt averages, tilt stacks, float16 tomograms."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mrcfile
import numpy as np


def seed(*parts: object) -> int:
    """A stable seed from names, so reruns of a fake write the same bytes."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "little")


def write(path: Path, data: np.ndarray, voxel_size: float, *, float16: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.ascontiguousarray(data, dtype=np.float16 if float16 else np.float32)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(data)
        m.voxel_size = voxel_size


def read(path: Path) -> tuple[np.ndarray, float]:
    """(data, voxel size in Å); a ValueError for anything that is not an MRC file (e.g. a zero-byte movie)."""
    with mrcfile.open(path, permissive=False) as m:
        return np.asarray(m.data, dtype=np.float32), float(m.voxel_size.x)


def noise(shape: tuple[int, ...], *names: object, mean: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed(*names)).normal(mean, 1.0, shape).astype(np.float32)
