"""Nothing a project holds is trusted (issue 19): every file cryocc reads back (receipts, cryocc.lock,
.cryocc/results.json, run.json, scheme.star, default_pipeline.star, params documents, logs) is read
without blocking, regular files only, bounded, UTF-8 and of its shape, or the command stops with an
error naming the file; a receipt is evidence only when the params document it names agrees; squeue's
answer is decoded whatever bytes it holds, and a SLURM job is ours only in this project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_examples, edit, tool_env
from schemer import run_scheme

from cryocc.errors import CryoccError

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60  # seconds a read-only command may take here; a FIFO read without care blocks forever
GARBAGE = bytes(range(256)) * 4096  # 1 MB: NUL bytes, bytes that are not UTF-8


def cryocc(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process, so that a read that blocks is a failure, not a hang."""
    environ = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cryocc", *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT, env=environ, stdin=subprocess.DEVNULL)


def ran(tmp_path: Path) -> tuple[Path, Path]:
    """A quickstart project applied, and every job's result left as a driver leaves it (receipt
    naming its params document, sentinel, log), without running anything: (pipeline, project)."""
    pipeline = copy_examples(tmp_path / "examples", "quickstart", site="workstation")
    root = tmp_path / "project"
    assert cryocc("apply", pipeline, "--project", root).returncode == 0
    lock = json.loads((root / "cryocc.lock").read_text())
    for i, name in enumerate(lock["pipeline"]["order"], 1):
        job = lock["jobs"][name]
        job_dir = f"External/job{i:03d}/"
        d = root / job_dir
        d.mkdir(parents=True)
        receipt = {"format": 2, "job": name, "type": job["type"], "fingerprint": job["fingerprint"], "params_file": job["params_file"],
                   "job_dir": job_dir, "status": "succeeded", "reason": None, "ended": "2026-12-06T23:00:00+0000", "seconds": 1.5,
                   "outputs": [], "items": {}}
        (d / "cryocc_receipt.json").write_text(json.dumps(receipt))
        (d / "RELION_JOB_EXIT_SUCCESS").touch()
        (d / "run.out").write_text(f"{name} ran\n")
        job.update(job_dir=job_dir, state="succeeded")
    (root / "cryocc.lock").write_text(json.dumps(lock))
    return pipeline, root


def plan(pipeline: Path, root: Path) -> dict:
    out = cryocc("plan", pipeline, "--project", root, "--json")
    assert out.returncode == 0, out.stderr
    return {j["name"]: j for j in json.loads(out.stdout)["jobs"]}


def receipt_of(root: Path, job_dir: str) -> Path:
    return root / job_dir / "cryocc_receipt.json"


def rewrite(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


# --- 1. one reader: regular files only, bounded, UTF-8 ----------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "too-big", "not-utf8", "not-json", "huge-int", "deep"])
def test_the_reader_refuses_what_is_not_a_document_with_the_file_named(kind, tmp_path):
    from cryocc.project_files import read_json

    path = tmp_path / "doc.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes({"too-big": b" " * 2000, "not-utf8": b'{"a": "\xff"}', "not-json": b'{\n "a": 1,\n}',
                          "huge-int": b"1" * 5000, "deep": b"[" * 100_000}[kind])
    with pytest.raises(CryoccError) as exc:
        read_json(path, "receipt", limit=1000 if kind == "too-big" else 1 << 20)
    text = exc.value.render()
    assert text.startswith(str(path)) and "hint:" in text, text
    expected = {"fifo": "a FIFO where a file belongs", "dev-zero": "a character device where a file belongs",
                "directory": "a directory where a file belongs", "too-big": "more than 1000 bytes",
                "not-utf8": f"{path}:1:8: byte 0xff is not UTF-8", "not-json": f"{path}:3:1: not a JSON receipt",
                "huge-int": "not a JSON receipt cryocc wrote", "deep": "not a JSON receipt cryocc wrote"}[kind]
    assert expected in text, text


