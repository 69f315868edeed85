"""data.exclude_tilts: validated at its YAML key, applied by the first job that aligns (ts_alignment),
and seen from there on in the item fingerprints of those tilt series only. Small trees compiled for
real (as in test_plan.py); the project's side made by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plan import SITE, build_file_tree

from cryocc.compiler.compile import compile_pipeline
from cryocc.compiler.fingerprint import item_fingerprint
from cryocc.compiler.lockfile_build import frame_map, new_lockfile
from cryocc.compiler.plan import make_plan
from cryocc.compiler.render import params_document
from cryocc.contract import Outcome
from cryocc.drivers._relion_star import read_tomostar_movies
from cryocc.errors import CryoccError
from cryocc.observe.project import JobState
from cryocc.states import Action, Reason, Status

ANGLES = (0.0, 3.0, -3.0, 6.0, -6.0, 9.0)  # ZValue 0..5, in acquisition order (dose-symmetric)

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
"""
PER_SERIES = ("motion", "align", "ctf", "reconstruct")


def mdoc(name: str) -> str:
    head = "PixelSpacing = 2.0\nImageSize = 64 64\n\n[T = SerialEM: a test    Tilt axis angle = 85.0, binning = 1]\n\n"
    return head + "".join(f"[ZValue = {z}]\nTiltAngle = {a}\nExposureDose = 3.0\nPixelSpacing = 2.0\n"
                          f"SubFramePath = X:\\frames\\{name}_{z:03d}_{a}.tiff\nNumSubFrames = 4\n\n"
                          for z, a in enumerate(ANGLES))


@pytest.fixture
def tree(tmp_path):
    series = ("TS_01", "TS_02", "TS_03")
    frames = {f"data/frames/{ts}_{z:03d}_{a}.tiff": b"II*\0" for ts in series for z, a in enumerate(ANGLES)}
    build_file_tree(tmp_path, {"pipeline.yaml": PIPELINE, "site.yaml": SITE, **frames,
                               **{f"data/mdoc/{ts}.mdoc": mdoc(ts) for ts in series}})
    return tmp_path / "pipeline.yaml"


def excluding(path, block: str) -> None:
    path.write_text(path.read_text().replace("  acquisition:", f"  exclude_tilts:\n{block}  acquisition:"))


def errors_of(path) -> list[CryoccError]:
    with pytest.raises(CryoccError) as info:
        compile_pipeline(path)
    return info.value.errors


# --- validation ------------------------------------------------------------------------------

def test_tilts_are_named_by_zvalue_or_by_angle_and_kept_in_zvalue_order(tree):
    excluding(tree, "    TS_02: {zvalues: [5, 1], angles: [-6.2], why: ice crack}\n")
    summary = compile_pipeline(tree).recipe.summary["excluded_tilts"]
    assert summary == {"TS_02": {"zvalues": [1, 4, 5], "frames": ["TS_02_001_3.0.tiff", "TS_02_004_-6.0.tiff", "TS_02_005_9.0.tiff"],
                                 "why": "ice crack"}}


@pytest.mark.parametrize(("block", "key", "line", "message", "hint"), [
    ("    TS_2: {zvalues: [1], why: x}\n", "data.exclude_tilts.TS_2", 8, "no mdoc of data.mdocs is TS_2.mdoc", "TS_02"),
    ("    TS_01: {zvalues: [1, 6], why: x}\n", "data.exclude_tilts.TS_01.zvalues[1]", 8, "no section [ZValue = 6]",
     "run 0 .. 5 (6 tilts)"),
    ("    TS_01:\n      angles: [40]\n      why: x\n", "data.exclude_tilts.TS_01.angles[0]", 9, "no tilt of TS_01 is within 0.5° of 40°",
     "the closest is 9° ([ZValue = 5])"),
    ("    TS_01: {zvalues: [0, 1, 2, 3], why: x}\n", "data.exclude_tilts.TS_01", 8, "leaves 2 of its 6 tilts, fewer than 3",
     "data.exclude"),
    ("    TS_01: {why: x}\n", "data.exclude_tilts.TS_01", 8, "names no tilt", "zvalues"),
])
def test_a_wrong_exclusion_is_an_error_at_its_key_with_a_hint(tree, block, key, line, message, hint):
    excluding(tree, block)
    [err] = errors_of(tree)
    assert err.key == key and message in err.message and hint in err.hint
    assert err.location.file == str(tree) and err.location.line == line


