"""candidate_extract: pytom_extract_candidates per tomogram; candidates and an optimisation set."""

import json
import re
from pathlib import Path
from typing import Any

from ..contract import Outcome
from ..fsio import atomic_write
from ..star import read_star
from ._context import Context, item_log
from ._errors import JobFailed, Terminated, items_failed
from ._process import for_each_item
from ._relion_star import TomogramRow, by_tomogram, loop_text, read_global, write_global, write_pairs

NO_CANDIDATES = "no candidates above the cut-off in any tomogram (loosen expected_false_positives or cc_threshold)"
JOB_FILE = "_job.json"  # pytom_match_template.py writes <tomogram>_job.json for each tomogram


def _stage(ctx: Context, upstream: Path, names: set[str]) -> list[Path]:
    """Our own tmResults/: the job JSONs of the tomograms to process, copied with output_dir
    pointing here, and the maps linked."""
    local = ctx.path("tmResults")
    local.mkdir(exist_ok=True)
    jobs = []
    for f in sorted(upstream.iterdir()):
        target = local / f.name
        if f.name.endswith(JOB_FILE):
            if _tomogram(f) not in names:
                continue
            doc = json.loads(f.read_text())
            doc["output_dir"] = str(local)
            target.write_text(json.dumps(doc, indent=1) + "\n")
            jobs.append(target)
        elif not target.exists():
            try:
                target.symlink_to(f.resolve())
            except FileExistsError:  # an array task beside this one linked it first
                pass
    if names and not jobs:
        raise JobFailed(f"no *_job.json in {ctx.rel(upstream)}/")
    return jobs


def _tomogram(job: Path) -> str:
    """The tilt series of a job file: pytom names tomograms <ts>_<apix>Apx (ts_reconstruct's files) or <ts>."""
    return re.sub(r"_\d+\.\d+Apx$", "", job.name[:-len(JOB_FILE)])


def extract_args(p: dict[str, Any], job: Path) -> list[Any]:
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
    tomograms = ctx.to_process([TomogramRow(r) for r in read_global(source / "tomograms.star")])
    jobs = _stage(ctx, source / "tmResults", {t.name for t in tomograms})
    kept = _kept_candidates(ctx)
    found: dict[str, list[dict[str, str]]] = {}  # tomogram -> its candidates

    def extract(job: Path) -> None:
        name = _tomogram(job)
        star = job.with_name(job.name.replace(JOB_FILE, "_particles.star"))
        star.unlink(missing_ok=True)  # an earlier run's, which would pass for this run's
        try:
            ctx.run("pytom_extract_candidates.py", extract_args(p, job), log=item_log(ctx, name))
        except Terminated:
            raise
        except JobFailed as exc:  # this tomogram fails, the others go on
            ctx.item(name, Outcome.FAILED, f"{exc} (see {ctx.rel(item_log(ctx, name))})")
            return
        # pytom names tomograms <ts>_<apix>Apx; RELION wants the tilt-series name
        found[name] = [{**r, "rlnTomoName": re.sub(r"_\d+\.\d+Apx$", "", r["rlnTomoName"])}
                       for block in (read_star(star) if star.is_file() else {}).values() if isinstance(block, list) for r in block]

    # one CPU process per tomogram, as many at once as the job has threads
    for_each_item(ctx, jobs, extract, ctx.threads)
    done = set(found)
    rows = by_tomogram(kept, [r for name in sorted(found) for r in found[name]])
    if not done and not kept and ctx.failed_items():
        raise JobFailed(items_failed(ctx.failed_items(), len(ctx.items)))
    if not rows and ctx.task is None:  # an array task's tomogram may have none: the job's merge says it
        raise JobFailed(NO_CANDIDATES)
    if rows:
        atomic_write(ctx.job_file("candidates.star", "loop"), loop_text("particles", rows))
    write_global(ctx, "tomograms.star", [t.row for t in tomograms if t.name in done])
    write_pairs(ctx, "optimisation_set.star", "optimisation_set", {
        "rlnTomoParticlesFile": ctx.rel(ctx.path("candidates.star")),
        "rlnTomoTomogramsFile": ctx.rel(ctx.path("tomograms.star")),
    })
    ctx.say(f"{len(rows)} candidates from {len(done)} tomograms" + (f" and {len(kept)} kept" if kept else ""))


def _kept_candidates(ctx: Context) -> list[dict[str, str]]:
    """An extension's candidates of the tomograms it keeps, from its combined candidates.star."""
    old = ctx.path("candidates.star")
    if not ctx.keep or not old.is_file():
        return []
    return [r for block in read_star(old).values() if isinstance(block, list) for r in block if r.get("rlnTomoName") in ctx.keep]

