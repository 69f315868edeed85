"""tilt_filter: drop tilts by rules on the CTF and tilt metadata; write a report of every verdict.

The dropped tilts leave the RELION tilt series and are switched off in this job's copy of the
WarpTools workspace (<UseTilt> False in each tilt-series XML), which ts_reconstruct reconstructs
from: WarpTools weights such a tilt by 0.0001 (WarpLib/TiltSeries/TiltSeries.cs:937)."""

from typing import Any

from ..contract import Outcome
from ._context import Context
from ._relion_star import frame_id, read_tilt_series, write_tilt_series
from ._staging import stage_workspace
from ._warp_xml import set_use_tilt, warp_tilt_series


def _verdict(tilt: dict[str, Any], p: dict[str, Any]) -> str:
    angle = abs(float(tilt.get("rlnTomoNominalStageTiltAngle", 0)))
    if angle > p["max_abs_tilt"]:
        return f"tilt {angle:g}° > {p['max_abs_tilt']:g}°"
    if "rlnDefocusU" in tilt:
        defocus = (float(tilt["rlnDefocusU"]) + float(tilt["rlnDefocusV"])) / 2e4
        if not p["min_defocus_um"] <= defocus <= p["max_defocus_um"]:
            return f"defocus {defocus:.2f} µm outside {p['min_defocus_um']:g}..{p['max_defocus_um']:g}"
    res = tilt.get("rlnCtfMaxResolution")
    if p["max_ctf_resolution"] and res not in (None, "") and float(res) > p["max_ctf_resolution"]:
        return f"CTF fit {float(res):.1f} Å > {p['max_ctf_resolution']:g} Å"
    return ""


def run(ctx: Context) -> None:
    p = ctx.params
    series = ctx.to_process(read_tilt_series(ctx.input("tilt_series"), ctx.project))
    report = ["tilt_series\tmovie\tverdict\treason"]
    kept = []
    for ts in series:
        verdicts = [(t, _verdict(t, p)) for t in ts.tilts]
        good = [t for t, why in verdicts if not why]
        whole = len(good) < p["min_tilts"]
        for t, why in verdicts:
            reason = why or (f"series keeps {len(good)} < {p['min_tilts']} tilts" if whole else "")
            report.append(f"{ts.name}\t{t.get('rlnMicrographMovieName', '')}\t{'drop' if reason else 'keep'}\t{reason}")
        if whole:
            ctx.item(ts.name, Outcome.FILTERED, f"keeps {len(good)} < {p['min_tilts']} tilts")
        else:
            ts.tilts = good
            kept.append(ts)
    stage_workspace(ctx, ctx.input_dir("tilt_series"), [ts.name for ts in kept], xml=True)
    for ts in kept:
        xml = ctx.path(f"warp_tiltseries/{ts.name}.xml")
        kept_movies = {frame_id(t["rlnMicrographMovieName"]) for t in ts.tilts}
        warp = warp_tilt_series(xml)
        set_use_tilt(xml, [u and m in kept_movies for m, u in zip(warp.movies, warp.use)])
    ctx.path("tilt_filter_report.tsv").write_text("\n".join(report + _kept_report(ctx, {ts.name for ts in series})) + "\n")
    dropped = sum(1 for line in report[1:] if "\tdrop\t" in line)
    ctx.say(f"tilt filter: kept {len(report) - 1 - dropped} of {len(report) - 1} tilts, {len(kept)} of {len(series)} tilt series")
    write_tilt_series(ctx, "filtered_tilt_series.star", kept)


def _kept_report(ctx: Context, processed: set[str]) -> list[str]:
    """An extension's earlier verdicts on the tilt series it keeps."""
    old = ctx.path("tilt_filter_report.tsv")
    lines = old.read_text().splitlines()[1:] if old.is_file() else []
    return [line for line in lines if line.split("\t", 1)[0] not in processed and line.split("\t", 1)[0] in ctx.items]
