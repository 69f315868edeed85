"""pipeline.yaml -> validated spec, every error of the file reported in one pass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Collector, Location, SpecError, did_you_mean
from .jobs import TYPE_NAMES, JobType, Params, job_type
from .layers import BUILTIN_RESOURCES, ONE_GPU, ResourceLayer, by_type, layered_params, merge_resources, zero_gpu_warning
from .located import pydantic_errors
from .models import SAFE_NAME, PipelineSpec, Resources
from .site import Site, load_site
from .yamldoc import Document, Key, load_yaml

RESERVED_NAMES = {"EXIT"}


@dataclass(frozen=True)
class LoadedJob:
    name: str
    type: JobType
    params: Params
    resources: Resources
    inputs: dict[str, str]
    on_item_failure: str = "stop"
    execution: str = "node"  # array | node
    tilt_series_per_task: int = 1  # array only
    max_parallel: int = 1  # array only


@dataclass(frozen=True)
class Pipeline:
    path: Path
    doc: Document
    spec: PipelineSpec
    site: Site
    jobs: dict[str, LoadedJob]  # in spec order
    warnings: tuple[str, ...] = ()  # rendered: what is valid but most likely not meant (validate shows them)

    @property
    def root(self) -> Path:
        """The pipeline's directory, absolute: data globs and file params are relative to it."""
        return self.path.resolve().parent



def load_pipeline(path: Path) -> Pipeline:
    """Load and validate pipeline.yaml and its site profile. Raises all errors found together."""
    path = Path(path)
    doc = load_yaml(path)
    errors = Collector()
    raw = doc.data
    if not isinstance(raw, dict):
        raise SpecError("expected a mapping with keys cryocc, name, data, jobs", location=Location(str(path), 1, 1),
                        hint="run `cryocc init` to write a starter pipeline.yaml")
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        for e in pydantic_errors(exc.errors(), doc, model=PipelineSpec):
            errors.add(e)
        # keep checking the jobs so one run reports everything
        _check_jobs_raw(raw.get("jobs"), doc, errors)
        errors.raise_if_any()
        raise  # unreachable: a ValidationError always adds errors
    site = load_site(spec.site, path.parent, errors, doc.locate(("site",), value=True))
    warnings: list[str] = []
    jobs = _load_jobs(spec, doc, site, errors, warnings)
    errors.raise_if_any()
    assert site is not None
    return Pipeline(path=path, doc=doc, spec=spec, site=site, jobs=jobs, warnings=tuple(warnings))


def _check_jobs_raw(jobs: Any, doc: Document, errors: Collector) -> None:
    if not isinstance(jobs, dict):
        return
    for name, job in jobs.items():
        _check_name(name, doc, errors)
        if isinstance(job, dict) and isinstance(job.get("type"), str) and job_type(job["type"]) is None:
            _unknown_type(name, job["type"], doc, errors)


def _check_name(name: str, doc: Document, errors: Collector) -> bool:
    if not re.fullmatch(SAFE_NAME, name) or name in RESERVED_NAMES:
        errors.add(SpecError(
            f"job name '{name}' is not a safe name", location=doc.locate(("jobs", name)), key=f"jobs.{name}",
            hint="start with a letter; use only letters, digits, _ and - (at most 64); EXIT is reserved",
        ))
        return False
    return True


def _unknown_type(name: str, type_: str, doc: Document, errors: Collector) -> None:
    errors.add(SpecError(f"unknown job type '{type_}'", location=doc.locate(("jobs", name, "type"), value=True),
                         key=f"jobs.{name}.type", hint=did_you_mean(type_, TYPE_NAMES)))


