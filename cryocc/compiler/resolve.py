"""Stage one: the validated spec and the data set, resolved into a Recipe of plain values."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..acquisition.infer import Dataset
from ..acquisition.listing import Listing, absolute
from ..errors import Collector, Location, SpecError
from ..fsio import sha256_bytes
from ..schema.jobs import JobType
from ..schema.layers import BUILTIN_RESOURCES, SUPERVISOR, merge_resources
from ..schema.models import Resources, SiteProfile
from ..schema.pipeline import LoadedJob, Pipeline
from ..schema.site import site_candidates
from ..schema.yamldoc import dotted
from .recipe import JobRecipe, Recipe, Series, Wire


def input_key(path: str, root: Path) -> str:
    """How an input file is keyed: relative to the pipeline's directory, like the data listing's keys,
    so data moved together with its pipeline keeps its fingerprints."""
    return os.path.relpath(path, root)


def _file_params(job: JobType, params: dict[str, Any], root: Path, where: Callable[[str], tuple[Location, str]],
                 errors: Collector, bound: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    """Params naming files made absolute (for the drivers), each an existing regular file; returns
    them and key -> absolute path. where: the location and key that set a param. bound: the tool
    runs in a container, with each file's directory bound in by apptainer -B (split at , and :)."""
    out, files = dict(params), {}
    for name, f in job.params.model_fields.items():
        if f.annotation is Path or str(f.annotation) in ("pathlib.Path", "<class 'pathlib.Path'>"):
            out[name] = absolute(params[name], root)
            files[input_key(out[name], root)] = out[name]
            if bound and ("," in os.path.dirname(out[name]) or ":" in os.path.dirname(out[name])):
                location, key = where(name)
                errors.add(SpecError(f"{params[name]}: its directory holds , or :, which apptainer's -B would split",
                                     location=location, key=key, hint="the tool runs in a container, with the file's directory "
                                                                      "bound in: move the file, or reach it through a symlink without , or :"))
            if os.path.isfile(out[name]):
                continue
            problem = "is a directory, not a file" if os.path.isdir(out[name]) else "does not exist"
            location, key = where(name)
            errors.add(SpecError(f"{params[name]} {problem} ({out[name]})", location=location, key=key,
                                 hint="give the path of the file, relative to pipeline.yaml"))
    return out, files


def _origin(pipeline: Pipeline, job: str, type_name: str) -> Callable[[str], tuple[Location, str]]:
    """Where a job's param was set: its own params, the pipeline's defaults, the site profile."""
    def where(param: str) -> tuple[Location, str]:
        for doc, key in ((pipeline.doc, ("jobs", job, "params", param)), (pipeline.doc, ("defaults", "params", type_name, param)),
                         (pipeline.site.doc, ("params", type_name, param))):
            if key in doc.keys:
                return doc.locate(key, value=True), dotted(key)
        return pipeline.doc.locate(("jobs", job)), f"jobs.{job}.params.{param}"
    return where


def _array(loaded: LoadedJob, site: SiteProfile) -> dict[str, Any]:
    """How a job runs as SLURM arrays: its resources are each task's; the job script gets the supervisor's."""
    return {"tilt_series_per_task": loaded.tilt_series_per_task, "max_parallel": loaded.max_parallel,
            "poll_seconds": site.arrays.poll_seconds,
            "supervisor": merge_resources(BUILTIN_RESOURCES, SUPERVISOR, Resources(sbatch=loaded.resources.sbatch),
                                          site.arrays.supervisor).model_dump(mode="json")}


