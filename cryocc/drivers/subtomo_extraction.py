"""subtomo_extraction: RELION 5 relion_tomo_subtomo, on the particles of the tomograms to process.

relion_tomo_subtomo extracts every particle of the optimisation set it is given and writes
<o>/particles.star and <o>/optimisation_set.star. It is given a copy of the input set holding
only the particles of the tomograms to process (cryocc_inputs/), so an extension extracts the new
ones alone; their rows are then merged with the kept tomograms' rows of the earlier particles.star,
whose Subtomograms/<tomogram>/ files stay where they are. An array task extracts into its own folder,
cryocc_array/out/<task>/ (relion_tomo_subtomo writes particles.star into its --o), and merge() puts the
tasks' particles, and an extension's kept ones, into the job's particles.star."""

import shutil
from pathlib import Path
from typing import Any

from ..contract import ARRAY_DIR, Outcome
from ..fsio import atomic_write
from ..star import block_pairs, read_star
from ._context import Context
from ._errors import JobFailed
from ._relion_star import TomogramRow, by_tomogram, loop_text, read_global

NO_PARTICLES = "no particles to extract in the tomograms of the input"


def _blocks(path: Path) -> dict[str, Any]:
    blocks = read_star(path)
    return {name: blocks[name] for name in ("general", "optics", "particles") if name in blocks}


def _star(blocks: dict[str, Any]) -> str:
    text = block_pairs("general", blocks["general"]) if blocks.get("general") else ""
    return text + "".join(loop_text(name, blocks[name]) for name in ("optics", "particles") if blocks.get(name))


def _todo_set(ctx: Context) -> tuple[list[str], int, str]:
    """The input optimisation set, reduced to the tomograms to process; returns their names, their
    number of particles and the reduced set's path, relative to the project."""
    opt = read_star(ctx.input("particles"))
    pairs = next((b for b in opt.values() if isinstance(b, dict)), {})
    particles, tomograms = pairs.get("rlnTomoParticlesFile"), pairs.get("rlnTomoTomogramsFile")
    if not particles or not tomograms:
        raise JobFailed(f"{ctx.rel(ctx.input('particles'))} names no rlnTomoParticlesFile and rlnTomoTomogramsFile")
    chosen = {t.name for t in ctx.to_process([TomogramRow(r) for r in read_global(ctx.project / tomograms)])}
    source = _blocks(ctx.project / particles)
    source["particles"] = [r for r in source.get("particles") or [] if r["rlnTomoName"] in chosen]
    particles_file, opt_file = ctx.job_file("cryocc_inputs/particles.star", ""), ctx.job_file("cryocc_inputs/optimisation_set.star", "")
    atomic_write(particles_file, _star(source))
    atomic_write(opt_file, block_pairs("optimisation_set", {"rlnTomoParticlesFile": ctx.rel(particles_file), "rlnTomoTomogramsFile": tomograms}))
    return sorted(chosen), len(source["particles"]), ctx.rel(opt_file)


def _out(ctx: Context, task: int | None) -> Path:
    """Where relion_tomo_subtomo writes: the job directory, or an array task's own folder."""
    return ctx.job_dir if task is None else ctx.path(f"{ARRAY_DIR}/out/{task}")


def run(ctx: Context) -> None:
    p = ctx.params
    keep = ctx.keep
    earlier = _blocks(ctx.path("particles.star")) if keep and ctx.path("particles.star").is_file() else {}
    names, count, todo_set = _todo_set(ctx)
    out = _out(ctx, ctx.task)
    for name in names:  # an earlier run's pseudo-subtomograms of these tomograms
        shutil.rmtree(out / "Subtomograms" / name, ignore_errors=True)
    args = ["--i", todo_set, "--o", ctx.rel(out) + "/", "--b", p["box_size"], "--bin", p["binning"], "--j", ctx.threads]
    if p["crop_size"] > 0:
        args += ["--crop", p["crop_size"]]
    if p["max_dose"] > 0:
        args += ["--max_dose", p["max_dose"]]
    if p["min_frames"] > 1:
        args += ["--min_frames", p["min_frames"]]
    args += ["--stack2d"] * p["do_stack2d"] + ["--float16"] * p["do_float16"]
    if count:
        out.mkdir(parents=True, exist_ok=True)
        ctx.run("relion_tomo_subtomo", args, cwd=ctx.project)
    elif not keep and ctx.task is None:  # an array task's tomogram may have none: merge() says it for the job
        raise JobFailed(NO_PARTICLES)
    for name in names:  # relion_tomo_subtomo does them all or fails
        ctx.item(name, Outcome.SUCCEEDED)
    if keep:
        new = _blocks(ctx.path("particles.star")) if count else {}
        kept = [r for r in earlier.get("particles") or [] if r["rlnTomoName"] in keep]
        merged = {"general": new.get("general") or earlier.get("general"), "optics": new.get("optics") or earlier.get("optics"),
                  "particles": by_tomogram(kept, new.get("particles") or [])}
        atomic_write(ctx.path("particles.star"), _star(merged))


def merge(ctx: Context, tasks: list[int]) -> None:
    """The supervisor's: the particles the tasks extracted and an extension's kept ones into the job's
    particles.star, and an optimisation set naming it (the tomograms as the tasks had them)."""
    outs = [_out(ctx, n) for n in tasks if (_out(ctx, n) / "particles.star").is_file()]
    parts = [_blocks(o / "particles.star") for o in outs]
    earlier = _blocks(ctx.path("particles.star")) if ctx.keep and ctx.path("particles.star").is_file() else {}
    kept = [r for r in earlier.get("particles") or [] if r["rlnTomoName"] in ctx.keep]
    rows = [r for b in parts for r in b.get("particles") or []]
    if not rows and not kept:
        raise JobFailed(NO_PARTICLES)
    first = parts[0] if parts else earlier
    atomic_write(ctx.path("particles.star"), _star({"general": first.get("general"), "optics": first.get("optics"),
                                                    "particles": by_tomogram(kept, rows)}))
    if outs:  # else the earlier optimisation set, which names the same files, stays
        opt = next((b for b in read_star(outs[0] / "optimisation_set.star").values() if isinstance(b, dict)), {})
        atomic_write(ctx.path("optimisation_set.star"), block_pairs("optimisation_set", {
            "rlnTomoParticlesFile": ctx.rel(ctx.path("particles.star")), "rlnTomoTomogramsFile": opt.get("rlnTomoTomogramsFile", "")}))
