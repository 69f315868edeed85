"""The JSON Schemas of pipeline.yaml and of site profiles, for editors (yaml-language-server) and checks.

Derived from the models `validate` uses: each schema model subclasses the real one and overrides
only the fields whose type depends on the job catalog (a job's `type`, `params` and `inputs`, the
per-type `params` of defaults and site profiles). Every other field, its constraints and its
description, comes from `models.py` itself, so a key added there reaches the schema untouched.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from .jobs import CATALOG, JobType
from .models import SAFE_NAME, Defaults, JobSpec, PipelineSpec, SiteProfile
from .pipeline import RESERVED_NAMES

SCHEMA_ID = "https://cryocc.invalid/pipeline.schema.json"
SITE_SCHEMA_ID = "https://cryocc.invalid/site.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
Fields = dict[str, Any]  # create_model's field definitions: name -> (annotation, FieldInfo)


def _optional(annotation: Any) -> Any:
    return annotation | None


def _partial(job: JobType) -> type[BaseModel]:
    """The params model with every field optional: what defaults.params.<type> and a site's params may set."""
    fields: Fields = {k: (_optional(f.annotation), Field(None, description=f.description)) for k, f in job.params.model_fields.items()}
    return create_model(f"{job.params.__name__}Partial", __config__=ConfigDict(extra="forbid"), **fields)


def _per_type_params() -> type[BaseModel]:
    """type name (or alias) -> partial params: the shape of defaults.params and a site's params."""
    fields: Fields = {n: (_partial(j) | None, None) for j in CATALOG.values() for n in (j.name, *j.aliases)}
    return create_model("ParamsByType", __config__=ConfigDict(extra="forbid"), **fields)


def _job_variant(job: JobType) -> type[BaseModel]:
    """JobSpec for one type: its name, its params model and its input slots."""
    slots: Fields = {s: (str | None, Field(None, description=f"upstream job for {spec.description} ({' or '.join(spec.kinds)})"))
                     for s, spec in job.inputs.items()}
    inputs = create_model(f"{job.params.__name__}Inputs", __config__=ConfigDict(extra="forbid"), **slots)
    required = any(f.is_required() for f in job.params.model_fields.values())
    fields: Fields = {
        "type": (Literal[(job.name, *job.aliases)], Field(description=job.summary)),
        "params": (job.params, ... if required else Field(default_factory=job.params, description=f"parameters of {job.name}")),
        "inputs": (inputs, Field(default_factory=inputs, description=JobSpec.model_fields["inputs"].description)),
    }
    return create_model(f"Job_{job.name}", __base__=JobSpec, __doc__=f"{job.summary} ({job.tool_label})", **fields)


def _by_type(model: type[BaseModel], params: type[BaseModel]) -> tuple[Any, Any]:
    """model's `params` field (job type -> params) typed by the catalog, with its own description."""
    return params, Field(default_factory=params, description=model.model_fields["params"].description)


def pipeline_schema() -> dict[str, Any]:
    # the union of the job variants is built at run time: no static type describes it
    any_job: Any = Annotated[Union[tuple(_job_variant(j) for j in CATALOG.values())], Field(discriminator="type")]  # noqa: UP007
    params = _per_type_params()
    defaults = create_model("Defaults", __base__=Defaults, params=_by_type(Defaults, params))
    names: Any = {"pattern": SAFE_NAME, "not": {"enum": sorted(RESERVED_NAMES)}}
    pipeline = create_model("Pipeline", __base__=PipelineSpec,
                            __doc__="A cryocc pipeline: data, site profile and an ordered mapping of jobs",
                            defaults=(defaults, Field(default_factory=defaults)),
                            jobs=(dict[str, any_job], Field(min_length=1, description=PipelineSpec.model_fields["jobs"].description,
                                                             json_schema_extra={"propertyNames": names})))
    return _headed(pipeline.model_json_schema(), SCHEMA_ID, "cryocc pipeline.yaml")


def site_schema() -> dict[str, Any]:
    params = _per_type_params()
    site = create_model("Site", __base__=SiteProfile, __doc__="A cryocc site profile: how and where jobs run",
                        params=_by_type(SiteProfile, params))
    return _headed(site.model_json_schema(), SITE_SCHEMA_ID, "cryocc site profile")


def _headed(schema: dict[str, Any], schema_id: str, title: str) -> dict[str, Any]:
    return {"$schema": DRAFT, "$id": schema_id, **schema, "title": title}


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_text() -> str:
    return _text(pipeline_schema())


def site_schema_text() -> str:
    return _text(site_schema())
