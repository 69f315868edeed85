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
    """The file names of an mdoc's SubFramePath entries (after the last backslash, then the last slash),
    by which the scan matched the movies to it; relion_tomo_import matches the files it is given by
    those names without their suffixes (_utils/mdoc.py:43-49, _utils/file.py:7-10, 17-23)."""
    names = []
    with open(mdoc, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, sep, value = line.partition("=")
            if sep and key.strip() == "SubFramePath":
                names.append(os.path.basename(value.strip().split("\\")[-1]))
    return names


def _stage(ctx: Context, k: int, batch: list[SeriesRef], frames: dict[str, str]) -> tuple[str, str]:
    """Symlinks in the job directory to batch k of the tilt series to import (not those excluded,
    still waiting for frames, or kept by an extension): its mdocs in cryocc_inputs/mdoc/b<k>/ and the
    movies they name in cryocc_inputs/frames/b<k>/. Returns the two patterns, relative to the project:
    relion_tomo_import globs with Path().glob(pattern), which refuses absolute patterns
    (import_tilt_series/serialem.py:84-85), and takes one pattern of each. The movie links stay: the
    tool writes each movie's path as it globbed it into the tilt series' STAR file, which later jobs
    read (an extension's batch k adds to the same directory)."""
    staged = ctx.path("cryocc_inputs")
    mdocs, movies = staged / "mdoc" / f"b{k:04d}", staged / "frames" / f"b{k:04d}"
    for d in (mdocs, movies):
        d.mkdir(parents=True, exist_ok=True)
    for ts in batch:
        relink(mdocs / os.path.basename(ts["mdoc"]), ts["mdoc"])
        for name in _sub_frames(ts["mdoc"]):
            if name in frames:  # a movie not there: the tool leaves its tilt out, and says so, as before
                relink(movies / name, frames[name])
    rel = ctx.rel(staged)
    return f"{rel}/frames/{movies.name}/*", f"{rel}/mdoc/{mdocs.name}/*.mdoc"


def _import(ctx: Context, k: int, batch: list[SeriesRef], frames: dict[str, str]) -> list[dict[str, str]]:
    """One relion_tomo_import over batch k: the rows of the tilt_series.star it wrote, each of the
    batch's tilt series there (the tool skips, silently, an mdoc whose name is in no movie's name of
    its batch: serialem.py:106-116)."""
    movies, mdocs = _stage(ctx, k, batch, frames)
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
    star = ctx.path("tilt_series.star")
    rows = read_global(star) if star.is_file() else []
    left_out = sorted({ts["name"] for ts in batch} - {r["rlnTomoName"] for r in rows})
    if left_out:
        raise JobFailed(f"relion_tomo_import left out {len(left_out)} tilt series: {', '.join(left_out)} "
                        "(it imports an mdoc only if its name is part of the movies' file names)")
    return rows


def run(ctx: Context) -> None:
    series = ctx.to_process(ctx.data["tilt_series"])
    frames = _frame_index(ctx.data)
    mdocs = ctx.path("cryocc_inputs/mdoc")
    if mdocs.is_dir():
        shutil.rmtree(mdocs)  # only cryocc's links, from an earlier run in this directory: this run's mdocs alone
    rows: list[dict[str, str]] = []
    for k, start in enumerate(range(0, len(series), BATCH)):
        try:
            rows += _import(ctx, k, series[start:start + BATCH], frames)
        finally:  # each call writes tilt_series.star anew, with its own batch alone: after it, whether it
            # succeeded or not, the file holds the rows an extension keeps and those imported so far
            if rows or ctx.kept_rows:
                write_global(ctx, "tilt_series.star", rows)