def test_the_reader_says_none_for_a_missing_file_and_reads_a_regular_one(tmp_path):
    from cryocc.project_files import ABSENT, read_json, read_tail

    assert read_json(tmp_path / "none.json", "receipt") is ABSENT
    (tmp_path / "null.json").write_text("null")
    assert read_json(tmp_path / "null.json", "receipt") is None
    (tmp_path / "log").write_bytes(b"a\nb\nc\n")
    assert read_tail(tmp_path / "log", 4) == b"b\nc\n" and read_tail(tmp_path / "gone", 4) == b""


# --- 2. each document's shape -----------------------------------------------------------------

SHAPES = {
    "[]": "[]", "null": "null", "a number": "3",
    "fingerprint a number": '{"fingerprint": 3, "status": "succeeded"}',
    "outputs an object": '{"fingerprint": "x", "status": "succeeded", "outputs": {}}',
    "an output's size text": '{"fingerprint": "x", "status": "succeeded", "outputs": [{"path": "a", "size": "9"}]}',
    "an output outside": '{"fingerprint": "x", "status": "succeeded", "outputs": [{"path": "../../etc/passwd", "size": 9}]}',
    "items a list": '{"fingerprint": "x", "status": "succeeded", "items": []}',
    "an item without its outcome": '{"fingerprint": "x", "status": "succeeded", "items": {"TS_01": {}}}',
    "an output a list": '{"fingerprint": "x", "status": "succeeded", "outputs": [[]]}',
    "a file without its size": '{"fingerprint": "x", "status": "succeeded", "outputs": [{"path": "a"}]}',
    "ended a number": '{"fingerprint": "x", "status": "succeeded", "ended": 7}',
}


@pytest.mark.parametrize("content", SHAPES.values(), ids=SHAPES.keys())
def test_a_receipt_of_the_wrong_shape_is_an_error_at_its_file_and_key(content, tmp_path):
    pipeline, root = ran(tmp_path)
    receipt = receipt_of(root, "External/job005/")
    receipt.write_text(content)
    for args in (("plan", pipeline), ("status",), ("logs", "ctf"), ("gc", pipeline)):
        out = cryocc(*args, "--project", root)
        assert out.returncode == 1 and f"error: {receipt}" in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    key = {"[]": "(top level)", "null": "(top level)", "3": "(top level)"}.get(content)
    if key:
        assert f"{receipt}: {key}: should be an object" in out.stderr, out.stderr


def test_a_receipt_is_read_in_the_formats_cryocc_wrote_and_one_of_a_newer_cryocc_is_refused(tmp_path):
    """Format 1 (folder outputs without their files) and 2 are read; a larger one is a newer cryocc's,
    whose receipt this one cannot vouch for: an error at its file and key, never a guess."""
    from cryocc.contract import RECEIPT_FORMAT
    from cryocc.observe.receipts import check_receipt

    path = tmp_path / "cryocc_receipt.json"
    for fmt in (1, 2):
        assert check_receipt({"format": fmt, "fingerprint": "x", "status": "succeeded"}, path)["format"] == fmt
    with pytest.raises(CryoccError) as newer:
        check_receipt({"format": 99, "fingerprint": "x", "status": "succeeded"}, path)
    assert newer.value.key == "format" and newer.value.message == \
        f"format 99: written by a newer cryocc, which this one (format {RECEIPT_FORMAT}) cannot read"
    with pytest.raises(CryoccError, match="format 0: not a receipt cryocc wrote"):
        check_receipt({"format": 0, "fingerprint": "x", "status": "succeeded"}, path)


def test_a_receipt_of_a_newer_cryocc_is_an_error_at_its_file_and_format(tmp_path):
    pipeline, root = ran(tmp_path)
    receipt = receipt_of(root, "External/job005/")
    rewrite(receipt, lambda doc: doc.update(format=99))
    for args in (("plan", pipeline), ("status",)):
        out = cryocc(*args, "--project", root)
        assert out.returncode == 1 and "Traceback" not in out.stderr, (args, out.stderr)
        assert out.stderr.startswith(f"error: {receipt}: format: format 99: written by a newer cryocc"), (args, out.stderr)


