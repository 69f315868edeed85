"""Tilt series as the unit of work, end to end with the real relion_schemer and RELION's import: a
project of 30 tilt series grows by 5, one mdoc is edited, one result-changing parameter moves. What
each job processed is read from the tools' own records of a run (WarpTools' processed_items.json,
the mdocs staged for relion_tomo_import), and what it hands on from its combined STAR file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import starfile
from conftest import edit
from test_incremental import Proj

pytestmark = pytest.mark.usefixtures("relion")

FIRST, MORE = 30, 5
JOBS = ["import", "motion", "tsimport", "align", "ctf", "reconstruct"]
STAR = {"import": "tilt_series.star", "motion": "fs_motion_and_ctf.star", "align": "aligned_tilt_series.star",
        "ctf": "ts_ctf_tilt_series.star", "reconstruct": "tomograms.star", "tm_ribo": "tomograms.star", "picks": "tomograms.star"}


def add_series(root: Path, names: list[str]) -> None:
    """New tilt series in data/: the real mdoc renamed, its movies hard-linked under the new names."""
    text = (root / "data/mdoc/TS_01.mdoc").read_text()
    movies = sorted((root / "data/frames").glob("TS_01_*"))
    for name in names:
        (root / "data/mdoc" / f"{name}.mdoc").write_text(text.replace("TS_01_", f"{name}_"))
        for f in movies:
            os.link(f, root / "data/frames" / f.name.replace("TS_01_", f"{name}_"))


def names(first: int, count: int) -> list[str]:
    return [f"TS_{i:02d}" for i in range(first, first + count)]


def processed(p: Proj, job: str, job_dir: str) -> list[str]:
    """The tilt series a job's last run processed, as its tool recorded it."""
    d = p.root / job_dir
    if job == "import":  # exactly the mdocs it gave relion_tomo_import
        return sorted(f.name[:-len(".mdoc")] for f in (d / "cryocc_inputs/mdoc").rglob("*.mdoc"))  # b0000/, b0001/, ...
    folder = {"motion": "warp_frameseries", "tsimport": "tomostar"}.get(job, "warp_tiltseries")
    items = json.loads((d / folder / "processed_items.json").read_text())
    paths = [i["Path"] if isinstance(i, dict) else i for i in items]
    return sorted({re.match(r"(TS_\d+)", Path(x).name).group(1) for x in paths})


def handed_on(p: Proj, job: str, job_dir: str) -> list[str]:
    d = p.root / job_dir
    if job == "tsimport":
        return sorted(f.stem for f in (d / "tomostar").glob("*.tomostar"))
    return list(starfile.read(d / STAR[job], always_dict=True)["global"]["rlnTomoName"])


def run(p: Proj) -> dict[str, str]:
    result = p.run()
    assert set(result.statuses.values()) == {"Succeeded"}, result.output
    return {node: d for node, d, _ in result.jobs}


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """30 tilt series processed, then 5 more added to data/."""
    p = Proj(tmp_path_factory.mktemp("items"))
    root = p.pipeline.parent
    add_series(root, names(2, FIRST - 1))
    p.apply()
    first = run(p)
    assert all(len(handed_on(p, j, first[j])) == FIRST for j in JOBS)
    add_series(root, names(FIRST + 1, MORE))
    return p, first


def test_new_tilt_series_extend_every_job_that_works_per_tilt_series(grown):
    p, first = grown
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    new = names(FIRST + 1, MORE)
    for job in JOBS:
        assert plan[job]["action"] == "extend" and plan[job]["job_dir"] == first[job], plan[job]
        assert plan[job]["items"] == {"todo": new, "keep": FIRST, "new": dict.fromkeys(new, "")}
    out = p.cli("plan", p.pipeline, "--project", p.root).stdout
    assert re.search(rf"~ extend +motion +fs_motion_ctf +{first['motion']} +\+{MORE} new, {FIRST} kept", out), out
    assert f"Plan: 0 to run, 0 to re-run, {len(JOBS)} to extend, 0 to keep, 0 orphaned." in out
    p.apply()
    scheme = p.latest_scheme()
    rows = starfile.read(p.root / "Schemes" / scheme / "scheme.star", always_dict=True)["scheme_jobs"]
    assert [tuple(r) for r in rows[["rlnSchemeJobName", "rlnSchemeJobMode"]].itertuples(index=False)] == \
        [(first[j], "continue") for j in JOBS]
    second = run(p)
    assert second == first  # RELION continued each job in its own directory
    for job in JOBS:
        assert processed(p, job, second[job]) == new, job
        assert handed_on(p, job, second[job]) == names(1, FIRST + MORE), job
    receipt = json.loads((p.root / second["reconstruct"] / "cryocc_receipt.json").read_text())
    lock = json.loads((p.root / "cryocc.lock").read_text())["jobs"]["reconstruct"]
    assert {t: r["fingerprint"] for t, r in receipt["items"].items()} == {t: v.split()[0] for t, v in lock["items"].items()}
    assert p.actions() == dict.fromkeys(JOBS, "keep")


