"""The JSON Schema of pipeline.yaml: examples validate, broken specs fail it and `cryocc validate` alike."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import EXAMPLES, edit
from ruamel.yaml import YAML

from cryocc.schema.export import pipeline_schema


@pytest.fixture(scope="module")
def validator():
    schema = pipeline_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _load(path):
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text())))


@pytest.mark.parametrize("pipeline", sorted(EXAMPLES.glob("*/pipeline.yaml")), ids=lambda p: p.parent.name)
def test_examples_validate_against_the_schema(pipeline, validator):
    validator.validate(_load(pipeline))


@pytest.mark.parametrize("old, new", [
    ("{rescale_angpixs: 10}", "{rescale_angpixs: two}"),
    ("sample_thickness_nm: 150", "sample_thicknes_nm: 150"),
    ("{type: ts_ctf}", "{type: tsCTF}"),
    ("name: quickstart", "name: quick start"),
    ("{type: ts_ctf}", "{type: ts_ctf, inputs: {tilt_seriess: align}}"),
    ("resources: {mem: 2G}", "resources: {mem: lots}"),
])
def test_broken_spec_fails_schema_and_validate(old, new, example, cli, validator):
    pipeline = example()
    edit(pipeline, old, new)
    assert list(validator.iter_errors(_load(pipeline)))
    cli("validate", pipeline, code=1)


def test_schema_carries_descriptions_units_and_defaults():
    schema = pipeline_schema()
    text = json.dumps(schema, ensure_ascii=False)
    assert "[Å/px]" in text and "[µm]" in text
    defs = schema["$defs"]
    thickness = defs["TsAlignmentParams"]["properties"]["sample_thickness_nm"]
    assert thickness["default"] == 180.0 and thickness["maximum"] == 1000 and thickness["unit"] == "nm"


def test_schema_command_prints_it(cli):
    assert json.loads(cli("schema").stdout) == pipeline_schema()
