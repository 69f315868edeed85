"""Seeing and stopping a job run as SLURM arrays (issue 20, "Seeing it"): status, plan and `run --wait`
show its progress (done and failed from the tasks' records, running and pending from the one squeue
call), `logs --item` prints a tilt series' task log, abort and the watchdog cancel its arrays, and the
estimate counts its tasks. Synthetic job directories in the layout drivers/_array.py writes
(contract.ARRAY_*), under a stub squeue that answers as the real one does; the last tests submit real
arrays to the one-node cluster (tests/slurm/start.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import copy_examples, edit
from test_incremental import Proj, _submitted_with_sbatch
from test_items import add_series, names
from typer.testing import CliRunner

from cryocc.contract import ABORT_NOW, ARRAY_FORMAT, ARRAY_IDS, ARRAY_MANIFEST, ARRAY_TASKS, task_log

JOB = "External/job006/"  # reconstruct, in the quickstart project `done` ran


@pytest.fixture
def done(tmp_path):
    """A quickstart project applied and run to the end (jobs run by bash)."""
    p = Proj(tmp_path)
    p.apply()
    p.run()
    return p


def _stubs(tmp_path: Path, monkeypatch, queue: list[str]) -> Path:
    """squeue answering with queue (as `squeue -h --me -o %i\\t%T\\t%Z\\t%j` does), until scancel is
    called: then with the lines of no array it cancelled. scancel records its arguments in scancel.log."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "queue").write_text("".join(line + "\n" for line in queue))
    (stubs / "squeue").write_text(
        "#!/bin/bash\n"
        '[[ " $* " == *" --me "* && " $* " == *" -o %i\t%T\t%Z\t%j "* ]] || { echo "bad args: $*" >&2; exit 1; }\n'
        f'cat "{stubs}/queue"\n')
    (stubs / "scancel").write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> "{stubs}/scancel.log"\n'
        f'for id in "$@"; do grep -v "^$id[_\t]" "{stubs}/queue" > "{stubs}/queue.new"; mv "{stubs}/queue.new" "{stubs}/queue"; done\n')
    for stub in ("squeue", "scancel"):
        (stubs / stub).chmod(0o755)
    monkeypatch.setenv("PATH", f"{stubs}{os.pathsep}{os.environ['PATH']}")
    return stubs


def _as_array(root: Path, tasks: list[list[str]], arrays: list[dict], records: dict[int, dict], supervisor: str = "900") -> Path:
    """Job 006 as if its supervisor (SLURM job `supervisor`) were running it as arrays: RELION's job.star
    says sbatch, no sentinel, and the supervisor's manifest, arrays and the records of the tasks done."""
    d = root / JOB
    _submitted_with_sbatch(d)
    (d / "RELION_JOB_EXIT_SUCCESS").unlink()
    (d / "cryocc_slurm_job").write_text(supervisor + "\n")
    (d / ARRAY_TASKS).mkdir(parents=True)
    (d / ARRAY_MANIFEST).write_text(json.dumps({"format": 1, "job": "reconstruct", "fingerprint": "f", "tasks": tasks, "max_parallel": 2}))
    (d / ARRAY_IDS).write_text(json.dumps(arrays))
    for n, record in records.items():
        (d / ARRAY_TASKS / f"{n}.json").write_text(json.dumps(record))
    return d


def _record(task: int, **outcomes: str) -> dict:
    items = {name: {"outcome": o, "reason": "aretomo failed" if o == "failed" else None, "fingerprint": "x"} for name, o in outcomes.items()}
    status = "failed" if "failed" in outcomes.values() else "succeeded"
    return {"format": 1, "task": task, "status": status, "reason": None, "items": items, "slurm": f"1234_{task}", "seconds": 3}


EIGHT = [[f"TS_0{i}"] for i in range(1, 9)]
LINE = "array 1234: 2 done, 2 running, 3 pending, 1 failed (TS_02)"


