"""The JSON Schemas shipped for editors agree with what `cryocc validate` accepts.

The schemas are derived from the models `validate` uses (cryocc/schema/export.py). These tests hold
the two together from both sides: a spec that sets every key the models know validates against the
shipped schema; random valid changes to a spec that `validate` accepts, the schema accepts too; the
bad-input corpus's spec errors the schema rejects as well; and the checked-in files are current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import EXAMPLES, ROOT, copy_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from cryocc.errors import CryoccError
from cryocc.schema.export import pipeline_schema, schema_text, site_schema_text
from cryocc.schema.jobs import CATALOG
from cryocc.schema.models import AcquisitionOverrides, Data, Defaults, JobSpec, PipelineSpec, Resources, SiteProfile
from cryocc.schema.pipeline import load_pipeline

# a value for every key of Resources, Data and AcquisitionOverrides, each one `validate` accepts
EVERY_RESOURCE = {"partition": "gpu,a100", "cpus": 4, "mem": "16G", "time": "01:00:00", "gpus": 1,
                  "constraint": "a100|h100", "sbatch": ["--qos=high"]}
EVERY_ACQUISITION = {"pixel_size": 1.5, "voltage": 300, "cs": 2.7, "amplitude_contrast": 0.1, "dose_per_tilt": 3.0,
                     "tilt_axis": -95.0, "eer_grouping": 32, "invert_defocus_hand": False, "invert_tilt_angles": False}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def shipped() -> jsonschema.Draft202012Validator:
    """The checked-in schema, as editors read it (not the one built in this process)."""
    return _validator(json.loads((ROOT / "cryocc.schema.json").read_text()))


def _yaml(path: Path) -> Any:
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text())))


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of a params model that has a default, at that default, as YAML would hold it."""
    values = {k: f.get_default(call_default_factory=True) for k, f in model.model_fields.items() if not f.is_required()}
    return json.loads(json.dumps(values))


def _every_key_spec(pipeline: Path) -> dict[str, Any]:
    """The full-catalog example with every key of every model set: data, defaults, each job."""
    spec = _yaml(pipeline)
    spec["data"].update(exclude={"TS_02": "cracked ice"}, exclude_tilts={"TS_01": {"zvalues": [40], "angles": [3], "why": "a grid bar"}},
                        incomplete="skip", gain=None, gain_operations="flip_x,transpose",
                        acquisition=EVERY_ACQUISITION, frame_check="lenient")
    spec["defaults"] = {"resources": EVERY_RESOURCE, "on_item_failure": "continue", "execution": "array", "tilt_series_per_task": 2,
                        "max_parallel": 8, "params": {name: _defaults(jt.params) for name, jt in CATALOG.items()}}
    for job in spec["jobs"].values():
        jt = CATALOG[job["type"]]
        job.update(on_item_failure="stop", resources=EVERY_RESOURCE, inputs=job.get("inputs", {}), execution="node",
                   tilt_series_per_task=1, max_parallel=4,
                   params={**_defaults(jt.params), **job.get("params", {})})
    return spec


def test_every_key_validates_against_the_shipped_schema(tmp_path, shipped, cli):
    pipeline = copy_examples(tmp_path / "examples", "full-catalog")
    mdocs = pipeline.parent.parent / "quickstart" / "data" / "mdoc"
    (mdocs / "TS_02.mdoc").write_bytes((mdocs / "TS_01.mdoc").read_bytes())  # a tilt series to exclude
    spec = _every_key_spec(pipeline)
    # the spec really sets every key the models know
    for value, model in [(spec, PipelineSpec), (spec["data"], Data), (spec["data"]["acquisition"], AcquisitionOverrides),
                         (spec["defaults"], Defaults), (spec["defaults"]["resources"], Resources)]:
        assert set(value) == set(model.model_fields), model.__name__
    for job in spec["jobs"].values():
        assert set(job) == set(JobSpec.model_fields)
        assert set(job["params"]) == set(CATALOG[job["type"]].params.model_fields)
    assert set(spec["defaults"]["params"]) == set(CATALOG)
    spec["data"].pop("gain")  # a gain file the example does not have: null is the same as unset
    pipeline.write_text(json.dumps(spec))  # JSON is YAML
    cli("validate", pipeline)
    shipped.validate(spec)


def test_site_profiles_validate_against_the_shipped_site_schema():
    validator = _validator(json.loads((ROOT / "cryocc.site.schema.json").read_text()))
    sites = sorted((ROOT / "config" / "sites").glob("*.yaml"))
    assert sites
    for site in sites:
        validator.validate(_yaml(site))
    every = {**_yaml(ROOT / "config/sites/example-cluster.yaml"), "resources": {"default": EVERY_RESOURCE, "ts_ctf": EVERY_RESOURCE},
             "params": {"ts_ctf": {"defocus_hand": "set_flip"}}}
    SiteProfile.model_validate(every)
    validator.validate(every)
    assert list(validator.iter_errors({**every, "params": {"ts_ctf": {"defocus_hnad": "set_flip"}}})), "a misspelt param passes"