def _load_jobs(spec: PipelineSpec, doc: Document, site: Site | None, errors: Collector, warnings: list[str]) -> dict[str, LoadedJob]:
    defaults = by_type(spec.defaults.params, doc, ("defaults", "params"), errors)
    jobs: dict[str, LoadedJob] = {}
    for name, job in spec.jobs.items():
        ok = _check_name(name, doc, errors)
        jt = job_type(job.type)
        if jt is None:
            _unknown_type(name, job.type, doc, errors)
            continue
        layers: list[tuple[dict[str, Any], Document, Key]] = []
        if site is not None:
            key, values = site.params.get(jt.name, (jt.name, {}))
            layers.append((values, site.doc, ("params", key)))
        key, values = defaults.get(jt.name, (jt.name, {}))
        layers.append((values, doc, ("defaults", "params", key)))
        layers.append((job.params, doc, ("jobs", name, "params")))
        params = layered_params(jt, layers, errors)
        for slot in job.inputs:
            if slot not in jt.inputs:
                errors.add(SpecError(
                    f"job type {jt.name} has no input '{slot}'", location=doc.locate(("jobs", name, "inputs", slot)),
                    key=f"jobs.{name}.inputs.{slot}",
                    hint=did_you_mean(slot, jt.inputs) or f"{jt.name} takes no inputs",
                ))
        layers_r = _resource_layers(name, jt, spec, doc, site)
        resources = merge_resources(BUILTIN_RESOURCES, ONE_GPU if jt.gpu else None, *(values for _, values, _, _ in layers_r))
        if ok and (warning := zero_gpu_warning(name, jt, layers_r)):
            warnings.append(warning.render())
        if params is not None and ok:
            execution = _execution(name, jt, spec, doc, site, errors)
            arrays = site.profile.arrays if site is not None else None
            jobs[name] = LoadedJob(name, jt, params, resources, dict(job.inputs),
                                   job.on_item_failure or spec.defaults.on_item_failure, execution,
                                   job.tilt_series_per_task or spec.defaults.tilt_series_per_task or (arrays.tilt_series_per_task if arrays else 1),
                                   job.max_parallel or spec.defaults.max_parallel or (arrays.max_parallel if arrays else 1))
            _check_array_params(jobs[name], doc, errors)
    return jobs


def _execution(name: str, jt: JobType, spec: PipelineSpec, doc: Document, site: Site | None, errors: Collector) -> str:
    """array or node: the job's own, the pipeline's default, the site's; unset, array for a type that can
    run as one on a site that submits with sbatch. Asking for an array where there can be none is an error."""
    job = spec.jobs[name]
    chosen = [(v, key) for v, key in ((job.execution, ("jobs", name, "execution")),
                                      (spec.defaults.execution, ("defaults", "execution"))) if v is not None]
    sbatch = site is not None and Path(site.profile.submit.split()[0]).name == "sbatch"
    if not chosen:
        wanted = site.profile.execution if site is not None else None
        return "array" if jt.array and sbatch and wanted != "node" else "node"
    value, key = chosen[0]
    if value == "node":
        return "node"
    why = (f"{jt.name} jobs do not run as SLURM arrays (they pool the tilt series, or work on them in one tool run)" if not jt.array
           else f"site profile '{site.profile.name}' submits with '{site.profile.submit}', not sbatch: there are no SLURM arrays"
           if site is not None and not sbatch else None)
    if why is None:
        return "array"
    if key[0] == "jobs" or not sbatch:  # under defaults, array means: where a job can
        errors.add(SpecError(f"job {name} cannot run as an array: {why}", location=doc.locate(key, value=True),
                             key=".".join(key), hint="remove execution (or set it to node)"))
    return "node"


def _check_array_params(loaded: LoadedJob, doc: Document, errors: Collector) -> None:
    """In array mode, the params a task runs with (JobType.array_params) must be possible."""
    jt = loaded.type
    if loaded.execution != "array" or jt.array_params is None:
        return
    try:
        jt.array_params(loaded.params.model_dump(mode="json"), loaded.tilt_series_per_task)
    except ValueError as exc:
        errors.add(SpecError(f"job {loaded.name}: {exc}", location=doc.locate(("jobs", loaded.name)),
                             key=f"jobs.{loaded.name}.tilt_series_per_task",
                             hint=f"set jobs.{loaded.name}.tilt_series_per_task: 1, or execution: node"))


def _resource_layers(name: str, jt: JobType, spec: PipelineSpec, doc: Document, site: Site | None) -> list[ResourceLayer]:
    """A job's resources layers above the built-in ones, each with where it is written."""
    layers: list[ResourceLayer] = []
    if site is not None:
        layers.append(("site default", site.profile.resources.get("default"), site.doc, ("resources", "default")))
        written = next((k for k in site.profile.resources if k != "default" and (t := job_type(k)) and t.name == jt.name), jt.name)
        layers.append(("site type", site.resources.get(jt.name), site.doc, ("resources", written)))
    layers.append(("pipeline defaults", spec.defaults.resources, doc, ("defaults", "resources")))
    layers.append(("job", spec.jobs[name].resources, doc, ("jobs", name, "resources")))
    return layers
