"""Copy a WarpTools tilt-series workspace (settings, .tomostar files, XMLs) into this job.

WarpTools writes into --input_processing when --output_processing is missing, and running the
handedness step and CTF against different folders silently dropped the flip: each job works on
its own copies."""

import shutil
from pathlib import Path

from ._runtime import Context, JobFailed


def stage_workspace(ctx: Context, source: Path, names: list[str], *, xml: bool) -> None:
    settings = source / "warp_tiltseries.settings"
    if not settings.is_file():
        raise JobFailed(f"no warp_tiltseries.settings in {ctx.rel(source)}/")
    shutil.copy2(settings, ctx.path("warp_tiltseries.settings"))
    tomostar = ctx.path("tomostar")
    if tomostar.exists():
        shutil.rmtree(tomostar)
    tomostar.mkdir()
    for name in names:
        src = source / "tomostar" / f"{name}.tomostar"
        if not src.is_file():
            raise JobFailed(f"tilt series {name} has no .tomostar in {ctx.rel(source)}/tomostar/")
        shutil.copy2(src, tomostar / src.name)
    proc = ctx.path("warp_tiltseries")
    proc.mkdir(exist_ok=True)
    if xml:
        for name in names:  # only the tilt series in scope, never a glob
            src = source / "warp_tiltseries" / f"{name}.xml"
            if not src.is_file():
                raise JobFailed(f"tilt series {name} has no {src.name} in {ctx.rel(source)}/warp_tiltseries/")
            shutil.copy2(src, proc / src.name)
