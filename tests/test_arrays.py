"""Per-tilt-series jobs as SLURM arrays, end to end under the real one-node cluster (tests/slurm/start.sh,
which gives the node more slots than the machine has cores, so that tasks really run side by side) and
the real relion_schemer: the supervisor RELION submits, its throttled array, the tasks' records merged
into one job, and the faults (a failed tilt series, abort, the supervisor cancelled, the head node lost)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import starfile
from conftest import edit
from test_items import add_series, handed_on, names
from test_slurm import E2E, _stop_everything

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster", "relion")]
ARRAY_JOBS = ["motion", "align", "ctf", "reconstruct"]  # the quickstart's per-tilt-series jobs; import and tsimport run whole


@pytest.fixture
def e2e(tmp_path, monkeypatch):
    e = E2E(tmp_path, monkeypatch, execution="array")
    yield e
    _stop_everything(e.root)


class View:
    def __init__(self, root: Path) -> None:
        self.root = root


def _squeue_tasks(root: Path) -> list[tuple[str, str, str]]:
    """(job id, name, state) of every SLURM job working in this project (other tests share the cluster),
    one line per array task."""
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%j|%T|%Z"], capture_output=True, text=True, errors="replace").stdout
    lines = [line.split("|", 3) for line in out.splitlines() if line.count("|") == 3]
    return [(i, name, state) for i, name, state, workdir in lines if workdir == str(root)]


class Sampler(threading.Thread):
    """The most tasks of each array running at once, sampled from squeue while a run goes on."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.most: Counter[str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            running = Counter(name for _, name, state in _squeue_tasks(self.root) if name.endswith(".tasks") and state == "RUNNING")
            for name, n in running.items():
                self.most[name] = max(self.most[name], n)
            time.sleep(0.2)


def _array_dir(e2e: E2E, job: str) -> Path:
    receipt = e2e.receipts()[job][-1]
    return e2e.root / receipt["job_dir"] / "cryocc_array"


def _records(e2e: E2E, job: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((_array_dir(e2e, job) / "tasks").glob("*.json"))]


def test_twelve_tilt_series_run_as_throttled_arrays_and_are_kept(e2e):
    add_series(e2e.pipeline.parent, names(2, 11))
    edit(e2e.pipeline, "defaults:\n", "defaults:\n  max_parallel: 4\n")
    e2e.switch(FAKE_SLEEP="fs_motion_and_ctf=4,ts_reconstruct=2")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    sampler = Sampler(e2e.root)
    sampler.start()
    try:
        out = e2e.cli("run", "--project", e2e.root, "--wait").stdout
    finally:
        sampler.stop.set()
        sampler.join()
    assert "6 jobs succeeded" in out
    every = names(1, 12)
    for job in ARRAY_JOBS:
        receipt = e2e.receipts()[job][0]
        assert receipt["array"]["tasks"] == 12 and receipt["array"]["max_parallel"] == 4, job
        manifest = json.loads((_array_dir(e2e, job) / "manifest.json").read_text())
        assert manifest["tasks"] == [[n] for n in every]
        records = _records(e2e, job)
        assert [r["status"] for r in records] == ["succeeded"] * 12, job
        processed = [n for r in records for n in r["items"]]
        assert sorted(processed) == every, job  # each tilt series once, by one task
        assert sorted(receipt["items"]) == every and {i["outcome"] for i in receipt["items"].values()} == {"succeeded"}
        assert handed_on(View(e2e.root), job, receipt["job_dir"]) == every, job  # the merged STAR lists all 12
        # the supervisor's SLURM job is not a task: it asked for its own small resources
        assert receipt["slurm_job_id"] not in receipt["array"]["ids"]
        assert not list((e2e.root / receipt["job_dir"]).glob("*.task[0-9]*")), job  # the tasks' own copies merged away
    assert 2 <= sampler.most["motion.tasks"] <= 4, sampler.most  # really side by side, never above the throttle
    assert all(n <= 4 for n in sampler.most.values()), sampler.most
    plan = json.loads(e2e.cli("plan", e2e.pipeline, "--project", e2e.root, "--json").stdout)
    assert {j["action"] for j in plan["jobs"]} == {"keep"}


