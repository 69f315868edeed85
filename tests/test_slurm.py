"""End to end under a real SLURM cluster (tests/slurm/start.sh): `cryocc run` starts the real
relion_schemer (tests/relion/build.sh), which submits the product's own job scripts with sbatch;
drivers run the real RELION import and the contract fakes of tests/fake_tools on the node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import copy_examples, edit, tool_env
from typer.testing import CliRunner

from cryocc.cli import app

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster", "relion")]
JOBS = ["import", "motion", "tsimport", "align", "ctf", "reconstruct"]


class E2E:
    """The quickstart on the test cluster; execution node (one SLURM job per job, as a site without
    arrays runs it: tests/test_arrays.py runs the per-tilt-series jobs as arrays)."""

    def __init__(self, tmp_path, monkeypatch, execution: str = "node"):
        self.pipeline = copy_examples(tmp_path / "examples", "quickstart")
        self.root = tmp_path / "project"
        self.monkeypatch = monkeypatch
        self.switch()
        edit(self.pipeline, "resources: {mem: 2G}", 'resources: {partition: main, cpus: 2, mem: 700M, time: "00:07:00"}')
        edit(self.pipeline, "defaults:\n", f"defaults:\n  execution: {execution}\n")

    def switch(self, **fake):
        """The environment cryocc run hands to relion_schemer, and so (through sbatch) to every job."""
        for k, v in tool_env(**fake).items():
            self.monkeypatch.setenv(k, v)
        for k in [k for k in os.environ if k.startswith("FAKE_") and k not in fake]:
            self.monkeypatch.delenv(k)

    def cli(self, *args, code=0):
        r = CliRunner().invoke(app, [str(a) for a in args])
        if r.exception and not isinstance(r.exception, SystemExit):
            raise r.exception
        assert r.exit_code == code, r.output
        return r

    def status(self) -> dict:
        return {j["name"]: j for j in json.loads(self.cli("status", "--project", self.root, "--json").stdout)["jobs"]}

    def receipts(self) -> dict[str, dict]:
        out = {}
        for f in sorted(self.root.glob("External/job*/cryocc_receipt.json")):
            r = json.loads(f.read_text())
            out.setdefault(r["job"], []).append(r)
        return out

    def submissions(self) -> int:
        """Jobs RELION submitted: one run_submit.script per job directory (the schemer's own log is
        block-buffered, so its last lines are lost when it is killed)."""
        return len(list(self.root.glob("External/job*/run_submit.script")))

    def wait_for(self, job: str, state: str, seconds: float = 60) -> dict:
        deadline = time.time() + seconds
        while time.time() < deadline:
            st = self.status()[job]
            if st["state"] == state:
                return st
            time.sleep(0.5)
        raise AssertionError(f"{job} never became {state}: {self.status()[job]}")


@pytest.fixture
def e2e(tmp_path, monkeypatch):
    e = E2E(tmp_path, monkeypatch)
    yield e
    _stop_everything(e.root)


def _stop_everything(project) -> None:
    """What a test leaves running would hold the one node for the tests after it: its schemer
    (with the supervisor, in their own session) and its SLURM jobs go."""
    try:
        record = json.loads((project / ".cryocc/run.json").read_text())
        os.killpg(record.get("watchdog", record["pid"]), signal.SIGKILL)
    except (OSError, ValueError, KeyError):
        pass
    out = subprocess.run(["squeue", "-h", "-o", "%i %Z"], capture_output=True, text=True, errors="replace").stdout
    mine = [line.split()[0] for line in out.splitlines() if len(line.split()) == 2 and line.split()[1] == str(project)]
    if mine:
        subprocess.run(["scancel", *mine], check=False)


def _scontrol(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout
    return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)


def test_quickstart_runs_to_the_end_with_the_resources_asked_for(e2e):
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    out = e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert "Schemes/cryocc_001/ finished: 6 jobs succeeded" in out
    receipts = e2e.receipts()
    assert sorted(receipts) == sorted(JOBS) and all(len(r) == 1 for r in receipts.values())
    for job in JOBS:
        d = e2e.root / receipts[job][0]["job_dir"]
        assert (d / "RELION_JOB_EXIT_SUCCESS").exists() and not (d / "RELION_JOB_EXIT_FAILURE").exists()
        assert receipts[job][0]["slurm_job_id"]
    big = _scontrol(receipts["reconstruct"][0]["slurm_job_id"])
    assert (big["Partition"], big["NumCPUs"], big["MinMemoryNode"], big["TimeLimit"]) == ("main", "2", "700M", "00:07:00")
    assert big["JobName"] == receipts["reconstruct"][0]["job_dir"]
    small = _scontrol(receipts["ctf"][0]["slurm_job_id"])
    assert (small["NumCPUs"], small["MinMemoryNode"], small["TimeLimit"]) == ("1", "1G", "00:20:00")
    assert "nothing to run" in e2e.cli("run", "--project", e2e.root).stdout


def test_a_changed_parameter_submits_only_that_job_and_below(e2e):
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root, "--wait")
    edit(e2e.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 640}}")
    plan = json.loads(e2e.cli("plan", e2e.pipeline, "--project", e2e.root, "--json").stdout)
    assert [j["action"] for j in plan["jobs"]] == ["keep"] * 4 + ["rerun"] * 2
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    assert "2 jobs succeeded" in e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert e2e.submissions() == 6 + 2
    receipts = e2e.receipts()
    assert [len(receipts[j]) for j in JOBS] == [1, 1, 1, 1, 2, 2]
    ctf_run = (e2e.root / receipts["ctf"][1]["job_dir"] / "run.out").read_text()
    assert "--input_processing warp_tiltseries" in ctf_run and "--window 640" in ctf_run
    note = (e2e.root / receipts["ctf"][1]["job_dir"] / "note.txt").read_text()
    assert f"--in_mics {receipts['align'][0]['job_dir']}aligned_tilt_series.star" in note  # the kept job's output


def test_scancel_turns_into_a_failure_and_a_rerun_starts_there(e2e):
    e2e.switch(FAKE_HANG="ts_ctf")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root)
    ctf = e2e.wait_for("ctf", "running", 90)
    _wait_for_line(e2e.root / ctf["job_dir"] / "run.out", "fake ts_ctf: hanging as asked")  # inside the hanging tool
    subprocess.run(["scancel", ctf["slurm"]["id"]], check=True)
    t0 = time.time()
    e2e.wait_for("ctf", "failed", 20)
    assert time.time() - t0 < 15
    d = e2e.root / ctf["job_dir"]
    assert "terminated by signal SIGTERM" in json.loads((d / "cryocc_receipt.json").read_text())["reason"]
    plan = json.loads(e2e.cli("plan", e2e.pipeline, "--project", e2e.root, "--json").stdout)
    assert [(j["name"], j["action"]) for j in plan["jobs"]][4:] == [("ctf", "rerun"), ("reconstruct", "run")]
    assert plan["jobs"][4]["reasons"][0]["kind"] == "failed"
    _wait_schemer_gone(e2e)
    e2e.switch()  # the fix
    assert "2 jobs succeeded" in e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert e2e.submissions() == 5 + 2


def test_a_job_over_its_time_limit_fails_within_seconds(e2e):
    edit(e2e.pipeline, "  ctf:         {type: ts_ctf}", '  ctf:         {type: ts_ctf, resources: {time: "00:01:00"}}')
    e2e.switch(FAKE_HANG="ts_ctf")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root)
    ctf = e2e.wait_for("ctf", "running", 90)
    st = e2e.wait_for("ctf", "failed", 150)
    assert "terminated" in st["detail"] or "signal" in st["detail"]
    assert _final_state(ctf["slurm"]["id"]) == "TIMEOUT"


def _final_state(job_id: str, seconds: float = 60) -> str:
    """SLURM passes through COMPLETING on its way to a final state: wait for that one."""
    deadline = time.time() + seconds
    while True:
        state = _scontrol(job_id)["JobState"]
        if state not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED") or time.time() > deadline:
            return state
        time.sleep(0.5)


def test_abort_stops_the_running_tool(e2e):
    e2e.switch(FAKE_HANG="ts_aretomo")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root)
    align = e2e.wait_for("align", "running", 90)  # queued or running in SLURM
    _wait_for_line(e2e.root / align["job_dir"] / "run.out", "fake ts_aretomo: hanging as asked")  # inside the hanging tool
    out = e2e.cli("abort", "--project", e2e.root).stdout
    assert f"asked Schemes/cryocc_001/ and its running job align ({align['job_dir']}) to stop" in out
    assert "align aborted, relion_schemer has ended" in out  # abort returns once both have stopped
    assert e2e.status()["align"]["state"] == "aborted"
    d = e2e.root / align["job_dir"]
    assert json.loads((d / "cryocc_receipt.json").read_text())["status"] == "aborted"
    _wait_schemer_gone(e2e)
    assert not _working_in(e2e.root)  # nothing of the job is left (other projects' tools may run on this machine)


def _working_in(root) -> list[str]:
    """Command lines of the processes whose working directory is in root."""
    real, found = str(root.resolve()), []
    for proc in os.scandir("/proc"):
        try:
            if proc.name.isdigit() and os.readlink(f"{proc.path}/cwd").startswith(real):
                found.append(Path(proc.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def _wait_for_line(path, text, seconds=60):
    deadline = time.time() + seconds
    while not (path.exists() and text in path.read_text()):
        assert time.time() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.3)


def test_a_job_cancelled_while_queued_does_not_hang_the_scheme(e2e, monkeypatch):
    """No script ran, so no guard: the supervisor's watchdog writes the failure."""
    monkeypatch.setenv("CRYOCC_WATCHDOG_SECONDS", "1")
    subprocess.run(["scontrol", "update", "partition=main", "state=down"], check=True)  # jobs queue, none starts
    try:
        e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
        e2e.cli("run", "--project", e2e.root)
        imp = e2e.wait_for("import", "running", 30)
        assert imp["slurm"]["state"] == "PENDING"
        subprocess.run(["scancel", imp["slurm"]["id"]], check=True)
        st = e2e.wait_for("import", "failed", 20)
        assert (e2e.root / st["job_dir"] / "cryocc_watchdog.txt").exists()
        _wait_schemer_gone(e2e)
    finally:
        subprocess.run(["scontrol", "update", "partition=main", "state=up"], check=True)


