"""subtomoExtraction: RELION 5 relion_tomo_subtomo over the whole optimisation set."""

from ._runtime import Context


def run(ctx: Context) -> None:
    p = ctx.params
    args = ["--i", ctx.rel(ctx.input("particles")), "--o", ctx.rel(ctx.job_dir) + "/", "--b", p["box_size"],
            "--bin", p["binning"], "--j", ctx.threads]
    if p["crop_size"] > 0:
        args += ["--crop", p["crop_size"]]
    if p["max_dose"] > 0:
        args += ["--max_dose", p["max_dose"]]
    if p["min_frames"] > 1:
        args += ["--min_frames", p["min_frames"]]
    args += ["--stack2d"] * p["do_stack2d"] + ["--float16"] * p["do_float16"]
    ctx.run("relion_tomo_subtomo", args, cwd=ctx.project)
