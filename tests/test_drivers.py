"""Every driver against the fake tools: exact command lines, metadata column by column, sentinel and
receipt; and per driver the failures: tool exits 1, tool exits 0 without outputs, a missing input,
an abort mid-run, a tool killed by a signal. No failure may end without a sentinel."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import starfile

from conftest import copy_examples, tool_env
from cryocc.cli import app
from cryocc.lockfile.lockfile import read_lockfile
from relion_sim import Schemer
from typer.testing import CliRunner

SENTINELS = ("RELION_JOB_EXIT_SUCCESS", "RELION_JOB_EXIT_FAILURE", "RELION_JOB_EXIT_ABORTED")
JOBS = ["import", "motion", "tsimport", "align", "ctf", "filter", "reconstruct", "train", "denoise", "tm_ribo",
        "picks", "extract", "average", "classify"]
# job -> (the first tool command it runs, the command that produces its outputs)
COMMANDS = {
    "import": ("relion_python_tomo_import", "relion_python_tomo_import"),
    "motion": ("create_settings", "fs_motion_and_ctf"),
    "tsimport": ("ts_import", "create_settings"),
    "align": ("ts_aretomo", "ts_aretomo"),
    "ctf": ("ts_defocus_hand", "ts_ctf"),
    "filter": (None, None),
    "reconstruct": ("ts_reconstruct", "ts_reconstruct"),
    "train": ("cryoCARE_extract_train_data.py", "cryoCARE_train.py"),
    "denoise": ("cryoCARE_predict.py", "cryoCARE_predict.py"),
    "tm_ribo": ("pytom_match_template.py", "pytom_match_template.py"),
    "picks": ("pytom_extract_candidates.py", "pytom_extract_candidates.py"),
    "extract": ("relion_tomo_subtomo", "relion_tomo_subtomo"),
    "average": ("relion_tomo_reconstruct_particle", "relion_tomo_reconstruct_particle"),
    "classify": ("relion_refine", "relion_refine"),
}


class Catalog:
    def __init__(self, root: Path) -> None:
        self.pipeline = copy_examples(root / "examples", "full-catalog")
        self.project = root / "project"
        self.log = root / "fake.log"
        result = CliRunner().invoke(app, ["apply", str(self.pipeline), "--project", str(self.project)])
        assert result.exit_code == 0, result.output
        self.run = Schemer(self.project, timeout=60, env=tool_env(FAKE_LOG=str(self.log))).run("cryocc_001")
        self.dirs = {name: d for name, d, _ in self.run.jobs}

    def dir(self, job: str) -> Path:
        return self.project / self.dirs[job]

    def star(self, job: str, rel: str):
        return starfile.read(self.dir(job) / rel, always_dict=True)

    def command_line(self, job: str) -> list[str]:
        """What RELION ran for the job (note.txt), minus --o, for re-running the driver alone."""
        text = (self.dir(job) / "note.txt").read_text()
        return shlex.split(text.splitlines()[1])


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return Catalog(tmp_path_factory.mktemp("catalog"))


def test_every_job_succeeds_with_one_sentinel_and_a_receipt(catalog):
    assert [n for n, _, _ in catalog.run.jobs] == JOBS
    assert catalog.run.statuses == {n: "Succeeded" for n in JOBS}
    assert catalog.run.ended_at == "EXIT"
    lock = read_lockfile(catalog.project)
    for job in JOBS:
        d = catalog.dir(job)
        assert [s for s in SENTINELS if (d / s).exists()] == ["RELION_JOB_EXIT_SUCCESS"]
        receipt = json.loads((d / "cryocc_receipt.json").read_text())
        assert receipt["status"] == "succeeded" and receipt["reason"] is None
        assert receipt["job"] == job and receipt["job_dir"] == catalog.dirs[job]
        assert receipt["fingerprint"] == lock.jobs[job].fingerprint
        assert receipt["outputs"] and all(o["size"] > 0 for o in receipt["outputs"])
        assert receipt["seconds"] >= 0 and receipt["started"] <= receipt["ended"]


def test_tool_command_lines(catalog, snapshot):
    calls = [json.loads(line) for line in catalog.log.read_text().splitlines()]
    root = str(catalog.project.parent)

    def norm(arg: str) -> str:
        return re.sub(r"/tmp\S*?/catalog\d*", "<TMP>", arg.replace(root, "<TMP>"))

    assert [[norm(a) for a in c["argv"]] for c in calls] == snapshot


def test_eer_grouping_is_passed_negative(catalog):
    """Frames here are MRC: no --eer_ngroups at all; the fake refuses a positive one for EER (see fake.py)."""
    calls = [json.loads(line) for line in catalog.log.read_text().splitlines()]
    create = [c["argv"] for c in calls if c["name"] == "create_settings"][0]
    assert "--eer_ngroups" not in create


def test_motion_ctf_metadata(catalog):
    ts = catalog.star("motion", "tilt_series/TS_01.star")["TS_01"]
    movies = sorted(Path(m).name for m in ts["rlnMicrographMovieName"])
    assert len(ts) == 41
    for _, row in ts.iterrows():
        fid = Path(row["rlnMicrographMovieName"]).stem
        i = movies.index(Path(row["rlnMicrographMovieName"]).name)  # the fake's defocus follows sorted order
        defocus = 2.0 + 0.1 * (i % 10)
        assert row["rlnDefocusU"] == pytest.approx((defocus + 0.05) * 1e4)
        assert row["rlnDefocusV"] == pytest.approx((defocus - 0.05) * 1e4)
        assert row["rlnDefocusAngle"] == pytest.approx(30.0)
        assert row["rlnMicrographName"] == f"{catalog.dirs['motion']}warp_frameseries/average/{fid}.mrc"
        assert row["rlnMicrographNameEven"].endswith(f"average/even/{fid}.mrc")
    glob = catalog.star("motion", "fs_motion_and_ctf.star")["global"]
    assert list(glob["rlnTomoTiltSeriesStarFile"]) == [f"{catalog.dirs['motion']}tilt_series/TS_01.star"]
    assert glob["rlnVoltage"][0] == 300


def test_alignment_metadata(catalog):
    ts = catalog.star("align", "tilt_series/TS_01.star")["TS_01"]
    # the fake's .aln row i belongs to the i-th tilt of the .tomostar, which is sorted by angle
    order = sorted(range(len(ts)), key=lambda k: ts["rlnTomoNominalStageTiltAngle"][k])
    for i, k in enumerate(order):
        assert ts["rlnTomoYTilt"][k] == pytest.approx(-(ts["rlnTomoNominalStageTiltAngle"][k] + 0.2), abs=0.01)
        assert ts["rlnTomoZRot"][k] == pytest.approx(85.0 + 0.01 * i)
        assert ts["rlnTomoXShiftAngst"][k] == pytest.approx(i * 1.5 * 12.0)
        assert ts["rlnTomoYShiftAngst"][k] == pytest.approx(-i * 0.5 * 12.0)
        assert ts["rlnTomoXTilt"][k] == 0


def test_ctf_metadata_and_handedness(catalog):
    ts = catalog.star("ctf", "tilt_series/TS_01.star")["TS_01"]
    order = sorted(range(len(ts)), key=lambda k: ts["rlnTomoNominalStageTiltAngle"][k])
    for z, k in enumerate(order):  # GridCTF nodes are addressed by Z = position in <MoviePath>
        assert ts["rlnDefocusU"][k] == pytest.approx((2.5 + 0.01 * z + 0.02) * 1e4)
        assert ts["rlnDefocusV"][k] == pytest.approx((2.5 + 0.01 * z - 0.02) * 1e4)
        assert ts["rlnDefocusAngle"][k] == pytest.approx(45.0)
    assert catalog.star("ctf", "ts_ctf_tilt_series.star")["global"]["rlnTomoHand"][0] == -1  # auto -> flip


def test_tilt_filter_drops_by_rule(catalog):
    ts = catalog.star("filter", "tilt_series/TS_01.star")["TS_01"]
    assert len(ts) == 39 and ts["rlnTomoNominalStageTiltAngle"].abs().max() <= 57
    report = (catalog.dir("filter") / "tilt_filter_report.tsv").read_text().splitlines()
    assert len(report) == 42 and sum("\tdrop\ttilt" in line for line in report) == 2


def test_tomograms_and_downstream_metadata(catalog):
    tomo = catalog.star("reconstruct", "tomograms.star")["global"]
    rec = f"{catalog.dirs['reconstruct']}warp_tiltseries/reconstruction"
    assert tomo["rlnTomoReconstructedTomogram"][0] == f"{rec}/TS_01_10.00Apx.mrc"
    assert tomo["rlnTomoReconstructedTomogramHalf1"][0] == f"{rec}/even/TS_01_10.00Apx.mrc"
    assert tomo["rlnTomoTomogramBinning"][0] == pytest.approx(10 / 5.4)
    assert tomo["rlnTomoTiltSeriesPixelSize"][0] == pytest.approx(5.4)
    denoised = catalog.star("denoise", "tomograms.star")["global"]
    assert denoised["rlnTomoReconstructedTomogram"][0] == f"{catalog.dirs['denoise']}denoised/TS_01_10.00Apx.mrc"
    conf = json.loads((catalog.dir("denoise") / "predict_000.json").read_text())
    assert conf["n_tiles"] == [4, 8, 8]  # 300 voxels in z; 1100 in x and y: doubled
    for folder, ext in (("tiltAngleFiles", "tlt"), ("defocusFiles", "txt"), ("doseFiles", "txt")):
        assert len((catalog.dir("tm_ribo") / folder / f"TS_01.{ext}").read_text().split()) == 39
    cands = catalog.star("picks", "candidates.star")["particles"]
    assert list(cands["rlnTomoName"]) == ["TS_01"] * 3  # pytom's _10.00Apx suffix stripped
    opt = catalog.star("picks", "optimisation_set.star")["optimisation_set"]
    assert opt["rlnTomoParticlesFile"] == f"{catalog.dirs['picks']}candidates.star"
    assert (catalog.dir("classify") / "run_optimisation_set.star").is_file()


# --- failures ---------------------------------------------------------------------------------------

def _rerun(catalog, job: str, tmp: str, *, env: dict, replace_input: bool = False, background: bool = False):
    """Run the job's driver again, alone, into a fresh job directory, as RELION would."""
    argv = catalog.command_line(job)
    new = f"External/{tmp}/"
    argv[argv.index("--o") + 1] = new
    if replace_input:
        i = next(i for i, a in enumerate(argv) if a.startswith("--in_"))
        argv[i + 1] = "External/job999/gone.star"
    if "--pipeline_control" in argv:
        argv[argv.index("--pipeline_control") + 1] = new
    kw = dict(cwd=catalog.project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if background:
        return subprocess.Popen(argv, **kw), catalog.project / new
    proc = subprocess.run(argv, timeout=60, **kw)
    return proc, catalog.project / new


def _ended(d: Path, sentinel: str, status: str, reason: str, proc_code: int, code: int) -> None:
    assert [s for s in SENTINELS if (d / s).exists()] == [sentinel]
    receipt = json.loads((d / "cryocc_receipt.json").read_text())
    assert receipt["status"] == status
    assert re.search(reason, receipt["reason"]), receipt["reason"]
    assert proc_code == code


TOOL_JOBS = [j for j in JOBS if COMMANDS[j][0]]


@pytest.mark.parametrize("job", TOOL_JOBS)
def test_tool_exits_1(catalog, job):
    first, _ = COMMANDS[job]
    proc, d = _rerun(catalog, job, f"fail_{job}", env=tool_env(FAKE_FAIL=first))
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", "exited with code 1", proc.returncode, 1)
    assert "fake" in proc.stdout and "failed as asked" in proc.stdout  # the tool's last lines are in the log


@pytest.mark.parametrize("job", TOOL_JOBS)
def test_tool_exits_0_without_outputs(catalog, job):
    _, last = COMMANDS[job]
    proc, d = _rerun(catalog, job, f"empty_{job}", env=tool_env(FAKE_EMPTY=last))
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", r"missing|no |cannot|not found|wrote no|could not|does not", proc.returncode, 1)


@pytest.mark.parametrize("job", [j for j in JOBS if j != "import"])
def test_missing_input_file(catalog, job):
    proc, d = _rerun(catalog, job, f"noinput_{job}", env=tool_env(), replace_input=True)
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", r"input '\w+' does not exist: External/job999/gone\.star", proc.returncode, 1)


@pytest.mark.parametrize("job", TOOL_JOBS)
def test_tool_killed_by_a_signal(catalog, job):
    first, _ = COMMANDS[job]
    proc, d = _rerun(catalog, job, f"kill_{job}", env=tool_env(FAKE_KILL=first))
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", "killed by signal 9", proc.returncode, 1)


def _wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("job", TOOL_JOBS)
def test_abort_mid_run(catalog, job, tmp_path):
    first, _ = COMMANDS[job]
    log = tmp_path / "calls.log"
    proc, d = _rerun(catalog, job, f"abort_{job}", env=tool_env(FAKE_HANG=first, FAKE_LOG=str(log)), background=True)
    _wait_for(log)  # the tool is running (and hanging)
    (d / "RELION_JOB_ABORT_NOW").touch()
    out, _ = proc.communicate(timeout=30)
    _ended(d, "RELION_JOB_EXIT_ABORTED", "aborted", "ABORT_NOW", proc.returncode, 2)
    pids = subprocess.run(["pgrep", "-f", f"abort_{job}"], capture_output=True, text=True).stdout.split()
    assert not pids, "the tool outlived the abort"


def test_sigterm_from_slurm_ends_with_failure(catalog, tmp_path):
    log = tmp_path / "calls.log"
    proc, d = _rerun(catalog, "reconstruct", "term", env=tool_env(FAKE_HANG="ts_reconstruct", FAKE_LOG=str(log)), background=True)
    _wait_for(log)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", "terminated by signal SIGTERM", proc.returncode, 1)


def test_a_driver_bug_still_ends_with_a_failure_sentinel(catalog):
    """An exception inside a driver (here: a params file that is not JSON) must not leave the schemer hanging."""
    bad = catalog.project / ".cryocc/jobs/bad.json"
    bad.write_text("{not json")
    argv = ["cryocc_relion_driver", "--job", str(bad), "--o", "External/bug/", "--j", "1"]
    proc = subprocess.run(argv, cwd=catalog.project, env=tool_env(), capture_output=True, text=True, timeout=30)
    d = catalog.project / "External/bug"
    assert [s for s in SENTINELS if (d / s).exists()] == ["RELION_JOB_EXIT_FAILURE"]
    assert proc.returncode == 1 and "JSONDecodeError" in proc.stderr + proc.stdout