def test_an_angle_between_two_tilts_of_one_angle_asks_for_zvalues(tree):
    text = mdoc("TS_01").replace("TiltAngle = 9.0", "TiltAngle = 0.2")
    (tree.parent / "data/mdoc/TS_01.mdoc").write_text(text)
    excluding(tree, "    TS_01: {angles: [0], why: x}\n")
    [err] = errors_of(tree)
    assert "matches 2 tilts of TS_01 (ZValue 0, 5)" in err.message and "zvalues" in err.hint


def test_a_tilt_series_excluded_whole_cannot_also_lose_tilts(tree):
    tree.write_text(tree.read_text().replace("  acquisition:", "  exclude: {TS_03: broken}\n  acquisition:"))
    excluding(tree, "    TS_03: {zvalues: [1], why: x}\n")
    [err] = errors_of(tree)
    assert err.key == "data.exclude_tilts.TS_03" and "data.exclude leaves out whole" in err.message


def test_the_schema_refuses_an_unknown_key_and_a_missing_reason(tree):
    excluding(tree, "    TS_01: {tilts: [1], why: x}\n")
    assert any("tilts" in (e.key or "") + e.message for e in errors_of(tree))
    tree.write_text(tree.read_text().replace("{tilts: [1], why: x}", "{zvalues: [1]}"))
    assert any("why" in (e.key or "") + e.message for e in errors_of(tree))


# --- the plan --------------------------------------------------------------------------------

def ran(compiled):
    """The lockfile of an apply of this compile, and every job as having succeeded in its own directory,
    its receipt vouching for every tilt series as it is now."""
    plan = make_plan(compiled, None, {})
    lock = new_lockfile(compiled, plan, None, {}, "cryocc_001", {}, frame_map(compiled)[0])
    states = {}
    for i, name in enumerate(compiled.order, start=1):
        items = {t: {"fingerprint": fp, "outcome": Outcome.SUCCEEDED}
                 for t, fp in (compiled.items(name) if name in compiled.recipe_fingerprints else {}).items()}
        states[name] = JobState(name, Status.SUCCEEDED, f"External/job{i:03d}/", "cryocc_001",
                                receipt={"fingerprint": compiled.fingerprints[name], "items": items})
    return lock, states


def test_an_exclusion_extends_the_jobs_from_alignment_on_for_that_tilt_series_alone(tree):
    lock, states = ran(compile_pipeline(tree))
    excluding(tree, "    TS_02: {zvalues: [5], why: ice crack}\n")
    compiled = compile_pipeline(tree)
    plan = make_plan(compiled, lock, states)
    jobs = {j.name: j for j in plan.jobs}
    assert {n: j.action for n, j in jobs.items()} == {"import": Action.KEEP, "motion": Action.KEEP, "tsimport": Action.KEEP,
                                                       "align": Action.EXTEND, "ctf": Action.EXTEND, "reconstruct": Action.EXTEND}
    for name in ("align", "ctf", "reconstruct"):
        assert jobs[name].items.todo == ["TS_02"] and jobs[name].items.keep == ["TS_01", "TS_03"], name
        assert jobs[name].to_json()["items"] == {"todo": ["TS_02"], "keep": 2, "changed": {"TS_02": "excluded tilts"}}
    # the job that applies it names the key; its item fingerprints change for TS_02 only
    assert compiled.parts["align"]["exclude_tilts"] == {"TS_02": [5]}
    before = {n: s.receipt["items"] for n, s in states.items()}
    for name in PER_SERIES:
        changed = [t for t, fp in compiled.items(name).items() if before[name][t]["fingerprint"] != fp]
        assert changed == ([] if name == "motion" else ["TS_02"]), name
    # the driver gets the tilts to leave out, with the reason; the lockfile keeps them
    doc = params_document(compiled.jobs["align"], compiled.fingerprints["align"], None, compiled.recipe.site)
    assert doc["exclude_tilts"]["TS_02"] == {"zvalues": [5], "frames": ["TS_02_005_9.0.tiff"], "why": "ice crack"}
    assert "exclude_tilts" not in params_document(compiled.jobs["ctf"], "", None, compiled.recipe.site)
    new = new_lockfile(compiled, plan, lock, states, "cryocc_002", {}, frame_map(compiled)[0])
    assert new.pipeline["excluded_tilts"]["TS_02"]["why"] == "ice crack"