def test_a_tilt_series_that_fails_in_its_task_is_named_and_runs_again_alone(e2e):
    add_series(e2e.pipeline.parent, names(2, 2))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_ALIGN_FAIL="TS_02")
    out = e2e.cli("run", "--project", e2e.root, "--wait", code=1).stdout
    assert "1 of 3 tilt series failed: TS_02 (aretomo alignment failed)" in out
    records = {r["task"]: r for r in _records(e2e, "align")}
    assert records[1]["items"]["TS_02"]["outcome"] == "failed" and records[0]["items"]["TS_01"]["outcome"] == "succeeded"
    e2e.switch()
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root, "--wait")
    align = e2e.receipts()["align"]
    assert len(align) == 1 and align[0]["status"] == "succeeded"
    manifest = json.loads((_array_dir(e2e, "align") / "manifest.json").read_text())
    assert manifest["tasks"] == [["TS_02"]]  # the next run's array: exactly one task
    arrays = json.loads((_array_dir(e2e, "align") / "arrays.json").read_text())
    assert [a["indices"] for a in arrays] == [[0]]
    assert handed_on(View(e2e.root), "align", align[0]["job_dir"]) == names(1, 3)


def _wait_for_tasks(root: Path, job: str, state: str = "RUNNING", seconds: float = 90) -> list[str]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        ids = [i for i, name, st in _squeue_tasks(root) if name == f"{job}.tasks" and st == state]
        if ids:
            return ids
        time.sleep(0.3)
    raise AssertionError(f"no task of {job} became {state}: {_squeue_tasks(root)}")


def _gone(root: Path, job: str, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not [i for i, name, _ in _squeue_tasks(root) if name == f"{job}.tasks"]:
            return True
        time.sleep(0.2)
    return False


def test_abort_cancels_every_task_of_the_array(e2e):
    add_series(e2e.pipeline.parent, names(2, 3))
    edit(e2e.pipeline, "defaults:\n", "defaults:\n  max_parallel: 2\n")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_HANG="fs_motion_and_ctf")
    e2e.cli("run", "--project", e2e.root)
    _wait_for_tasks(e2e.root, "motion")
    assert [name for _, name, st in _squeue_tasks(e2e.root) if st == "PENDING" and name == "motion.tasks"]  # throttled ones wait
    started = time.time()
    e2e.cli("abort", "--project", e2e.root)
    assert _gone(e2e.root, "motion", 10 - (time.time() - started)), _squeue_tasks(e2e.root)
    st = e2e.wait_for("motion", "aborted", 30)
    assert st["state"] == "aborted"


def test_the_supervisor_cancelled_cancels_its_tasks_and_fails_the_job(e2e):
    add_series(e2e.pipeline.parent, names(2, 1))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_HANG="fs_motion_and_ctf")
    e2e.cli("run", "--project", e2e.root)
    _wait_for_tasks(e2e.root, "motion")
    job_dir = next(e2e.root.glob("External/job*/cryocc_array")).parent
    supervisor = (job_dir / "cryocc_slurm_job").read_text().strip()
    subprocess.run(["scancel", supervisor], check=True)
    assert _gone(e2e.root, "motion", 20), _squeue_tasks(e2e.root)
    st = e2e.wait_for("motion", "failed", 30)
    receipt = json.loads((job_dir / "cryocc_receipt.json").read_text())
    assert receipt["status"] == "failed" and "SIGTERM" in receipt["reason"], receipt["reason"]
    assert "SIGTERM" in json.dumps(st)


def test_after_the_head_node_is_lost_run_waits_for_the_running_array_instead_of_a_second(e2e):
    add_series(e2e.pipeline.parent, names(2, 2))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_SLEEP="fs_motion_and_ctf=12")
    e2e.cli("run", "--project", e2e.root)
    _wait_for_tasks(e2e.root, "motion")
    # the head node goes: the schemer and every cryocc process of it; SLURM's jobs live on
    record = json.loads((e2e.root / ".cryocc/run.json").read_text())
    os.killpg(record.get("watchdog", record["pid"]), signal.SIGKILL)
    job_dir = next(e2e.root.glob("External/job*/cryocc_array")).parent
    first = json.loads((job_dir / "cryocc_array/arrays.json").read_text())
    assert len(first) == 1
    e2e.switch()
    out = e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert "6 jobs succeeded" in out or "finished" in out, out
    arrays = json.loads((job_dir / "cryocc_array/arrays.json").read_text())
    assert arrays == first  # waited for, not submitted again
    receipt = json.loads((job_dir / "cryocc_receipt.json").read_text())
    assert receipt["status"] == "succeeded" and sorted(receipt["items"]) == names(1, 3)


