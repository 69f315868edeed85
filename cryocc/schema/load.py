"""pipeline.yaml -> validated spec, every error of the file reported in one pass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Collector, CryoccError, Location, SpecError, did_you_mean
from ..resources import data_dir
from .jobs import CATALOG, JobType, Params
from .loader import Document, Key, dotted, load_yaml
from .models import SAFE_NAME, PipelineSpec, Resources, SiteProfile

RESERVED_NAMES = {"EXIT"}
BUILTIN_RESOURCES = Resources(cpus=1, mem="4G", time="01:00:00", gpus=0)


@dataclass(frozen=True)
class Site:
    profile: SiteProfile
    doc: Document


@dataclass(frozen=True)
class LoadedJob:
    name: str
    type: JobType
    params: Params
    resources: Resources
    inputs: dict[str, str]
    on_item_failure: str = "stop"


@dataclass(frozen=True)
class Pipeline:
    path: Path
    doc: Document
    spec: PipelineSpec
    site: Site
    jobs: dict[str, LoadedJob]  # in spec order

    @property
    def root(self) -> Path:
        """The pipeline's directory, absolute: data globs and file params are relative to it."""
        return self.path.resolve().parent


def pydantic_errors(errors: list[dict], doc: Document, prefix: Key = (), model: type[BaseModel] | None = None,
                    label: str = "key") -> list[CryoccError]:
    """Turn pydantic's errors (ValidationError.errors()) into located SpecErrors."""
    out = []
    for err in errors:
        loc = prefix + tuple(part for part in err["loc"] if part != "[key]")  # a dict key's own error: at the key
        kind = err["type"]
        if kind == "extra_forbidden":
            fields = _fields_at(model, err["loc"][:-1]) if model else []
            out.append(SpecError(f"unknown {label} '{loc[-1]}'", location=doc.locate(loc), key=dotted(loc),
                                 hint=did_you_mean(str(loc[-1]), fields) or "cryocc schema lists the valid keys"))
        elif kind == "missing":
            out.append(SpecError(f"required {label} is missing", location=doc.locate(loc[:-1]), key=dotted(loc),
                                 hint=f"add {loc[-1]}: " + (_description(model, err["loc"]) or "see cryocc schema")))
        else:
            found = err.get("input")
            msg = err["msg"].removeprefix("Value error, ")
            if msg.startswith("Input should"):
                msg = "expected" + msg[len("Input should"):].replace(" be ", " ", 1) if msg.startswith("Input should be") else msg
            if isinstance(found, (str, int, float, bool)) or found is None:
                msg += f", found {found!r}"
            described = _description(model, err["loc"])
            out.append(SpecError(msg, location=doc.locate(loc, value=True), key=dotted(loc),
                                 hint=f"{loc[-1]}: {described}" if described else "see cryocc schema for what this key takes"))
    return out


def _walk(model: type[BaseModel] | None, loc: tuple) -> tuple[Any, type[BaseModel] | None]:
    """(the field at loc, or None; the model below it): dict keys and list indices are passed over."""
    field = None
    for part in loc:
        if model is None:
            return None, None
        field = model.model_fields.get(str(part))
        if field is None:  # a dict's key (resources.<type>) or a list index: the model goes on below it
            continue
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else _inner_model(ann)
    return field, model


def _description(model: type[BaseModel] | None, loc: tuple) -> str | None:
    """The description of the field at loc (the text editors show on hover), as a hint."""
    field, _ = _walk(model, loc)
    return field.description if field is not None else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside Optional[...] / dict[str, ...], if any."""
    from typing import get_args

    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if (inner := _inner_model(arg)) is not None:
            return inner
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    _, below = _walk(model, loc)
    return list(below.model_fields) if below else []


# --- site profiles ---------------------------------------------------------------------------

def site_search_path(pipeline_dir: Path) -> list[Path]:
    return [pipeline_dir / "config" / "sites", data_dir("config") / "sites"]


def site_candidates(ref: str, pipeline_dir: Path) -> list[Path]:
    """Where a site profile reference may be, first match wins: a path, or a name on the search path."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return [(pipeline_dir / ref).expanduser()]
    return [d / f"{ref}.yaml" for d in site_search_path(pipeline_dir)]


def known_sites(pipeline_dir: Path) -> list[str]:
    return sorted({p.stem for d in site_search_path(pipeline_dir) if d.is_dir() for p in d.glob("*.yaml")})


def find_site(ref: str, pipeline_dir: Path) -> Path | None:
    return next((p for p in site_candidates(ref, pipeline_dir) if p.is_file()), None)


