"""fs_motion_ctf: WarpTools frame-series motion correction and CTF, then per-tilt metadata."""

import os
from pathlib import Path
from typing import Any

from ..contract import DataSpec, Outcome
from ._context import Context, input_list, relink
from ._errors import JobFailed
from ._quality import ctf_resolution
from ._relion_star import TiltSeries, frame_id, read_tilt_series, write_tilt_series
from ._warp_xml import relion_defocus, warp_ctf


def _span(text: str) -> tuple[str, str]:
    lo, hi = text.split(":")
    return lo, hi


def _link_frames(ctx: Context, series: list[TiltSeries]) -> tuple[str, list[str]]:
    """Symlink the movies to process into frames/; returns their extension and their links, for
    --input_data (an extension's frames/ also holds the movies it keeps)."""
    frames = ctx.path("frames")
    frames.mkdir(exist_ok=True)
    exts, links = set(), []
    for ts in series:
        for tilt in ts.tilts:
            movie = Path(tilt["rlnMicrographMovieName"])
            movie = movie if movie.is_absolute() else ctx.project / movie
            relink(frames / movie.name, movie)
            exts.add(movie.suffix.lower())
            links.append(f"frames/{movie.name}")
    if len(exts) != 1:
        raise JobFailed(f"movies of one job must share one extension, found {sorted(exts)}")
    return exts.pop(), links


GAIN_FLAGS = {"flip_x": "--gain_flip_x", "flip_y": "--gain_flip_y", "transpose": "--gain_transpose"}


def settings_args(a: dict[str, Any], data: DataSpec, ext: str, output: str = "warp_frameseries.settings") -> list[Any]:
    # --exposure: the dose of the whole movie (one tilt), for WarpTools' per-frame dose weighting
    args = ["create_settings", "--folder_data", "frames", "--extension", f"*{ext}",
            "--folder_processing", "warp_frameseries", "--output", output, "--angpix", a["pixel_size"],
            "--exposure", a["dose_per_tilt"]]
    if ext == ".eer":
        # negative: frames per group ("fractions"); dropping the sign once broke CTF on ~30 % of tilts
        args += ["--eer_ngroups", f"-{a['eer_grouping']}"]
    if data.get("gain"):
        # absolute: create_settings checks it beside the settings file, the workers load it as given
        args += ["--gain_path", data["gain"]]
        args += [GAIN_FLAGS[op] for op in (data.get("gain_operations") or "").split(",") if op]
    return args


def run(ctx: Context) -> None:
    p, a, data = ctx.params, ctx.acq, ctx.data
    series = ctx.to_process(read_tilt_series(ctx.input("tilt_series"), ctx.project))
    ext, movies = _link_frames(ctx, series)
    settings = ctx.job_name("warp_frameseries.settings", "one")
    ctx.run("WarpTools", settings_args(a, data, ext, settings))
    m_lo, m_hi = _span(p["m_range_min_max"])
    c_lo, c_hi = _span(p["c_range_min_max"])
    d_lo, d_hi = _span(p["c_defocus_min_max"])
    args = ["fs_motion_and_ctf", "--settings", settings, "--input_data", input_list(ctx, "cryocc_todo.txt", movies),
            "--m_grid", p["m_grid"], "--m_range_min", m_lo, "--m_range_max", m_hi, "--m_bfac", p["m_bfac"],
            "--c_grid", p["c_grid"], "--c_window", p["c_window"], "--c_range_min", c_lo, "--c_range_max", c_hi,
            "--c_defocus_min", d_lo, "--c_defocus_max", d_hi, "--c_voltage", round(a["voltage"]),
            "--c_cs", a["cs"], "--c_amplitude", a["amplitude_contrast"], "--perdevice", p["perdevice"],
            "--out_averages", "--out_skip_first", p["out_skip_first"], "--out_skip_last", p["out_skip_last"]]
    args += ["--out_average_halves"] * p["out_average_halves"] + ["--c_use_sum"] * p["c_use_sum"] + ["--c_fit_phase"] * p["do_phase"]
    ctx.run("WarpTools", args)
    proc = ctx.path("warp_frameseries")
    if not (proc / "average").is_dir() or not any(os.scandir(proc / "average")):
        raise JobFailed("WarpTools wrote no averages")
    done = []
    for ts in series:
        try:
            for tilt in ts.tilts:
                _fill(ctx, tilt, proc, p["out_average_halves"])
        except JobFailed as exc:  # WarpTools failed this movie (and exited 0): the tilt series fails alone
            ctx.item(ts.name, Outcome.FAILED, str(exc))
            continue
        done.append(ts)
    write_tilt_series(ctx, "fs_motion_and_ctf.star", done)


def _fill(ctx: Context, tilt: dict[str, Any], proc: Path, halves: bool) -> None:
    fid = frame_id(tilt["rlnMicrographMovieName"])
    ctf = warp_ctf(proc / f"{fid}.xml")
    tilt["rlnMicrographName"] = ctx.rel(proc / "average" / f"{fid}.mrc")
    if halves:
        tilt["rlnMicrographNameEven"] = ctx.rel(proc / "average" / "even" / f"{fid}.mrc")
        tilt["rlnMicrographNameOdd"] = ctx.rel(proc / "average" / "odd" / f"{fid}.mrc")
    tilt["rlnCtfImage"] = ctx.rel(proc / "powerspectrum" / f"{fid}.mrc")
    tilt.update(relion_defocus(ctf["Defocus"], ctf["DefocusDelta"], ctf["DefocusAngle"]))
    # where RELION's own CTF job puts its fit resolution: the tilt filter's max_ctf_resolution reads it
    resolution = ctf_resolution(proc / f"{fid}.xml")
    if resolution is not None:
        tilt["rlnCtfMaxResolution"] = resolution
