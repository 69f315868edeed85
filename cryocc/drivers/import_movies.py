"""import_movies: RELION 5's tilt-series import from movies and mdocs."""

import glob
import os
import shutil

from ..contract import DataSpec, SeriesRef
from ._context import Context, relink
from ._errors import JobFailed
from ._relion_star import read_global, write_global

# tilt series per relion_python_tomo_import: it matches each mdoc's movies against every movie it is
# given (serialem.py:84-116, _utils/file.py:21), so one call over 3,000 tilt series costs hours
BATCH = 100


def _frame_index(data: DataSpec) -> dict[str, str]:
    """Every frame of data.frames' globs by file name (the scan refused two frames of one name)."""
    globs = [data["frames"]] if isinstance(data["frames"], str) else data["frames"]
    return {os.path.basename(f): f for pattern in globs for f in glob.iglob(pattern, recursive=True)}


def _sub_frames(mdoc: str) -> list[str]:
    """The file names of an mdoc's SubFramePath entries, taken as relion_tomo_import takes them: after the
    last backslash, then the last slash (_utils/mdoc.py:43-49)."""
    names = []
    with open(mdoc, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, sep, value = line.partition("=")
            if sep and key.strip() == "SubFramePath":
                names.append(os.path.basename(value.strip().split("\\")[-1]))
    return names


def _stage(ctx: Context, batch: list[SeriesRef], frames: dict[str, str]) -> tuple[str, str]:
    """Symlinks in the job directory to exactly one batch of the tilt series to import (not those
    excluded, still waiting for frames, or kept by an extension) and to their mdocs' frames; returns the
    two patterns, relative to the project: relion_tomo_import globs with Path().glob(pattern), which
    refuses absolute patterns (import_tilt_series/serialem.py:84-85), and takes one pattern of each."""
    staged = ctx.path("cryocc_inputs")
    for sub in ("mdoc", "frames"):
        if (staged / sub).is_dir():
            shutil.rmtree(staged / sub)  # only cryocc's links, from the batch before or an earlier run
        (staged / sub).mkdir(parents=True)
    for ts in batch:
        relink(staged / "mdoc" / os.path.basename(ts["mdoc"]), ts["mdoc"])
        for name in _sub_frames(ts["mdoc"]):
            if name in frames:  # a movie not there: the tool leaves its tilt out, and says so, as before
                relink(staged / "frames" / name, frames[name])
    rel = ctx.rel(staged)
    return f"{rel}/frames/*", f"{rel}/mdoc/*.mdoc"


def _import(ctx: Context, batch: list[SeriesRef], frames: dict[str, str]) -> list[dict[str, str]]:
    """One relion_tomo_import over one batch: the rows of the tilt_series.star it wrote."""
    movies, mdocs = _stage(ctx, batch, frames)
    star = ctx.path("tilt_series.star")
    star.unlink(missing_ok=True)  # the batch before's
    a = ctx.acq
    # no --pipeline_control: the driver, not the tool, decides the job's sentinel
    ctx.run("relion_python_tomo_import", [
        "SerialEM",
        "--tilt-image-movie-pattern", movies,
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
    return read_global(star) if star.is_file() else []


def run(ctx: Context) -> None:
    series = ctx.to_process(ctx.data["tilt_series"])
    frames = _frame_index(ctx.data)
    rows = [row for start in range(0, len(series), BATCH) for row in _import(ctx, series[start:start + BATCH], frames)]
    # it skips, silently, an mdoc whose name is in no movie's name (serialem.py:106-116)
    expected = {ts["name"] for ts in series}
    found = {r["rlnTomoName"] for r in rows}
    if expected - found:
        raise JobFailed(f"relion_tomo_import left out {len(expected - found)} tilt series: {', '.join(sorted(expected - found))} "
                        "(it imports an mdoc only if its name is part of the movies' file names)")
    write_global(ctx, "tilt_series.star", rows)  # with the rows an extension keeps