def _wait_schemer_gone(e2e, seconds=30):
    deadline = time.time() + seconds
    while json.loads(e2e.cli("status", "--project", e2e.root, "--json").stdout)["schemer"]:
        assert time.time() < deadline, "relion_schemer did not stop"
        time.sleep(0.5)


def test_a_killed_schemer_is_recovered_without_rerunning_finished_work(e2e):
    e2e.switch(FAKE_SLEEP="ts_aretomo=8")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root)
    e2e.wait_for("align", "running", 90)
    pid = json.loads((e2e.root / ".cryocc/run.json").read_text())["watchdog"]
    os.killpg(pid, signal.SIGKILL)  # the head node lost the schemer (and its supervisor) while align runs in SLURM
    assert (e2e.root / ".relion_lock_scheme_cryocc_001").exists()  # left behind, as RELION does
    status = e2e.cli("status", "--project", e2e.root).stdout
    assert "relion_schemer: not running" in status
    e2e.switch()
    out = e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert "waiting for align" in out or "removed the stale lock" in out
    assert "continuing with ctf, reconstruct" in out
    assert "2 jobs succeeded" in out
    receipts = e2e.receipts()
    assert all(len(receipts[j]) == 1 for j in JOBS)  # nothing ran twice
    assert e2e.submissions() == 6


