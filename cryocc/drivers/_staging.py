"""Copy a WarpTools tilt-series workspace (settings, .tomostar files, XMLs) into this job.

WarpTools writes into --input_processing when --output_processing is missing, and running the
handedness step and CTF against different folders silently dropped the flip: each job works on
its own copies. Only the tilt series to process are copied, and the tool is given exactly those
with --input_data: an extension's folders also hold the tilt series it keeps, which downstream
jobs copy from it."""

import re
import shutil
from pathlib import Path

from ..fsio import atomic_write
from ._context import Context, input_list
from ._errors import JobFailed

SETTINGS = "warp_tiltseries.settings"


def stage_workspace(ctx: Context, source: Path, names: list[str], *, xml: bool) -> list[str]:
    """Returns the WarpTools arguments that restrict it to these tilt series, --settings first."""
    settings = source / "warp_tiltseries.settings"
    if not settings.is_file():
        raise JobFailed(f"no warp_tiltseries.settings in {ctx.rel(source)}/")
    # written whole under its name (array tasks stage beside each other while WarpTools reads)
    atomic_write(ctx.job_file(SETTINGS, "one"), settings.read_bytes())
    tomostar = ctx.path("tomostar")
    tomostar.mkdir(exist_ok=True)
    for name in names:
        src = source / "tomostar" / f"{name}.tomostar"
        if not src.is_file():
            raise JobFailed(f"tilt series {name} has no .tomostar in {ctx.rel(source)}/tomostar/")
        shutil.copy2(src, tomostar / src.name)
    proc = ctx.path("warp_tiltseries")
    proc.mkdir(exist_ok=True)
    _forget(proc, names)
    if xml:
        for name in names:  # only the tilt series in scope, never a glob
            src = source / "warp_tiltseries" / f"{name}.xml"
            if not src.is_file():
                raise JobFailed(f"tilt series {name} has no {src.name} in {ctx.rel(source)}/warp_tiltseries/")
            shutil.copy2(src, proc / src.name)
    return ["--settings", ctx.job_name(SETTINGS), "--input_data", input_list(ctx, "cryocc_todo.txt", [f"tomostar/{name}.tomostar" for name in names])]


def _forget(proc: Path, names: list[str]) -> None:
    """What an earlier run in this directory left for these tilt series (their XML, aligned stack,
    reconstructions): WarpTools would take it as previous results, and a driver as this run's."""
    rec = proc / "reconstruction"
    made = list(rec.rglob("*.mrc")) if rec.is_dir() else []
    # <ts>_<Å/px, 2 decimals>Apx.mrc, as ts_reconstruct names them
    ours = re.compile("(" + "|".join(map(re.escape, names)) + r")_\d+\.\d\dApx\.mrc") if names else None
    for name in names:
        (proc / f"{name}.xml").unlink(missing_ok=True)
        shutil.rmtree(proc / "tiltstack" / name, ignore_errors=True)
    for path in made:
        if ours and ours.fullmatch(path.name):
            path.unlink()
