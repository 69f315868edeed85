"""The MRC header: the one fact a driver needs from a tomogram without reading it."""

from __future__ import annotations

import struct
from pathlib import Path

from ._errors import JobFailed


def mrc_shape(path: Path) -> tuple[int, int, int]:
    """(nx, ny, nz) from an MRC header: the first three int32 words."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12:
        raise JobFailed(f"{path.name} is not an MRC file")
    return struct.unpack("<3i", head)