def test_an_edited_mdoc_reruns_that_tilt_series_alone(grown):
    p, first = grown
    if p.actions() != dict.fromkeys(JOBS, "keep"):
        pytest.skip("needs the grown project of the test before")
    mdoc = p.pipeline.parent / "data/mdoc/TS_07.mdoc"
    mdoc.write_text(mdoc.read_text().replace("EMBL Krios", "EMBL Krios 2", 1))  # a new title line, the same acquisition
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    for job in JOBS:
        assert plan[job]["action"] == "extend"
        assert plan[job]["items"] == {"todo": ["TS_07"], "keep": FIRST + MORE - 1, "changed": {"TS_07": "mdoc"}}, job
    out = p.cli("plan", p.pipeline, "--project", p.root).stdout
    assert "1 changed (TS_07 mdoc), 34 kept" in out
    p.apply()
    done = run(p)
    assert all(processed(p, j, done[j]) == ["TS_07"] for j in JOBS)
    assert all(len(handed_on(p, j, done[j])) == FIRST + MORE for j in JOBS)


def test_a_result_changing_parameter_reruns_every_tilt_series(grown):
    p, first = grown
    edit(p.pipeline, "m_grid: 1x1x3", "m_grid: 1x1x5")
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    assert plan["import"]["action"] == "keep"
    everything = names(1, FIRST + MORE)
    for job in JOBS[1:]:
        assert plan[job]["action"] == "rerun" and plan[job]["items"] == {"todo": everything, "keep": 0}, job
    assert plan["motion"]["reasons"][0] == {"kind": "params", "key": "m_grid", "old": "1x1x3", "new": "1x1x5"}
    p.apply()
    done = run(p)
    for job in JOBS[1:]:
        assert done[job] != first[job]  # a new directory: nothing of the old grid survives
        assert processed(p, job, done[job]) == everything


def test_a_half_copied_tilt_series_waits_then_extends_every_job(tmp_path):
    p = Proj(tmp_path)
    root = p.pipeline.parent
    add_series(root, ["TS_02"])
    links = sorted((root / "data/frames").glob("TS_02_*"))
    for f in links[20:]:
        f.unlink()  # still being copied from the microscope
    p.apply()
    first = run(p)
    assert handed_on(p, "reconstruct", first["reconstruct"]) == ["TS_01"]
    assert p.plan()["data"]["waiting"] == [{"name": "TS_02", "frames": 20, "of": len(links)}]
    assert p.actions() == dict.fromkeys(JOBS, "keep")
    for f in links[20:]:
        os.link(root / "data/frames" / f.name.replace("TS_02_", "TS_01_"), f)  # the copy finished
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    assert all(plan[j]["action"] == "extend" and plan[j]["items"]["new"] == {"TS_02": ""} for j in JOBS)
    p.apply()
    done = run(p)
    assert done == first and all(processed(p, j, done[j]) == ["TS_02"] for j in JOBS)
    assert handed_on(p, "reconstruct", done["reconstruct"]) == ["TS_01", "TS_02"]


