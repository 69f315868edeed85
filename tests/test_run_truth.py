"""`run`, `status` and `abort` never wait on or report what is not so (issue 19, "Runs that wait or
lie"): the real relion_schemer, started by `cryocc run`, on the real one-node SLURM with a submission
that fails, and with the workstation profile (jobs run by bash) on a machine where `squeue --me`
answers. A job runs only while its own process or its own SLURM job does."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import copy_examples, edit, tool_env
from test_slurm import _stop_everything
from typer.testing import CliRunner

from cryocc.cli import app

pytestmark = pytest.mark.usefixtures("relion")


class Project:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: str | None = None) -> None:
        self.pipeline = copy_examples(tmp_path / "examples", "quickstart", site=site)
        self.root = tmp_path / "project"
        self.monkeypatch = monkeypatch
        self.switch()
        if site is None:  # SLURM: small jobs on the cluster's one partition
            edit(self.pipeline, "resources: {mem: 2G}", 'resources: {partition: main, cpus: 1, mem: 700M, time: "00:07:00"}')

    def switch(self, path_first: Path | None = None, **fake: str) -> None:
        """The environment cryocc run hands to relion_schemer and so to every job; path_first: a
        directory of stubs in front of everything else on PATH."""
        env = tool_env(**fake)
        if path_first:
            env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
        for k, v in env.items():
            self.monkeypatch.setenv(k, v)
        for k in [k for k in os.environ if k.startswith("FAKE_") and k not in fake]:
            self.monkeypatch.delenv(k)

    def cli(self, *args: str | Path, code: int | None = 0):
        r = CliRunner().invoke(app, [str(a) for a in args])
        if r.exception and not isinstance(r.exception, SystemExit):
            raise r.exception
        if code is not None:
            assert r.exit_code == code, r.output
        return r

    def status(self) -> dict:
        return json.loads(self.cli("status", "--project", self.root, "--json").stdout)

    def job(self, name: str) -> dict:
        return next(j for j in self.status()["jobs"] if j["name"] == name)

    def wait_for(self, name: str, state: str, seconds: float = 60) -> dict:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if (st := self.job(name))["state"] == state:
                return st
            time.sleep(0.5)
        raise AssertionError(f"{name} never became {state}: {self.job(name)}")

    def wait_for_line(self, name: str, text: str, seconds: float = 60) -> None:
        deadline = time.time() + seconds
        while True:
            d = self.job(name)["job_dir"]
            if d and (self.root / d / "run.out").exists() and text in (self.root / d / "run.out").read_text():
                return
            assert time.time() < deadline, f"{text!r} never appeared in {name}'s run.out"
            time.sleep(0.3)

    def job_dirs(self) -> list[Path]:
        return sorted(self.root.glob("External/job*"))


def _stop_strays(root: Path) -> None:
    """The tools a job started run in their own session: what still works in the project goes too."""
    real = str(root.resolve())
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd").startswith(real):
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue


@pytest.fixture
def slurm_project(tmp_path, monkeypatch, slurm_cluster):
    p = Project(tmp_path, monkeypatch)
    yield p
    _stop_everything(p.root)
    _stop_strays(p.root)


@pytest.fixture
def local_project(tmp_path, monkeypatch):
    """The workstation profile (relion_schemer runs each job's script with bash), on this machine,
    where SLURM runs too (tests/slurm/start.sh): `squeue --me` answers, and knows none of its jobs."""
    p = Project(tmp_path, monkeypatch, site="workstation")
    yield p
    _stop_everything(p.root)
    _stop_strays(p.root)


def _stub(directory: Path, name: str, script: str) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text("#!/bin/sh\n" + script)
    (directory / name).chmod(0o755)
    return directory


def _schemer_alive(pid: int) -> bool:
    try:
        return b"relion_schemer" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# --- preflight ------------------------------------------------------------------------------------

def test_run_refuses_a_slurm_site_whose_sbatch_does_not_answer(slurm_project, tmp_path):
    p = slurm_project
    p.cli("apply", p.pipeline, "--project", p.root)
    p.switch(path_first=_stub(tmp_path / "stubs", "sbatch", 'echo "sbatch: error: Unable to contact slurm controller" >&2\nexit 1\n'))
    r = p.cli("run", "--project", p.root, "--wait", code=1)
    assert "sbatch --version` does not answer: sbatch: error: Unable to contact slurm controller" in r.stderr
    assert "submit" in r.stderr and ".cryocc/specs/site-" in r.stderr  # where: the site profile the scheme was compiled from
    assert not (p.root / ".cryocc/run.json").exists() and not p.job_dirs()  # nothing started, nothing submitted


def test_run_refuses_a_site_whose_images_and_tools_are_not_there(local_project):
    p = local_project
    site = p.pipeline.parent / "site.yaml"
    site.write_text((Path(__file__).parent.parent / "config/sites/workstation.yaml").read_text().replace(
        "tools: {}", "tools: {warptools: {image: /nonexistent/warp.sif}, pytom: {bin_dir: /nonexistent/pytom/bin}}"))
    edit(p.pipeline, "site: workstation", "site: site.yaml")
    p.cli("apply", p.pipeline, "--project", p.root)
    r = p.cli("run", "--project", p.root, code=1)
    assert "tools.warptools.image: /nonexistent/warp.sif: no such container image" in r.stderr
    assert "tools.pytom.bin_dir: /nonexistent/pytom/bin: no such directory" in r.stderr
    assert not (p.root / ".cryocc/run.json").exists() and not p.job_dirs()


# --- a submission that fails ----------------------------------------------------------------------

def test_a_failed_submission_fails_its_job_within_seconds_with_sbatchs_own_message(slurm_project):
    """RELION ignores the submit command's exit status and waits for a sentinel that never comes; its
    message went only to Schemes/<scheme>/run.err."""
    p = slurm_project
    edit(p.pipeline, "  import:      {type: import_movies}", "  import:      {type: import_movies, resources: {partition: nosuch}}")
    p.cli("apply", p.pipeline, "--project", p.root)
    t0 = time.time()
    out = p.cli("run", "--project", p.root, "--wait", code=1).stdout
    assert time.time() - t0 < 40
    said = "sbatch: error: invalid partition specified: nosuch"
    assert f"stopped at import: failed (its submission failed: {said}" in out
    imp = p.job("import")
    assert imp["state"] == "failed" and said in imp["detail"]
    assert said in p.cli("status", "--project", p.root).stdout
    assert said in p.cli("logs", "import", "--project", p.root).stdout


# --- one truth about running ----------------------------------------------------------------------

def test_a_job_run_by_bash_runs_while_its_process_does_even_where_squeue_answers(local_project, slurm_cluster):
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    p.switch(FAKE_HANG="ts_aretomo")
    p.cli("run", "--project", p.root)
    p.wait_for_line("align", "hanging as asked")
    align = p.job("align")
    assert align["state"] == "running" and align["slurm"] is None, align
    assert p.status()["schemer"]
    r = p.cli("apply", p.pipeline, "--project", p.root, code=1)  # README: apply is refused while a job runs
    assert "still running: align" in r.stderr
    plan = json.loads(p.cli("plan", p.pipeline, "--project", p.root, "--json").stdout)
    assert {"kind": "running", "detail": align["detail"]} in next(j for j in plan["jobs"] if j["name"] == "align")["reasons"]


def test_run_wait_follows_jobs_run_by_bash_without_calling_them_not_running(local_project, slurm_cluster):
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    p.switch(FAKE_SLEEP="ts_aretomo=6")
    out = p.cli("run", "--project", p.root, "--wait").stdout
    assert "incomplete" not in out and "not running" not in out, out
    assert "Schemes/cryocc_001/ finished: 6 jobs succeeded" in out
    assert "nothing to run" in p.cli("run", "--project", p.root).stdout  # nothing runs twice


def test_after_the_schemer_died_no_job_is_shown_running(local_project, tmp_path):
    """The schemer and its job killed (the head node's session lost): its lock stays behind, and
    default_pipeline.star still says Running; neither makes the job run, whatever squeue says."""
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    p.switch(FAKE_HANG="ts_aretomo")
    p.cli("run", "--project", p.root)
    p.wait_for_line("align", "hanging as asked")
    os.killpg(os.getpgid(json.loads((p.root / ".cryocc/run.json").read_text())["pid"]), signal.SIGKILL)  # with its supervisor
    _stop_strays(p.root)
    assert (p.root / ".relion_lock_scheme_cryocc_001").exists()
    p.switch(path_first=_stub(tmp_path / "stubs", "squeue", "exit 1\n"))  # and SLURM cannot be asked
    doc = p.status()
    align = next(j for j in doc["jobs"] if j["name"] == "align")
    assert doc["schemer"] is None
    assert align["state"] == "incomplete", align
    text = p.cli("status", "--project", p.root).stdout
    assert not re.search(r"│ running +│", text) and "relion_schemer: not running" in text, text


# --- abort ----------------------------------------------------------------------------------------

def test_abort_returns_once_the_job_and_the_schemer_have_stopped(local_project):
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    p.switch(FAKE_HANG="ts_aretomo")
    p.cli("run", "--project", p.root)
    p.wait_for_line("align", "hanging as asked")
    pid = json.loads((p.root / ".cryocc/run.json").read_text())["pid"]
    out = p.cli("abort", "--project", p.root).stdout
    assert "asked Schemes/cryocc_001/ and its running job align (External/job004/) to stop" in out
    assert re.search(r"stopped in \d+ s: align aborted, relion_schemer has ended", out), out
    assert not _schemer_alive(pid)
    assert p.job("align")["state"] == "aborted" and p.status()["schemer"] is None


def test_abort_stops_a_schemer_whose_job_is_still_queued(slurm_project):
    """No driver runs yet to see RELION_JOB_ABORT_NOW, and the schemer never looks at it while it
    waits: the queued job is cancelled and ends aborted, and the schemer with it."""
    p = slurm_project
    edit(p.pipeline, "  import:      {type: import_movies}", "  import:      {type: import_movies, resources: {sbatch: [--hold]}}")
    p.cli("apply", p.pipeline, "--project", p.root)
    p.cli("run", "--project", p.root)
    imp = p.wait_for("import", "running", 30)
    assert imp["slurm"]["state"] == "PENDING"
    pid = json.loads((p.root / ".cryocc/run.json").read_text())["pid"]
    t0 = time.time()
    out = p.cli("abort", "--project", p.root).stdout
    assert time.time() - t0 < 20 and "import aborted, relion_schemer has ended" in out, out
    assert not _schemer_alive(pid)
    assert p.job("import")["state"] == "aborted"
    assert imp["slurm"]["id"] not in subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, errors="replace").stdout


def test_abort_with_nothing_running_says_so_and_leaves_nothing_behind(local_project):
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    before = sorted(str(f.relative_to(p.root)) for f in p.root.rglob("*"))
    r = p.cli("abort", "--project", p.root, code=1)
    assert "nothing to abort: no relion_schemer runs" in r.stderr
    assert sorted(str(f.relative_to(p.root)) for f in p.root.rglob("*")) == before


# --- run's own words ------------------------------------------------------------------------------

def test_run_names_the_schemers_pid_and_warns_of_a_spec_changed_since_the_apply(local_project):
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    edit(p.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 640}}")
    out = p.cli("run", "--project", p.root).stdout
    assert re.search(r"warning: \S+pipeline.yaml changed since Schemes/cryocc_001/ was applied from it", out), out
    pid = int(re.search(r"started relion_schemer for Schemes/cryocc_001/ \(pid (\d+)\)", out).group(1))
    assert _schemer_alive(pid)
    assert "6 jobs succeeded" in p.cli("run", "--project", p.root, "--wait").stdout  # it follows the one running


def test_the_failure_tail_of_run_wait_prints_each_line_once(local_project):
    p = local_project
    p.cli("apply", p.pipeline, "--project", p.root)
    p.switch(FAKE_FAIL="ts_ctf")
    out = p.cli("run", "--project", p.root, "--wait", code=1).stdout
    tail = [line for line in out.split("stopped at ctf: failed", 1)[1].splitlines() if line.startswith("  | ")]
    assert any("ts_ctf failed as asked" in line for line in tail), out
    assert len(tail) == len(set(tail)), out


def test_the_slurm_id_an_earlier_run_recorded_does_not_hide_the_queued_rerun(tmp_path, monkeypatch):
    """A continued job is submitted again into its own directory, where the SLURM id its earlier run
    recorded stays until the new run's script starts: the queued new run is its job, not that id."""
    from test_shared_facility import _fake_squeue

    from cryocc.contract import SLURM_ID
    from cryocc.observe.project import Project as View

    job = tmp_path / "p/External/job006"
    job.mkdir(parents=True)
    (job / SLURM_ID).write_text("21\n")
    os.utime(job / SLURM_ID, (1_700_000_000, 1_700_000_000))
    (job / "job.star").write_text("data_job\n")  # RELION writes it as it submits the job again
    _fake_squeue(tmp_path, monkeypatch, [f"22\tPENDING\t{tmp_path / 'p'}\tExternal/job006/"])
    assert View(tmp_path / "p").slurm("External/job006/") == {"id": "22", "state": "PENDING"}


def test_where_slurm_cannot_be_asked_only_the_job_its_live_schemer_waits_for_runs(tmp_path, monkeypatch):
    """squeue does not answer: the job the scheme's live relion_schemer waits for is taken as running;
    once that schemer is gone, its lock left behind says nothing: the job is not running."""
    import socket

    from cryocc.lockfile.lockfile import JobLock
    from cryocc.observe.project import Project as View
    from cryocc.observe.project import observe_job
    from cryocc.star import block_loop, block_pairs

    root = tmp_path / "p"
    (root / "Schemes/s").mkdir(parents=True)
    (root / "External/job001").mkdir(parents=True)
    (root / ".relion_lock_scheme_s").mkdir()
    (root / ".cryocc").mkdir()
    (root / "Schemes/s/scheme.star").write_text(block_pairs("scheme_general", {"rlnSchemeCurrentNodeName": "a"}) + block_loop(
        "scheme_jobs", ["rlnSchemeJobNameOriginal", "rlnSchemeJobName", "rlnSchemeJobMode", "rlnSchemeJobHasStarted"],
        [["a", "External/job001/", "new", "1"]]))
    (root / "External/job001/job.star").write_text(
        block_loop("joboptions_values", ["rlnJobOptionVariable", "rlnJobOptionValue"], [["qsub", "sbatch"]]))
    (root / "default_pipeline.star").write_text(block_loop(  # as the killed schemer left it
        "pipeline_processes", ["rlnPipeLineProcessName", "rlnPipeLineProcessAlias", "rlnPipeLineProcessTypeLabel",
                               "rlnPipeLineProcessStatusLabel"], [["External/job001/", "None", "relion.external", "Running"]]))
    _stub(tmp_path / "stubs", "squeue", "exit 1\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'stubs'}{os.pathsep}{os.environ['PATH']}")
    lock = JobLock(type="import_movies", fingerprint="f", parts={}, scheme="s")
    schemer = subprocess.Popen(["bash", "-c", "sleep 30; true", "relion_schemer", "--scheme", "s"], cwd=root)
    try:
        (root / ".cryocc/run.json").write_text(json.dumps({"scheme": "s", "pid": schemer.pid, "host": socket.gethostname()}))
        st = observe_job(View(root), "a", lock)
        assert st.status == "running" and "its relion_schemer runs and waits for it" in st.detail, st
    finally:
        schemer.kill()
        schemer.wait()
    st = observe_job(View(root), "a", lock)
    assert st.status == "incomplete" and "SLURM cannot be asked" in st.detail, st


def test_a_schemer_just_started_is_seen_as_running(tmp_path):
    """Right after a fork its /proc cmdline can be empty (the exec under way): run --wait once took such a
    schemer for ended and said the scheme stopped at its first job, scheduled."""
    import subprocess
    import sys

    from cryocc.observe.project import schemer_alive
    from cryocc.run.runner import _until_it_shows

    for _ in range(100):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)", "--scheme", "cryocc_001"], stdin=subprocess.DEVNULL)
        try:
            _until_it_shows(child.pid, "cryocc_001")
            assert schemer_alive(child.pid, "cryocc_001")
        finally:
            child.kill()
            child.wait()