def _eight_running(p: Proj, tmp_path: Path, monkeypatch, more_queue: tuple[str, ...] = ()) -> Path:
    """Eight tasks: 0 and 2 done, 1 failed on TS_02, 3 and 4 running, 5-7 pending (one squeue range)."""
    root = str(p.root)
    d = _as_array(p.root, EIGHT, [{"id": "1234", "base": 0, "indices": list(range(8))}],
                  {0: _record(0, TS_01="succeeded"), 1: _record(1, TS_02="failed"), 2: _record(2, TS_03="succeeded")})
    _stubs(tmp_path, monkeypatch, [f"900\tRUNNING\t{root}\t{JOB}", f"1234_3\tRUNNING\t{root}\treconstruct.tasks",
                                   f"1234_4\tCOMPLETING\t{root}\treconstruct.tasks", f"1234_[5-7%2]\tPENDING\t{root}\treconstruct.tasks",
                                   f"1234_[0-7]\tPENDING\t{tmp_path}/elsewhere\treconstruct.tasks", *more_queue])
    return d


def _job(doc: dict, name: str = "reconstruct") -> dict:
    return next(j for j in doc["jobs"] if j["name"] == name)


def test_status_and_plan_show_a_running_arrays_progress(done, tmp_path, monkeypatch):
    """Done and failed from the records; running and pending from squeue's lines of that array in this
    project (a pending range counts its tasks; another project's line of the same id counts nothing)."""
    _eight_running(done, tmp_path, monkeypatch)
    doc = json.loads(done.cli("status", "--project", done.root, "--json").stdout)
    job = _job(doc)
    assert job["state"] == "running" and job["detail"] == LINE and job["slurm"] == {"id": "900", "state": "RUNNING"}
    assert {k: job["array"][k] for k in ("ids", "tasks", "done", "running", "pending", "failed", "lost", "max_parallel")} == \
        {"ids": ["1234"], "tasks": 8, "done": 2, "running": 2, "pending": 3, "failed": {"TS_02": "aretomo failed"}, "lost": 0,
         "max_parallel": 2}
    assert _job(doc, "ctf")["array"] is None
    text = done.cli("status", "--project", done.root).stdout
    assert any(line.split()[:3] == ["reconstruct", "ts_reconstruct", "running"] and f"{LINE} (SLURM 900 RUNNING)" in line
               for line in text.splitlines()), text
    reasons = _job(done.plan())["reasons"]
    assert {"kind": "running", "detail": LINE} in reasons
    assert f"running now: {LINE}" in done.cli("plan", done.pipeline, "--project", done.root).stdout


def test_run_wait_says_each_change_of_an_arrays_progress(done, tmp_path, monkeypatch):
    from cryocc.observe.project import observe
    from cryocc.run.runner import _describe, applied_lock

    d = _eight_running(done, tmp_path, monkeypatch)
    said = _describe(observe(done.root, applied_lock(done.root))["reconstruct"])
    assert said == f"reconstruct: running in {JOB}, SLURM job 900 RUNNING; {LINE}"
    (d / ARRAY_TASKS / "3.json").write_text(json.dumps(_record(3, TS_04="succeeded")))
    st = observe(done.root, applied_lock(done.root))["reconstruct"]
    assert st.detail == "array 1234: 3 done, 1 running, 3 pending, 1 failed (TS_02)"  # a record outweighs squeue


def test_tasks_slurm_no_longer_has_without_a_record_are_lost_and_an_earlier_runs_arrays_are_not_shown(done, tmp_path, monkeypatch):
    root = str(done.root)
    d = _as_array(done.root, EIGHT[:3], [{"id": "1234", "base": 0, "indices": [0, 1, 2]}], {0: _record(0, TS_01="succeeded")})
    _stubs(tmp_path, monkeypatch, [f"900\tRUNNING\t{root}\t{JOB}", f"1234_2\tRUNNING\t{root}\treconstruct.tasks"])
    assert _job(json.loads(done.cli("status", "--project", done.root, "--json").stdout))["detail"] == \
        "array 1234: 1 done, 1 running, 0 pending, 1 lost (their tasks ended without a record)"
    _stubs(tmp_path, monkeypatch, [f"900\tRUNNING\t{root}\t{JOB}"])
    old = os.stat(d / "job.star").st_mtime - 60
    os.utime(d / ARRAY_IDS, (old, old))  # from the run before RELION submitted this one, and none of it in SLURM
    job = _job(json.loads(done.cli("status", "--project", done.root, "--json").stdout))
    assert job["array"] is None and job["detail"] == "SLURM job 900 RUNNING"