def test_a_job_that_pools_tilt_series_reruns_them_all_and_so_does_everything_after_it(tmp_path):
    p = Proj(tmp_path)  # a workstation: align runs on one node, refining one tilt axis over all its tilt series
    edit(p.pipeline, "sample_thickness_nm: 150}", "sample_thickness_nm: 150, axis_iter: 2}")
    p.apply()
    run(p)
    add_series(p.pipeline.parent, ["TS_02"])
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    assert [plan[j]["action"] for j in JOBS] == ["extend"] * 3 + ["rerun"] * 3
    assert {"kind": "pools", "detail": "AreTomo refines one tilt axis over the tilt series (axis_iter 2)"} in plan["align"]["reasons"]
    assert plan["reconstruct"]["items"] == {"todo": ["TS_01", "TS_02"], "keep": 0}
    # forced, the pooling job has the same fingerprint, and still every tilt series after it runs again
    for f in (p.pipeline.parent / "data/mdoc").glob("TS_02*"):
        f.unlink()
    plan = {j["name"]: j for j in p.plan("--force", "align")["jobs"]}
    assert plan["align"]["action"] == "rerun" and plan["reconstruct"]["action"] == "rerun"
    assert plan["reconstruct"]["items"] == {"todo": ["TS_01"], "keep": 0}


def _hands(p: Proj, job_dir: str) -> dict[str, str]:
    return dict(starfile.read(p.root / job_dir / STAR["ctf"], always_dict=True)["global"][["rlnTomoName", "rlnTomoHand"]]
                .astype(str).itertuples(index=False))


def test_the_defocus_handedness_auto_is_decided_once_and_new_data_extends_with_it(tmp_path):
    p = Proj(tmp_path)
    edit(p.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {defocus_hand: auto}}")
    p.apply()
    first = run(p)  # the fake ts_defocus_hand finds 'flip' (FAKE_HAND)
    decided = {"defocus_hand": {"value": "set_flip", "from": ["TS_01"]}}
    assert json.loads((p.root / first["ctf"] / "cryocc_receipt.json").read_text())["decisions"] == decided
    add_series(p.pipeline.parent, ["TS_02"])
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    assert [plan[j]["action"] for j in JOBS] == ["extend"] * 6  # nothing re-runs over TS_01
    assert plan["ctf"]["reasons"][0]["decided"] == {"defocus_hand": {"value": "set_flip", "tilt_series": 1}}
    text = p.cli("plan", p.pipeline, "--project", p.root).stdout
    assert "uses defocus_hand set_flip as decided from 1 tilt series (--force decides again)" in text
    p.apply()
    assert json.loads((p.root / "cryocc.lock").read_text())["jobs"]["ctf"]["decisions"] == decided
    # the data would now say 'no flip', but the extension keeps the job's decision
    second = p.run(FAKE_HAND="noflip")
    assert set(second.statuses.values()) == {"Succeeded"}
    assert _hands(p, first["ctf"]) == {"TS_01": "-1", "TS_02": "-1"}
    # re-deciding is the user's: --force runs every tilt series and decides from them all
    p.apply("--force", "ctf")
    third = p.run(FAKE_HAND="noflip")
    ctf = {node: d for node, d, _ in third.jobs}["ctf"]
    assert json.loads((p.root / ctf / "cryocc_receipt.json").read_text())["decisions"] == \
        {"defocus_hand": {"value": "set_noflip", "from": ["TS_01", "TS_02"]}}
    assert _hands(p, ctf) == {"TS_01": "1", "TS_02": "1"}


