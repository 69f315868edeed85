"""make_plan and param_reasons on their own, on small trees built here (copier's build_file_tree is
the model): a spec, a site profile, two three-tilt mdocs and their frames, compiled for real; the
project's side (lockfile, job states) made by hand, so each rule of the plan is seen alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cryocc.compiler.compile import compile_pipeline
from cryocc.compiler.lockfile_build import frame_map, new_lockfile
from cryocc.compiler.plan import DATA_CHANGED, DataChanges, FileMap, make_plan, param_reasons
from cryocc.observe.project import JobState
from cryocc.states import Action, Reason, Status

SITE = """name: tiny
submit: bash
driver: cryocc_relion_driver
relion: {command: relion_schemer}
resources:
  default: {cpus: 1, mem: 1G, time: "00:10:00", gpus: 0}
"""

PIPELINE = """cryocc: 1
name: tiny
site: site.yaml
data:
  frames: data/frames/*.tiff
  mdocs: data/mdoc/*.mdoc
  acquisition: {voltage: 300, dose_per_tilt: 3.0}
jobs:
  import: {type: import_movies}
  motion: {type: fs_motion_ctf}
  tsimport: {type: ts_import, params: {tomo_dimensions: 64x64x32}}
  align: {type: ts_alignment}
  ctf: {type: ts_ctf}
  reconstruct: {type: ts_reconstruct}
  tm: {type: template_match, params: {template: refs/t.mrc, mask: refs/m.mrc}}
"""

ANGLES = (-3.0, 0.0, 3.0)


def mdoc(name: str) -> str:
    head = "PixelSpacing = 2.0\nImageSize = 64 64\n\n[T = SerialEM: a test    Tilt axis angle = 85.0, binning = 1]\n\n"
    return head + "".join(f"[ZValue = {z}]\nTiltAngle = {a}\nExposureDose = 3.0\nPixelSpacing = 2.0\n"
                          f"SubFramePath = X:\\frames\\{name}_{z:03d}_{a}.tiff\nNumSubFrames = 4\n\n"
                          for z, a in enumerate(ANGLES))


def build_file_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


@pytest.fixture
def tiny(tmp_path) -> Path:
    frames = {f"data/frames/{ts}_{z:03d}_{a}.tiff": b"II*\0" for ts in ("TS_01", "TS_02") for z, a in enumerate(ANGLES)}
    build_file_tree(tmp_path, {"pipeline.yaml": PIPELINE, "site.yaml": SITE, "data/mdoc/TS_01.mdoc": mdoc("TS_01"),
                               "data/mdoc/TS_02.mdoc": mdoc("TS_02"), "refs/t.mrc": b"T" * 64, "refs/m.mrc": b"M" * 64, **frames})
    return tmp_path / "pipeline.yaml"


def applied(compiled):
    """The lockfile of an apply of this compile, and every job as having succeeded in its own directory."""
    plan = make_plan(compiled, None, {})
    lock = new_lockfile(compiled, plan, None, {}, "cryocc_001", {}, frame_map(compiled)[0])
    states = {name: JobState(name, Status.SUCCEEDED, f"External/job{i:03d}/", "cryocc_001", receipt={})
              for i, name in enumerate(compiled.order, start=1)}
    return lock, states


def actions(plan) -> dict[str, str]:
    return {j.name: j.action for j in plan.jobs}


def reasons(plan, job: str) -> list[dict]:
    return next(j.reasons for j in plan.jobs if j.name == job)


def test_a_new_project_runs_every_job_because_it_is_new(tiny):
    plan = make_plan(compile_pipeline(tiny), None, {})
    assert set(actions(plan).values()) == {Action.RUN}
    assert all(reasons(plan, j) == [{"kind": Reason.NEW}] for j in actions(plan))
    assert plan.to_run == ["import", "motion", "tsimport", "align", "ctf", "reconstruct", "tm"]


def test_an_unchanged_project_whose_jobs_succeeded_keeps_them_all(tiny):
    compiled = compile_pipeline(tiny)
    lock, states = applied(compiled)
    plan = make_plan(compile_pipeline(tiny), lock, states)
    assert set(actions(plan).values()) == {Action.KEEP} and plan.to_run == []


def test_a_changed_parameter_reruns_its_job_and_names_the_key_and_both_values(tiny):
    lock, states = applied(compile_pipeline(tiny))
    tiny.write_text(tiny.read_text().replace("ctf: {type: ts_ctf}", "ctf: {type: ts_ctf, params: {window: 1024}}"))
    plan = make_plan(compile_pipeline(tiny), lock, states)
    assert {n: a for n, a in actions(plan).items() if a != Action.KEEP} == {"ctf": Action.RERUN, "reconstruct": Action.RERUN,
                                                                            "tm": Action.RERUN}
    assert reasons(plan, "ctf") == [{"kind": Reason.PARAMS, "key": "window", "old": 512, "new": 1024}]
    assert reasons(plan, "reconstruct") == [{"kind": Reason.UPSTREAM, "job": "ctf"}]


def test_a_template_edited_in_place_is_explained_as_changed_not_added(tiny):
    """One key for a file: the lockfile's files and the fingerprint parts name it alike."""
    lock, states = applied(compile_pipeline(tiny))
    template = tiny.parent / "refs/t.mrc"
    stat = template.stat()
    template.write_bytes(b"U" * 64)  # same size, same mtime: only its content tells
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    plan = make_plan(compile_pipeline(tiny), lock, states)
    assert actions(plan)["tm"] == Action.RERUN
    assert reasons(plan, "tm") == [{"kind": Reason.INPUT, "path": "refs/t.mrc", "change": "content changed"}]


def test_a_failed_job_reruns_with_its_reason_and_so_does_what_follows(tiny):
    lock, states = applied(compile_pipeline(tiny))
    states["align"] = JobState("align", Status.FAILED, "External/job004/", "cryocc_001", detail="AreTomo2 exited with code 1")
    plan = make_plan(compile_pipeline(tiny), lock, states)
    assert [j for j, a in actions(plan).items() if a != Action.KEEP] == ["align", "ctf", "reconstruct", "tm"]
    assert reasons(plan, "align") == [{"kind": Reason.FAILED, "detail": "AreTomo2 exited with code 1"}]


def test_a_job_removed_from_the_spec_is_an_orphan_and_keeps_its_directory(tiny):
    lock, states = applied(compile_pipeline(tiny))
    tiny.write_text(tiny.read_text().replace("  tm: {type: template_match, params: {template: refs/t.mrc, mask: refs/m.mrc}}\n", ""))
    plan = make_plan(compile_pipeline(tiny), lock, states)
    orphan = plan.jobs[-1]
    assert (orphan.name, orphan.action, orphan.reasons, orphan.job_dir) == ("tm", Action.ORPHAN, [{"kind": Reason.REMOVED}], "External/job007/")


def test_force_names_a_job_of_the_pipeline(tiny):
    from cryocc.errors import SpecError

    lock, states = applied(compile_pipeline(tiny))
    plan = make_plan(compile_pipeline(tiny), lock, states, force=["ctf"])
    assert {"kind": Reason.FORCED} in reasons(plan, "ctf") and actions(plan)["import"] == Action.KEEP
    with pytest.raises(SpecError, match="no such job"):
        make_plan(compile_pipeline(tiny), lock, states, force=["cft"])


# --- param_reasons: the explanation of two fingerprints' parts, key by key ---------------------

def _parts(**over):
    return {"type": "tsCtf", "type_version": 1, "params": {"window": 512}, "acquisition": {"voltage": 300},
            "inputs": {}, "data": None, "upstream": {}, **over}


def _explain(old, new, files_old=None, files_new=None):
    files_old, files_new = FileMap(files_old or {}), FileMap(files_new or {})
    changes = DataChanges(files_old, files_new, lambda e: None if e is None else str(e), lenient=False)
    return changes.explain(param_reasons(old, new, files_old, files_new))


def test_param_reasons_name_each_changed_key_once_with_its_section():
    reasons = _explain(_parts(), _parts(params={"window": 1024, "range_max": 5}, acquisition={"voltage": 200}))
    assert reasons == [{"kind": "params", "key": "range_max", "old": None, "new": 5},
                       {"kind": "params", "key": "window", "old": 512, "new": 1024},
                       {"kind": "params", "key": "acquisition.voltage", "old": 300, "new": 200}]


def test_param_reasons_stop_at_a_changed_type_and_name_a_new_version():
    assert _explain(_parts(), _parts(type="tsReconstruct", params={})) == [{"kind": "params", "key": "type", "old": "tsCtf", "new": "tsReconstruct"}]
    assert _explain(_parts(), _parts(type_version=2)) == [{"kind": "params", "key": "type_version", "old": 1, "new": 2}]


def test_param_reasons_explain_input_files_by_what_changed():
    old = {"refs/t.mrc": {"size": 64, "mtime_ns": 1, "sha256": "a"}}
    cases = {"content changed": {"size": 64, "mtime_ns": 2, "sha256": "b"}, "size 64 -> 65": {"size": 65, "mtime_ns": 2, "sha256": "b"}}
    for change, entry in cases.items():
        reasons = _explain(_parts(inputs={"refs/t.mrc": "sha256:a"}), _parts(inputs={"refs/t.mrc": "sha256:b"}), old, {"refs/t.mrc": entry})
        assert reasons == [{"kind": "input", "path": "refs/t.mrc", "change": change}]
    added = _explain(_parts(), _parts(inputs={"refs/t.mrc": "sha256:a"}), {}, old)
    assert added == [{"kind": "input", "path": "refs/t.mrc", "change": "added"}]


def test_param_reasons_list_the_data_files_that_changed_and_say_so_when_none_did():
    files_old = {"data/mdoc/TS_01.mdoc": {"size": 1, "mtime_ns": 1, "sha256": "a"}}
    files_new = {"data/mdoc/TS_01.mdoc": {"size": 1, "mtime_ns": 1, "sha256": "b"}}
    assert _explain(_parts(data="x"), _parts(data="y"), files_old, files_new) == [
        {"kind": "input", "path": "data/mdoc/TS_01.mdoc", "change": "content changed"}]
    assert _explain(_parts(data="x"), _parts(data="y"), files_old, files_old) == [
        {"kind": "input", "path": "data", "change": "the set of frames or mdocs changed"}]


def test_data_changes_name_frames_by_their_stats_and_load_the_old_map_once_for_every_job():
    loads = []

    def old_frames():
        loads.append(1)
        return {"f/a.tif": (9, 1), "f/b.tif": (9, 1), "f/gone.tif": (9, 1)}

    new = FileMap({}, lambda: {"f/a.tif": (9, 2), "f/b.tif": (9, 1), "f/new.tif": (9, 1)})
    stat = DataChanges(FileMap({}, old_frames), new, lambda e: None, lenient=False)
    reasons = [DATA_CHANGED, {"kind": "forced"}]
    for _ in range(3):  # three jobs that read the data
        assert stat.explain(reasons) == [{"kind": "input", "path": "f/a.tif", "change": "modified (mtime)"},
                                         {"kind": "input", "path": "f/gone.tif", "change": "removed"},
                                         {"kind": "input", "path": "f/new.tif", "change": "added"}, {"kind": "forced"}]
    assert loads == [1]
    lenient = DataChanges(FileMap({}, old_frames), new, lambda e: None, lenient=True)
    assert [r["path"] for r in lenient.explain([DATA_CHANGED])] == ["f/gone.tif", "f/new.tif"]  # a new mtime alone is no change
