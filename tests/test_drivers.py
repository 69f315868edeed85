"""Every driver, the whole full-catalog example run by the real relion_schemer on this machine (the
workstation site profile: no SLURM), with the real RELION programs (import, subtomo, particle
reconstruction, refine), the real pytom-match-pick (GPU search replaced) and the contract fakes of
tests/fake_tools. Metadata is checked against the files the tools wrote, column by column; then, per
driver, the failures: tool exits 1, tool exits 0 without outputs, a missing input, an abort mid-run,
a tool killed by a signal. No failure may end without a sentinel."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import starfile
from conftest import copy_examples, tool_env
from schemer import run_scheme
from typer.testing import CliRunner

from cryocc.cli import app
from cryocc.lockfile.lockfile import read_lockfile

pytestmark = pytest.mark.usefixtures("relion")
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
        self.pipeline = copy_examples(root / "examples", "full-catalog", site="workstation")
        self.project = root / "project"
        self.log = root / "fake.log"
        result = CliRunner().invoke(app, ["apply", str(self.pipeline), "--project", str(self.project)])
        assert result.exit_code == 0, result.output
        self.run = run_scheme(self.project, tool_env(FAKE_LOG=str(self.log)))
        self.dirs = {name: d for name, d, _ in self.run.jobs}

    def dir(self, job: str) -> Path:
        return self.project / self.dirs[job]

    def star(self, job: str, rel: str):
        return starfile.read(self.dir(job) / rel, always_dict=True)

    def command_line(self, job: str) -> list[str]:
        """What RELION ran for the job, from the script it submitted (not note.txt: RELION's tomography
        programs write their own note.txt into their --o directory, over the pipeline's)."""
        lines = (self.dir(job) / "run_submit.script").read_text().splitlines()
        return shlex.split(next(line for line in lines if line.startswith("cryocc_relion_driver ")))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, relion):
    return Catalog(tmp_path_factory.mktemp("catalog"))


def test_every_job_succeeds_with_one_sentinel_and_a_receipt(catalog):
    assert [n for n, _, _ in catalog.run.jobs] == JOBS, catalog.run.output
    assert catalog.run.statuses == {n: "Succeeded" for n in JOBS}
    assert catalog.run.ended_at == "EXIT" and catalog.run.exit_code == 0
    lock = read_lockfile(catalog.project)
    for job in JOBS:
        d = catalog.dir(job)
        assert [s for s in SENTINELS if (d / s).exists()] == ["RELION_JOB_EXIT_SUCCESS"]
        receipt = json.loads((d / "cryocc_receipt.json").read_text())
        assert receipt["status"] == "succeeded" and receipt["reason"] is None
        assert receipt["job"] == job and receipt["job_dir"] == catalog.dirs[job]
        assert receipt["fingerprint"] == lock.jobs[job].fingerprint
        assert receipt["outputs"] and all(o["size"] > 0 for o in receipt["outputs"])


def test_tool_command_lines(catalog, snapshot):
    calls = [json.loads(line) for line in catalog.log.read_text().splitlines()]
    root = str(catalog.project.parent)

    def norm(arg: str) -> str:
        return re.sub(r"/tmp\S*?/catalog\d*", "<TMP>", arg.replace(root, "<TMP>"))

    assert [[norm(a) for a in c["argv"]] for c in calls] == snapshot