def resolve(pipeline: Pipeline, dataset: Dataset, listing: Listing, wires: dict[str, tuple[Wire, ...]],
            order: list[str]) -> Recipe:
    acq = dataset.acquisition.values()
    site = pipeline.site.profile
    jobs: dict[str, JobRecipe] = {}
    errors = Collector()
    deviations: dict[str, None] = {}  # each note once, in job order
    for name in order:
        loaded = pipeline.jobs[name]
        jt = loaded.type
        params = loaded.params.model_dump(mode="json")
        if jt.deviation and (note := jt.deviation(params)):
            deviations[note] = None
        if jt.derive:
            try:
                params = jt.derive(params, acq)
            except ValueError as exc:
                raise SpecError(f"job {name}: {exc}", location=pipeline.doc.locate(("jobs", name)), key=f"jobs.{name}.params",
                                hint=f"give it under jobs.{name}.params, or defaults.params.{jt.name} for every {jt.name} job") from None
        if loaded.execution == "array" and jt.array_params:
            params = jt.array_params(params, loaded.tilt_series_per_task)
        tool = site.tools.get(jt.tool)
        params, files = _file_params(jt, params, pipeline.root, _origin(pipeline, name, jt.name), errors, bound=bool(tool and tool.image))
        keys = {path: key for key, path in files.items()}
        jobs[name] = JobRecipe(
            name=name, type=jt.name, aliases=jt.aliases, is_tomo=jt.is_tomo, type_version=jt.type_version, params=params,
            result_params={k: keys.get(params[k], params[k]) for k in jt.result_params(params)},
            acquisition={k: acq[k] for k in jt.acquisition}, files=dict(sorted(files.items())), reads_data=jt.reads_data,
            wires=wires[name], outputs=tuple({"path": o.path, "kind": o.kind, "is_dir": o.is_dir} for o in jt.outputs),
            resources=loaded.resources.model_dump(mode="json"), tool=tool.model_dump(mode="json") if tool else None,
            on_item_failure=loaded.on_item_failure, per_item=jt.per_item(params),
            items_star=jt.items_star, pools=jt.pools(params) if jt.pools else None, decides=jt.decides,
            exclude_tilts=dict(dataset.excluded_tilts) if jt.excludes_tilts else None,  # {} when none: still the one that would
            array=_array(loaded, site) if loaded.execution == "array" else None,
        )
    if dataset.excluded_tilts and all(j.exclude_tilts is None for j in jobs.values()):
        deviations["data.exclude_tilts is set, but no job of the pipeline leaves tilts out (a ts_alignment job does)"] = None
    errors.raise_if_any()
    spec = pipeline.spec.data
    root = pipeline.root
    gain = absolute(spec.gain, root) if spec.gain else None
    return Recipe(
        name=pipeline.spec.name, path=str(pipeline.path.resolve()), spec_sha256=sha256_bytes(pipeline.path.read_bytes()),
        root=str(root), site=site.model_dump(mode="json"), site_path=str(pipeline.site.doc.path.resolve()),
        sources=sources(pipeline),
        frame_check=spec.frame_check, order=tuple(order), jobs=jobs,
        data={  # the globs, the gain, each tilt series' name and mdoc: the tools find the frames themselves
            "frames": [absolute(g, root) for g in spec.frame_globs],
            "mdocs": [absolute(g, root) for g in spec.mdoc_globs],
            "gain": gain,
            "gain_operations": spec.gain_operations,
            "tilt_series": [{"name": ts.name, "mdoc": listing.path(ts.mdoc)} for ts in dataset.tilt_series],
        },
        gain=input_key(gain, root) if gain else None,
        tilt_series=tuple(Series(ts.name, ts.mdoc, ts.frames) for ts in dataset.tilt_series),
        summary=summary(dataset, list(deviations), list(pipeline.warnings)),
    )


def sources(pipeline: Pipeline) -> dict[str, str | None]:
    """pipeline.yaml, its site profile, and the places a profile of that name would take precedence from."""
    out: dict[str, str | None] = {str(pipeline.path.resolve()): sha256_bytes(pipeline.path.read_bytes())}
    site = pipeline.site.doc.path.resolve()
    for candidate in site_candidates(pipeline.spec.site, pipeline.path.parent):
        candidate = candidate.resolve()
        if candidate == site:
            out[str(site)] = sha256_bytes(site.read_bytes())
            break
        out[str(candidate)] = None
    return out


def summary(dataset: Dataset, deviations: list[str], warnings: list[str] | None = None) -> dict[str, Any]:
    """What validate and apply tell the user about the data (and where the jobs depart from the
    validated chain), as plain values."""
    acq = dataset.acquisition
    return {
        "acquisition": acq.values(),
        "sources": acq.sources,
        "tilt_series": len(dataset.tilt_series),
        "frames": sum(len(ts.frames) for ts in dataset.tilt_series),
        "notes": [*dataset.notes, *deviations],
        "warnings": warnings or [],  # valid, but most likely not meant: each a rendered located message with a hint
        "waiting": [list(w) for w in dataset.waiting],  # [name, frames there, frames in its mdoc]
        "excluded": dict(dataset.excluded),
        "excluded_tilts": dict(dataset.excluded_tilts),  # name -> {zvalues, frames, why}
        "groups": [list(g) for g in dataset.groups],
    }
