"""class3d: RELION 5 relion_refine (3D classification) on subtomograms."""

import shutil

from ._context import Context
from ._errors import JobFailed


def run(ctx: Context) -> None:
    p = ctx.params
    args = ["--ios", ctx.rel(ctx.input("particles")), "--ref", ctx.rel(ctx.input("reference")),
            "--o", ctx.rel(ctx.path("run")), "--K", p["n_classes"], "--iter", p["n_iterations"],
            "--tau2_fudge", p["tau_fudge"], "--healpix_order", p["healpix_order"], "--offset_range", p["offset_range"],
            "--offset_step", p["offset_step"], "--sym", p["symmetry"], "--ini_high", p["ini_high"],
            "--j", ctx.threads, "--pool", p["pool"], "--pad", 2, "--trust_ref_size", "--ctf", "--norm", "--scale",
            "--dont_combine_weights_via_disc", "--preread_images"]
    if p["particle_diameter"] > 0:
        args += ["--particle_diameter", p["particle_diameter"]]
    args += ["--zero_mask"] * p["zero_mask"] + ["--flatten_solvent"] * p["flatten_solvent"] + ["--firstiter_cc"] * p["firstiter_cc"]
    if ctx.doc.get("gpus"):
        args.append("--gpu")
    ctx.run("relion_refine", args, cwd=ctx.project)
    last = ctx.path(f"run_it{p['n_iterations']:03d}_optimisation_set.star")
    if not last.is_file():
        raise JobFailed(f"relion_refine wrote no {last.name}")
    shutil.copy2(last, ctx.path("run_optimisation_set.star"))