@pytest.mark.parametrize(("damage", "said"), [
    (lambda d: (d / ARRAY_MANIFEST).write_text("{not json"), f"{ARRAY_MANIFEST}:1:2: not a JSON task manifest"),
    (lambda d: (d / ARRAY_IDS).write_text('[{"id": "--me", "base": 0, "indices": [0]}]'), "[0].id: --me is not a SLURM job id"),
    (lambda d: (d / ARRAY_IDS).write_text('[{"id": "1234", "base": 0, "indices": ["0"]}]'), "[0].indices[0]"),
    (lambda d: (d / ARRAY_MANIFEST).unlink() or os.mkfifo(d / ARRAY_MANIFEST), "a FIFO where a file belongs"),
    (lambda d: (d / ARRAY_MANIFEST).write_text(json.dumps({"format": ARRAY_FORMAT + 1, "tasks": {"0": ["TS_01"]}})),
     f"{ARRAY_MANIFEST}: format: the task manifest is of format {ARRAY_FORMAT + 1}, and this cryocc reads format {ARRAY_FORMAT}"),
], ids=["manifest-not-json", "id-an-option", "index-not-a-number", "manifest-a-fifo", "manifest-of-another-format"])
def test_a_damaged_array_file_is_said_in_the_detail_and_status_still_answers(done, tmp_path, monkeypatch, damage, said):
    d = _eight_running(done, tmp_path, monkeypatch)
    damage(d)
    job = _job(json.loads(done.cli("status", "--project", done.root, "--json").stdout))
    assert job["state"] == "running" and job["array"] is None
    assert "its arrays cannot be read: " in job["detail"] and said in job["detail"], job["detail"]


def test_a_damaged_task_record_is_named_and_the_others_still_count(done, tmp_path, monkeypatch):
    d = _eight_running(done, tmp_path, monkeypatch)
    (d / ARRAY_TASKS / "2.json").write_text('{"status": "succeeded", "items": [1]}')
    os.symlink("/etc/passwd", d / ARRAY_TASKS / "6.json")
    job = _job(json.loads(done.cli("status", "--project", done.root, "--json").stdout))
    assert job["detail"].startswith("array 1234: 1 done, 2 running, 2 pending, 1 failed (TS_02), unreadable: ")
    assert job["array"]["unreadable"] == [f"{ARRAY_TASKS}/2.json (items: should be an object or null, not list: not a task record cryocc wrote)",
                                          f"{ARRAY_TASKS}/6.json (a symlink)"]


def test_a_task_record_of_another_format_is_named_and_the_others_still_count(done, tmp_path, monkeypatch):
    d = _eight_running(done, tmp_path, monkeypatch)
    (d / ARRAY_TASKS / "2.json").write_text(json.dumps({**_record(2, TS_03="succeeded"), "format": ARRAY_FORMAT + 1}))
    job = _job(json.loads(done.cli("status", "--project", done.root, "--json").stdout))
    assert job["detail"].startswith("array 1234: 1 done, 2 running, 3 pending, 1 failed (TS_02), unreadable: ")
    assert job["array"]["unreadable"] == [f"{ARRAY_TASKS}/2.json (format: the task record is of format {ARRAY_FORMAT + 1}, "
                                          f"and this cryocc reads format {ARRAY_FORMAT})"]


def test_array_files_through_a_symlink_out_of_the_job_directory_are_not_read(done, tmp_path, monkeypatch):
    d = _eight_running(done, tmp_path, monkeypatch)
    outside = tmp_path / "outside"
    os.rename(d / "cryocc_array", outside)
    os.symlink(outside, d / "cryocc_array")
    job = _job(json.loads(done.cli("status", "--project", done.root, "--json").stdout))
    assert job["array"] is None and f"leads to {outside}/manifest.json, outside the project" in job["detail"]


# --- logs --item ---------------------------------------------------------------------------------