@pytest.mark.parametrize("path, text", [("cryocc.schema.json", schema_text), ("cryocc.site.schema.json", site_schema_text)],
                         ids=["pipeline", "site"])
def test_checked_in_schemas_are_current(path, text):
    assert (ROOT / path).read_text() == text(), f"stale: run `cryocc schema -o {path}`" + (" --site" if "site" in path else "")


# --- random changes that validate accepts, the schema accepts -------------------------------

def _value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one params property of the schema, in range and out of it, of its type and others."""
    any_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**4), st.floats(-1e4, 1e4, allow_nan=False),
                           st.text(max_size=6))
    if "enum" in prop:
        return st.one_of(st.sampled_from(prop["enum"]), any_scalar)
    return any_scalar


RESOURCE_TEXT = ["16G", "0", "2T", "1-25:00:00", "1-23:00", "00:30:00", "61", "a100|h100", "gpu,a100", "--qos=high", "--qos high", ""]


@pytest.fixture(scope="module")
def full_catalog(tmp_path_factory) -> Path:
    return copy_examples(tmp_path_factory.mktemp("contract") / "examples", "full-catalog")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_validate_accepts_the_schema_accepts(data, full_catalog):
    schema = pipeline_schema()
    validator = _validator(schema)
    spec = _yaml(EXAMPLES / "full-catalog" / "pipeline.yaml")
    name = data.draw(st.sampled_from(sorted(spec["jobs"])))
    job = spec["jobs"][name]
    jt = CATALOG[job["type"]]
    where = data.draw(st.sampled_from(["job", "defaults", "resources"]))
    if where == "resources":
        key = data.draw(st.sampled_from(sorted(Resources.model_fields)))
        value = data.draw(st.one_of(_value({}), st.sampled_from(RESOURCE_TEXT), st.lists(st.sampled_from(RESOURCE_TEXT), max_size=2)))
        job.setdefault("resources", {})[key] = value
    else:
        props = schema["$defs"][jt.params.__name__]["properties"]
        key = data.draw(st.sampled_from(sorted(props)))
        value = data.draw(_value(props[key]))
        params = job.setdefault("params", {}) if where == "job" else spec.setdefault("defaults", {}).setdefault("params", {})
        (params if where == "job" else params.setdefault(jt.name, {}))[key] = value
    full_catalog.write_text(json.dumps(spec))
    try:
        load_pipeline(full_catalog)
    except CryoccError:
        return  # validate refused it: the schema may accept what only validate can check
    errors = [e.message for e in validator.iter_errors(spec)]
    assert not errors, f"validate accepts {where} {name}.{key} = {value!r}, the schema does not: {errors}"


# --- the bad-input corpus: what the schema can express, it rejects --------------------------

# corpus cases about the pipeline as text, which the YAML reader refuses before any schema could look
NOT_A_SCHEMA_MATTER = {
    "yaml_syntax", "tab_indent", "duplicate_job", "duplicate_top_key", "nul_byte", "not_utf8", "control_char",
    "deep_nesting", "deep_block_nesting", "alias_bomb", "too_large",
    # the largest wall time and memory sbatch takes: a number a string pattern cannot bound
    "time_beyond_slurm", "mem_beyond_slurm",
}


def test_the_schema_rejects_the_corpus_spec_errors(tmp_path):
    import test_corpus

    """Every corpus case that the spec's loading refuses (its shape and values, before any data is
    read), the schema rejects too. Cases about data and files are not the loader's, so not checked."""
    validator = _validator(pipeline_schema())
    checked, missed = 0, []
    for name, case in test_corpus.CASES.items():
        if case.target != "pipeline" or name in NOT_A_SCHEMA_MATTER or not isinstance(case.new, str):
            continue
        text = (EXAMPLES / "quickstart" / "pipeline.yaml").read_text()
        if case.old and case.old not in text:
            continue
        edited = text.replace(case.old, case.new, 1) if case.old else text + case.new
        try:
            spec = json.loads(json.dumps(YAML(typ="safe").load(edited)))
        except Exception:  # noqa: BLE001  (not YAML at all: the YAML reader's matter)
            continue
        try:
            load_pipeline(_write(tmp_path / name, edited))
        except CryoccError as exc:
            if not list(validator.iter_errors(spec)):
                missed.append(f"{name}: {exc}")
            checked += 1
    assert not missed, "validate refuses, the schema accepts:\n" + "\n".join(missed)
    assert checked >= 10, f"only {checked} corpus cases reached the schema"


def _write(directory: Path, text: str) -> Path:
    import shutil

    shutil.copytree(EXAMPLES / "quickstart", directory)
    (directory / "pipeline.yaml").write_text(text)
    return directory / "pipeline.yaml"

