"""ts_reconstruct: WarpTools ts_reconstruct, then a RELION 5 tomograms STAR."""

import os

from ..contract import Outcome
from ._context import Context
from ._errors import JobFailed
from ._relion_star import read_tilt_series, write_global
from ._staging import SETTINGS, stage_workspace
from ._warp_xml import warp_settings, warp_tilt_series


def run(ctx: Context) -> None:
    p, px = ctx.params, ctx.acq["pixel_size"]
    series = ctx.to_process(read_tilt_series(ctx.input("tilt_series"), ctx.project))
    # the WarpTools folder of the job before: ts_ctf's, or the tilt filter's with its tilts switched off
    source = ctx.input_dir("tilt_series")
    if not (source / "warp_tiltseries").is_dir():
        raise JobFailed(f"no warp_tiltseries/ in {ctx.rel(source)}/ (the input must come from ts_ctf or tilt_filter)")
    only = stage_workspace(ctx, source, [ts.name for ts in series], xml=False)
    # --halfmap_frames and --deconv are switches: a value after them is ignored and the switch is on
    ctx.run("WarpTools", ["ts_reconstruct",
                          "--input_processing", os.path.relpath(source / "warp_tiltseries", ctx.job_dir),
                          "--output_processing", "warp_tiltseries", "--angpix", p["rescale_angpixs"],
                          *["--halfmap_frames"] * p["halfmap_frames"], *["--deconv"] * p["deconv"],
                          "--perdevice", p["perdevice"], "--dont_invert", *only])
    settings = warp_settings(ctx.job_file(SETTINGS))
    size = [int(float(settings.get(f"Dimensions{axis}", 0))) for axis in "XYZ"]
    if min(size) <= 0:
        raise JobFailed("warp_tiltseries.settings has no tomogram dimensions (ts_import's tomo_dimensions)")
    rows = []
    rec = ctx.path("warp_tiltseries/reconstruction")
    for ts in series:
        name = f"{ts.name}_{p['rescale_angpixs']:.2f}Apx.mrc"
        if not (rec / name).is_file():
            xml = ctx.path(f"warp_tiltseries/{ts.name}.xml")
            why = " (WarpTools marked it failed; the reason is in run.out)" if xml.is_file() and warp_tilt_series(xml).unselected else ""
            ctx.item(ts.name, Outcome.FAILED, f"WarpTools wrote no reconstruction {name}{why}")
            continue
        row = {**ts.row,
               # unbinned, as RELION centres particles with them (src/jaz/tomography/tomogram_set.cpp:170-176)
               "rlnTomoSizeX": size[0], "rlnTomoSizeY": size[1], "rlnTomoSizeZ": size[2],
               "rlnTomoTiltSeriesPixelSize": px,
               "rlnTomoTomogramBinning": round(p["rescale_angpixs"] / px, 6),
               "rlnTomoReconstructedTomogram": ctx.rel(rec / name)}
        if p["halfmap_frames"]:
            row["rlnTomoReconstructedTomogramHalf1"] = ctx.rel(rec / "even" / name)
            row["rlnTomoReconstructedTomogramHalf2"] = ctx.rel(rec / "odd" / name)
        rows.append(row)
    write_global(ctx, "tomograms.star", rows)
