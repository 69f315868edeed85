"""tmextractcand: pytom_extract_candidates per tomogram; candidates and an optimisation set."""

import json
import re
import shutil

from ..star import block_loop, read_star
from ._metadata import write_pairs, write_text_atomic
from ._runtime import Context, JobFailed


def _stage(ctx: Context, upstream) -> list:
    """Our own tmResults/: job JSONs copied with output_dir pointing here, the maps linked."""
    local = ctx.path("tmResults")
    local.mkdir(exist_ok=True)
    jobs = []
    for f in sorted(upstream.iterdir()):
        target = local / f.name
        if f.name.endswith("_job.json"):
            doc = json.loads(f.read_text())
            doc["output_dir"] = str(local)
            target.write_text(json.dumps(doc, indent=1) + "\n")
            jobs.append(target)
        elif not target.exists():
            target.symlink_to(f.resolve())
    if not jobs:
        raise JobFailed(f"no *_job.json in {ctx.rel(upstream)}/")
    return jobs


def extract_args(p: dict, job) -> list:
    """pytom_extract_candidates.py's command line for one job file (src/pytom_tm/entry_points.py:439-605 at 0.10.0)."""
    args = ["-j", str(job), "-n", p["max_num_particles"], "--particle-diameter", p["particle_diameter_ang"],
            "--relion5-compat", "--log", "debug"]
    if p["cutoff_method"] == "NumberOfFalsePositives":
        args += ["--number-of-false-positives", p["expected_false_positives"]]
    else:
        args += ["-c", p["cc_threshold"]]
    return args + ["--tophat-filter"] * p["tophat_filter"]


def run(ctx: Context) -> None:
    p = ctx.params
    source = ctx.input_dir("tm_results")
    jobs = _stage(ctx, source / "tmResults")
    for job in jobs:
        ctx.run("pytom_extract_candidates.py", extract_args(p, job))
    rows = []
    for job in jobs:
        star = job.with_name(job.name.replace("_job.json", "_particles.star"))
        if not star.is_file():
            continue
        for block in read_star(star).values():
            if isinstance(block, list):
                for r in block:  # pytom names tomograms <ts>_<apix>Apx; RELION wants the tilt-series name
                    r["rlnTomoName"] = re.sub(r"_\d+\.\d+Apx$", "", r["rlnTomoName"])
                    rows.append(r)
    if not rows:
        raise JobFailed("no candidates above the cut-off in any tomogram (loosen expected_false_positives or cc_threshold)")
    cols = list(dict.fromkeys(k for r in rows for k in r))
    write_text_atomic(ctx.path("candidates.star"), block_loop("particles", cols, [[r.get(c, "") for c in cols] for r in rows]))
    shutil.copy2(source / "tomograms.star", ctx.path("tomograms.star"))
    write_pairs(ctx, "optimisation_set.star", "optimisation_set", {
        "rlnTomoParticlesFile": ctx.rel(ctx.path("candidates.star")),
        "rlnTomoTomogramsFile": ctx.rel(ctx.path("tomograms.star")),
    })
    ctx.say(f"{len(rows)} candidates from {len(jobs)} tomograms")

