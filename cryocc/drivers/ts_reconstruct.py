"""tsReconstruct: WarpTools ts_reconstruct, then a RELION 5 tomograms STAR."""

import os

from ._metadata import read_tilt_series, write_global
from ._runtime import Context, JobFailed
from ._staging import stage_workspace


def _workspace(ctx: Context):
    """The WarpTools folder behind the input: the CTF job's, also when a tilt filter sits between."""
    source = ctx.input_dir("tilt_series")
    while not (source / "warp_tiltseries").is_dir():
        link = source / "warp_tiltseries_source"
        if not link.is_file():
            raise JobFailed(f"no warp_tiltseries/ in {ctx.rel(source)}/")
        source = ctx.project / link.read_text().strip()
    return source


def run(ctx: Context) -> None:
    p, px = ctx.params, ctx.acq["pixel_size"]
    series = read_tilt_series(ctx.input("tilt_series"), ctx.project)
    source = _workspace(ctx)
    stage_workspace(ctx, source, [ts.name for ts in series], xml=False)
    ctx.run("WarpTools", ["ts_reconstruct", "--settings", "warp_tiltseries.settings",
                          "--input_processing", os.path.relpath(source / "warp_tiltseries", ctx.job_dir),
                          "--output_processing", "warp_tiltseries", "--angpix", p["rescale_angpixs"],
                          "--halfmap_frames", int(p["halfmap_frames"]), "--deconv", int(p["deconv"]),
                          "--perdevice", p["perdevice"], "--dont_invert"])
    rows = []
    rec = ctx.path("warp_tiltseries/reconstruction")
    for ts in series:
        name = f"{ts.name}_{p['rescale_angpixs']:.2f}Apx.mrc"
        if not (rec / name).is_file():
            raise JobFailed(f"WarpTools wrote no reconstruction for {ts.name} ({name})")
        row = {**ts.row,
               "rlnTomoTiltSeriesPixelSize": px,
               "rlnTomoTomogramBinning": round(p["rescale_angpixs"] / px, 6),
               "rlnTomoReconstructedTomogram": ctx.rel(rec / name)}
        if p["halfmap_frames"]:
            row["rlnTomoReconstructedTomogramHalf1"] = ctx.rel(rec / "even" / name)
            row["rlnTomoReconstructedTomogramHalf2"] = ctx.rel(rec / "odd" / name)
        rows.append(row)
    write_global(ctx, "tomograms.star", rows)