def test_another_projects_job_of_the_same_name_is_not_taken_for_ours(e2e, monkeypatch, tmp_path):
    """Every RELION project names its jobs External/jobNNN/: a colleague's queued External/job001/
    must neither look like ours in status nor keep the watchdog from noticing that ours is gone."""
    monkeypatch.setenv("CRYOCC_WATCHDOG_SECONDS", "1")
    other = tmp_path / "their-project"
    other.mkdir()
    subprocess.run(["scontrol", "update", "partition=main", "state=down"], check=True)  # jobs queue, none starts
    try:
        theirs = subprocess.run(["sbatch", "--parsable", "-p", "main", "-J", "External/job001/", "-D", str(other),
                                 "-o", "/dev/null", "--wrap", "sleep 300"], capture_output=True, text=True, check=True).stdout.strip()
        e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
        e2e.cli("run", "--project", e2e.root)
        imp = e2e.wait_for("import", "running", 30)
        assert imp["slurm"]["id"] != theirs
        subprocess.run(["scancel", imp["slurm"]["id"]], check=True)
        st = e2e.wait_for("import", "failed", 20)  # theirs is still queued under the same name
        assert (e2e.root / st["job_dir"] / "cryocc_watchdog.txt").exists()
        _wait_schemer_gone(e2e)
    finally:
        subprocess.run(["scancel", theirs], check=False)
        subprocess.run(["scontrol", "update", "partition=main", "state=up"], check=True)


