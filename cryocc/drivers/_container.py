"""The command line of a tool: natively from the site's bin_dir or PATH, or inside its container
image (apptainer/singularity exec), with the project, the data, the gain and every absolute path
the params name bound in."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..contract import ParamsDoc


def command_line(doc: ParamsDoc, project: Path, executable: str, args: list[str]) -> list[str]:
    """The argv for a tool executable, given the job's resolved-params document."""
    tool = doc.get("tool")
    bin_dir = tool.get("bin_dir") if tool else None
    exe = os.path.join(bin_dir, executable) if bin_dir else executable
    image = tool.get("image") if tool else None
    if not image:
        return [exe, *args]
    c = doc["container"]
    binds = [str(project)] + [b for b in _data_dirs(doc) if b] + list(c.get("binds") or [])
    if scratch := doc.get("scratch"):
        binds.append(scratch)
    bind_args = [a for b in dict.fromkeys(binds) for a in ("-B", b)]
    nv = ["--nv"] if c.get("nv") and doc.get("gpus") else []
    return [c["executable"], "exec", *nv, *c.get("options", []), *bind_args, image, exe, *args]


def _data_dirs(doc: ParamsDoc) -> list[str]:
    """The directories to bind: each data glob's fixed part (a glob per session), the gain's, the params' files'."""
    data = doc.get("data")
    globs = [g for k in ("frames", "mdocs") for g in _globs(data.get(k) if data else None)]
    gain = data.get("gain") if data else None
    dirs = [_fixed_dir(g) for g in globs] + ([os.path.dirname(gain)] if gain else [])
    dirs += [os.path.dirname(v) for v in doc["params"].values() if isinstance(v, str) and os.path.isabs(v)]
    return dirs


def _globs(value: object) -> list[str]:
    """A data glob or list of them (a glob per session)."""
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []


def _fixed_dir(pattern: str) -> str:
    """The directory a glob searches below: its leading components without wildcards."""
    parts = pattern.split(os.sep)
    first_magic = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return os.sep.join(parts[:first_magic]) or os.sep