def test_every_option_the_drivers_pass_is_in_the_tool_contracts(catalog):
    """docs/tools.md names the source of every option; an option missing there has no checked source."""
    doc = (Path(__file__).resolve().parent.parent / "docs/tools.md").read_text()
    used = {a for line in catalog.log.read_text().splitlines() for a in json.loads(line)["argv"]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", a)}
    missing = sorted(a for a in used if not re.search(rf"(?<![\w-]){re.escape(a)}(?![\w-])", doc))
    assert used and not missing, missing


def test_the_real_import_got_patterns_relative_to_the_project(catalog):
    """relion_tomo_import globs with Path().glob, which refuses absolute patterns (issue item 1)."""
    calls = [json.loads(line) for line in catalog.log.read_text().splitlines() if '"relion_python_tomo_import"' in line]
    argv = calls[0]["argv"]
    for flag in ("--tilt-image-movie-pattern", "--mdoc-file-pattern"):
        assert not argv[argv.index(flag) + 1].startswith("/")
    assert calls[0]["cwd"] == str(catalog.project)
    global_ = catalog.star("import", "tilt_series.star")["global"]
    assert list(global_["rlnTomoName"]) == ["TS_01"]
    assert len(catalog.star("import", "tilt_series/TS_01.star")["TS_01"]) == 41


def _xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_motion_ctf_metadata_follows_warps_own_relion_export(catalog):
    """U = (Defocus + DefocusDelta/2) * 1e4, as Warp exports it (issue item 5: the old code doubled it)."""
    ts = catalog.star("motion", "tilt_series/TS_01.star")["TS_01"]
    assert len(ts) == 41
    for _, row in ts.iterrows():
        fid = Path(row["rlnMicrographMovieName"]).stem
        ctf = {p.get("Name"): float(p.get("Value")) for p in _xml(catalog.dir("motion") / f"warp_frameseries/{fid}.xml").find("CTF")}
        assert row["rlnDefocusU"] == pytest.approx((ctf["Defocus"] + ctf["DefocusDelta"] / 2) * 1e4, rel=1e-6)
        assert row["rlnDefocusV"] == pytest.approx((ctf["Defocus"] - ctf["DefocusDelta"] / 2) * 1e4, rel=1e-6)
        assert row["rlnCtfAstigmatism"] == pytest.approx(ctf["DefocusDelta"] * 1e4, rel=1e-6)
        assert row["rlnDefocusAngle"] == pytest.approx(ctf["DefocusAngle"])
        assert row["rlnMicrographName"] == f"{catalog.dirs['motion']}warp_frameseries/average/{fid}.mrc"
        assert row["rlnMicrographNameEven"].endswith(f"average/even/{fid}.mrc")
    glob = catalog.star("motion", "fs_motion_and_ctf.star")["global"]
    assert list(glob["rlnTomoTiltSeriesStarFile"]) == [f"{catalog.dirs['motion']}tilt_series/TS_01.star"]


def test_motion_settings_carry_the_dose_for_exposure_weighting(catalog):
    settings = {p.get("Name"): p.get("Value") for p in _xml(catalog.dir("motion") / "warp_frameseries.settings").find("Import")}
    assert float(settings["DosePerAngstromFrame"]) == -3.0  # --exposure 3.0: the whole movie's dose (CreateSettings.cs:221)


def _aln(path: Path) -> dict[int, list[float]]:
    rows = {}
    for line in path.read_text().splitlines():
        if line.startswith("# Local"):
            break
        if line.strip() and not line.startswith("#"):
            v = [float(x) for x in line.split()]
            rows[int(v[0])] = v
    return rows


def test_alignment_metadata_in_relions_convention(catalog):
    """rlnTomoYTilt = -TILT (TILT is a Warp angle: Warp tilts by the negative of RELION's,
    docs/science.md, point 2), rlnTomoZRot = ROT, shifts TX, TY in Å, as RELION's own AreTomo import."""
    d = catalog.dir("align")
    aln = _aln(d / "warp_tiltseries/tiltstack/TS_01/TS_01.st.aln")
    order = [Path(r.split()[0]).stem for r in (d / "tomostar/TS_01.tomostar").read_text().splitlines()
             if r.strip() and not r.strip().startswith(("_", "data_", "loop_"))]
    ts = catalog.star("align", "tilt_series/TS_01.star")["TS_01"]
    assert len(ts) == 41
    for _, row in ts.iterrows():
        sec, rot, _, tx, ty, *_, tilt = aln[order.index(Path(row["rlnMicrographMovieName"]).stem)]
        assert row["rlnTomoYTilt"] == pytest.approx(-tilt)
        assert row["rlnTomoZRot"] == pytest.approx(rot)
        assert row["rlnTomoXShiftAngst"] == pytest.approx(tx * 12.0)
        assert row["rlnTomoYShiftAngst"] == pytest.approx(ty * 12.0)
        assert row["rlnTomoXTilt"] == 0


def test_ctf_metadata_from_warps_tilt_series_xml(catalog):
    """<MoviePath> is one text node of newline-joined paths (issue item 2); grids are addressed by Z."""
    root = _xml(catalog.dir("ctf") / "warp_tiltseries/TS_01.xml")
    movies = [Path(m).stem for m in root.find("MoviePath").text.split("\n")]
    assert not list(root.find("MoviePath"))  # no child elements at all

    def grid(tag):
        return {int(n.get("Z")): float(n.get("Value")) for n in root.find(tag).iter("Node")}

    defocus, delta, angle = grid("GridCTF"), grid("GridCTFDefocusDelta"), grid("GridCTFDefocusAngle")
    ts = catalog.star("ctf", "tilt_series/TS_01.star")["TS_01"]
    for _, row in ts.iterrows():
        z = movies.index(Path(row["rlnMicrographMovieName"]).stem)
        assert row["rlnDefocusU"] == pytest.approx((defocus[z] + delta[z] / 2) * 1e4, rel=1e-6)
        assert row["rlnDefocusV"] == pytest.approx((defocus[z] - delta[z] / 2) * 1e4, rel=1e-6)
        assert row["rlnDefocusAngle"] == pytest.approx(angle[z])
    assert root.get("AreAnglesInverted") == "True"  # defocus_hand auto: ts_defocus_hand --set_auto found 'flip'
    assert catalog.star("ctf", "ts_ctf_tilt_series.star")["global"]["rlnTomoHand"][0] == -1


def test_the_tilt_filter_reaches_the_tomograms(catalog):
    """Dropped tilts leave the tilt series and are switched off in the XMLs tsReconstruct reads (item 8)."""
    ts = catalog.star("filter", "tilt_series/TS_01.star")["TS_01"]
    assert len(ts) == 39 and ts["rlnTomoNominalStageTiltAngle"].abs().max() <= 57
    report = (catalog.dir("filter") / "tilt_filter_report.tsv").read_text().splitlines()
    assert len(report) == 42 and sum("\tdrop\ttilt" in line for line in report) == 2
    root = _xml(catalog.dir("filter") / "warp_tiltseries/TS_01.xml")
    use = dict(zip((Path(m).stem for m in root.find("MoviePath").text.split("\n")), root.find("UseTilt").text.split("\n")))
    assert sorted(m for m, u in use.items() if u == "False") == ["TS_01_039_-60.0", "TS_01_040_60.0"]
    assert "reconstructed from 39 of 41 tilts" in (catalog.dir("reconstruct") / "run.out").read_text()


def test_tomograms_star_has_the_tomogram_size_relion_centres_by(catalog):
    tomo = catalog.star("reconstruct", "tomograms.star")["global"]
    rec = f"{catalog.dirs['reconstruct']}warp_tiltseries/reconstruction"
    assert (tomo["rlnTomoSizeX"][0], tomo["rlnTomoSizeY"][0], tomo["rlnTomoSizeZ"][0]) == (64, 64, 32)  # item 9
    assert tomo["rlnTomoReconstructedTomogram"][0] == f"{rec}/TS_01_10.00Apx.mrc"
    assert tomo["rlnTomoReconstructedTomogramHalf1"][0] == f"{rec}/even/TS_01_10.00Apx.mrc"
    assert tomo["rlnTomoTomogramBinning"][0] == pytest.approx(10 / 5.4)
    assert tomo["rlnTomoTiltSeriesPixelSize"][0] == pytest.approx(5.4)
    assert (catalog.dir("reconstruct") / "warp_tiltseries/reconstruction/deconv/TS_01_10.00Apx.mrc").is_file()


def test_downstream_metadata(catalog):
    denoised = catalog.star("denoise", "tomograms.star")["global"]
    assert denoised["rlnTomoReconstructedTomogram"][0] == f"{catalog.dirs['denoise']}denoised/TS_01_10.00Apx.mrc"
    conf = json.loads((catalog.dir("denoise") / "predict_TS_01.json").read_text())
    assert conf["n_tiles"] == [4, 4, 4]  # the tomogram is 35 x 35 x 17 voxels: nothing to raise
    for folder, ext in (("tiltAngleFiles", "tlt"), ("defocusFiles", "txt"), ("doseFiles", "txt")):
        assert len((catalog.dir("tm_ribo") / folder / f"TS_01.{ext}").read_text().split()) == 39
    ts = catalog.star("filter", "tilt_series/TS_01.star")["TS_01"]
    defocus = [float(v) for v in (catalog.dir("tm_ribo") / "defocusFiles/TS_01.txt").read_text().split()]
    assert defocus == pytest.approx(list((ts["rlnDefocusU"] + ts["rlnDefocusV"]) / 2e4), abs=1e-4)  # the mean (item 9)
    cands = catalog.star("picks", "candidates.star")["particles"]
    assert set(cands["rlnTomoName"]) == {"TS_01"} and len(cands) >= 3
    opt = catalog.star("picks", "optimisation_set.star")["optimisation_set"]
    assert opt["rlnTomoParticlesFile"] == f"{catalog.dirs['picks']}candidates.star"


def test_the_real_relion_programs_made_their_outputs(catalog):
    particles = catalog.star("extract", "particles.star")
    assert len(particles["particles"]) >= 3 and (catalog.dir("extract") / "Subtomograms").is_dir()
    import mrcfile

    with mrcfile.open(catalog.dir("average") / "merged.mrc") as m:
        assert m.data.shape == (24, 24, 24)
    assert (catalog.dir("classify") / "run_optimisation_set.star").is_file()
    for job in ("extract", "average", "classify"):
        log = (catalog.dir(job) / "run.out").read_text() + (catalog.dir(job) / "run.err").read_text()
        assert "is not a valid RELION argument" not in log, job


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
    proc = subprocess.run(argv, timeout=120, **kw)
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
    assert "failed as asked" in proc.stdout  # the tool's last lines are in the log


@pytest.mark.parametrize("job", TOOL_JOBS)
def test_tool_exits_0_without_outputs(catalog, job):
    _, last = COMMANDS[job]
    proc, d = _rerun(catalog, job, f"empty_{job}", env=tool_env(FAKE_EMPTY=last))
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", r"missing|no |cannot|not found|wrote no|could not|does not|left out",
           proc.returncode, 1)


