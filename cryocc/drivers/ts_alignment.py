"""aligntiltsWarp: AreTomo2 (ts_aretomo) or IMOD patch tracking (ts_etomo_patches) via WarpTools."""

import math

from ._metadata import frame_id, read_aretomo_aln, read_imod_xf, read_tilt_series, read_tomostar_movies, write_tilt_series
from ._runtime import Context, JobFailed
from ._staging import stage_workspace


def warp_args(p: dict, n_series: int) -> list:
    common = ["--settings", "warp_tiltseries.settings", "--output_processing", "warp_tiltseries", "--angpix", p["rescale_angpixs"]]
    if p["method"] == "imod":
        return ["ts_etomo_patches", *common, "--patch_size", int(p["imod_patch_size"] * 10)]
    args = ["ts_aretomo", *common, "--alignz", int(p["sample_thickness_nm"] * 10), "--perdevice", p["perdevice"]]
    if p["patch_x"] > 0 and p["patch_y"] > 0:
        args += ["--patches", f"{p['patch_x']}x{p['patch_y']}"]
    if p["axis_iter"] > 0:
        # batch capped at the number of tilt series (the old system clamped it to 1 by mistake)
        args += ["--axis_iter", p["axis_iter"], "--axis_batch", min(p["axis_batch"] or n_series, n_series)]
    return args


def run(ctx: Context) -> None:
    p = ctx.params
    series = read_tilt_series(ctx.input("tilt_series"), ctx.project)
    stage_workspace(ctx, ctx.input_dir("settings"), [ts.name for ts in series], xml=False)
    ctx.run("WarpTools", warp_args(p, len(series)))
    aligned, failed = [], []
    for ts in series:
        stack = ctx.path(f"warp_tiltseries/tiltstack/{ts.name}")
        # WarpTools exits 0 and writes <ts>.xml even when the aligner failed: look for its own files
        if p["method"] == "aretomo":
            aln = stack / f"{ts.name}.st.aln"
            rows = read_aretomo_aln(aln) if aln.is_file() else None
        else:
            xf, tlt = stack / f"{ts.name}.xf", stack / f"{ts.name}.tlt"
            rows = read_imod_xf(xf, tlt) if xf.is_file() and tlt.is_file() else None
        if not rows:
            failed.append(ts.name)
            continue
        _apply(ctx, ts, rows, p["rescale_angpixs"])
        aligned.append(ts)
    if failed:
        ctx.say(f"warning: alignment failed for {len(failed)} of {len(series)} tilt series, dropped: {', '.join(failed)}")
    if not aligned:
        raise JobFailed("no tilt series could be aligned")
    write_tilt_series(ctx, "aligned_tilt_series.star", aligned)


def _apply(ctx: Context, ts, rows, pixel: float) -> None:
    """Row i of the alignment is row i of the .tomostar; tilts ts_import dropped keep NaN."""
    order = read_tomostar_movies(ctx.path(f"tomostar/{ts.name}.tomostar"))
    if len(order) != len(rows):
        raise JobFailed(f"{ts.name}: {len(rows)} alignment rows for {len(order)} tilts in its .tomostar")
    by_id = dict(zip(order, rows))
    for tilt in ts.tilts:
        a = by_id.get(frame_id(tilt["rlnMicrographMovieName"]))
        tilt["rlnTomoXTilt"] = 0.0
        tilt["rlnTomoYTilt"] = -a.tilt if a else math.nan
        tilt["rlnTomoZRot"] = a.rot if a else math.nan
        tilt["rlnTomoXShiftAngst"] = a.tx * pixel if a else math.nan
        tilt["rlnTomoYShiftAngst"] = a.ty * pixel if a else math.nan