def test_template_matching_and_its_candidates_extend_with_a_new_tomogram(tmp_path):
    p = Proj(tmp_path)
    with p.pipeline.open("a") as fh:
        fh.write("  tm_ribo:     {type: templatematching, params: {template: ../full-catalog/refs/ribo_10A.mrc, "
                 "mask: ../full-catalog/refs/ribo_mask.mrc, symmetry: C2, bandpass: \"20:400\"}}\n"
                 "  picks:       {type: tmextractcand, params: {max_num_particles: 500, particle_diameter_ang: 60}}\n"
                 "  extract:     {type: subtomoExtraction, params: {binning: 1, box_size: 32, crop_size: 24}}\n")
    p.apply()
    first = run(p)
    before = starfile.read(p.root / first["extract"] / "particles.star", always_dict=True)["particles"]
    add_series(p.pipeline.parent, ["TS_02"])
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    assert all(plan[j]["action"] == "extend" and plan[j]["items"]["todo"] == ["TS_02"] for j in ("tm_ribo", "picks", "extract"))
    p.apply()
    done = run(p)
    assert done == first
    for job, tool in (("tm_ribo", "pytom_match_template.py"), ("picks", "pytom_extract_candidates.py")):
        receipt = json.loads((p.root / done[job] / "cryocc_receipt.json").read_text())
        calls = [c for c in receipt["tool"]["commands"] if Path(c[0]).name == tool]
        assert len(calls) == 1 and "TS_02" in " ".join(calls[0]) and "TS_01" not in " ".join(calls[0]), calls
        assert {t: i["outcome"] for t, i in receipt["items"].items()} == {"TS_01": "succeeded", "TS_02": "succeeded"}
        assert handed_on(p, job, done[job]) == ["TS_01", "TS_02"]
    # candidate extraction ran its tomograms side by side, each with its own log
    assert (p.root / done["picks"] / "logs/TS_02.log").is_file()
    out = p.cli("logs", "picks", "--project", p.root).stdout
    assert f"tilt series have their own log in {done['picks']}logs/ (cryocc logs picks --item NAME): TS_01, TS_02" in out
    assert p.cli("logs", "picks", "--project", p.root, "--item", "TS_02").stdout == (p.root / done["picks"] / "logs/TS_02.log").read_text()
    assert "has no log of tilt series TS_09" in p.cli("logs", "picks", "--project", p.root, "--item", "TS_09", code=1).output
    candidates = starfile.read(p.root / done["picks"] / "candidates.star")
    assert set(candidates["rlnTomoName"]) == {"TS_01", "TS_02"}
    # relion_tomo_subtomo was given TS_02's particles alone; particles.star holds both tomograms' once
    given = starfile.read(p.root / done["extract"] / "cryocc_inputs/particles.star", always_dict=True)["particles"]
    assert set(given["rlnTomoName"]) == {"TS_02"}
    particles = starfile.read(p.root / done["extract"] / "particles.star", always_dict=True)
    assert sorted(particles) == ["general", "optics", "particles"]
    ours = particles["particles"]
    assert set(ours["rlnTomoName"]) == {"TS_01", "TS_02"} and list(ours["rlnTomoName"]) == sorted(ours["rlnTomoName"])
    assert ours[ours["rlnTomoName"] == "TS_01"].reset_index(drop=True).equals(before)  # kept as extracted the first time
    assert particles["particles"]["rlnTomoParticleName"].is_unique
    assert all((p.root / name).is_file() for name in particles["particles"]["rlnImageName"])


def test_a_reverted_parameter_extends_the_directory_made_with_it(tmp_path):
    """Per tilt series, an earlier result is found again by its fingerprint: after a parameter goes
    back while a tilt series arrived, the job extends the directory made with that parameter."""
    p = Proj(tmp_path)
    add_series(p.pipeline.parent, ["TS_02"])
    p.apply()
    first = run(p)
    edit(p.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 640}}")
    p.apply()
    second = run(p)
    assert set(second) == {"ctf", "reconstruct"}
    edit(p.pipeline, "{type: ts_ctf, params: {window: 640}}", "{type: ts_ctf}")
    add_series(p.pipeline.parent, ["TS_03"])
    plan = {j["name"]: j for j in p.plan()["jobs"]}
    for job in ("ctf", "reconstruct"):
        assert plan[job]["action"] == "extend" and plan[job]["job_dir"] == first[job]
        assert plan[job]["reasons"][0] == {"kind": "items", "kept": 2, "new": {"TS_03": ""}, "from": first[job]}
    out = p.cli("plan", p.pipeline, "--project", p.root).stdout
    assert f"+1 new, 2 kept (from {first['ctf']}, made with these parameters)" in out
    p.apply()
    third = run(p)
    assert third["ctf"] == first["ctf"] and processed(p, "ctf", third["ctf"]) == ["TS_03"]
    assert handed_on(p, "reconstruct", third["reconstruct"]) == ["TS_01", "TS_02", "TS_03"]
    assert p.actions() == dict.fromkeys(JOBS, "keep")


def test_a_lost_lockfile_after_an_extension_keeps_every_job(tmp_path):
    """The results index learns the fingerprint an extension leaves in a directory it knew as finished."""
    p = Proj(tmp_path)
    p.apply()
    run(p)
    add_series(p.pipeline.parent, ["TS_02"])
    p.apply()
    run(p)
    (p.root / "cryocc.lock").unlink()
    plan = p.plan()
    assert [j["action"] for j in plan["jobs"]] == ["keep"] * len(JOBS)
    assert all(j["reasons"][0]["kind"] == "reuse" for j in plan["jobs"])
