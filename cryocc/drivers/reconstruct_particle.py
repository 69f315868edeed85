"""reconstruct_particle: RELION 5 relion_tomo_reconstruct_particle."""

from ._context import Context


def run(ctx: Context) -> None:
    p = ctx.params
    args = ["--i", ctx.rel(ctx.input("particles")), "--o", ctx.rel(ctx.job_dir) + "/", "--b", p["box_size"],
            "--sym", p["symmetry"], "--j", ctx.threads]
    if p["crop_size"] > 0:
        args += ["--crop", p["crop_size"]]
    if p["binning"] > 1:
        args += ["--bin", p["binning"]]
    if p["snr"] > 0:
        args += ["--SNR", p["snr"]]  # RELION only warns about an unknown --snr and drops the value
    args += ["--whiten"] * p["whiten"] + ["--no_ctf"] * p["no_ctf"]
    ctx.run("relion_tomo_reconstruct_particle", args, cwd=ctx.project)
    if not ctx.path("half1.mrc").is_file():
        ctx.say("note: no half maps (half1.mrc, half2.mrc): the particles have no rlnRandomSubset")
