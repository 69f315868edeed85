"""tsCtf: defocus handedness (ts_defocus_hand) then tilt-series CTF (ts_ctf), on this job's copies."""

from ._metadata import frame_id, read_tilt_series, warp_tilt_series_ctf, write_tilt_series
from ._runtime import Context, JobFailed
from ._staging import stage_workspace

FLIP_HINT = "should be set to 'flip'"


def run(ctx: Context) -> None:
    p, a = ctx.params, ctx.acq
    series = read_tilt_series(ctx.input("tilt_series"), ctx.project)
    stage_workspace(ctx, ctx.input_dir("tilt_series"), [ts.name for ts in series], xml=True)
    folders = ["--settings", "warp_tiltseries.settings", "--input_processing", "warp_tiltseries",
               "--output_processing", "warp_tiltseries"]
    hand = p["defocus_hand"]
    if hand == "auto":
        out = ctx.run("WarpTools", ["ts_defocus_hand", *folders, "--check"])
        hand = "set_flip" if FLIP_HINT in out else "set_noflip"
        ctx.say(f"defocus handedness: {hand} (from ts_defocus_hand --check)")
    ctx.run("WarpTools", ["ts_defocus_hand", *folders, f"--{hand}"])
    r_lo, r_hi = p["range_min_max"].split(":")
    d_lo, d_hi = p["defocus_min_max"].split(":")
    args = ["ts_ctf", *folders, "--window", p["window"], "--range_low", r_lo, "--range_high", r_hi,
            "--defocus_min", d_lo, "--defocus_max", d_hi, "--voltage", round(a["voltage"]), "--cs", a["cs"],
            "--amplitude", a["amplitude_contrast"], "--perdevice", p["perdevice"]]
    ctx.run("WarpTools", args + ["--fit_phase"] * p["do_phase"])
    for ts in series:
        ctf = warp_tilt_series_ctf(ctx.path(f"warp_tiltseries/{ts.name}.xml"))
        z_of = {movie: z for z, movie in enumerate(ctf.movies)}
        for tilt in ts.tilts:
            z = z_of.get(frame_id(tilt["rlnMicrographMovieName"]))
            if z is None or z not in ctf.defocus:
                raise JobFailed(f"{ts.name}: no CTF for {tilt['rlnMicrographMovieName']} in {ts.name}.xml")
            value, delta = ctf.defocus[z], ctf.delta.get(z, 0.0)
            tilt["rlnDefocusU"] = (value + delta) * 1e4
            tilt["rlnDefocusV"] = (value - delta) * 1e4
            tilt["rlnCtfAstigmatism"] = 2 * delta * 1e4
            tilt["rlnDefocusAngle"] = ctf.angle.get(z, 0.0)
        ts.row["rlnTomoHand"] = -1 if ctf.inverted else 1
    write_tilt_series(ctx, "ts_ctf_tilt_series.star", series)
