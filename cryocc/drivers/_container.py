"""The command line of a tool: natively from the site's bin_dir or PATH, or inside its container
image (apptainer/singularity exec), with the project, the data, the gain and every absolute path
the params name bound in."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any


def command_line(doc: dict[str, Any], project: Path, executable: str, args: list[str]) -> list[str]:
    """The argv for a tool executable, given the job's resolved-params document."""
    tool = doc.get("tool") or {}
    exe = os.path.join(tool["bin_dir"], executable) if tool.get("bin_dir") else executable
    image = tool.get("image")
    if not image:
        return [exe, *args]
    c = doc["container"]
    binds = [str(project)] + [b for b in _data_dirs(doc) if b] + list(c.get("binds") or [])
    if doc.get("scratch"):
        binds.append(doc["scratch"])
    bind_args = [a for b in dict.fromkeys(binds) for a in ("-B", b)]
    nv = ["--nv"] if c.get("nv") and doc.get("gpus") else []
    return [c["executable"], "exec", *nv, *c.get("options", []), *bind_args, image, exe, *args]


def _data_dirs(doc: dict[str, Any]) -> list[str]:
    """The directories to bind: each data glob's fixed part (a glob per session), the gain's, the params' files'."""
    data = doc.get("data") or {}
    globs = [g for k in ("frames", "mdocs") for g in ([data[k]] if isinstance(data.get(k), str) else data.get(k) or [])]
    dirs = [_fixed_dir(g) for g in globs] + ([os.path.dirname(data["gain"])] if data.get("gain") else [])
    dirs += [os.path.dirname(v) for v in doc["params"].values() if isinstance(v, str) and os.path.isabs(v)]
    return dirs


def _fixed_dir(pattern: str) -> str:
    """The directory a glob searches below: its leading components without wildcards."""
    parts = pattern.split(os.sep)
    first_magic = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return os.sep.join(parts[:first_magic]) or os.sep
