"""Render the files RELION reads: job.star per job, scheme.star, one job script per job."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from .. import __version__
from ..contract import (
    END_SENTINELS,
    FAILURE,
    JOB_PID,
    PARAMS_FORMAT,
    SCHEMES_DIR,
    SLURM_ID,
    ArraySettings,
    DataSpec,
    InputSlot,
    ItemsPlan,
    OutputSpec,
    ParamsDoc,
    ToolSpec,
    params_path,
    scheme_dir,
    scheme_job,
    script_path,
)
from ..errors import SpecError
from ..fsio import sha256_bytes
from ..resources import data_dir
from ..star import block_loop, block_pairs, format_value, pairs_of, parse_star, rows_of
from ..states import Action
from .recipe import JobRecipe

if TYPE_CHECKING:
    import jinja2

    from .compile import Compiled
    from .plan import Plan

@dataclass(frozen=True)
class RenderedJob:
    name: str
    params_path: str  # project-relative
    params_text: str
    script_path: str
    script_text: str
    job_star: str


@cache
def job_template() -> tuple[dict[str, str], dict[str, str]]:
    """(data_job pairs, joboptions in template order) of templates/job.star."""
    blocks = parse_star((data_dir("templates") / "job.star").read_text())
    options = {row["rlnJobOptionVariable"]: row.get("rlnJobOptionValue", "") for row in rows_of(blocks, "joboptions_values")}
    return pairs_of(blocks, "job"), options


@cache
def _jinja() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(data_dir("templates")), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["q"] = lambda v: shlex.quote(str(v))
    return env


def params_document(job: JobRecipe, fingerprint: str, data: dict[str, Any] | None, site: dict[str, Any],
                    items: ItemsPlan | None = None) -> ParamsDoc:
    """Everything the driver needs at run time, besides what RELION puts on its command line.
    items: a per-tilt-series job's tilt series. The recipe and the site profile hold plain values of
    the shapes the models validated: they become the document's types here."""
    doc = ParamsDoc(
        format=PARAMS_FORMAT,
        cryocc=__version__,
        job=job.name,
        type=job.type,
        type_version=job.type_version,
        fingerprint=fingerprint,
        params=job.params,
        acquisition=job.acquisition,
        data=cast(DataSpec, data) if job.reads_data else None,
        inputs={w.slot: InputSlot(upstream=w.upstream, kind=w.kind, option=w.option, flag=w.flag, file=w.path) for w in job.wires},
        outputs=[cast(OutputSpec, o) for o in job.outputs],
        tool=cast("ToolSpec | None", job.tool),
        container=site["container"],
        scratch=site["scratch"],
        on_item_failure=job.on_item_failure,
        items=items,
        items_star=job.items_star,
        threads=job.resources["cpus"],  # each task's, for an array
        gpus=job.resources["gpus"],
        array=cast(ArraySettings, {**job.array, "resources": job.resources}) if job.array else None,
    )
    if job.exclude_tilts:
        doc["exclude_tilts"] = job.exclude_tilts  # name -> {zvalues, frames, why}
    return doc


def job_resources(job: JobRecipe) -> dict[str, Any]:
    """What the job RELION submits asks SLURM for: the supervisor's for an array, whose tasks ask for the job's."""
    return job.array["supervisor"] if job.array else job.resources


def render_script(job: JobRecipe, site: dict[str, Any]) -> str:
    env = sorted(site["job_script"]["env"].items())
    return str(_jinja().get_template("job_script.sh.j2").render(
        job=job.name, type=job.type, site=site["name"], r=job_resources(job), setup=site["job_script"]["setup"], env=env,
        array=job.array, sentinels=END_SENTINELS, failure=FAILURE, job_pid=JOB_PID, slurm_id=SLURM_ID))


def render_job(job: JobRecipe, fingerprint: str, data: dict[str, Any] | None, site: dict[str, Any],
               input_values: dict[str, str], items: ItemsPlan | None = None) -> RenderedJob:
    """input_values: RELION option -> value (a Schemes/ reference or a literal kept-job path)."""
    params_text = json.dumps(params_document(job, fingerprint, data, site, items), indent=1, sort_keys=True) + "\n"
    params_file = params_path(job.name, sha256_bytes(params_text.encode())[:16])
    script_text = render_script(job, site)
    script_file = script_path(job.name, sha256_bytes(script_text.encode())[:16])
    header, options = job_template()
    header = {**header, "rlnJobIsTomo": "1" if job.is_tomo else "0"}
    overlay = {
        "fn_exe": f"{site['driver']} --job {params_file}",
        "nr_threads": str(job_resources(job)["cpus"]),
        "do_queue": "Yes",
        "queuename": job_resources(job)["partition"] or "default",
        "qsub": site["submit"],
        "qsubscript": script_file,
        "min_dedicated": "1",
        "other_args": "",
        **input_values,
    }
    unknown = set(overlay) - set(options)
    if unknown:
        raise RuntimeError(f"templates/job.star lacks options {sorted(unknown)}")
    options = {**options, **overlay}
    for key, value in options.items():
        try:
            format_value(value)
        except ValueError as exc:
            raise SpecError(f"job {job.name}: option {key}: {exc}") from None
    text = block_pairs("job", header) + block_loop(
        "joboptions_values", ["rlnJobOptionVariable", "rlnJobOptionValue"], list(options.items()))
    return RenderedJob(job.name, params_file, params_text, script_file, script_text, text)


