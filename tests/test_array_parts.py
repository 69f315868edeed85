"""The parts of an array job that need no schemer: the --array value, the split at SLURM's
MaxArraySize, the command line sbatch gets, and the merge of what the tasks wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cryocc.contract import ARRAY_FORMAT, ARRAY_IDS
from cryocc.drivers import _array
from cryocc.drivers._context import Context
from cryocc.drivers._errors import JobFailed, Terminated


def test_array_spec_lists_only_the_tasks_to_run_with_the_throttle():
    assert _array.array_spec([0, 1, 2, 5, 7, 8], 4) == "0-2,5,7-8%4"
    assert _array.array_spec([3], 20) == "3%1"  # never a throttle above the tasks there are
    assert _array.array_spec(list(range(12)), 4) == "0-11%4"


def _ctx(tmp_path: Path, **doc) -> Context:
    job = tmp_path / "External/job003"
    job.mkdir(parents=True)
    base = {"job": "motion", "type": "fs_motion_ctf", "fingerprint": "f" * 64, "items_star": "fs_motion_and_ctf.star",
            "items": {"fingerprints": {}, "todo": [], "keep": []}}
    return Context(job_dir=job, project=tmp_path, doc={**base, **doc}, inputs={}, threads=1)


def test_a_job_larger_than_max_array_size_is_split_into_arrays(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path)
    ctx.path(ARRAY_IDS).parent.mkdir(parents=True)
    ctx.path(ARRAY_IDS).write_text("[]\n")
    submitted = []
    monkeypatch.setattr(_array, "_max_array_size", lambda: 3)
    monkeypatch.setattr(_array, "_sbatch", lambda ctx, argv, base, indices, s, after: submitted.append((base, indices, after))
                        or str(100 + len(submitted)))
    arrays = _array._submit(ctx, [], [0, 1, 2, 4, 5, 6], {"max_parallel": 7}, after=[])
    # the job's throttle: each array after the one before it, so never more than 7 of the job's tasks at once
    assert submitted == [(0, [0, 1, 2], []), (3, [1, 2], ["101"]), (6, [0], ["102"])]
    assert [a["id"] for a in arrays] == ["101", "102", "103"]
    assert json.loads(ctx.path(ARRAY_IDS).read_text()) == arrays  # recorded as each was submitted


def test_max_array_size_is_read_from_scontrol(tmp_path, monkeypatch):
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "scontrol").write_text("#!/bin/sh\necho 'MaxArraySize            = 77'\necho 'MaxJobCount = 10000'\n")
    (stub / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub}:{os.environ['PATH']}")
    assert _array._max_array_size() == 77
    (stub / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    assert _array._max_array_size() == 1001  # SLURM's default when it cannot be read


@pytest.mark.skipif(not shutil.which("scontrol"), reason="no scontrol on PATH")
def test_max_array_size_is_read_from_the_real_scontrol(slurm_cluster):
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    said = next(line.split("=")[1].strip() for line in out.splitlines() if line.startswith("MaxArraySize"))
    assert _array._max_array_size() == int(said)


def test_progress_counts_tasks_by_what_squeue_says_and_names_failed_tilt_series():
    records = {0: {"items": {"TS_01": {"outcome": "succeeded"}}}, 1: {"items": {"TS_07": {"outcome": "failed"}}}}
    alive = {("9", 2): "RUNNING", ("9", 3): "PENDING", ("9", 4): "PENDING"}
    # task 5 is neither recorded nor queued (lost): not counted as pending
    assert _array.progress(records, alive, 6) == "2 done, 1 running, 2 pending, 1 failed (TS_07)"


def test_sbatch_gets_an_argument_list_with_the_tasks_resources(tmp_path):
    ctx = _ctx(tmp_path)
    settings = {"max_parallel": 4, "resources": {"cpus": 2, "mem": "8G", "time": "00:30:00", "gpus": 1, "partition": "gpu; rm -rf /",
                                                 "constraint": None, "sbatch": ["--qos=high"]}}
    argv = _array.sbatch_argv(ctx, ["--job", ".cryocc/jobs/motion/x.json", "--o", "External/job003/"], 0, [0, 2], settings, ["41"])
    assert argv[:3] == ["sbatch", "--parsable", "--array=0,2%2"]
    assert "--partition=gpu; rm -rf /" in argv  # one argument, never a shell word
    assert {"--cpus-per-task=2", "--mem=8G", "--time=00:30:00", "--gres=gpu:1", "--qos=high", "--dependency=afterany:41"} <= set(argv)
    script = argv.index(str(ctx.path("cryocc_array/task.sh")))
    assert argv[script + 2:script + 6] == ["-m", "cryocc.drivers", "--task-base", "0"]
    assert argv[-4:] == ["--job", ".cryocc/jobs/motion/x.json", "--o", "External/job003/"]


def test_the_task_environment_drops_the_supervisors_allocation(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    monkeypatch.setenv("SBATCH_PARTITION", "x")
    monkeypatch.setenv("CRYOCC_KEEP", "1")
    env = _array.task_environment()
    assert "SLURM_JOB_ID" not in env and "SBATCH_PARTITION" not in env and env["CRYOCC_KEEP"] == "1"


def test_the_merge_takes_each_tasks_record_and_files_and_names_a_lost_task(tmp_path):
    ctx = _ctx(tmp_path, items={"fingerprints": {}, "todo": ["TS_01", "TS_02", "TS_03"], "keep": []})
    tasks = [["TS_01"], ["TS_02"], ["TS_03"]]
    arrays = [{"id": "77", "base": 0, "indices": [0, 1, 2]}]
    for n, name in ((0, "TS_01"), (1, "TS_02")):
        ok = n == 0
        record = {"format": ARRAY_FORMAT, "task": n, "slurm": f"77_{n}", "status": "succeeded" if ok else "failed",
                  "reason": None if ok else "terminated by signal SIGTERM",
                  "items": {name: {"outcome": "succeeded" if ok else "failed", "reason": "" if ok else "terminated by signal SIGTERM"}},
                  "files": {"fs_motion_and_ctf.star": "rows", "cryocc_todo.txt": ""}, "quality": {}, "commands": [["WarpTools", "x"]]}
        (ctx.path("cryocc_array/tasks")).mkdir(parents=True, exist_ok=True)
        ctx.path(f"cryocc_array/tasks/{n}.json").write_text(json.dumps(record))
        ctx.path(f"fs_motion_and_ctf.task{n}.star").write_text(f"data_global\nloop_\n_rlnTomoName\n{name}\n")
        ctx.path(f"cryocc_todo.task{n}.txt").write_text("x\n")
    logs = ctx.path("cryocc_array/logs")
    logs.mkdir(parents=True)
    (logs / "77_1.err").write_text("slurmstepd-n1: error: *** JOB 79 ON n1 CANCELLED AT 2026-12-07T03:05:52 DUE TO TIME LIMIT ***\n")
    (logs / "77_2.err").write_text("slurmstepd-n1: error: Detected 1 oom_kill event in StepId=80.batch.\n")
    ctx.items = {t: {"outcome": "pending", "reason": ""} for t in ("TS_01", "TS_02", "TS_03")}
    _array._merge(ctx, tasks, arrays)
    assert ctx.items["TS_01"]["outcome"] == "succeeded"
    assert ctx.items["TS_02"]["reason"].endswith("DUE TO TIME LIMIT ***")  # SIGTERM, and SLURM's words for it
    assert ctx.items["TS_03"]["outcome"] == "failed" and "task 2 (SLURM 77_2) ended without a result" in ctx.items["TS_03"]["reason"]
    assert "oom_kill" in ctx.items["TS_03"]["reason"]
    assert ctx.path("fs_motion_and_ctf.star").read_text().split()[-1] == "TS_01"  # only the succeeded task's rows
    assert not list(ctx.job_dir.glob("*.task*"))  # every task's own copies, of failed tasks too, are gone


def _record(ctx: Context, n: int, name: str, ok: bool = True, slurm: str | None = None, files: dict | None = None) -> None:
    record = {"format": ARRAY_FORMAT, "task": n, "slurm": slurm or f"77_{n}", "status": "succeeded" if ok else "failed", "reason": None if ok else "it broke",
              "items": {name: {"outcome": "succeeded" if ok else "failed", "reason": "" if ok else "it broke"}},
              "files": files if files is not None else {"fs_motion_and_ctf.star": "rows"}, "quality": {}, "commands": []}
    ctx.path("cryocc_array/tasks").mkdir(parents=True, exist_ok=True)
    ctx.path(f"cryocc_array/tasks/{n}.json").write_text(json.dumps(record))
    if ok:
        ctx.path(f"fs_motion_and_ctf.task{n}.star").write_text(f"data_global\nloop_\n_rlnTomoName\n{name}\n")


def test_a_record_of_another_start_or_naming_files_outside_is_not_taken(tmp_path):
    ctx = _ctx(tmp_path)
    arrays = [{"id": "77", "base": 0, "indices": [0, 1, 2]}]
    _record(ctx, 0, "TS_01", slurm="76_0")  # a stray task of an earlier array
    _record(ctx, 1, "TS_02", slurm="77_2")  # not this task's number
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    _record(ctx, 2, "TS_03", files={"../../precious.txt": "", "/etc/hostname": "one", "fs_motion_and_ctf.star": "rows"})
    assert sorted(_array._recorded(ctx, arrays)) == [2]
    ctx.items = {t: {"outcome": "pending", "reason": ""} for t in ("TS_01", "TS_02", "TS_03")}
    _array._merge(ctx, [["TS_01"], ["TS_02"], ["TS_03"]], arrays)
    assert outside.read_text() == "keep me" and (tmp_path / "precious.task2.txt").exists() is False
    assert ctx.items["TS_03"]["outcome"] == "succeeded" and ctx.items["TS_01"]["outcome"] == "failed"


def _array_ctx(tmp_path: Path, todo: list[str]) -> Context:
    ctx = _ctx(tmp_path, items={"fingerprints": {}, "todo": todo, "keep": []},
               array={"tilt_series_per_task": 1, "max_parallel": 4, "poll_seconds": 1, "resources": {}})
    ctx.items = {t: {"outcome": "pending", "reason": ""} for t in todo}
    return ctx


def test_a_supervisor_started_again_submits_only_the_tasks_neither_done_nor_running(tmp_path, monkeypatch):
    ctx = _array_ctx(tmp_path, ["TS_01", "TS_02", "TS_03"])
    manifest = {"format": 1, "job": "motion", "fingerprint": "f" * 64, "tasks": [["TS_01"], ["TS_02"], ["TS_03"]], "max_parallel": 4,
                "decisions": {}}
    ctx.path("cryocc_array").mkdir(parents=True)
    ctx.path("cryocc_array/manifest.json").write_text(json.dumps(manifest))
    ctx.path(ARRAY_IDS).write_text(json.dumps([{"id": "77", "base": 0, "indices": [0, 1, 2]}]))
    _record(ctx, 0, "TS_01")
    _record(ctx, 1, "TS_02", ok=False)
    submitted = []

    def submit(ctx, argv, todo, settings, after):
        submitted.append(todo)
        for n in todo:  # the new task does its work
            _record(ctx, n, manifest["tasks"][n][0], slurm=f"78_{n}")
        return [{"id": "78", "base": 0, "indices": todo}]

    monkeypatch.setattr(_array, "_submit", submit)
    monkeypatch.setattr(_array, "_alive", lambda ctx, arrays: {("77", 2): "RUNNING"} if arrays[0]["id"] == "77" else {})
    monkeypatch.setattr(_array, "_wait", lambda ctx, arrays, n, poll: _record(ctx, 2, "TS_03"))
    _array.supervise(ctx, [])
    assert submitted == [[1]]  # task 0 succeeded, task 2 still runs: only the failed one again
    assert {t: i["outcome"] for t, i in ctx.items.items()} == dict.fromkeys(["TS_01", "TS_02", "TS_03"], "succeeded")
    monkeypatch.setattr(_array, "_alive", lambda ctx, arrays: None)
    with pytest.raises(JobFailed, match="squeue did not answer"):  # never a second array beside tasks that may run
        _array.supervise(ctx, [])


def test_a_supervisor_ended_early_keeps_what_its_tasks_finished(tmp_path, monkeypatch):
    ctx = _array_ctx(tmp_path, ["TS_01", "TS_02"])
    cancelled = []

    def submit(ctx, argv, todo, settings, after):
        arrays = [{"id": "77", "base": 0, "indices": todo}]
        ctx.path(ARRAY_IDS).write_text(json.dumps(arrays))
        return arrays

    def wait(ctx, arrays, n, poll):
        _record(ctx, 0, "TS_01")
        raise Terminated("terminated by signal SIGTERM (scancel, wall time or a user)")

    monkeypatch.setattr(_array, "_submit", submit)
    monkeypatch.setattr(_array, "_wait", wait)
    monkeypatch.setattr(_array, "_cancel", lambda ctx, arrays, wait=True: cancelled.append(([a["id"] for a in arrays], wait)))
    with pytest.raises(Terminated):
        _array.supervise(ctx, [])
    assert cancelled == [(["77"], False)]  # cancelled without waiting: SLURM kills the supervisor KillWait after
    assert ctx.items["TS_01"]["outcome"] == "succeeded"
    assert ctx.items["TS_02"] == {"outcome": "failed", "reason": "cancelled with its supervisor before it ended"}
    assert ctx.path("fs_motion_and_ctf.star").read_text().split()[-1] == "TS_01"  # the next run keeps it


def test_a_task_refuses_a_manifest_of_another_format(tmp_path):
    ctx = _ctx(tmp_path)
    manifest = {"format": ARRAY_FORMAT + 1, "job": "motion", "fingerprint": "f" * 64, "tasks": [["TS_01"]], "max_parallel": 4}
    ctx.path("cryocc_array").mkdir(parents=True)
    ctx.path("cryocc_array/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(JobFailed, match=rf"{ctx.job_dir}/cryocc_array/manifest\.json is of format {ARRAY_FORMAT + 1}, "
                                        rf"and this cryocc reads format {ARRAY_FORMAT}"):
        _array.task_of(ctx.job_dir, ctx.doc, 0)
    manifest["format"] = ARRAY_FORMAT
    ctx.path("cryocc_array/manifest.json").write_text(json.dumps(manifest))
    assert _array.task_of(ctx.job_dir, ctx.doc, 0) == (["TS_01"], {})


def test_a_record_of_one_of_the_jobs_tasks_in_another_format_fails_the_job(tmp_path):
    ctx = _ctx(tmp_path)
    arrays = [{"id": "77", "base": 0, "indices": [0, 1]}]
    _record(ctx, 0, "TS_01")
    _record(ctx, 1, "TS_02")
    record = json.loads(ctx.path("cryocc_array/tasks/1.json").read_text())
    ctx.path("cryocc_array/tasks/1.json").write_text(json.dumps({**record, "format": ARRAY_FORMAT + 1}))
    with pytest.raises(JobFailed, match=rf"the task record External/job003/cryocc_array/tasks/1\.json is of format {ARRAY_FORMAT + 1}, "
                                        rf"and this cryocc reads format {ARRAY_FORMAT}"):
        _array._recorded(ctx, arrays)
    del record["format"]
    ctx.path("cryocc_array/tasks/1.json").write_text(json.dumps(record))
    with pytest.raises(JobFailed, match="tasks/1.json has no format"):
        _array._recorded(ctx, arrays)
