"""ts_alignment: AreTomo2 (ts_aretomo) or IMOD patch tracking (ts_etomo_patches) via WarpTools.

The alignment goes into RELION's columns the way RELION's own tilt-series alignment writes them
(_alignment.relion_columns; docs/science.md): rlnTomoXTilt 0,
rlnTomoYTilt the refined tilt angle, rlnTomoZRot the in-plane rotation, shifts in Å. WarpTools gives
the aligners its own tilt angles and reads theirs back as its own, and Warp's geometry tilts by the
negative of RELION's (WarpLib/TiltSeries/TiltSeries.cs:397-470 with Matrix3.Euler; docs/science.md, point 2):
so rlnTomoYTilt = -TILT, whatever ts_import's --dont_invert, and RELION sees the tomogram WarpTools
reconstructs and the particles picked in it (tests/test_phantom.py). Tilts WarpTools left out of the .tomostar (ts_import's
--min_intensity, --max_tilt) or switched off (UseTilt) are removed from the tilt series, as RELION's
own tilt exclusion does, and listed in excluded_tilts.tsv. So are the tilts data.exclude_tilts names, which
this job leaves out of its copies of the .tomostar files before WarpTools aligns: the first job that sees them.
"""

from typing import Any

from ..contract import Outcome
from ..fsio import atomic_write
from ..star import read_star
from ._alignment import TiltAlignment, read_aretomo_aln, read_imod_xf, relion_columns
from ._context import Context
from ._errors import JobFailed
from ._relion_star import TiltSeries, frame_id, loop_text, read_tilt_series, read_tomostar_movies, write_tilt_series
from ._staging import stage_workspace
from ._warp_xml import warp_tilt_series


def warp_args(p: dict[str, Any], n_series: int) -> list[Any]:
    common = ["--output_processing", "warp_tiltseries", "--angpix", p["rescale_angpixs"]]
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
    series = ctx.to_process(read_tilt_series(ctx.input("tilt_series"), ctx.project))
    only = stage_workspace(ctx, ctx.input_dir("settings"), [ts.name for ts in series], xml=False)
    left_out = _leave_out(ctx, [ts.name for ts in series])
    ctx.run("WarpTools", warp_args(p, len(series)) + only)
    aligned, failed, excluded = [], [], ["tilt_series\tmovie\treason"]
    for ts in series:
        rows = _alignment(ctx, ts.name, p["method"])
        if rows is None:
            failed.append(ts.name)
            ctx.item(ts.name, Outcome.FAILED, f"{p['method']} alignment failed")
            continue
        excluded += _apply(ctx, ts, rows, p["rescale_angpixs"], left_out.get(ts.name, {}))
        aligned.append(ts)
        ctx.item(ts.name, Outcome.SUCCEEDED)
    if not aligned and not ctx.kept_rows:
        raise JobFailed("no tilt series could be aligned: " + ", ".join(failed))
    atomic_write(ctx.job_file("excluded_tilts.tsv", "table"), "\n".join(excluded) + "\n")
    if len(excluded) > 1:
        ctx.say(f"{len(excluded) - 1} tilts left out (data.exclude_tilts) or by WarpTools were removed from the tilt series (excluded_tilts.tsv)")
    write_tilt_series(ctx, "aligned_tilt_series.star", aligned)


def _leave_out(ctx: Context, names: list[str]) -> dict[str, dict[str, str]]:
    """Removes the tilts data.exclude_tilts names from this job's .tomostar copies; returns tilt series ->
    {frame id: why} of those it left out."""
    out: dict[str, dict[str, str]] = {}
    for name in names:
        spec = (ctx.doc.get("exclude_tilts") or {}).get(name)
        if not spec:
            continue
        why = f"data.exclude_tilts: {spec['why']}"
        out[name] = {frame_id(f): why for f in spec["frames"]}
        path = ctx.path(f"tomostar/{name}.tomostar")
        block, rows = next(((b, r) for b, r in read_star(path).items() if isinstance(r, list)), ("", []))
        atomic_write(path, loop_text(block, [r for r in rows if frame_id(r["wrpMovieName"]) not in out[name]]))
    return out


def _alignment(ctx: Context, name: str, method: str) -> dict[int, TiltAlignment] | None:
    """The aligner's rows, or None when it failed: WarpTools exits 0 and writes <ts>.xml even then,
    so its own files decide, together with the UnselectManual mark WarpTools puts on a failed item."""
    xml = ctx.path(f"warp_tiltseries/{name}.xml")
    if xml.is_file() and warp_tilt_series(xml).unselected:
        return None
    stack = ctx.path(f"warp_tiltseries/tiltstack/{name}")
    if method == "aretomo":
        aln = stack / f"{name}.st.aln"  # AreTomo2 MrcUtil/CSaveAlignFile.cpp:29-44
        rows = read_aretomo_aln(aln) if aln.is_file() else {}
    else:
        xf, tlt = stack / f"{name}.xf", stack / f"{name}.tlt"  # batchruntomo -RootName <ts> (WarpWorker.cs:591)
        rows = read_imod_xf(xf, tlt) if xf.is_file() and tlt.is_file() else {}
    return rows or None


def _apply(ctx: Context, ts: TiltSeries, rows: dict[int, TiltAlignment], pixel: float, left_out: dict[str, str]) -> list[str]:
    """Section i of the aligned stack is the i-th tilt of the .tomostar that WarpTools uses
    (TiltSeries.StackTilts.cs:33-40); AreTomo2 leaves dark sections out of its rows. left_out: frame id ->
    why, of the tilts data.exclude_tilts names."""
    order = read_tomostar_movies(ctx.path(f"tomostar/{ts.name}.tomostar"))
    xml = ctx.path(f"warp_tiltseries/{ts.name}.xml")
    warp = warp_tilt_series(xml) if xml.is_file() else None
    use = dict(zip(warp.movies, warp.use)) if warp else {}
    used = [m for m in order if use.get(m, True)]
    if max(rows) >= len(used):
        raise JobFailed(f"{ts.name}: alignment rows for section {max(rows)}, but its stack has {len(used)} tilts")
    by_id = {used[i]: a for i, a in rows.items()}
    kept, excluded = [], []
    for tilt in ts.tilts:
        movie = frame_id(tilt["rlnMicrographMovieName"])
        a = by_id.get(movie)
        if a is None:
            why = left_out.get(movie) or ("left out by the aligner (dark)" if movie in used else "switched off by WarpTools (UseTilt)"
                                          if movie in order else "left out by WarpTools ts_import")
            excluded.append(f"{ts.name}\t{tilt['rlnMicrographMovieName']}\t{why}")
            continue
        tilt.update(relion_columns(a, pixel))
        kept.append(tilt)
    ts.tilts = kept
    return excluded