def test_logs_item_prints_the_log_of_the_task_that_ran_that_tilt_series(done, tmp_path, monkeypatch):
    d = _eight_running(done, tmp_path, monkeypatch)
    (d / "cryocc_array/logs").mkdir()
    (d / task_log("1234", 1, "out")).write_text("cryocc driver: array task 1: TS_02\naretomo failed\n")
    (d / task_log("1234", 1, "err")).write_text("slurmstepd: error: oom-kill\n")
    (d / task_log("1234", 0, "out")).write_text("task 0 ran TS_01\n")
    out = done.cli("logs", "reconstruct", "--project", done.root, "--item", "TS_02").stdout
    assert out == ("cryocc driver: array task 1: TS_02\naretomo failed\n"
                   f"--- {JOB}cryocc_array/logs/1234_1.err ---\nslurmstepd: error: oom-kill\n"
                   "--- TS_02: task 1 of reconstruct, SLURM 1234_1 ---\n")
    err = done.cli("logs", "reconstruct", "--project", done.root, "--item", "TS_07", code=1).stderr
    assert "task 6 of reconstruct (TS_07), SLURM 1234_6, has no log yet: it has not started" in err
    err = done.cli("logs", "reconstruct", "--project", done.root, "--item", "TS_99", code=1).stderr
    assert f"{JOB} has no log of tilt series TS_99" in err and "it has logs of TS_01, TS_02" in err
    whole = done.cli("logs", "reconstruct", "--project", done.root).stdout
    assert f"--- 8 array tasks (1234) have their own log in {JOB}cryocc_array/logs/" in whole


def test_logs_item_finds_a_task_a_restarted_supervisor_submitted_again_and_never_reads_out_of_the_job(done, tmp_path, monkeypatch):
    d = _as_array(done.root, [["TS_01", "TS_02"], ["TS_03"]], [{"id": "1234", "base": 0, "indices": [0, 1]},
                                                               {"id": "1300", "base": 0, "indices": [1]}], {})
    _stubs(tmp_path, monkeypatch, [])
    (d / "cryocc_array/logs").mkdir()
    (d / task_log("1234", 1, "out")).write_text("the first, lost\n")
    (d / task_log("1300", 1, "out")).write_text("submitted again\n")
    assert done.cli("logs", "reconstruct", "--project", done.root, "--item", "TS_03").stdout == \
        "submitted again\n--- TS_03: task 1 of reconstruct, SLURM 1300_1 ---\n"
    (tmp_path / "secret").write_text("not the project's\n")
    os.symlink(tmp_path / "secret", d / task_log("1234", 0, "out"))
    err = done.cli("logs", "reconstruct", "--project", done.root, "--item", "TS_02", code=1).stderr
    assert "leads to" in err and "not the project's" not in err


# --- abort and the watchdog -----------------------------------------------------------------------

def test_abort_cancels_the_running_jobs_arrays_slurm_lists_as_ours_after_asking_it_to_stop(done, tmp_path, monkeypatch):
    """scancel only for recorded arrays squeue lists as arrays working in this project (1234), not for
    one recorded that is another project's (4321); the job's RELION_JOB_ABORT_NOW is there before."""
    from cryocc.run import runner

    root = str(done.root)
    d = _eight_running(done, tmp_path, monkeypatch, (f"4321_0\tRUNNING\t{tmp_path}/elsewhere\tx.tasks",))
    (d / ARRAY_IDS).write_text(json.dumps([{"id": "1234", "base": 0, "indices": list(range(8))},
                                           {"id": "4321", "base": 0, "indices": [0]}]))
    queue = tmp_path / "stubs/queue"
    seen: list[bool] = []
    real_scancel = runner.scancel

    def scancel(ids: list[str]) -> str:
        seen.append((d / ABORT_NOW).exists())
        problem = real_scancel(ids)
        queue.write_text(queue.read_text().replace(f"900\tRUNNING\t{root}\t{JOB}\n", ""))  # its supervisor then ends
        return problem

    monkeypatch.setattr(runner, "scancel", scancel)
    said: list[str] = []
    runner.abort(done.root, say=said.append, grace=10, poll=0.1)
    assert (tmp_path / "stubs/scancel.log").read_text() == "1234\n" and seen == [True]
    assert "cancelled reconstruct's array 1234" in said
    assert said[-1].startswith("stopped in ") and said[-1].endswith("reconstruct aborted, SLURM has no task of their arrays left")


