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
    assert job.name == name == job.params.__module__.rsplit(".", 1)[-1]  # one name: the type's, its modules'
    assert (ROOT / "cryocc/schema/jobs" / f"{name}.py").is_file()
    assert (ROOT / "cryocc/drivers" / f"{name}.py").is_file()
    assert callable(driver_for(name))
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
        assert all(f"`{a}`" in row.split("|")[2] for a in job.aliases)


def test_names_the_replaced_system_used_stay_accepted_and_cryocc_jobs_shows_both(cli):
    import json

    from cryocc.schema.jobs import ALIASES, job_type

    assert ALIASES["aligntiltsWarp"] == "ts_alignment" and job_type("aligntiltsWarp") is CATALOG["ts_alignment"]
    assert len(ALIASES) == len({a for j in CATALOG.values() for a in j.aliases}) == 13  # class3d kept its name
    rows = {r["type"]: r for r in json.loads(cli("jobs", "--json").stdout)}
    assert rows["ts_ctf"]["aliases"] == ["tsCtf"] and rows["class3d"]["aliases"] == []
    assert "also" in cli("jobs").stdout
    assert cli("jobs", "tsCtf").stdout.startswith("ts_ctf (also tsCtf): ")


def test_every_job_star_comes_from_the_one_template_with_its_types_is_tomo(example, cli, tmp_path):
    from relion_strict import read_strict

    from cryocc.schema.pipeline import load_pipeline

    assert not (ROOT / "templates/jobs").exists()
    pipeline = example("full-catalog")
    cli("apply", pipeline, "--project", tmp_path / "p")
    types = {name: job.type for name, job in load_pipeline(pipeline).jobs.items()}
    assert {t.is_tomo for t in types.values()} == {True, False}  # template matching is not a tomo job to RELION
    for name, jt in types.items():
        job = read_strict((tmp_path / f"p/Schemes/cryocc_001/{name}/job.star").read_text())
        assert job["job"] == {"rlnJobTypeLabel": "relion.external", "rlnJobIsContinue": "0", "rlnJobIsTomo": "1" if jt.is_tomo else "0"}


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


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_parameter_is_read_by_its_driver(name):
    """The replaced system accepted parameters it never used (do_at_most, imod_overlap, ...): here a
    parameter no driver reads cannot be declared."""
    shared = "".join(p.read_text() for p in (ROOT / "cryocc/drivers").glob("_*.py"))
    source = (ROOT / "cryocc/drivers" / f"{name}.py").read_text() + shared
    unread = [k for k in CATALOG[name].params.model_fields if not re.search(rf"[\"']{k}[\"']", source)]
    assert unread == []
    assert not set(CATALOG[name].params.model_fields) & {"do_at_most", "imod_overlap", "defocus_weight", "dose_weight", "array_throttle"}


def test_template_matching_takes_only_cn_symmetry():
    from pydantic import ValidationError

    tm = CATALOG["template_match"].params
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


def test_renaming_a_type_keeps_its_fingerprints(example):
    """A project applied before types were named by their stems names them by their aliases: its
    results must still be its results, whichever name the spec now uses."""
    from cryocc.compiler.compile import compile_pipeline
    from cryocc.schema.jobs import ALIASES

    canonical = example()
    aliased = canonical.parent / "aliased.yaml"
    to_alias = {name: alias for alias, name in ALIASES.items()}
    aliased.write_text(re.sub(r"\{type: (\w+)", lambda m: "{type: " + to_alias.get(m.group(1), m.group(1)), canonical.read_text()))
    assert "{type: tsCtf" in aliased.read_text()
    a, b = compile_pipeline(canonical), compile_pipeline(aliased)
    assert a.fingerprints == b.fingerprints and a.recipe_fingerprints == b.recipe_fingerprints
    assert a.parts["ctf"]["type"] == "tsCtf" and a.jobs["ctf"].type == "ts_ctf"