QUALITY = {  # a receipt's quality records (drivers/_quality.py), as status --tilt-series and report format them
    "quality a list": ({"quality": ["TS_01"]}, "quality"),
    "a measure text": ({"quality": {"TS_01": {"defocus_um": "abc"}}}, "quality.TS_01.defocus_um"),
    "a tilt series' quality a list": ({"quality": {"TS_01": []}}, "quality.TS_01"),
    "a drop a number": ({"quality": {"TS_01": {"dropped": [1]}}}, "quality.TS_01.dropped[0]"),
    "a drop without why": ({"quality": {"TS_01": {"dropped": [{"movie": "TS_01_001"}]}}}, "quality.TS_01.dropped[0].why"),
    "an item's quality text": ({"items": {"TS_01": {"outcome": "succeeded", "quality": "good"}}}, "items.TS_01.quality"),
    "a tilt's angle text": ({"items": {"TS_01": {"outcome": "succeeded", "quality": {"per_tilt": [{"angle": "-3"}]}}}},
                            "items.TS_01.quality.per_tilt[0].angle"),
}


@pytest.mark.parametrize("content, key", QUALITY.values(), ids=QUALITY.keys())
def test_a_receipts_quality_of_the_wrong_shape_is_an_error_at_its_key(content, key, tmp_path):
    pipeline, root = ran(tmp_path)
    receipt = receipt_of(root, "External/job005/")
    rewrite(receipt, lambda doc: doc.update(content))
    for args in (("status", "--tilt-series"), ("report", "-o", tmp_path / "report.html")):
        out = cryocc(*args, "--project", root)
        assert out.returncode == 1 and out.stderr.startswith(f"error: {receipt}: {key}: "), (args, out.stderr)
        assert "Traceback" not in out.stderr and not (tmp_path / "report.html").exists()


LOCKFILES = {"[]": "[]", "null": "null", "no jobs": "NO_JOBS", "jobs a list": "JOBS_LIST", "params a list": "PARAMS_LIST",
             "a job a string": "JOBS_ONE_STRING", "a job's state a number": "STATE_NUMBER"}


@pytest.mark.parametrize("content", LOCKFILES.values(), ids=LOCKFILES.keys())
def test_a_lockfile_of_the_wrong_shape_is_an_error_at_its_key_and_plan_rebuilds_it(content, tmp_path):
    pipeline, root = ran(tmp_path)
    lockfile = root / "cryocc.lock"
    doc = json.loads(lockfile.read_text())
    key = "(top level)"
    if content == "NO_JOBS":
        del doc["jobs"]
        key = "jobs"
    elif content == "JOBS_LIST":
        doc["jobs"], key = [], "jobs"
    elif content == "PARAMS_LIST":
        doc["jobs"]["ctf"]["parts"]["params"], key = [], "jobs.ctf.parts.params"
    elif content == "JOBS_ONE_STRING":
        doc["jobs"]["ctf"], key = "ctf", "jobs.ctf"
    elif content == "STATE_NUMBER":
        doc["jobs"]["ctf"]["state"], key = 3, "jobs.ctf.state"
    lockfile.write_text(content if key == "(top level)" else json.dumps(doc))
    for args in (("status",), ("logs", "ctf"), ("gc", pipeline)):
        out = cryocc(*args, "--project", root)
        assert out.returncode == 1 and f"error: {lockfile}: {key}: cryocc.lock is damaged" in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    notes = json.loads(cryocc("plan", pipeline, "--project", root, "--json").stdout)["notes"]
    assert notes[0].startswith(f"{lockfile}: {key}: cryocc.lock is damaged") and "rebuilt from the receipts" in notes[0]


