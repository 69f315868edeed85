"""Quality per tilt series: the numbers the tools wrote, read back from their files into the receipts'
item records, shown by `cryocc status --tilt-series`, and read by the tilt filter's rules. The
full-catalog example runs once with the workstation profile (the real relion_schemer and RELION
programs, the contract fakes of tests/fake_tools)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import xml.etree.ElementTree as ET

import pytest
import starfile
from conftest import tool_env
from test_drivers import Catalog, _run_driver, _succeeded
from test_incremental import Proj
from typer.testing import CliRunner

from cryocc.cli import app

pytestmark = pytest.mark.usefixtures("relion")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, relion):
    return Catalog(tmp_path_factory.mktemp("quality"))


def _quality(catalog, job: str, ts: str = "TS_01") -> dict:
    """Per-item records hold it; a job that pools tilt series (ts_ctf deciding one handedness) has none."""
    receipt = json.loads((catalog.dir(job) / "cryocc_receipt.json").read_text())
    return receipt["items"][ts]["quality"] if receipt["items"] else receipt["quality"][ts]


def _movie_xml(catalog, movie: str) -> ET.Element:
    return ET.parse(catalog.dir("motion") / f"warp_frameseries/{movie}.xml").getroot()


def test_motion_records_each_tilts_ctf_from_warps_frame_series_xml(catalog):
    q = _quality(catalog, "motion")
    assert q["tilts"] == 41 and len(q["per_tilt"]) == 41
    for tilt in q["per_tilt"]:
        root = _movie_xml(catalog, tilt["movie"])
        ctf = {p.get("Name"): float(p.get("Value")) for p in root.find("CTF")}
        assert tilt["defocus_um"] == pytest.approx(ctf["Defocus"])
        assert tilt["astigmatism_a"] == pytest.approx(ctf["DefocusDelta"] * 1e4)
        assert tilt["ctf_resolution_a"] == pytest.approx(float(root.get("CTFResolutionEstimate")))
        assert tilt["motion_a"] == pytest.approx(float(root.get("MeanFrameMovement")))
        assert tilt["angle"] == pytest.approx(float(tilt["movie"].rsplit("_", 1)[1]))


def test_the_ctf_fit_resolution_is_written_where_relions_ctf_job_writes_it(catalog):
    """rlnCtfMaxResolution per tilt, from Warp's CTFResolutionEstimate, travels down to the tilt filter's input."""
    for job, star in (("motion", "tilt_series/TS_01.star"), ("ctf", "tilt_series/TS_01.star")):
        tilts = catalog.star(job, star)["TS_01"]
        for movie, res in zip(tilts["rlnMicrographMovieName"], tilts["rlnCtfMaxResolution"]):
            assert res == pytest.approx(float(_movie_xml(catalog, _stem(movie)).get("CTFResolutionEstimate")))


def test_the_tilt_filters_ctf_resolution_rule_fires(catalog):
    """It never fired before: no job wrote rlnCtfMaxResolution."""
    tilts = catalog.star("ctf", "tilt_series/TS_01.star")["TS_01"]
    worse = {_stem(m) for m, r in zip(tilts["rlnMicrographMovieName"], tilts["rlnCtfMaxResolution"])
             if r > 9 and abs(float(_stem(m).rsplit("_", 1)[1])) <= 57}
    assert worse and len(worse) < len(tilts) - 12
    proc, d = _run_driver(catalog, "filter", "ctfres", params={"max_ctf_resolution": 9.0, "min_tilts": 3}, env=tool_env())
    _succeeded(proc, d)
    report = [line.split("\t") for line in (d / "tilt_filter_report.tsv").read_text().splitlines()[1:]]
    assert {_stem(row[1]) for row in report if row[3].startswith("CTF fit")} == worse
    kept = starfile.read(d / "tilt_series/TS_01.star")
    assert (kept["rlnCtfMaxResolution"] <= 9).all()
    q = json.loads((d / "cryocc_receipt.json").read_text())["items"]["TS_01"]["quality"]
    assert {x["movie"] for x in q["dropped"] if x["why"].startswith("CTF fit")} == worse


def _stem(movie: str) -> str:
    return movie.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def test_alignment_records_the_refined_axis_shifts_and_dropped_tilts(catalog):
    q = _quality(catalog, "align")
    aln = [line.split() for line in (catalog.dir("align") / "warp_tiltseries/tiltstack/TS_01/TS_01.st.aln").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert q["axis_deg"] == pytest.approx(sum(float(r[1]) for r in aln) / len(aln), abs=1e-3)
    tilts = catalog.star("align", "tilt_series/TS_01.star")["TS_01"]
    assert q["tilts"] == len(tilts) and q["dropped"] == []
    assert [t["axis_deg"] for t in q["per_tilt"]] == pytest.approx(list(tilts["rlnTomoZRot"]), abs=1e-3)


def test_imod_alignment_records_the_residual_tiltalign_wrote_and_a_log_without_one_fails_nothing(tmp_path):
    """The quickstart aligned by IMOD (WarpTools ts_etomo_patches): tiltalign's residual in align.log, in
    nm, reaches the receipt in Å and `status --tilt-series`. The fake's residuals are the lengths of the
    shifts it wrote, so their mean is the mean of the shifts the driver read from its .xf."""
    p = Proj(tmp_path)
    p.pipeline.write_text(p.pipeline.read_text().replace("{method: aretomo, sample_thickness_nm: 150}", "{method: imod}"))
    p.apply()
    p.run()
    align = p.root / p.job_dir("align")
    log = (align / "warp_tiltseries/tiltstack/TS_01/align.log").read_text()
    mean_nm, sd_nm = (float(v) for v in re.search(r"Residual error mean and sd:\s+(\S+)\s+(\S+) nm", log).groups())
    q = json.loads((align / "cryocc_receipt.json").read_text())["items"]["TS_01"]["quality"]
    assert (q["residual_a"], q["residual_sd_a"]) == (round(mean_nm * 10, 2), round(sd_nm * 10, 2)) and q["residual_a"] > 0
    shifts = [t["shift_a"] for t in q["per_tilt"]]
    # the .xf holds the rotation to 3 decimals: lengths through it agree to 1e-3
    assert q["residual_a"] == pytest.approx(sum(shifts) / len(shifts), rel=1e-3)

    runner = CliRunner()
    out = runner.invoke(app, ["status", "--project", str(p.root), "--tilt-series", "--json"])
    assert out.exit_code == 0, out.output
    jobs = {m["job"]: m for m in json.loads(out.stdout)["tilt_series"]["TS_01"]}
    assert jobs["align"]["quality"]["residual_a"] == q["residual_a"] and jobs["align"]["job_dir"] == p.job_dir("align")
    text = runner.invoke(app, ["status", "--project", str(p.root), "--tilt-series"]).stdout
    assert f"residual {q['residual_a']:.2f} Å, residual sd {q['residual_sd_a']:.2f} Å" in text

    # the same job again, tiltalign stopping before its residual: a note in its output (run.out), the alignment stands
    lines = (align / "run_submit.script").read_text().splitlines()
    argv = shlex.split(next(line for line in lines if line.startswith("cryocc_relion_driver ")))
    for flag in ("--o", "--pipeline_control"):
        argv[argv.index(flag) + 1] = "External/again/"
    proc = subprocess.run(argv, cwd=p.root, env=tool_env(FAKE_TILTALIGN_FAIL="TS_01"), capture_output=True, text=True, timeout=300)
    again = p.root / "External/again"
    _succeeded(proc, again)
    q = json.loads((again / "cryocc_receipt.json").read_text())["items"]["TS_01"]["quality"]
    assert "residual_a" not in q and "residual_sd_a" not in q and q["tilts"] > 0 and q["per_tilt"]
    assert "note: TS_01: alignment residual not recorded (align.log has no global residual line)" in proc.stdout


def test_ctf_records_defocus_per_tilt_and_the_series_resolution_from_the_tilt_series_xml(catalog):
    q = _quality(catalog, "ctf")
    root = ET.parse(catalog.dir("ctf") / "warp_tiltseries/TS_01.xml").getroot()
    assert q["ctf_resolution_a"] == pytest.approx(float(root.get("CTFResolutionEstimate"))) and q["ctf_resolution_a"] > 0
    assert q["hand"] == "flip"
    grid = {int(n.get("Z")): float(n.get("Value")) for n in root.find("GridCTF")}
    movies = [_stem(m) for m in root.find("MoviePath").text.split("\n")]
    for tilt in q["per_tilt"]:
        assert tilt["defocus_um"] == pytest.approx(grid[movies.index(tilt["movie"])])


def test_the_filter_picks_and_particles_are_recorded(catalog):
    dropped = _quality(catalog, "filter")["dropped"]
    assert sorted(d["movie"] for d in dropped) == ["TS_01_039_-60.0", "TS_01_040_60.0"]
    assert all(d["why"].startswith("tilt ") and d["why"].endswith("> 57°") for d in dropped), dropped
    assert _quality(catalog, "picks")["picks"] == len(catalog.star("picks", "candidates.star")["particles"])
    assert _quality(catalog, "extract")["particles"] == len(catalog.star("extract", "particles.star")["particles"])
    assert _quality(catalog, "reconstruct")["tomogram"].endswith("warp_tiltseries/reconstruction/TS_01_10.00Apx.mrc")


def test_status_shows_the_quality_per_tilt_series_with_the_job_that_measured_it(catalog):
    runner = CliRunner()
    out = runner.invoke(app, ["status", "--project", str(catalog.project), "--tilt-series", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)["tilt_series"]["TS_01"]
    jobs = {m["job"]: m for m in doc}
    assert jobs["ctf"]["job_dir"] == catalog.dirs["ctf"] and jobs["ctf"]["quality"]["hand"] == "flip"
    assert jobs["picks"]["quality"]["picks"] > 0
    assert "per_tilt" in jobs["motion"]["quality"]
    text = runner.invoke(app, ["status", "--project", str(catalog.project), "--tilt-series"])
    assert text.exit_code == 0, text.output
    assert "TS_01" in text.stdout and f"ctf ({catalog.dirs['ctf']})" in text.stdout
    assert "CTF fit" in text.stdout and "picks" in text.stdout


def test_a_tilt_series_a_failed_job_did_not_finish_is_unfinished_with_the_jobs_reason():
    """A tool killed midway leaves its tilt series pending in the receipt: shown as pending, a user
    would wait for it; it is unfinished, and the next apply runs it again."""
    from cryocc.observe.project import JobState
    from cryocc.observe.quality import by_tilt_series
    from cryocc.states import Status

    receipt = {"type": "ts_reconstruct", "status": "failed", "reason": "WarpTools was killed by signal 9",
               "items": {"TS_01": {"outcome": "pending", "reason": ""}, "TS_02": {"outcome": "succeeded"}}}
    running = {**receipt, "status": "running"}
    got = by_tilt_series({"reconstruct": JobState("reconstruct", Status.FAILED, "External/job006/", receipt=receipt),
                          "later": JobState("later", Status.RUNNING, "External/job007/", receipt=running)})
    assert [(e["job"], e["outcome"], e["reason"]) for e in got["TS_01"]] == [
        ("reconstruct", "unfinished", "the job failed first: WarpTools was killed by signal 9"), ("later", "pending", "")]
    assert got["TS_02"][0]["outcome"] == "succeeded"


def test_status_labels_every_measure_a_receipt_may_hold_and_the_check_accepts_each():
    from cryocc.contract import MEASURES
    from cryocc.observe.quality import LABELS
    from cryocc.observe.receipts import QUALITY_FIELDS

    assert tuple(LABELS) == MEASURES
    assert set(MEASURES) < set(QUALITY_FIELDS)
