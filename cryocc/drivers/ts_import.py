"""ts_import: WarpTools tilt-series import (.tomostar) and the tilt-series settings."""

import os
import shutil

from ..contract import Outcome
from ._context import Context, relink
from ._errors import JobFailed


def run(ctx: Context) -> None:
    p, a = ctx.params, ctx.acq
    mdoc_dir = ctx.path("mdoc")
    if mdoc_dir.is_dir():
        shutil.rmtree(mdoc_dir)  # cryocc's links of an earlier run: ts_import takes every mdoc in the folder
    mdoc_dir.mkdir()
    names = []
    for ts in ctx.to_process(ctx.data["tilt_series"]):
        relink(mdoc_dir / os.path.basename(ts["mdoc"]), ts["mdoc"])
        names.append(ts["name"])
    for n in names:  # an earlier run's, which would pass for this run's
        ctx.path(f"tomostar/{n}.tomostar").unlink(missing_ok=True)
    frameseries = ctx.input_dir("frame_series") / "warp_frameseries"
    if not frameseries.is_dir():
        raise JobFailed(f"no warp_frameseries/ next to the input {ctx.rel(ctx.input('frame_series'))}")
    args = ["ts_import", "--mdocs", "mdoc", "--pattern", "*.mdoc", "--frameseries", os.path.relpath(frameseries, ctx.job_dir),
            "--output", "tomostar", "--tilt_exposure", a["dose_per_tilt"], "--override_axis", a["tilt_axis"],
            "--min_intensity", p["min_intensity"]]
    # WarpTools negates the mdoc's angles unless told --dont_invert, which flips the tomograms' hand; the
    # default keeps them, as the validated chain does for every mdoc (docs/science.md, point 1)
    if not a["invert_tilt_angles"]:
        args.append("--dont_invert")
    ctx.run("WarpTools", args)
    # WarpTools reports a tilt series it cannot import on stderr, lists it in failed_items.json and exits 0
    for n in names:
        made = ctx.path(f"tomostar/{n}.tomostar").is_file()
        ctx.item(n, Outcome.SUCCEEDED if made else Outcome.FAILED, "" if made else "WarpTools ts_import made no .tomostar (its reason is in run.out)")
    ctx.run("WarpTools", ["create_settings", "--folder_data", "tomostar", "--extension", "*.tomostar",
                          "--folder_processing", "warp_tiltseries", "--output", "warp_tiltseries.settings",
                          "--angpix", a["pixel_size"], "--exposure", a["dose_per_tilt"],
                          "--tomo_dimensions", p["tomo_dimensions"]])