@pytest.mark.parametrize("content", ["[]", "null", '{"format": 3, "jobs": []}', '{"format": 3, "jobs": {"External/job001/": []}}',
                                     '{"format": 3, "jobs": {"External/job001/": {"mtime_ns": 1, "seconds": "9"}}}'])
def test_a_results_index_of_the_wrong_shape_is_an_error_at_its_key(content, tmp_path):
    pipeline, root = ran(tmp_path)
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: 11")  # a job to run: plan looks for its result
    index = root / ".cryocc/results.json"
    index.write_text(content)
    out = cryocc("plan", pipeline, "--project", root)
    assert out.returncode == 1 and f"error: {index}: " in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("content", ["[]", "null", '{"scheme": "cryocc_001", "pid": "1", "host": "h"}', '{"scheme": "cryocc_001"}'])
def test_a_run_record_of_the_wrong_shape_is_an_error_at_its_key(content, tmp_path):
    pipeline, root = ran(tmp_path)
    record = root / ".cryocc/run.json"
    record.write_text(content)
    for args in (("status",), ("gc", pipeline)):
        out = cryocc(*args, "--project", root)
        assert out.returncode == 1 and f"error: {record}: " in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)


SHORT_ROWS = {"Schemes/cryocc_001/scheme.star": "data_scheme_general\n_rlnSchemeName Schemes/cryocc_001/\n\n"
                                                 "data_scheme_jobs\nloop_\n_rlnSchemeJobNameOriginal #1\n_rlnSchemeJobName #2\nimport\n",
              "default_pipeline.star": "data_pipeline_general\n_rlnPipeLineJobCounter 2\n\ndata_pipeline_input_edges\nloop_\n"
                                       "_rlnPipeLineEdgeFromNode #1\n_rlnPipeLineEdgeProcess #2\nExternal/job001/x.star\n"}


@pytest.mark.parametrize("rel", SHORT_ROWS)
@pytest.mark.parametrize("damage", ["not UTF-8", "no blocks", "a short row"])
def test_a_star_file_not_utf8_or_without_its_blocks_is_an_error_naming_it(rel, damage, tmp_path):
    from cryocc.observe.project import Project

    _, root = ran(tmp_path)
    # a row short of values in a loop of three labels (RELION leaves the second of two empty: metadata_table.cpp)
    short = SHORT_ROWS[rel].replace(" #2\n", " #2\n_rlnUnknownLabel #3\n").encode()
    (root / rel).write_bytes({"not UTF-8": SHORT_ROWS[rel].encode().replace(b"#1", b"#1 \xe9"), "no blocks": b"[]",
                              "a short row": short}[damage])
    with pytest.raises(CryoccError) as exc:
        Project(root).pipeline() if rel == "default_pipeline.star" else Project(root).scheme("cryocc_001")
    text = exc.value.render()
    lines = SHORT_ROWS[rel].splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t.endswith("#1"))
    expected = {"not UTF-8": f":{line}:{len(lines[line - 1]) + 2}: byte 0xe9 is not UTF-8", "no blocks": ": data_",
                "a short row": f":{len(short.splitlines())}:1: data_"}[damage]
    assert text.startswith(f"{root / rel}{expected}"), text
    assert damage != "a short row" or "a row of 1 values in a loop of 3 labels" in text, text


def test_a_pipeline_relion_is_rewriting_in_place_is_read_again(tmp_path):
    """RELION truncates default_pipeline.star and writes it again under its pipeline lock: a reader
    that comes between sees an empty file, which is no damage while the lock is held."""
    import threading

    from cryocc.observe.project import Project

    _, root = ran(tmp_path)
    whole = SHORT_ROWS["default_pipeline.star"].replace("#2\nExternal/job001/x.star\n", "#2\nExternal/job001/x.star External/job002/\n")
    (root / "default_pipeline.star").write_text("")
    (root / ".relion_lock").mkdir()
    (root / ".relion_lock/lock_default_pipeline.star").touch()
    later = threading.Timer(0.4, lambda: ((root / "default_pipeline.star").write_text(whole),
                                          (root / ".relion_lock/lock_default_pipeline.star").unlink()))
    later.start()
    try:
        assert Project(root).pipeline()["pipeline_input_edges"] == [
            {"rlnPipeLineEdgeFromNode": "External/job001/x.star", "rlnPipeLineEdgeProcess": "External/job002/"}]
    finally:
        later.join()


