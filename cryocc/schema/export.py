"""The JSON Schema of pipeline.yaml, for editors (yaml-language-server) and jsonschema checks."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from .jobs import CATALOG, JobType
from .models import SAFE_NAME, Data, PipelineSpec, Resources, Strict

SCHEMA_ID = "https://cryocc.invalid/pipeline.schema.json"


def _optional(annotation: Any) -> Any:
    return annotation | None


def _partial(job: JobType) -> type[BaseModel]:
    """The params model with every field optional: what defaults.params.<type> may set."""
    fields: dict[str, Any] = {k: (_optional(f.annotation), Field(None, description=f.description)) for k, f in job.params.model_fields.items()}
    return create_model(f"{job.params.__name__}Partial", __config__=ConfigDict(extra="forbid"), **fields)


def _job_variant(job: JobType) -> type[BaseModel]:
    slots: dict[str, Any] = {s: (str | None, Field(None, description=f"upstream job for {spec.description} ({' or '.join(spec.kinds)})"))
             for s, spec in job.inputs.items()}
    inputs = create_model(f"{job.params.__name__}Inputs", __config__=ConfigDict(extra="forbid"), **slots)
    return create_model(
        f"Job_{job.name}",
        __base__=Strict,
        __doc__=f"{job.summary} ({job.tool_label})",
        type=(Literal[(job.name, *job.aliases)], Field(description=job.summary)),
        params=(job.params, Field(default_factory=job.params) if _all_defaults(job) else ...),
        inputs=(inputs, Field(default_factory=inputs)),
        resources=(Resources, Field(default_factory=Resources)),
    )


def _all_defaults(job: JobType) -> bool:
    return all(not f.is_required() for f in job.params.model_fields.values())


def pipeline_schema() -> dict[str, Any]:
    variants = [_job_variant(j) for j in CATALOG.values()]
    # the union of the job variants is built at run time: no static type describes it
    any_job: Any = Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007
    partials: dict[str, Any] = {n: (_optional(_partial(j)), None) for j in CATALOG.values() for n in (j.name, *j.aliases)}
    DefaultParams = create_model("DefaultParams", __config__=ConfigDict(extra="forbid"), **partials)
    Defaults = create_model("Defaults", __base__=Strict, resources=(Resources, Field(default_factory=Resources)),
                            params=(DefaultParams, Field(default_factory=DefaultParams)))
    fields = PipelineSpec.model_fields
    Pipeline = create_model(
        "Pipeline",
        __base__=Strict,
        __doc__="A cryocc pipeline: data, site profile and an ordered mapping of jobs",
        cryocc=(fields["cryocc"].annotation, fields["cryocc"]),
        name=(fields["name"].annotation, fields["name"]),
        site=(str, fields["site"]),
        data=(Data, ...),
        defaults=(Defaults, Field(default_factory=Defaults)),
        jobs=(dict[Annotated[str, Field(pattern=SAFE_NAME)], any_job], Field(min_length=1, description=fields["jobs"].description)),
    )
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "cryocc pipeline.yaml"
    return schema


def schema_text() -> str:
    return json.dumps(pipeline_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
