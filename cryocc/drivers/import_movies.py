"""import_movies: RELION 5's tilt-series import from movies and mdocs."""

import glob
import os
import shutil

from ..contract import DataSpec, SeriesRef
from ._context import Context, relink
from ._errors import JobFailed
from ._relion_star import read_global, write_global


def _stage(ctx: Context, series: list[SeriesRef], data: DataSpec) -> tuple[str, str]:
    """Symlinks in the job directory to exactly the tilt series to import (not those excluded, still
    waiting for frames, or kept by an extension) and to the frames of every session's glob; returns
    the two patterns, relative to the project: relion_tomo_import globs with Path().glob(pattern),
    which refuses absolute patterns (import_tilt_series/serialem.py:84-85), and takes one pattern of each."""
    staged = ctx.path("cryocc_inputs")
    if (staged / "mdoc").is_dir():
        shutil.rmtree(staged / "mdoc")  # only cryocc's links, from an earlier run in this directory
    for sub in ("mdoc", "frames"):
        (staged / sub).mkdir(parents=True, exist_ok=True)
    for ts in series:
        relink(staged / "mdoc" / os.path.basename(ts["mdoc"]), ts["mdoc"])
    globs = [data["frames"]] if isinstance(data["frames"], str) else data["frames"]
    for frame in (f for pattern in globs for f in glob.iglob(pattern, recursive=True)):
        relink(staged / "frames" / os.path.basename(frame), frame)
    rel = ctx.rel(staged)
    return f"{rel}/frames/*", f"{rel}/mdoc/*.mdoc"


def run(ctx: Context) -> None:
    data, a = ctx.data, ctx.acq
    series = ctx.to_process(data["tilt_series"])
    frames, mdocs = _stage(ctx, series, data)
    # no --pipeline_control: the driver, not the tool, decides the job's sentinel
    ctx.run("relion_python_tomo_import", [
        "SerialEM",
        "--tilt-image-movie-pattern", frames,
        "--mdoc-file-pattern", mdocs,
        "--output-directory", ctx.rel(ctx.job_dir) + "/",
        "--nominal-tilt-axis-angle", a["tilt_axis"],
        "--nominal-pixel-size", a["pixel_size"],
        "--voltage", a["voltage"],
        "--spherical-aberration", a["cs"],
        "--amplitude-contrast", a["amplitude_contrast"],
        "--dose-per-tilt-image", a["dose_per_tilt"],
        "--optics-group-name", ctx.params["optics_group_name"],
        "--invert-defocus-handedness" if a["invert_defocus_hand"] else "--no-invert-defocus-handedness",
    ], cwd=ctx.project)
    # it skips, silently, an mdoc whose name is in no movie's name (serialem.py:106-116)
    expected = {ts["name"] for ts in series}
    star = ctx.path("tilt_series.star")
    rows = read_global(star) if star.is_file() else []
    found = {r["rlnTomoName"] for r in rows}
    if expected - found:
        raise JobFailed(f"relion_tomo_import left out {len(expected - found)} tilt series: {', '.join(sorted(expected - found))} "
                        "(it imports an mdoc only if its name is part of the movies' file names)")
    write_global(ctx, "tilt_series.star", rows)  # with the rows an extension keeps
