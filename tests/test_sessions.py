"""Data that arrives in sessions: a glob per session, tilt series left out by name (with a reason
kept in the lockfile), and tilt series whose frames are still being copied: left out, listed as
waiting, and taken in by the next plan once their frames are all there. The last scenario runs the
real relion_schemer and the real relion_tomo_import (the import driver stages exactly the tilt
series to import)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import edit, tool_env
from schemer import run_scheme
from test_incremental import Proj

SESSION2 = "session2"


def _session2(root: Path, name: str = "TS_02", frames: int = 41) -> list[Path]:
    """A second session beside the first: the real mdoc renamed, and the first `frames` of its movies."""
    (root / SESSION2 / "mdoc").mkdir(parents=True, exist_ok=True)
    (root / SESSION2 / "frames").mkdir(exist_ok=True)
    text = (root / "data/mdoc/TS_01.mdoc").read_text().replace("TS_01_", f"{name}_")
    (root / SESSION2 / "mdoc" / f"{name}.mdoc").write_text(text)
    movies = sorted((root / "data/frames").glob("TS_01_*"))
    out = []
    for f in movies[:frames]:
        dest = root / SESSION2 / "frames" / f.name.replace("TS_01_", f"{name}_")
        shutil.copy(f, dest)
        out.append(dest)
    return out


def _two_sessions(pipeline: Path) -> None:
    edit(pipeline, "  frames: data/frames/*.mrc\n  mdocs: data/mdoc/*.mdoc\n",
         f"  frames: [data/frames/*.mrc, {SESSION2}/frames/*.mrc]\n  mdocs: [data/mdoc/*.mdoc, {SESSION2}/mdoc/*.mdoc]\n")


def _import_series(p: Proj) -> list[str]:
    lock = json.loads((p.root / "cryocc.lock").read_text())
    doc = json.loads((p.root / lock["jobs"]["import"]["params_file"]).read_text())
    return [ts["name"] for ts in doc["data"]["tilt_series"]]


@pytest.fixture
def proj(tmp_path):
    return Proj(tmp_path)


def test_a_glob_per_session_takes_in_both(proj):
    _session2(proj.pipeline.parent)
    _two_sessions(proj.pipeline)
    assert "Data: 2 tilt series, 82 frames" in proj.apply().stdout
    assert _import_series(proj) == ["TS_01", "TS_02"]


def test_a_half_copied_tilt_series_waits_and_is_taken_in_once_complete(proj):
    root = proj.pipeline.parent
    missing = _session2(root)[20:]
    for f in missing:
        f.unlink()  # still being copied from the microscope
    _two_sessions(proj.pipeline)
    out = proj.cli("plan", proj.pipeline, "--project", proj.root).stdout
    assert "Waiting: 1 tilt series whose frames are not all there yet (left out until they are): TS_02 (20 of 41 frames)" in out
    assert proj.plan()["data"]["waiting"] == [{"name": "TS_02", "frames": 20, "of": 41}]
    proj.apply()
    assert _import_series(proj) == ["TS_01"]
    assert json.loads((proj.root / "cryocc.lock").read_text())["pipeline"]["waiting"] == [["TS_02", 20, 41]]
    _session2(root)  # the copy finished
    assert proj.plan()["data"]["waiting"] == []
    proj.apply()
    assert _import_series(proj) == ["TS_01", "TS_02"]


def test_incomplete_error_refuses_instead(proj):
    for f in _session2(proj.pipeline.parent)[30:]:
        f.unlink()
    _two_sessions(proj.pipeline)
    edit(proj.pipeline, "  mdocs: [", "  incomplete: error\n  mdocs: [")
    err = proj.cli("validate", proj.pipeline, code=1).stderr
    assert "TS_02.mdoc" in err and "is not among the frames matched by data.frames" in err


def test_an_empty_frame_waits_like_a_missing_one_and_is_taken_in_once_filled(proj):
    """A copy creates a frame before it fills it: a 0-byte frame is not there yet. Before, it passed
    validate and apply and failed at motion correction."""
    root = proj.pipeline.parent
    frames = _session2(root)
    content = frames[7].read_bytes()
    frames[7].write_bytes(b"")
    _two_sessions(proj.pipeline)
    assert proj.plan()["data"]["waiting"] == [{"name": "TS_02", "frames": 40, "of": 41}]
    proj.apply()
    assert _import_series(proj) == ["TS_01"]
    frames[7].write_bytes(content)  # the copy finished: same names, so the recipe cache must see it too
    assert proj.plan()["data"]["waiting"] == []
    proj.apply()
    assert _import_series(proj) == ["TS_01", "TS_02"]


def test_incomplete_error_refuses_an_empty_frame_at_its_file(proj):
    frames = _session2(proj.pipeline.parent)
    frames[3].write_bytes(b"")
    _two_sessions(proj.pipeline)
    edit(proj.pipeline, "  mdocs: [", "  incomplete: error\n  mdocs: [")
    err = proj.cli("validate", proj.pipeline, code=1).stderr
    assert err.startswith(f"error: {frames[3]}: data.frames: frame is empty (0 bytes)"), err
    assert "hint: is it still being copied?" in err and "is not among the frames" not in err, err


def test_an_excluded_tilt_series_is_left_out_with_its_reason(proj):
    _session2(proj.pipeline.parent)
    _two_sessions(proj.pipeline)
    edit(proj.pipeline, "  mdocs: [", "  exclude: {TS_02: cracked ice}\n  mdocs: [")
    out = proj.apply().stdout
    assert "Data: 1 tilt series, 41 frames" in out and "Excluded (data.exclude): TS_02 (cracked ice)" in out
    assert _import_series(proj) == ["TS_01"]
    assert json.loads((proj.root / "cryocc.lock").read_text())["pipeline"]["excluded"] == {"TS_02": "cracked ice"}
    assert "Excluded (data.exclude): TS_02 (cracked ice)" in proj.cli("plan", proj.pipeline, "--project", proj.root).stdout


def test_the_real_import_takes_exactly_the_tilt_series_not_left_out(proj):
    """Two sessions, one tilt series excluded, one waiting: relion_tomo_import sees only TS_01 and TS_03
    (it would import every mdoc its pattern matches), and the chain runs to the end on them."""
    root = proj.pipeline.parent
    _session2(root, "TS_02")
    _session2(root, "TS_03")
    for f in _session2(root, "TS_04")[10:]:
        f.unlink()
    _two_sessions(proj.pipeline)
    edit(proj.pipeline, "  mdocs: [", "  exclude: {TS_02: no signal}\n  mdocs: [")
    proj.apply()
    result = run_scheme(proj.root, tool_env())
    assert result.statuses == {j: "Succeeded" for j in ["import", "motion", "tsimport", "align", "ctf", "reconstruct"]}, result.output
    import starfile

    dirs = {name: d for name, d, _ in result.jobs}
    star = starfile.read(proj.root / dirs["import"] / "tilt_series.star", always_dict=True)
    assert sorted(star["global"]["rlnTomoName"]) == ["TS_01", "TS_03"]
    tomograms = starfile.read(proj.root / dirs["reconstruct"] / "tomograms.star", always_dict=True)["global"]
    assert sorted(tomograms["rlnTomoName"]) == ["TS_01", "TS_03"]


# --- no hidden partial failure -------------------------------------------------------------

def _two_series(proj: Proj) -> None:
    _session2(proj.pipeline.parent)
    _two_sessions(proj.pipeline)


def _receipt(proj: Proj, result, job: str) -> dict:
    d = dict((name, d) for name, d, _ in result.jobs)[job]
    return json.loads((proj.root / d / "cryocc_receipt.json").read_text())


def test_a_tilt_series_that_fails_alignment_fails_the_job_and_is_named(proj):
    _two_series(proj)
    proj.apply()
    result = run_scheme(proj.root, tool_env(FAKE_ALIGN_FAIL="TS_02"))
    assert result.statuses == {"import": "Succeeded", "motion": "Succeeded", "tsimport": "Succeeded", "align": "Failed"}
    assert "1 of 2 tilt series failed: TS_02 (aretomo alignment failed)" in result.output
    receipt = _receipt(proj, result, "align")
    assert receipt["status"] == "failed_partial"
    items = json.loads((proj.root / "cryocc.lock").read_text())["jobs"]["align"]["items"]
    assert receipt["items"]["TS_01"].pop("quality")["axis_deg"] == 85.3  # what the aligner measured (test_quality.py)
    assert receipt["items"] == {"TS_01": {"outcome": "succeeded", "reason": "", "fingerprint": items["TS_01"].split()[0]},
                                "TS_02": {"outcome": "failed", "reason": "aretomo alignment failed",
                                          "fingerprint": items["TS_02"].split()[0]}}
    status = json.loads(proj.cli("status", "--project", proj.root, "--json").stdout)
    align = next(j for j in status["jobs"] if j["name"] == "align")
    assert align["state"] == "failed" and "TS_02" in align["detail"]
    plan = {j["name"]: j for j in proj.plan()["jobs"]}
    align_dir = _receipt(proj, result, "align")["job_dir"]
    assert plan["align"]["action"] == "extend" and plan["align"]["job_dir"] == align_dir
    assert plan["align"]["reasons"][0] == {"kind": "items", "kept": 1, "failed": {"TS_02": "aretomo alignment failed"}}
    assert plan["align"]["reasons"][1]["kind"] == "failed" and "TS_02 (aretomo alignment failed)" in plan["align"]["reasons"][1]["detail"]
    assert plan["align"]["items"] == {"todo": ["TS_02"], "keep": 1, "failed": {"TS_02": "aretomo alignment failed"}}
    out = proj.cli("plan", proj.pipeline, "--project", proj.root).stdout
    assert re.search(r"~ extend +align +ts_alignment +External/job004/ +1 failed \(TS_02\), 1 kept", out), out
    proj.apply()  # fixed (the fault switch is gone): alignment runs again for TS_02 alone, in its directory
    again = run_scheme(proj.root, tool_env())
    assert set(again.statuses.values()) == {"Succeeded"}
    receipt = _receipt(proj, again, "align")
    assert receipt["job_dir"] == align_dir and receipt["status"] == "succeeded"
    assert (proj.root / align_dir / "cryocc_todo.txt").read_text() == "tomostar/TS_02.tomostar\n"
    assert {n: i["outcome"] for n, i in receipt["items"].items()} == {"TS_01": "succeeded", "TS_02": "succeeded"}
    assert _names(proj.root / align_dir / "aligned_tilt_series.star") == ["TS_01", "TS_02"]


def _names(star: Path) -> list[str]:
    import starfile

    return list(starfile.read(star, always_dict=True)["global"]["rlnTomoName"])


def test_on_item_failure_continue_goes_on_without_it_and_says_so(proj):
    import starfile

    _two_series(proj)
    edit(proj.pipeline, 'resources: {time: "00:20:00"}', 'resources: {time: "00:20:00"}\n  on_item_failure: continue')
    proj.apply()
    result = run_scheme(proj.root, tool_env(FAKE_ALIGN_FAIL="TS_02"))
    assert set(result.statuses.values()) == {"Succeeded"}, result.output
    assert "align continued without 1 failed tilt series: TS_02" in result.output
    rec = dict((name, d) for name, d, _ in result.jobs)["reconstruct"]
    assert list(starfile.read(proj.root / rec / "tomograms.star", always_dict=True)["global"]["rlnTomoName"]) == ["TS_01"]
    # the next plan tries TS_02 again, in alignment and in every job after it, and for nothing else
    plan = {j["name"]: j for j in proj.plan()["jobs"]}
    assert plan["align"]["action"] == "extend"
    assert plan["align"]["reasons"] == [{"kind": "items", "kept": 1, "failed": {"TS_02": "aretomo alignment failed"}}]
    for job in ("ctf", "reconstruct"):
        assert plan[job]["action"] == "extend" and plan[job]["items"] == {"todo": ["TS_02"], "keep": 1, "upstream": {"TS_02": ""}}
    assert {j: p["action"] for j, p in plan.items() if p["action"] == "keep"} == {"import": "keep", "motion": "keep", "tsimport": "keep"}
    out = proj.cli("plan", proj.pipeline, "--project", proj.root).stdout
    assert re.search(r"~ extend +align .* 1 failed \(TS_02\), 1 kept", out) and re.search(r"~ extend +ctf .* 1 re-run upstream \(TS_02\), 1 kept", out), out
    proj.apply()
    again = run_scheme(proj.root, tool_env())
    assert list(again.statuses) == ["align", "ctf", "reconstruct"] and set(again.statuses.values()) == {"Succeeded"}
    for job in ("align", "ctf", "reconstruct"):
        d = proj.root / dict((n, d) for n, d, _ in again.jobs)[job]
        assert (d / "cryocc_todo.txt").read_text() == "tomostar/TS_02.tomostar\n"
        assert json.loads((d / "warp_tiltseries/processed_items.json").read_text()) == [{"Path": "TS_02.xml"}]
    assert list(starfile.read(proj.root / rec / "tomograms.star", always_dict=True)["global"]["rlnTomoName"]) == ["TS_01", "TS_02"]
    assert proj.actions() == dict.fromkeys(["import", "motion", "tsimport", "align", "ctf", "reconstruct"], "keep")