def scheme_ref(scheme: str, job: str, path: str) -> str:
    return scheme_job(scheme, job, path)


def render_scheme(scheme: str, jobs: list[str], continued: dict[str, str] | None = None) -> str:
    """A linear scheme: the jobs in order, then EXIT. The start edge comes first (RELION's start rule).
    continued: job -> the job directory it runs in again (an extension): RELION's continue of a started
    job, which the schemer looks up in default_pipeline.star (relion-observed.md §4.6)."""
    continued = continued or {}
    nodes = jobs + ["EXIT"]
    general = block_pairs("scheme_general", {"rlnSchemeName": f"{scheme_dir(scheme)}/", "rlnSchemeCurrentNodeName": jobs[0]})
    operators = block_loop("scheme_operators", ["rlnSchemeOperatorName", "rlnSchemeOperatorType", "rlnSchemeOperatorOutput",
                                                "rlnSchemeOperatorInput1", "rlnSchemeOperatorInput2"],
                           [["EXIT", "exit", "undefined", "undefined", "undefined"]])
    job_rows = block_loop("scheme_jobs", ["rlnSchemeJobNameOriginal", "rlnSchemeJobName", "rlnSchemeJobMode",
                                          "rlnSchemeJobHasStarted"],
                           [[j, continued[j], "continue", True] if j in continued else [j, j, "new", False] for j in jobs])
    edges = block_loop("scheme_edges", ["rlnSchemeEdgeInputNodeName", "rlnSchemeEdgeOutputNodeName", "rlnSchemeEdgeIsFork",
                                        "rlnSchemeEdgeOutputNodeNameIfTrue", "rlnSchemeEdgeBooleanVariable"],
                       [[a, b, False, "undefined", "undefined"] for a, b in zip(nodes, nodes[1:])])
    return general + operators + job_rows + edges


_REF = re.compile(re.escape(SCHEMES_DIR + "/"))


def check_scheme_refs(scheme: str, order: list[str], job_stars: dict[str, str]) -> None:
    """Refuse any Schemes/ reference RELION would turn into garbage or "" (relion-observed 4.6)."""
    seen: set[str] = set()
    for name in order:
        for row in rows_of(parse_star(job_stars[name]), "joboptions_values"):
            value = row.get("rlnJobOptionValue", "")
            if not _REF.search(value):
                continue
            m = re.fullmatch(re.escape(scheme_dir(scheme)) + r"/([^/]+)/([^/]+)", value)
            if not m or m.group(1) not in seen:
                raise SpecError(
                    f"job {name}: option {row['rlnJobOptionVariable']} = {value} refers to a job that does not run "
                    f"before it in scheme {scheme}",
                    hint="this is a cryocc bug, or a path containing 'Schemes/' in the site profile")
        seen.add(name)


def render_files(compiled: Compiled, plan: Plan, scheme: str) -> dict[str, str]:
    """Project-relative path -> content, in write order; scheme.star last: a scheme is runnable only once whole."""
    site = compiled.recipe.site
    run, kept = plan.to_run, plan.kept
    plans = {j.name: j for j in plan.jobs}
    files: dict[str, str] = {}
    stars: dict[str, str] = {}
    for name in run:
        job = compiled.jobs[name]
        values = {w.option: scheme_ref(scheme, w.upstream, w.path) if w.upstream in run
                  else f"{kept[w.upstream].rstrip('/')}/{w.path}" for w in job.wires}
        items = plans[name].items
        rendered = render_job(job, compiled.fingerprints[name], compiled.recipe.data, site, values,
                              ItemsPlan(fingerprints=items.fingerprints, todo=items.todo, keep=items.keep) if items else None)
        files[rendered.params_path] = rendered.params_text
        files[rendered.script_path] = rendered.script_text
        stars[name] = files[f"{scheme_dir(scheme)}/{name}/job.star"] = rendered.job_star
    check_scheme_refs(scheme, run, stars)
    continued = {j.name: j.job_dir for j in plan.jobs if j.action == Action.EXTEND and j.job_dir}
    files[f"{scheme_dir(scheme)}/scheme.star"] = render_scheme(scheme, run, continued)
    return files