def test_abort_says_what_it_could_not_cancel(done, tmp_path, monkeypatch):
    from cryocc.run import runner

    d = _eight_running(done, tmp_path, monkeypatch)
    (d / ARRAY_IDS).write_text('[{"id": "-u", "base": 0, "indices": [0]}]')
    said: list[str] = []
    with pytest.raises(Exception, match="not everything stopped within 1 s: reconstruct"):
        runner.abort(done.root, say=said.append, grace=1, poll=0.1)
    assert not (tmp_path / "stubs/scancel.log").exists()
    assert any(s.startswith("cannot cancel the arrays of reconstruct: ") and "[0].id: -u is not a SLURM job id" in s for s in said), said


def test_the_watchdog_cancels_the_arrays_of_a_job_it_fails(done, tmp_path, monkeypatch):
    """Its supervisor gone from SLURM without a sentinel (its node lost): the job fails, and the tasks of
    its array that still run or wait are cancelled, with the note saying so."""
    import re

    from cryocc.run import watchdog

    root = str(done.root)
    d = _as_array(done.root, EIGHT[:2], [{"id": "1234", "base": 0, "indices": [0, 1]}], {})
    _stubs(tmp_path, monkeypatch, [f"1234_0\tRUNNING\t{root}\treconstruct.tasks", f"1234_[1]\tPENDING\t{root}\treconstruct.tasks"])
    pipeline = done.root / "default_pipeline.star"  # as RELION leaves it while the job runs
    pipeline.write_text(re.sub(r"(External/job006/\s+None\s+relion\.external\s+)Succeeded", r"\1Running", pipeline.read_text()))
    assert watchdog.main(["--project", root, "--scheme", done.latest_scheme(), "--interval", "0.1", "--", "sleep", "1"]) == 0
    assert (d / "RELION_JOB_EXIT_FAILURE").exists()
    assert (tmp_path / "stubs/scancel.log").read_text() == "1234\n"
    assert "; cryocc cancelled its array 1234" in (d / "cryocc_watchdog.txt").read_text().splitlines()[0]


# --- the estimate --------------------------------------------------------------------------------

def test_the_estimate_of_an_array_job_counts_its_tasks_and_the_makespan_at_its_throttle(tmp_path):
    from cryocc.compiler.estimate import DEFAULT_COST

    pipeline = copy_examples(tmp_path / "examples", "quickstart")  # the local site submits with sbatch: arrays
    add_series(pipeline.parent, names(2, 9))
    edit(pipeline, 'defaults:\n  resources: {time: "00:20:00"}', 'defaults:\n  resources: {time: "00:20:00"}\n  max_parallel: 4')
    edit(pipeline, "c_defocus_min_max: \"1.1:8\"}}", "c_defocus_min_max: \"1.1:8\"}, resources: {gpus: 1}}")
    p = Proj.__new__(Proj)
    p.__dict__.update(pipeline=pipeline, root=tmp_path / "project", runner=CliRunner(), schemes_run=[])
    est = p.plan()["estimate"]
    fixed, per_series = DEFAULT_COST["fs_motion_ctf"]
    task = fixed + per_series
    assert est["jobs"]["motion"] == {"seconds": 3 * task, "gpu_hours": round(10 * task / 3600, 2), "source": "default for the type",
                                     "array": {"tasks": 10, "task_seconds": task, "max_parallel": 4, "gpus_per_task": 1}}
    assert "array" not in est["jobs"]["import"]  # pools: one job
    out = p.cli("plan", pipeline, "--project", p.root).stdout
    assert f"  motion: 10 array tasks of ~ 2 min, {round(10 * task / 3600, 2):g} GPU-h, ~ 8 min at 4 at once" in out, out
    assert "warning" not in out  # 3 waves of 20 minutes fit in the supervisor's 3 days


