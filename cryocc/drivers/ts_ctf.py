"""ts_ctf: defocus handedness (ts_defocus_hand) then tilt-series CTF (ts_ctf), on this job's copies."""

from ..contract import Outcome
from ._context import Context
from ._errors import JobFailed
from ._relion_star import TiltSeries, frame_id, read_tilt_series, write_tilt_series
from ._staging import stage_workspace
from ._warp_xml import relion_defocus, relion_hand, warp_tilt_series

HAND = "defocus_hand"


def decide(ctx: Context) -> None:
    """defocus_hand auto: one handedness for the job, decided once, by ts_defocus_hand --set_auto over the
    tilt series of its first run (WarpTools averages their correlation: DefocusHandTiltseries.cs:100-104);
    an extension and every array task use it (Context.decisions), new data does not re-decide it."""
    if ctx.params["defocus_hand"] != "auto" or HAND in ctx.decisions:
        return
    series = ctx.to_process(read_tilt_series(ctx.input("tilt_series"), ctx.project))
    names = [ts.name for ts in series]
    only = stage_workspace(ctx, ctx.input_dir("tilt_series"), names, xml=True)
    ctx.run("WarpTools", ["ts_defocus_hand", "--input_processing", "warp_tiltseries", "--output_processing", "warp_tiltseries",
                          *only, "--set_auto"])
    verdicts = {warp_tilt_series(ctx.path(f"warp_tiltseries/{n}.xml")).inverted for n in names if ctx.path(f"warp_tiltseries/{n}.xml").is_file()}
    if len(verdicts) != 1:
        raise JobFailed(f"ts_defocus_hand --set_auto left {'no verdict' if not verdicts else 'different verdicts'} in the XMLs of {', '.join(names)}")
    ctx.decisions[HAND] = {"value": "set_flip" if verdicts.pop() else "set_noflip", "from": sorted(names)}
    ctx.say(f"defocus handedness decided from {len(names)} tilt series: {ctx.decisions[HAND]['value']}")


def run(ctx: Context) -> None:
    p, a = ctx.params, ctx.acq
    decide(ctx)
    series = ctx.to_process(read_tilt_series(ctx.input("tilt_series"), ctx.project))
    only = stage_workspace(ctx, ctx.input_dir("tilt_series"), [ts.name for ts in series], xml=True)
    folders = ["--input_processing", "warp_tiltseries", "--output_processing", "warp_tiltseries", *only]
    hand = ctx.decisions[HAND]["value"] if p["defocus_hand"] == "auto" else p["defocus_hand"]
    ctx.run("WarpTools", ["ts_defocus_hand", *folders, f"--{hand}"])
    r_lo, r_hi = p["range_min_max"].split(":")
    d_lo, d_hi = p["defocus_min_max"].split(":")
    args = ["ts_ctf", *folders, "--window", p["window"], "--range_low", r_lo, "--range_high", r_hi,
            "--defocus_min", d_lo, "--defocus_max", d_hi, "--voltage", round(a["voltage"]), "--cs", a["cs"],
            "--amplitude", a["amplitude_contrast"], "--perdevice", p["perdevice"]]
    ctx.run("WarpTools", args + ["--fit_phase"] * p["do_phase"])
    hands, done = set(), []
    for ts in series:
        try:
            _fill(ctx, ts)
        except JobFailed as exc:
            ctx.item(ts.name, Outcome.FAILED, str(exc))
            continue
        hands.add(ts.row["rlnTomoHand"])
        done.append(ts)
    ctx.say(f"defocus handedness: {'flip' if hands == {-1} else 'no flip' if hands == {1} else 'mixed'} ({p['defocus_hand']})")
    write_tilt_series(ctx, "ts_ctf_tilt_series.star", done)


def _fill(ctx: Context, ts: TiltSeries) -> None:
    xml = warp_tilt_series(ctx.path(f"warp_tiltseries/{ts.name}.xml"))
    if xml.unselected:
        raise JobFailed("WarpTools ts_ctf failed on it (its XML is marked unselected; the reason is in run.out)")
    z_of = {movie: z for z, movie in enumerate(xml.movies)}
    for tilt in ts.tilts:
        z = z_of.get(frame_id(tilt["rlnMicrographMovieName"]))
        if z is None or z not in xml.defocus:
            raise JobFailed(f"no CTF for {tilt['rlnMicrographMovieName']} in {ts.name}.xml")
        tilt.update(relion_defocus(xml.defocus[z], xml.delta.get(z, 0.0), xml.angle.get(z, 0.0)))
    ts.row["rlnTomoHand"] = relion_hand(xml.inverted)