def test_a_task_over_its_time_limit_fails_its_tilt_series_with_slurms_words(e2e):
    add_series(e2e.pipeline.parent, names(2, 1))
    edit(e2e.pipeline, "resources: {partition: main, cpus: 2, mem: 700M, time: \"00:07:00\"}",
         "resources: {partition: main, cpus: 2, mem: 700M, time: \"00:01:00\"}")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_HANG="ts_reconstruct")
    out = e2e.cli("run", "--project", e2e.root, "--wait", code=1).stdout
    receipt = e2e.receipts()["reconstruct"][0]
    assert receipt["status"] == "failed_partial"
    for name in names(1, 2):  # each task hung until SLURM's time limit, and the tilt series say so
        reason = receipt["items"][name]["reason"]
        assert receipt["items"][name]["outcome"] == "failed" and "DUE TO TIME LIMIT" in reason, reason
    assert "DUE TO TIME LIMIT" in out


def test_each_task_gets_the_gpus_slurm_assigned_it(e2e):
    """The test node has 4 fake GPUs (gres.conf): tasks asking for one each get their own device, and the
    tools get them as CUDA_VISIBLE_DEVICES, without a device list of ours (WarpTools uses every visible GPU)."""
    add_series(e2e.pipeline.parent, names(2, 3))
    edit(e2e.pipeline, "defaults:\n", "defaults:\n  max_parallel: 4\n")
    edit(e2e.pipeline, "resources: {partition: main, cpus: 2,", "resources: {gpus: 1, partition: main, cpus: 1,")
    e2e.switch(FAKE_SLEEP="ts_reconstruct=6")
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.cli("run", "--project", e2e.root, "--wait")
    records = _records(e2e, "reconstruct")
    devices = [r["devices"] for r in records]
    assert all(d is not None and d.isdigit() for d in devices), devices  # one GPU each
    spans = [(r["started"], r["started"] + r["seconds"], r["devices"]) for r in records]
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, spans  # the throttle of 4 let tasks run side by side (each sleeps 6 s)
    assert all(a[2] != b[2] for a, b in overlapping), spans  # and tasks side by side never share a GPU
    assert all("--device_list" not in " ".join(c) for r in records for c in r["commands"])
    motion = _records(e2e, "motion")
    assert {r["devices"] for r in motion} == {None}  # no GPU asked for, none given


def _particles(root: Path):
    """The particles of the project's subtomogram extraction (its particles.star)."""
    receipt = next(r for r in (json.loads(f.read_text()) for f in root.glob("External/job*/cryocc_receipt.json")) if r["job"] == "extract")
    return starfile.read(root / receipt["job_dir"] / "particles.star", always_dict=True)["particles"]