def load_site(ref: str, pipeline_dir: Path, errors: Collector, where: Location) -> Site | None:
    path = find_site(ref, pipeline_dir)
    if path is None:
        errors.add(SpecError(f"site profile '{ref}' does not exist", location=where, key="site",
                             hint=did_you_mean(ref, known_sites(pipeline_dir)) or "give a name under config/sites/ or a path to a YAML file"))
        return None
    try:
        doc = load_yaml(path)
    except CryoccError as exc:
        errors.add(exc)
        return None
    raw = doc.data if isinstance(doc.data, dict) else {}
    try:
        profile = SiteProfile.model_validate(raw)
    except ValidationError as exc:
        for e in pydantic_errors(exc.errors(), doc, model=SiteProfile):
            errors.add(e)
        # keep the sections that were fine, so their job params are still checked in this pass
        bad = {err["loc"][0] for err in exc.errors() if err["loc"]}
        try:
            profile = SiteProfile.model_validate({"name": "invalid", **{k: v for k, v in raw.items() if k not in bad}})
        except ValidationError:
            return None
    for key in list(profile.params) + [k for k in profile.resources if k != "default"]:
        if key not in CATALOG:
            sect = "params" if key in profile.params else "resources"
            errors.add(SpecError(f"unknown job type '{key}'", location=doc.locate((sect, key)), key=f"{sect}.{key}",
                                 hint=did_you_mean(key, CATALOG)))
    return Site(profile, doc)


# --- layering --------------------------------------------------------------------------------

def merge_resources(*layers: Resources | None) -> Resources:
    """Later layers win, key by key; unset keys fall through."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            merged.update(layer.model_dump(exclude_none=True))
    return Resources(**merged)


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


def _add_param_errors(job_type: JobType, errs: list[dict], doc: Document, key: Key, errors: Collector) -> None:
    for err in errs:
        for e in pydantic_errors([err], doc, key, model=job_type.params, label="parameter"):
            if err["type"] == "extra_forbidden":
                e.message += f" for job type {job_type.name}"
            errors.add(e)


# --- the pipeline ----------------------------------------------------------------------------

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
    jobs = _load_jobs(spec, doc, site, errors)
    errors.raise_if_any()
    assert site is not None
    return Pipeline(path=path, doc=doc, spec=spec, site=site, jobs=jobs)


def _check_jobs_raw(jobs: Any, doc: Document, errors: Collector) -> None:
    if not isinstance(jobs, dict):
        return
    for name, job in jobs.items():
        _check_name(name, doc, errors)
        if isinstance(job, dict) and isinstance(job.get("type"), str) and job["type"] not in CATALOG:
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
                         key=f"jobs.{name}.type", hint=did_you_mean(type_, CATALOG)))


def _load_jobs(spec: PipelineSpec, doc: Document, site: Site | None, errors: Collector) -> dict[str, LoadedJob]:
    for type_name in spec.defaults.params:
        if type_name not in CATALOG:
            errors.add(SpecError(f"unknown job type '{type_name}'", location=doc.locate(("defaults", "params", type_name)),
                                 key=f"defaults.params.{type_name}", hint=did_you_mean(type_name, CATALOG)))
    jobs: dict[str, LoadedJob] = {}
    for name, job in spec.jobs.items():
        ok = _check_name(name, doc, errors)
        job_type = CATALOG.get(job.type)
        if job_type is None:
            _unknown_type(name, job.type, doc, errors)
            continue
        layers: list[tuple[dict[str, Any], Document, Key]] = []
        if site is not None:
            layers.append((site.profile.params.get(job.type, {}), site.doc, ("params", job.type)))
        layers.append((spec.defaults.params.get(job.type, {}), doc, ("defaults", "params", job.type)))
        layers.append((job.params, doc, ("jobs", name, "params")))
        params = layered_params(job_type, layers, errors)
        for slot in job.inputs:
            if slot not in job_type.inputs:
                errors.add(SpecError(
                    f"job type {job_type.name} has no input '{slot}'", location=doc.locate(("jobs", name, "inputs", slot)),
                    key=f"jobs.{name}.inputs.{slot}",
                    hint=did_you_mean(slot, job_type.inputs) or f"{job_type.name} takes no inputs",
                ))
        site_res = site.profile.resources if site else {}
        resources = merge_resources(BUILTIN_RESOURCES, site_res.get("default"), site_res.get(job.type),
                                    spec.defaults.resources, job.resources)
        if params is not None and ok:
            jobs[name] = LoadedJob(name, job_type, params, resources, dict(job.inputs),
                                   job.on_item_failure or spec.defaults.on_item_failure)
    return jobs