def test_a_changed_exclusion_is_named_by_its_key_and_dropping_it_reruns_that_tilt_series_again(tree):
    excluding(tree, "    TS_02: {zvalues: [5], why: ice crack}\n")
    lock, states = ran(compile_pipeline(tree))
    tree.write_text(tree.read_text().replace("zvalues: [5]", "zvalues: [4, 5]"))
    whole = make_plan(compile_pipeline(tree), lock, {})  # no receipts to extend: the reasons as they are
    assert [r for r in next(j for j in whole.jobs if j.name == "align").reasons if r["kind"] == Reason.PARAMS] == \
        [{"kind": Reason.PARAMS, "key": "data.exclude_tilts.TS_02", "old": [5], "new": [4, 5]}]
    tree.write_text(tree.read_text().replace("  exclude_tilts:\n    TS_02: {zvalues: [4, 5], why: ice crack}\n", ""))
    jobs = {j.name: j for j in make_plan(compile_pipeline(tree), lock, states).jobs}
    assert [n for n, j in jobs.items() if j.action != Action.KEEP] == ["align", "ctf", "reconstruct"]
    assert all(jobs[n].to_json()["items"] == {"todo": ["TS_02"], "keep": 2, "changed": {"TS_02": "excluded tilts"}}
               for n in ("align", "ctf", "reconstruct"))


def test_no_exclusion_leaves_every_fingerprint_as_it_was(tree):
    """Fingerprints of projects that never used exclude_tilts must not move."""
    compiled = compile_pipeline(tree)
    assert all("exclude_tilts" not in p for p in compiled.parts.values()) and compiled.tilt_exclusions == {}
    series = compiled.series_fingerprints()
    for name in PER_SERIES:
        assert compiled.items(name) == {t: item_fingerprint(compiled.recipe_fingerprints[name], fp) for t, fp in series.items()}
    assert compiled.sees_exclusion == {"align", "ctf", "reconstruct"}
    assert "exclude_tilts" not in params_document(compiled.jobs["align"], "", None, compiled.recipe.site)


# --- end to end: the workstation site, the real relion_schemer, the fake tools -----------------

@pytest.mark.usefixtures("relion")
def test_excluded_tilts_are_gone_from_the_tilt_series_of_the_jobs_from_alignment_on(tmp_path):
    import starfile
    from test_incremental import Proj
    from test_items import add_series, handed_on, processed
    from test_items import run as run_all

    p = Proj(tmp_path)
    add_series(p.pipeline.parent, ["TS_02", "TS_03"])
    p.apply()
    first = run_all(p)
    excluding(p.pipeline, '    TS_02:\n      zvalues: [1, 2, 40]\n      why: "ice crack"\n')
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    assert {n: j["action"] for n, j in plan.items()} == {"import": "keep", "motion": "keep", "tsimport": "keep",
                                                         "align": "extend", "ctf": "extend", "reconstruct": "extend"}
    assert all(plan[j]["items"] == {"todo": ["TS_02"], "keep": 2, "changed": {"TS_02": "excluded tilts"}} for j in ("align", "ctf", "reconstruct"))
    p.apply()
    done = run_all(p)
    lock = json.loads((p.root / "cryocc.lock").read_text())
    record = lock["pipeline"]["excluded_tilts"]["TS_02"]
    assert record["zvalues"] == [1, 2, 40] and record["why"] == "ice crack"
    gone = {f.rsplit(".", 1)[0] for f in record["frames"]}
    assert len(gone) == 3
    for job in ("align", "ctf", "reconstruct"):
        assert processed(p, job, done[job]) == ["TS_02"], job
        assert handed_on(p, job, done[job]) == ["TS_01", "TS_02", "TS_03"], job
    for job, star in (("align", "aligned_tilt_series.star"), ("ctf", "ts_ctf_tilt_series.star")):
        series = starfile.read(p.root / done[job] / star, always_dict=True)["global"]
        for name, path in zip(series["rlnTomoName"], series["rlnTomoTiltSeriesStarFile"]):
            tilts = starfile.read(p.root / path, always_dict=True)[name]
            movies = {Path(m).stem for m in tilts["rlnMicrographMovieName"]}
            assert len(movies) == (38 if name == "TS_02" else 41) and not movies & gone, (job, name)
    # WarpTools aligned without them: they are not in the alignment job's .tomostar
    aligned = set(read_tomostar_movies(p.root / done["align"] / "tomostar/TS_02.tomostar"))
    assert len(aligned) == 38 and not aligned & gone
    report = (p.root / done["align"] / "excluded_tilts.tsv").read_text()
    assert sum("\tdata.exclude_tilts: ice crack" in line for line in report.splitlines()) == 3
    assert set(done) == {"align", "ctf", "reconstruct"} and all(done[j] == first[j] for j in done)  # extended in place
