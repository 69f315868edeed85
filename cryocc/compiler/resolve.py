"""Per job: merged params, acquisition values it uses, wiring, resources, tool: a ResolvedJob."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..lockfile.fingerprint import digest, job_fingerprint, job_parts
from ..schema.acquisition import Dataset
from ..schema.jobs import JobType
from ..schema.load import Pipeline
from ..schema.models import Resources, Tool
from .data import absolute
from .graph import Wire


@dataclass(frozen=True)
class ResolvedJob:
    name: str
    type: JobType
    params: dict[str, Any]  # JSON values; file params made absolute
    acquisition: dict[str, Any]
    wires: tuple[Wire, ...]
    resources: Resources
    tool: Tool | None
    data: dict[str, Any] | None  # frames, mdocs, gain, tilt series: for jobs that read the data
    inputs: dict[str, str]  # input file named by a param -> fingerprint
    parts: dict[str, Any] = field(compare=False)
    fingerprint: str = ""


def input_key(path: str, root: Path) -> str:
    """How an input file is named in fingerprints: relative to the pipeline's directory, as the
    spec's globs are, so data moved together with its pipeline keeps its fingerprints."""
    return os.path.relpath(path, root)


def _file_params(job: JobType, params: dict[str, Any], root: Path) -> tuple[dict[str, Any], list[str]]:
    out, files = dict(params), []
    for name, f in job.params.model_fields.items():
        if f.annotation is Path or str(f.annotation) in ("pathlib.Path", "<class 'pathlib.Path'>"):
            p = Path(params[name])
            out[name] = str(p if p.is_absolute() else (root / p).resolve())
            files.append(out[name])
    return out, files


def resolve(pipeline: Pipeline, dataset: Dataset, wires: dict[str, tuple[Wire, ...]], order: list[str],
            input_fingerprint) -> dict[str, ResolvedJob]:
    """Resolve jobs in run order, so each fingerprint can include its upstream fingerprints.

    input_fingerprint(path, kind) -> str fingerprints one input file (kind: 'small' or 'frame')."""
    acq = dataset.acquisition.values()
    data_parts = _data_inputs(pipeline, dataset, input_fingerprint)
    resolved: dict[str, ResolvedJob] = {}
    for name in order:
        loaded = pipeline.jobs[name]
        jt = loaded.type
        params = loaded.params.model_dump(mode="json")
        if jt.derive:
            try:
                params = jt.derive(params, acq)
            except ValueError as exc:
                raise SpecError(f"job {name}: {exc}", location=pipeline.doc.locate(("jobs", name)), key=f"jobs.{name}.params",
                                hint=f"give it under jobs.{name}.params, or defaults.params.{jt.name} for every {jt.name} job") from None
        params, files = _file_params(jt, params, pipeline.root)
        root = pipeline.root
        inputs = {input_key(f, root): input_fingerprint(f, "small") for f in files}
        data, data_digest = data_parts if jt.uses_data else (None, None)
        used = {k: acq[k] for k in jt.acquisition}
        result_params = {k: input_key(params[k], root) if params[k] in files else params[k]
                         for k in jt.result_params(params)}
        upstream = {w.slot: resolved[w.upstream].fingerprint for w in wires[name]}
        parts = job_parts(job_type=jt.name, type_version=jt.version, params=result_params, acquisition=used,
                          inputs=dict(sorted(inputs.items())), data=data_digest, upstream=upstream)
        resolved[name] = ResolvedJob(
            name=name, type=jt, params=params, acquisition=used, wires=wires[name], resources=loaded.resources,
            tool=pipeline.site.profile.tools.get(jt.tool), data=data, inputs=dict(sorted(inputs.items())),
            parts=parts, fingerprint=job_fingerprint(parts),
        )
    return resolved


def _data_inputs(pipeline: Pipeline, dataset: Dataset, input_fingerprint) -> tuple[dict[str, Any], str]:
    spec = pipeline.spec.data
    root = pipeline.root
    gain = absolute(spec.gain, root) if spec.gain else None
    data = {
        "frames": absolute(spec.frames, root),
        "mdocs": absolute(spec.mdocs, root),
        "gain": gain,
        "gain_operations": spec.gain_operations,
        "tilt_series": [
            {"name": ts.name, "mdoc": ts.mdoc, "frames": list(ts.frames), "angles": list(ts.angles)}
            for ts in dataset.tilt_series
        ],
    }
    inputs: dict[str, str] = {}
    for ts in dataset.tilt_series:
        inputs[input_key(ts.mdoc, root)] = input_fingerprint(ts.mdoc, "small")
        for f in ts.frames:
            inputs[input_key(f, root)] = input_fingerprint(f, "frame")
    if gain:
        inputs[input_key(gain, root)] = input_fingerprint(gain, "small")
    return data, digest(inputs)
