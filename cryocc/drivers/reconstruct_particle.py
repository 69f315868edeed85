"""reconstructParticle: RELION 5 relion_tomo_reconstruct_particle."""

from ._runtime import Context


def run(ctx: Context) -> None:
    p = ctx.params
    args = ["--i", ctx.rel(ctx.input("particles")), "--o", ctx.rel(ctx.job_dir) + "/", "--b", p["box_size"],
            "--sym", p["symmetry"], "--j", ctx.threads]
    if p["crop_size"] > 0:
        args += ["--crop", p["crop_size"]]
    if p["binning"] > 1:
        args += ["--bin", p["binning"]]
    if p["snr"] > 0:
        args += ["--snr", p["snr"]]
    args += ["--whiten"] * p["whiten"] + ["--no_ctf"] * p["no_ctf"]
    ctx.run("relion_tomo_reconstruct_particle", args, cwd=ctx.project)