def test_the_plan_warns_when_an_array_may_outlast_its_supervisor(tmp_path):
    from cryocc.compiler.estimate import walltime_seconds

    assert [walltime_seconds(t) for t in ("30", "10:30", "02:00:00", "3-00:00:00", "1-12", "2-01:30", None)] == \
        [1800, 630, 7200, 259200, 129600, 178200, 0]
    pipeline = copy_examples(tmp_path / "examples", "quickstart")
    add_series(pipeline.parent, names(2, 9))
    # 10 tasks of up to 20 hours, one at a time: 200 hours, where the supervisor has 3 days
    edit(pipeline, 'defaults:\n  resources: {time: "00:20:00"}', 'defaults:\n  resources: {time: "20:00:00"}\n  max_parallel: 1')
    p = Proj.__new__(Proj)
    p.__dict__.update(pipeline=pipeline, root=tmp_path / "project", runner=CliRunner(), schemes_run=[])
    motion = p.plan()["estimate"]["jobs"]["motion"]["array"]
    assert motion["outlasts_supervisor"] == {"tasks_may_take": 10 * 20 * 3600, "supervisor_time": "3-00:00:00"}
    out = p.cli("plan", pipeline, "--project", p.root).stdout
    assert ("    warning: at their time limits its tasks may take 200.0 h, longer than its supervisor's 3-00:00:00, whose end "
            "cancels them: raise the site's arrays.supervisor.time or max_parallel") in out, out


# --- the real SLURM --------------------------------------------------------------------------------

@pytest.fixture
def slurm_array(done, slurm_cluster):
    """Job 006 run as arrays on the real cluster: a supervisor that sleeps, and an array of 6 tasks of
    `sleep`, at most 2 at once, both working in the project."""
    root = str(done.root)

    def sbatch(*args: str) -> str:
        out = subprocess.run(["sbatch", "--parsable", f"--chdir={root}", "--cpus-per-task=1", "--mem=50M",
                              "--output=/dev/null", *args], capture_output=True, text=True, check=True)
        return out.stdout.strip().split(";")[0]

    # the supervisor: ends (as the real one does, there with its sentinel) once RELION_JOB_ABORT_NOW is there
    supervisor = sbatch(f"--job-name={JOB}", "--wrap", f"while [ ! -e {JOB}{ABORT_NOW} ]; do sleep 0.2; done")
    array = sbatch("--array=0-5%2", "--job-name=reconstruct.tasks", "--wrap", "sleep 300")
    d = _as_array(done.root, [[f"TS_0{i}"] for i in range(1, 7)], [{"id": array, "base": 0, "indices": list(range(6))}], {},
                  supervisor=supervisor)
    yield done, d, supervisor, array
    subprocess.run(["scancel", supervisor, array], check=False)


def _slurm_has(job_id: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"], capture_output=True, text=True)
    return out.stdout.split("\n")[:-1] if out.returncode == 0 else []


@pytest.mark.slurm
def test_status_counts_the_real_arrays_running_and_pending_tasks(slurm_array):
    p, _d, supervisor, array = slurm_array
    deadline = time.time() + 30
    while len([t for t in _slurm_has(array) if t.endswith(" RUNNING")]) < 2 and time.time() < deadline:
        time.sleep(0.5)
    job = _job(json.loads(p.cli("status", "--project", p.root, "--json").stdout))
    assert job["state"] == "running" and job["slurm"]["id"] == supervisor
    assert job["detail"] == f"array {array}: 0 done, 2 running, 4 pending", job


@pytest.mark.slurm
def test_abort_leaves_nothing_of_the_array_queued_or_running(slurm_array):
    from cryocc.run import runner

    p, d, supervisor, array = slurm_array
    deadline = time.time() + 30
    while not any(t.endswith(" RUNNING") for t in _slurm_has(array)) and time.time() < deadline:
        time.sleep(0.5)
    said: list[str] = []
    t0 = time.time()
    runner.abort(p.root, say=said.append, grace=20)
    assert _slurm_has(array) == [] and time.time() - t0 < 10, said
    assert (d / ABORT_NOW).exists() and (d / "RELION_JOB_EXIT_ABORTED").exists()
    assert f"cancelled reconstruct's array {array}" in said
