"""Layering: a job's params and resources from the job type's defaults, the site profile, the
pipeline's defaults and the job itself, each layer checked where it is written."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..errors import Collector, SpecError, did_you_mean
from .jobs import TYPE_NAMES, JobType, Params, job_type
from .located import pydantic_errors
from .models import Resources
from .yamldoc import Document, Key, dotted

BUILTIN_RESOURCES = Resources(cpus=1, mem="4G", time="01:00:00", gpus=0)
ONE_GPU = Resources(gpus=1)  # the layer over the built-in resources of a job type that needs a GPU
SUPERVISOR = Resources(cpus=1, mem="2G", time="3-00:00:00", gpus=0)  # the job of an array that waits for its tasks


def merge_resources(*layers: Resources | None) -> Resources:
    """Later layers win, key by key; unset keys fall through."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            merged.update(layer.model_dump(exclude_none=True))
    return Resources(**merged)


# A resources layer above the built-in ones: which (site default, site type, pipeline defaults, job),
# its values, and where it is written.
ResourceLayer = tuple[str, Resources | None, Document, Key]


def zero_gpu_warning(job: str, jt: JobType, layers: list[ResourceLayer]) -> SpecError | None:
    """A job type that needs a GPU given 0 GPUs (e.g. by a copied site profile's default): said as a
    warning at the layer the 0 came from, with how to fix it there or for the job."""
    if not jt.gpu:
        return None
    setting = [(label, values.gpus, doc, key) for label, values, doc, key in layers if values is not None and values.gpus is not None]
    if not setting or setting[-1][1] != 0:
        return None
    kind, _, doc, key = setting[-1]
    written = dotted((*key, "gpus"))
    for_job = f"jobs.{job}.resources.gpus: 1 in pipeline.yaml"
    source, fix = {
        "site default": ("the site profile's default resources",
                         f"give {jt.name} jobs GPUs in the site profile (resources: {{{jt.name}: {{gpus: 1}}}}), or set {for_job}"),
        "site type": (f"the site profile's resources for {jt.name}", f"set {written} to 1 or more in the site profile, or set {for_job}"),
        "pipeline defaults": ("defaults.resources, which sets every job", f"remove gpus from defaults.resources, or set {for_job}"),
        "job": ("its own resources", f"set {for_job} (or remove gpus: a {jt.name} job asks for one)"),
    }[kind]
    return SpecError(f"job {job} ({jt.name}, which runs on a GPU) gets 0 GPUs from {source}",
                     location=doc.locate((*key, "gpus"), value=True), key=written,
                     hint=f"{fix}; 0 is right only where the tool runs without a GPU")


def layered_params(job_type: JobType, layers: list[tuple[dict[str, Any], Document, Key]],
                   errors: Collector) -> Params | None:
    """job-type defaults < site profile < pipeline defaults < the job's own values. Each layer is
    checked on its own too: a wrong value stays an error where it is written, even where a later
    layer overrides it."""
    merged: dict[str, Any] = {}
    origin: dict[str, tuple[Document, Key]] = {}
    for values, doc, key in layers:
        _check_layer(job_type, values, doc, key, errors)
        for k, v in values.items():
            merged[k] = v
            origin[k] = (doc, key)
    try:
        return job_type.params.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors():
            top = str(err["loc"][0]) if err["loc"] else ""
            doc, key = origin.get(top, layers[-1][1:])
            _add_param_errors(job_type, [err], doc, key, errors)
    return None


def _check_layer(job_type: JobType, values: dict[str, Any], doc: Document, key: Key, errors: Collector) -> None:
    if not values:
        return
    try:
        job_type.params.model_validate(values)
    except ValidationError as exc:
        _add_param_errors(job_type, [e for e in exc.errors() if e["type"] != "missing"], doc, key, errors)


def _add_param_errors(job_type: JobType, errs: list[ErrorDetails], doc: Document, key: Key, errors: Collector) -> None:
    for err in errs:
        for e in pydantic_errors([err], doc, key, model=job_type.params, label="parameter"):
            if err["type"] == "extra_forbidden":
                e.message += f" for job type {job_type.name}"
            errors.add(e)


def by_type(mapping: dict[str, Any], doc: Document, section: Key, errors: Collector, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, Any]]:
    """A section keyed by job type (a site profile's params or resources, a pipeline's defaults.params),
    keyed by the types' names: type name -> (the key as written, its value). A type may be written
    by its name or an alias, once; an unknown type is an error at its key."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in mapping.items():
        if key in skip:
            continue
        where = doc.locate((*section, key))
        jt = job_type(key)
        if jt is None:
            errors.add(SpecError(f"unknown job type '{key}'", location=where, key=dotted((*section, key)), hint=did_you_mean(key, TYPE_NAMES)))
        elif jt.name in out:
            errors.add(SpecError(f"job type {jt.name} is given twice, as '{out[jt.name][0]}' and as '{key}'", location=where,
                                 key=dotted((*section, key)), hint="keep one of them"))
        else:
            out[jt.name] = (key, value)
    return out
