"""importmovies: RELION 5's tilt-series import from movies and mdocs."""

import os

from ._metadata import read_global
from ._runtime import Context, JobFailed


def run(ctx: Context) -> None:
    data, a = ctx.doc["data"], ctx.acq
    # relion_tomo_import globs with Path().glob(pattern), which refuses absolute patterns: relative
    # to the project, where RELION runs jobs (import_tilt_series/serialem.py:84-85)
    frames, mdocs = (os.path.relpath(data[k], ctx.project) for k in ("frames", "mdocs"))
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
    expected = {ts["name"] for ts in data["tilt_series"]}
    star = ctx.path("tilt_series.star")
    found = {r["rlnTomoName"] for r in read_global(star)} if star.is_file() else set()
    if expected - found:
        raise JobFailed(f"relion_tomo_import left out {len(expected - found)} tilt series: {', '.join(sorted(expected - found))} "
                        "(it imports an mdoc only if its name is part of the movies' file names)")
