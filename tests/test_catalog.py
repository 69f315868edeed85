"""The catalog as a whole: every job type has all its parts, the README documents it, and the
known bugs of the system cryocc replaces stay fixed."""

from __future__ import annotations

import re

import pytest
import warptools
from conftest import ROOT

from cryocc.contract import INPUT_FLAGS
from cryocc.drivers import driver_for
from cryocc.drivers.fs_motion_ctf import settings_args
from cryocc.drivers.ts_alignment import warp_args
from cryocc.schema.jobs import CATALOG, Params
from cryocc.schema.jobs.ts_alignment import TsAlignmentParams


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_job_type_has_all_its_parts(name):
    job = CATALOG[name]
    assert (ROOT / "cryocc/schema/jobs" / f"{job.stem}.py").is_file()
    assert (ROOT / "templates/jobs" / f"{job.stem}.star").is_file()
    assert (ROOT / "cryocc/drivers" / f"{job.stem}.py").is_file()
    assert callable(driver_for(job.stem))
    assert issubclass(job.params, Params) and job.summary and job.tool_label
    assert job.outputs and all(o.path for o in job.outputs)
    assert all(s.option in INPUT_FLAGS for s in job.inputs.values())
    assert len({s.option for s in job.inputs.values()}) == len(job.inputs)  # one RELION option per slot
    for field in job.params.model_fields.values():
        assert field.description, f"{name}: every parameter has a one-line description"


def test_readme_job_table_lists_every_type_with_its_tool():
    readme = (ROOT / "README.md").read_text()
    for job in CATALOG.values():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{job.name}` |")), None)
        assert row, f"README lacks {job.name}"
        assert job.tool_label in row


def test_axis_batch_is_capped_by_the_number_of_tilt_series_not_clamped_to_one():
    p = TsAlignmentParams(axis_iter=3, axis_batch=5).model_dump()
    assert warp_args(p, 30)[-2:] == ["--axis_batch", 5]
    assert warp_args(p, 3)[-2:] == ["--axis_batch", 3]
    assert "--axis_iter" not in warp_args(TsAlignmentParams().model_dump(), 30)


def test_eer_grouping_is_negative_frames_per_group_and_the_gain_goes_by_warptools_options():
    acq = {"pixel_size": 0.8, "eer_grouping": 32, "dose_per_tilt": 3.0}
    args = [str(a) for a in settings_args(acq, {"gain": "/g.gain", "gain_operations": "flip_y,transpose"}, ".eer")]
    assert args[args.index("--eer_ngroups") + 1] == "-32"
    assert args[-4:] == ["--gain_path", "/g.gain", "--gain_flip_y", "--gain_transpose"]
    # parsed with the option table of WarpTools/Commands/CreateSettings.cs (tests/fake_tools/warptools.py)
    options = warptools.parse("create_settings", args[1:])
    assert options is not None
    assert (options["eer_ngroups"], options["exposure"], options["gain_flip_x"], options["gain_transpose"]) == (-32, 3.0, False, True)
    assert "--eer_ngroups" not in settings_args({**acq, "eer_grouping": None}, {}, ".tiff")


def test_parameters_that_were_accepted_but_never_used_are_gone():
    fields = {k for t in CATALOG.values() for k in t.params.model_fields}
    assert not fields & {"do_at_most", "imod_overlap", "defocus_weight", "dose_weight", "array_throttle"}


def test_template_matching_takes_only_cn_symmetry():
    from pydantic import ValidationError

    tm = CATALOG["templatematching"].params
    tm(template="t.mrc", mask="m.mrc", symmetry="C6")
    with pytest.raises(ValidationError):
        tm(template="t.mrc", mask="m.mrc", symmetry="D2")


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_jobs_type_shows_every_parameter_with_the_schemas_text(name, cli):
    """The terminal and an editor's hover read the same description, unit and bounds."""
    import json

    schema = CATALOG[name].params.model_json_schema()["properties"]
    doc = json.loads(cli("jobs", name, "--json").stdout)
    assert [p["name"] for p in doc["params"]] == list(schema)
    for p in doc["params"]:
        prop = schema[p["name"]]
        assert prop["description"].startswith(p["description"]) and p["description"]
        assert p["unit"] == prop.get("unit")
        assert p["changes_results"] == prop.get("affects_results", True)
    text = cli("jobs", name).stdout
    assert all(p["name"] in text and p["description"] in text for p in doc["params"])


def test_jobs_type_shows_bounds_and_units(cli):
    text = cli("jobs", "aligntiltsWarp").stdout
    assert re.search(r"^sample_thickness_nm +float +nm +180 +>= 50, <= 1000 +sample thickness \(AreTomo --alignz\)$", text, re.M), text
    assert re.search(r"^perdevice \* +int", text, re.M)  # not part of the fingerprint
    assert "required" in cli("jobs", "templatematching").stdout
    assert "did you mean 'tsCtf'" in cli("jobs", "tsCTF", code=1).stderr