@pytest.mark.parametrize("damage", ["fifo", "/dev/zero"])
def test_a_tilt_series_log_that_is_not_a_file_is_an_error_naming_it(damage, tmp_path):
    _, root = ran(tmp_path)
    log = root / "External/job005/logs/TS_01.log"
    log.parent.mkdir()
    log.touch()
    replace(log, damage)
    out = cryocc("logs", "ctf", "--item", "TS_01", "--project", root)
    # a FIFO is not a log; a link to /dev/zero leads out of the project (confine.py) before it is opened
    assert out.returncode == 1 and out.stderr.startswith(f"error: {log}: "), out.stderr
    assert ("a FIFO" if damage == "fifo" else "outside the project") in out.stderr, out.stderr


# --- 3. a receipt is evidence, not a claim ----------------------------------------------------

def test_a_forged_fingerprint_in_a_receipt_is_not_reused(tmp_path):
    """Another parameter value: reconstruct must run. A receipt that claims the new fingerprint while
    the params document it names says the old one is not a result to reuse."""
    pipeline, root = ran(tmp_path)
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: 11")
    assert cryocc("apply", pipeline, "--project", root).returncode == 0
    wanted = json.loads((root / "cryocc.lock").read_text())["jobs"]["reconstruct"]["fingerprint"]
    rewrite(receipt_of(root, "External/job006/"), lambda r: r.update(fingerprint=wanted))
    job = plan(pipeline, root)["reconstruct"]
    assert job["action"] == "run", job
    refused = next(r for r in job["reasons"] if r["kind"] == "receipt")
    assert refused["job_dir"] == "External/job006/" and refused["detail"].endswith("has another fingerprint"), refused
    text = cryocc("plan", pipeline, "--project", root).stdout
    assert "External/job006/: its receipt does not match: its params document .cryocc/jobs/reconstruct/" in text, text


@pytest.mark.parametrize("how", ["params document edited", "params document gone", "another job's params document",
                                 "a params file outside .cryocc/jobs"])
def test_a_kept_job_whose_receipt_does_not_match_its_params_document_runs_again(how, tmp_path):
    pipeline, root = ran(tmp_path)
    receipt = receipt_of(root, "External/job006/")
    params = root / json.loads(receipt.read_text())["params_file"]
    if how == "params document edited":
        params.write_text(params.read_text() + " ")
    elif how == "params document gone":
        params.unlink()
    elif how == "another job's params document":
        other = json.loads(receipt_of(root, "External/job005/").read_text())["params_file"]
        rewrite(receipt, lambda r: r.update(params_file=other))
    else:
        rewrite(receipt, lambda r: r.update(params_file="cryocc.lock"))
    job = plan(pipeline, root)["reconstruct"]
    assert job["action"] == "rerun" and job["reasons"][0]["kind"] == "receipt", job
    status = json.loads(cryocc("status", "--project", root, "--json").stdout)
    assert next(j for j in status["jobs"] if j["name"] == "reconstruct")["detail"].startswith("its receipt does not match: ")
    assert {n: j["action"] for n, j in plan(pipeline, root).items() if n != "reconstruct"} == dict.fromkeys(
        ["import", "motion", "tsimport", "align", "ctf"], "keep")


# --- 4. squeue: any byte, and only this project's jobs ----------------------------------------

