"""File writes that never leave a half-written file, confined to one project directory."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .errors import ProjectError


def atomic_write(path: Path, data: str | bytes, *, mode: int | None = None, durable: bool = True) -> None:
    """Write to a temp file in the same directory, fsync (unless not durable: a cache, which may be
    lost in a crash but never half-written), then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def inside(root: Path, relative: str | Path) -> Path:
    """Resolve a project-relative path, refusing anything that would land outside root."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise ProjectError(f"refusing to write outside the project: {relative}")
    return target


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def user_cache(kind: str) -> Path:
    """cryocc's user-level cache of one kind: under CRYOCC_CACHE, else $XDG_CACHE_HOME/cryocc, else ~/.cache/cryocc."""
    base = os.environ.get("CRYOCC_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cryocc")
    return Path(base) / kind