@pytest.mark.parametrize("job", [j for j in JOBS if j != "import"])
def test_missing_input_file(catalog, job):
    proc, d = _rerun(catalog, job, f"noinput_{job}", env=tool_env(), replace_input=True)
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", r"input '\w+' does not exist: External/job999/gone\.star", proc.returncode, 1)


@pytest.mark.parametrize("job", TOOL_JOBS)
def test_tool_killed_by_a_signal(catalog, job):
    first, _ = COMMANDS[job]
    proc, d = _rerun(catalog, job, f"kill_{job}", env=tool_env(FAKE_KILL=first))
    _ended(d, "RELION_JOB_EXIT_FAILURE", "failed", r"killed by signal 9 \(by the kernel.s out-of-memory killer", proc.returncode, 1)


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
    proc.communicate(timeout=30)
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


# --- the fixes of "Real tools in the loop", each against the tool's real contract ------------------

def _run_driver(catalog, job: str, new: str, *, inputs: dict[str, str] | None = None, params: dict | None = None,
                data: dict | None = None, env: dict | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    """The job's driver alone into External/<new>/, with other input files (flag -> path) or params."""
    argv = catalog.command_line(job)
    argv[argv.index("--o") + 1] = f"External/{new}/"
    argv[argv.index("--pipeline_control") + 1] = f"External/{new}/"
    for flag, path in (inputs or {}).items():
        argv[argv.index(flag) + 1] = path
    if params or data:
        doc = json.loads((catalog.project / argv[argv.index("--job") + 1]).read_text())
        doc["params"].update(params or {})
        doc["data"] = {**(doc["data"] or {}), **(data or {})}
        changed = catalog.project / f".cryocc/jobs/{new}.json"
        changed.write_text(json.dumps(doc))
        argv[argv.index("--job") + 1] = str(changed)
    proc = subprocess.run(argv, cwd=catalog.project, env=env or tool_env(), capture_output=True, text=True, timeout=300)
    return proc, catalog.project / "External" / new


def _succeeded(proc, d: Path) -> None:
    assert (d / "RELION_JOB_EXIT_SUCCESS").exists(), proc.stdout[-3000:] + proc.stderr[-2000:]


def test_a_gain_reference_reaches_warptools_by_its_real_options(catalog, tmp_path):
    """--gain_path and --gain_flip_x/--gain_transpose (CreateSettings.cs:50-63); the old --gain_reference and
    --gain_operations are parse errors after which WarpTools exits 0 having written nothing (item 3)."""
    import mrcfile
    import numpy as np

    gain = tmp_path / "gain.mrc"
    with mrcfile.new(gain) as m:
        m.set_data(np.ones((64, 64), dtype=np.float32))
    proc, d = _run_driver(catalog, "motion", "gain", data={"gain": str(gain), "gain_operations": "flip_x,transpose"})
    _succeeded(proc, d)
    settings = {p.get("Name"): p.get("Value") for p in _xml(d / "warp_frameseries.settings").find("Import")}
    assert (settings["GainPath"], settings["GainFlipX"], settings["GainFlipY"], settings["GainTranspose"]) == \
        (str(gain), "True", "False", "True")
    assert "is unknown" not in proc.stdout


def test_switches_are_given_without_values(catalog):
    """--halfmap_frames and --deconv are switches: `--deconv 0` turns deconvolution on (item 6)."""
    proc, d = _run_driver(catalog, "reconstruct", "nodeconv", params={"deconv": False, "halfmap_frames": False})
    _succeeded(proc, d)
    rec = d / "warp_tiltseries/reconstruction"
    assert (rec / "TS_01_10.00Apx.mrc").is_file()
    assert not (rec / "deconv").exists() and not (rec / "even").exists()


def test_the_snr_reaches_relion_as_the_option_it_knows(catalog):
    """relion_tomo_reconstruct_particle has --SNR; an unknown --snr is only warned about and dropped (item 6)."""
    proc, d = _run_driver(catalog, "average", "snr", params={"snr": 2.0})
    _succeeded(proc, d)
    assert "--SNR 2.0" in proc.stdout
    assert "is not a valid RELION argument" not in proc.stdout + proc.stderr


def test_a_tilt_warptools_left_out_leaves_the_tilt_series(catalog):
    """ts_import drops a dark tilt and all beyond it (ImportTiltseries.cs:341-356); alignment must remove it
    from the tilt series rather than leave NaN rows that fail the CTF job (item 7)."""
    import shutil

    import mrcfile

    motion = catalog.project / "External/darkmotion"
    shutil.copytree(catalog.dir("motion"), motion, symlinks=True)
    with mrcfile.open(motion / "warp_frameseries/average/TS_01_040_60.0.mrc", mode="r+") as m:
        m.data[:] = 0  # the +60° tilt came out dark
    star = motion / "fs_motion_and_ctf.star"
    star.write_text(star.read_text().replace(catalog.dirs["motion"], "External/darkmotion/"))
    for ts in (motion / "tilt_series").iterdir():
        ts.write_text(ts.read_text().replace(catalog.dirs["motion"], "External/darkmotion/"))
    moved = {"--in_mics": "External/darkmotion/fs_motion_and_ctf.star"}
    proc, d = _run_driver(catalog, "tsimport", "darkimport", inputs=moved, params={"min_intensity": 0.5})
    _succeeded(proc, d)
    assert "TS_01_040_60.0" not in (d / "tomostar/TS_01.tomostar").read_text()
    proc, align = _run_driver(catalog, "align", "darkalign",
                              inputs={**moved, "--in_movies": "External/darkimport/warp_tiltseries.settings"})
    _succeeded(proc, align)
    tilts = starfile.read(align / "tilt_series/TS_01.star")
    assert len(tilts) == 40 and not tilts[["rlnTomoYTilt", "rlnTomoXShiftAngst"]].isna().any().any()
    assert "TS_01_040_60.0.mrc\tleft out by WarpTools ts_import" in (align / "excluded_tilts.tsv").read_text()
    proc, ctf = _run_driver(catalog, "ctf", "darkctf", inputs={"--in_mics": "External/darkalign/aligned_tilt_series.star"})
    _succeeded(proc, ctf)
    assert len(starfile.read(ctf / "tilt_series/TS_01.star")) == 40


def test_template_matching_names_gpus_by_ordinal(catalog):
    """On a node with CUDA_VISIBLE_DEVICES=2,3 the process sees devices 0 and 1; pytom refuses -g 2 3
    (io.py:169-191 at 0.10.0): the real parser runs here (item 9)."""
    proc, d = _run_driver(catalog, "tm_ribo", "gpus23", env=tool_env(CUDA_VISIBLE_DEVICES="2,3"))
    _succeeded(proc, d)
    assert " -g 0 1 " in proc.stdout


def test_the_import_gives_relion_its_tilt_series_in_batches_each_with_its_own_movies(tmp_path, monkeypatch, capsys):
    """relion_tomo_import matches each mdoc's movies against every movie it is given: over 3,000 tilt
    series at once that takes hours, so the driver gives it BATCH at a time, each batch with only the
    movies its mdocs name, and combines what the calls wrote."""
    from test_items import add_series

    from cryocc.drivers import import_movies
    from cryocc.drivers._runtime import main

    pipeline = copy_examples(tmp_path / "examples", "quickstart", site="workstation")
    add_series(pipeline.parent, ["TS_02", "TS_03", "TS_04", "TS_05"])
    project = tmp_path / "project"
    result = CliRunner().invoke(app, ["apply", str(pipeline), "--project", str(project)])
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(import_movies, "BATCH", 2)
    monkeypatch.setenv("PATH", tool_env()["PATH"])
    monkeypatch.chdir(project)
    code = main(["--job", read_lockfile(project).jobs["import"].params_file, "--o", "External/job001/", "--j", "1"])
    d = project / "External/job001"
    assert code == 0 and (d / "RELION_JOB_EXIT_SUCCESS").exists(), capsys.readouterr().out[-3000:]
    names = [f"TS_0{i}" for i in range(1, 6)]
    assert list(starfile.read(d / "tilt_series.star", always_dict=True)["global"]["rlnTomoName"]) == names
    for name in names:  # each movie where the tool found it, and still there for the jobs after
        movies = starfile.read(d / f"tilt_series/{name}.star", always_dict=True)[name]["rlnMicrographMovieName"]
        assert len(movies) == 41 and all(Path(m).name.startswith(f"{name}_") and (project / m).is_file() for m in movies)
    calls = json.loads((d / "cryocc_receipt.json").read_text())["tool"]["commands"]
    assert [c[0] for c in calls] == ["relion_python_tomo_import"] * 3
    given = {b.name: sorted({m.name[:5] for m in b.iterdir()}) for b in (d / "cryocc_inputs/frames").iterdir()}
    assert given == {"b0000": ["TS_01", "TS_02"], "b0001": ["TS_03", "TS_04"], "b0002": ["TS_05"]}  # each call its own movies