def fake_squeue(tmp_path: Path, lines: bytes) -> dict[str, str]:
    """PATH with an squeue that prints lines (id, state, working directory, name: tab-separated)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "answer").write_bytes(lines)
    script = bin_dir / "squeue"
    script.write_text(f"#!/bin/sh\ncat '{bin_dir / 'answer'}'\n")
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _submitted_with_sbatch(job_dir: Path) -> None:
    """The job.star RELION writes into a job directory as it submits the job, for a site that submits with sbatch."""
    from cryocc.star import block_loop

    (job_dir / "job.star").write_text(block_loop("joboptions_values", ["rlnJobOptionVariable", "rlnJobOptionValue"], [["qsub", "sbatch"]]))


def test_a_job_of_the_user_in_a_directory_not_utf8_crashes_nothing(tmp_path):
    pipeline, root = ran(tmp_path)
    (root / "External/job006/RELION_JOB_EXIT_SUCCESS").unlink()  # a job without a sentinel, submitted with sbatch: squeue is asked
    _submitted_with_sbatch(root / "External/job006")
    elsewhere = os.fsencode(tmp_path) + b"/caf\xe9-\xff"
    env = fake_squeue(tmp_path, b"77\tRUNNING\t" + elsewhere + b"\tExternal/job006/\n"
                                + b"78\tRUNNING\t" + os.fsencode(root) + b"\tExternal/job006/\n")
    for args in (("status",), ("plan", pipeline), ("gc", pipeline), ("logs", "reconstruct")):
        out = cryocc(*args, "--project", root, env=env)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (args, out.stderr)
    status = json.loads(cryocc("status", "--project", root, "--json", env=env).stdout)
    assert next(j for j in status["jobs"] if j["name"] == "reconstruct")["slurm"] == {"id": "78", "state": "RUNNING"}
    out = cryocc("apply", pipeline, "--project", root, env=env)  # refused: ours runs
    assert out.returncode == 1 and "still running: reconstruct (External/job006/)" in out.stderr, out.stderr
    out = cryocc("abort", "--project", root, env=env)  # asked; the fake squeue never lets it end: said so, after its grace
    assert "External/job006/" in out.stdout and "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 1 and "reconstruct (External/job006/) has not ended: SLURM job 78 RUNNING" in out.stderr, out.stderr
    assert "RELION_JOB_ABORT_NOW was written" in out.stderr and "nothing was written" not in out.stderr, out.stderr


@pytest.mark.slurm
def test_a_real_slurm_job_in_a_directory_not_utf8_crashes_nothing(tmp_path, slurm_cluster):
    """Under the real SLURM: the user's job, queued (held by --begin, so it takes no node) in a
    directory whose name is not UTF-8, under the name of one of our job directories."""
    pipeline, root = ran(tmp_path)
    (root / "External/job006/RELION_JOB_EXIT_SUCCESS").unlink()  # a job without a sentinel, submitted with sbatch: squeue is asked
    _submitted_with_sbatch(root / "External/job006")
    odd = os.fsencode(tmp_path) + b"/caf\xe9-\xff"
    os.mkdir(odd)
    job = subprocess.run([b"sbatch", b"--parsable", b"--begin=now+1hour", b"-J", b"External/job006/", b"-D", odd,
                          b"-o", b"/dev/null", b"--wrap", b"sleep 1"], capture_output=True, check=True).stdout.strip()
    try:
        status = json.loads(cryocc("status", "--project", root, "--json").stdout)
        reconstruct = next(j for j in status["jobs"] if j["name"] == "reconstruct")
        assert (reconstruct["state"], reconstruct["slurm"]) == ("incomplete", None), reconstruct  # not ours: elsewhere
        for args in (("status",), ("plan", pipeline), ("gc", pipeline), ("logs", "reconstruct"), ("apply", pipeline)):
            out = cryocc(*args, "--project", root)
            assert out.returncode == 0 and "Traceback" not in out.stderr, (args, out.stderr)
        out = cryocc("abort", "--project", root)  # nothing of ours runs: it says so, exit 1
        assert out.returncode == 1 and "nothing to abort" in out.stderr and "Traceback" not in out.stderr, out.stderr
    finally:
        subprocess.run([b"scancel", job], check=False)


def test_a_stale_slurm_id_does_not_claim_another_projects_job(tmp_path, monkeypatch):
    from cryocc.observe import project as observed

    _, root = ran(tmp_path)
    (root / "External/job006/cryocc_slurm_job").write_text("77\n")  # recorded long ago; SLURM reuses ids
    other = tmp_path / "other-project"
    other.mkdir()
    monkeypatch.setattr(observed, "squeue", lambda: [("77", "RUNNING", str(other), "External/job006/")])
    assert observed.Project(root).slurm("External/job006/") == {}
    monkeypatch.setattr(observed, "squeue", lambda: [("77", "RUNNING", str(root), "External/job006/")])
    assert observed.Project(root).slurm("External/job006/") == {"id": "77", "state": "RUNNING"}


def test_squeue_output_is_decoded_whatever_its_bytes(tmp_path, monkeypatch):
    from cryocc.observe import project as observed

    odd = os.fsencode(tmp_path) + b"/\xff\xfe"
    monkeypatch.setenv("PATH", fake_squeue(tmp_path, b"5\tPENDING\t" + odd + b"\tjob\n")["PATH"])
    (jid, state, workdir, name), = observed.squeue()
    assert (jid, state, name) == ("5", "PENDING", "job") and os.fsencode(workdir) == odd


# --- 5. every read-only command against every project file, replaced in turn --------------------

def synthetic_base(tmp_path: Path) -> tuple[Path, Path]:
    """ran(), plus what a run leaves that ran() does not: default_pipeline.star and run.json."""
    pipeline, root = ran(tmp_path)
    rows = "".join(f"External/job{i:03d}/ None relion.external Succeeded\n" for i in range(1, 7))
    (root / "default_pipeline.star").write_text(
        "# version 50001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter 7\n\n# version 50001\n\ndata_pipeline_processes\n\n"
        "loop_\n_rlnPipeLineProcessName #1\n_rlnPipeLineProcessAlias #2\n_rlnPipeLineProcessTypeLabel #3\n"
        "_rlnPipeLineProcessStatusLabel #4\n" + rows + "\n")
    (root / ".cryocc/run.json").write_text(json.dumps({"scheme": "cryocc_001", "pid": 1, "host": "a host that is not this one",
                                                       "command": ["relion_schemer"], "log": "Schemes/cryocc_001/run.out"}))
    return pipeline, root


def relion_base(tmp_path: Path) -> tuple[Path, Path]:
    """A quickstart project run to the end by the real relion_schemer, on the workstation site."""
    pipeline = copy_examples(tmp_path / "examples", "quickstart", site="workstation")
    root = tmp_path / "project"
    assert cryocc("apply", pipeline, "--project", root).returncode == 0
    run = run_scheme(root, tool_env())
    assert run.exit_code == 0 and set(run.statuses.values()) == {"Succeeded"}, run.output
    return pipeline, root


@pytest.fixture(scope="module", params=["synthetic", "relion"])
def base(request, tmp_path_factory) -> tuple[Path, Path]:
    """A finished quickstart project, then reconstruct's parameter changed and applied (a new scheme,
    not run yet: its scheme.star is read back, and the results index written), then changed again
    in the spec only (so that plan looks for a result in the index)."""
    if request.param == "relion":
        request.getfixturevalue("relion")
    tmp = tmp_path_factory.mktemp(request.param)
    pipeline, root = (synthetic_base if request.param == "synthetic" else relion_base)(tmp)
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: 11")
    assert cryocc("apply", pipeline, "--project", root).returncode == 0
    edit(pipeline, "rescale_angpixs: 11", "rescale_angpixs: 12")
    assert (root / ".cryocc/results.json").is_file() and (root / "Schemes/cryocc_002/scheme.star").is_file()
    return pipeline, root


def _params_of(root: Path, job_dir: str) -> str:
    return json.loads(receipt_of(root, job_dir).read_text())["params_file"]


COMMANDS = {"plan": lambda pipeline: ("plan", pipeline), "status": lambda _: ("status",), "logs": lambda _: ("logs", "ctf"),
            "gc": lambda pipeline: ("gc", pipeline), "status --tilt-series": lambda _: ("status", "--tilt-series"),
            # report writes only its -o file (next to the pipeline, in tmp); validate reads no project file; abort and apply write
            "report": lambda pipeline: ("report", "-o", pipeline.with_name("report.html"))}
# each file, and the commands that read it (with this project, ctf's result is kept in External/job005/)
STATUS = {"status", "status --tilt-series", "report"}  # each observes every job
FILES = {
    "receipt": (lambda root: "External/job005/cryocc_receipt.json", {"plan", "logs", "gc", *STATUS}),
    "params document": (lambda root: _params_of(root, "External/job005/"), {"plan", "logs", "gc", *STATUS}),
    "lockfile": (lambda root: "cryocc.lock", {"plan", "logs", "gc", *STATUS}),
    "scheme.star": (lambda root: "Schemes/cryocc_002/scheme.star", {"plan", "gc", *STATUS}),
    "default_pipeline.star": (lambda root: "default_pipeline.star", {"gc"}),
    "results.json": (lambda root: ".cryocc/results.json", {"plan", "gc"}),  # gc plans as plan does
    "run.json": (lambda root: ".cryocc/run.json", {"gc", "status", "status --tilt-series"}),  # the report shows no schemer
    "log": (lambda root: "External/job005/run.out", {"logs"}),
}
# what a file's content cannot be without cryocc saying so: a damaged lockfile is rebuilt by plan (a
# note naming it), a params document that is not what apply wrote makes its job run again, and a log
# is whatever the tool wrote
CONTENT_TOLERATED = {"lockfile": {"plan"}, "params document": {"plan", "logs", "gc", *STATUS}, "log": {"logs"}}


def replace(path: Path, damage: str) -> None:
    path.unlink()
    if damage == "fifo":
        os.mkfifo(path)
    elif damage == "/dev/zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes({"[]": b"[]", "null": b"null", "garbage": GARBAGE}[damage])


@pytest.mark.parametrize("damage", ["fifo", "/dev/zero", "[]", "null", "garbage"])
@pytest.mark.parametrize("what", FILES)
def test_every_read_only_command_against_every_damaged_file(what, damage, base, tmp_path):
    pipeline, original = base
    root = tmp_path / "project"
    shutil.copytree(original, root, symlinks=True)
    rel_of, readers = FILES[what]
    rel = rel_of(root)
    replace(root / rel, damage)
    for name, args in COMMANDS.items():
        try:
            out = cryocc(*args(pipeline), "--project", root)
        except subprocess.TimeoutExpired:
            pytest.fail(f"cryocc {name} did not return within {TIMEOUT} s with {rel} a {damage}")
        assert "Traceback" not in out.stderr, (name, out.stderr)
        named = str(root / rel)
        if name not in readers or (damage in ("[]", "null", "garbage") and name in CONTENT_TOLERATED.get(what, ())):
            assert out.returncode == 0, (name, out.stderr)
            if what == "lockfile" and name == "plan":
                assert f"{named}" in out.stdout and "rebuilt from the receipts" in out.stdout, out.stdout
            continue
        assert out.returncode == 1 and out.stderr.startswith(f"error: {named}"), (name, out.stderr)
        assert "hint: " in out.stderr, (name, out.stderr)


def test_a_format_a_damaged_file_gives_is_said_in_a_line_not_a_page():
    from cryocc.contract import other_format

    said = other_format({"format": ["x"] * 10**5}, (1,))
    assert said is not None and said.startswith('is of format ["x", ') and len(said) < 100
    assert other_format({"format": 3}, (1, 2)) == "is of format 3, and this cryocc reads format 1 or 2"
    assert other_format({"format": 2}, (1, 2)) is None