def test_one_new_tilt_series_under_the_full_catalog_extends_every_per_tilt_series_job(tmp_path, monkeypatch):
    from conftest import copy_examples, tool_env

    pipeline = copy_examples(tmp_path / "examples", "full-catalog")
    data = pipeline.parent.parent / "quickstart"
    add_series(data, names(2, 1))
    root = tmp_path / "project"
    for k, v in tool_env().items():
        monkeypatch.setenv(k, v)
    e2e = E2E.__new__(E2E)
    e2e.root, e2e.pipeline = root, pipeline
    try:
        e2e.cli("apply", pipeline, "--project", root)
        e2e.cli("run", "--project", root, "--wait")
        before = _particles(root)
        add_series(data, names(3, 1))
        plan = {j["name"]: j for j in json.loads(e2e.cli("plan", pipeline, "--project", root, "--json").stdout)["jobs"]}
        per_tilt_series = ["import", "motion", "tsimport", "align", "ctf", "filter", "reconstruct", "denoise", "tm_ribo", "picks", "extract"]
        for job in per_tilt_series:  # the new tilt series alone; the tilt axis is refined per tilt series (an array task)
            assert (plan[job]["action"], plan[job]["items"]) == ("extend", {"todo": ["TS_03"], "keep": 2, "new": {"TS_03": ""}}), plan[job]
        # the decisions made over the first two stay: the handedness, and the cryoCARE model
        assert plan["ctf"]["reasons"][0]["decided"] == {"defocus_hand": {"value": "set_flip", "tilt_series": 2}}
        assert (plan["train"]["action"], plan["train"]["reasons"]) == \
            ("keep", [{"kind": "decided", "detail": "the cryoCARE model", "tilt_series": 2}])
        # what pools the particles of every tomogram averages them again, the new ones with them
        assert plan["average"]["action"] == plan["classify"]["action"] == "rerun"
        e2e.cli("apply", pipeline, "--project", root)
        assert "jobs succeeded" in e2e.cli("run", "--project", root, "--wait").stdout
        actions = {j["name"]: j["action"] for j in json.loads(e2e.cli("plan", pipeline, "--project", root, "--json").stdout)["jobs"]}
        assert set(actions.values()) == {"keep"}, actions
        receipts = {r["job"]: r for r in (json.loads(f.read_text()) for f in root.glob("External/job*/cryocc_receipt.json"))}
        for job in ["motion", "align", "ctf", "reconstruct", "tm_ribo", "picks", "extract"]:  # arrays of one task: TS_03
            assert receipts[job]["array"]["tasks"] == 1 and sorted(receipts[job]["items"]) == names(1, 3), job
        # the picks and the particles of the kept tomograms and of the new one, in one file each
        picks = starfile.read(root / receipts["picks"]["job_dir"] / "candidates.star")
        particles = _particles(root)
        assert sorted(set(picks["rlnTomoName"])) == sorted(set(particles["rlnTomoName"])) == names(1, 3)
        kept = particles[particles["rlnTomoName"] != "TS_03"].reset_index(drop=True)
        assert kept.equals(before)  # the kept tomograms' particles, untouched, beside the new one's
        assert all((root / f).is_file() for f in particles["rlnImageName"].str.split("@").str[-1])  # every stack is there
    finally:
        _stop_everything(root)


def test_after_the_head_node_and_the_supervisor_are_lost_run_cancels_the_orphaned_array_first(e2e):
    add_series(e2e.pipeline.parent, names(2, 2))
    e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
    e2e.switch(FAKE_HANG="fs_motion_and_ctf")
    e2e.cli("run", "--project", e2e.root)
    ids = _wait_for_tasks(e2e.root, "motion")
    record = json.loads((e2e.root / ".cryocc/run.json").read_text())
    os.killpg(record.get("watchdog", record["pid"]), signal.SIGKILL)  # the head node: schemer and watchdog
    job_dir = next(e2e.root.glob("External/job*/cryocc_array")).parent
    # and the supervisor's driver, killed without a chance to cancel anything (its job script's guard
    # then ends the job failed: a node lost outright would leave it without a sentinel, the same to run)
    rel = f"{job_dir.relative_to(e2e.root)}/"
    pids = [int(p) for p in subprocess.run(["pgrep", "-f", "--", f"--o {rel}"], capture_output=True, text=True).stdout.split()]
    drivers = [pid for pid in pids if "--task-base" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    assert drivers, pids
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline and not (job_dir / "RELION_JOB_EXIT_FAILURE").exists():
        time.sleep(0.3)
    assert {i for i, name, _ in _squeue_tasks(e2e.root) if name == "motion.tasks"} & set(ids)  # its tasks run on, orphaned
    e2e.switch()
    out = e2e.cli("run", "--project", e2e.root, "--wait").stdout
    assert "motion: its supervisor is gone; cancelled its array" in out, out
    assert "6 jobs succeeded" in out or "finished" in out, out
    assert not {i for i, _, _ in _squeue_tasks(e2e.root)} & set(ids)