def test_new_tilt_series_extend_each_job_in_its_directory_under_slurm(e2e):
    from test_items import add_series, handed_on, names, processed

    class View:  # what test_items' readers need
        root = e2e.root

    add_series(e2e.pipeline.parent, names(2, 2))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root, "--wait")
    first = {j: r[0]["job_dir"] for j, r in e2e.receipts().items()}
    add_series(e2e.pipeline.parent, names(4, 2))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    assert "6 jobs succeeded" in e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert e2e.submissions() == 6  # no new job directory: each job was continued in its own
    for job in JOBS:
        receipt = json.loads((e2e.root / first[job] / "cryocc_receipt.json").read_text())
        assert receipt["status"] == "succeeded" and receipt["slurm_job_id"]
        assert processed(View, job, first[job]) == ["TS_04", "TS_05"], job
        assert handed_on(View, job, first[job]) == names(1, 5), job
    assert "nothing to run" in e2e.cli("run", "--project", e2e.root).stdout


def test_a_failed_tilt_series_is_named_and_retried_alone_under_slurm(e2e):
    from test_items import add_series, names

    add_series(e2e.pipeline.parent, names(2, 1))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_ALIGN_FAIL="TS_02")
    out = e2e.cli("run", "--project", e2e.root, "--wait", code=1).stdout
    assert "1 of 2 tilt series failed: TS_02 (aretomo alignment failed)" in out
    plan = json.loads(e2e.cli("plan", e2e.pipeline, "--project", e2e.root, "--json").stdout)
    assert [(j["name"], j["action"]) for j in plan["jobs"]][3] == ("align", "extend")
    e2e.switch()
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root, "--wait")
    align = e2e.receipts()["align"]
    assert len(align) == 1 and align[0]["status"] == "succeeded"
    assert (e2e.root / align[0]["job_dir"] / "cryocc_todo.txt").read_text() == "tomostar/TS_02.tomostar\n"



@pytest.mark.parametrize(("qsub", "process", "fails"), [("sbatch", None, True), ("bash", None, False), ("bash", "ended", True),
                                                       ("bash", "runs", False)],
                         ids=["sbatch-not-in-squeue", "bash-not-started-yet", "bash-process-ended", "bash-process-runs"])
def test_the_watchdog_fails_only_jobs_that_nothing_runs(tmp_path, qsub, process, fails):
    """A started job without a sentinel is lost when SLURM does not know it (the site submits with
    sbatch), or when its own process ended (a site that runs jobs by bash, whose jobs are in no squeue);
    not while its process runs, nor before its script has recorded one."""
    import socket

    from cryocc.run import watchdog
    from cryocc.star import block_loop, block_pairs

    (tmp_path / "Schemes/s").mkdir(parents=True)
    job = tmp_path / "External/job001"
    job.mkdir(parents=True)
    (tmp_path / "Schemes/s/scheme.star").write_text(block_pairs("scheme_general", {"rlnSchemeName": "Schemes/s/"}) + block_loop(
        "scheme_jobs", ["rlnSchemeJobNameOriginal", "rlnSchemeJobName", "rlnSchemeJobMode", "rlnSchemeJobHasStarted"],
        [["a", "External/job001/", "new", "1"]]))
    (tmp_path / "default_pipeline.star").write_text(block_pairs("pipeline_general", {"rlnPipeLineJobCounter": 2}) + block_loop(
        "pipeline_processes", ["rlnPipeLineProcessName", "rlnPipeLineProcessAlias", "rlnPipeLineProcessTypeLabel",
                               "rlnPipeLineProcessStatusLabel"], [["External/job001/", "None", "relion.external", "Running"]]))
    (job / "job.star").write_text(block_loop("joboptions_values", ["rlnJobOptionVariable", "rlnJobOptionValue"], [["qsub", qsub]]))
    script = subprocess.Popen(["bash", "-c", "sleep 30; true", "External/job001/run_submit.script"], cwd=tmp_path)
    try:
        if process == "ended":
            script.kill()
            script.wait()
        if process:
            (job / "cryocc_pid").write_text(f"{socket.gethostname()} {script.pid}\n")
        argv = ["--project", str(tmp_path), "--scheme", "s", "--interval", "0.1", "--", "sleep", "1"]
        assert watchdog.main(argv) == 0
    finally:
        script.kill()
        script.wait()
    assert (job / "RELION_JOB_EXIT_FAILURE").exists() == fails
