"""One confinement rule (cryocc/confine.py): a path a project file names is resolved, symlinks
included, and must stay in the project and in its folder before abort or logs act on it. gc's
cases are in test_gc.py. No RELION needed: projects are applied, then planted by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cryocc.observe.project
from cryocc.confine import confined, job_dir, scheme_dir
from cryocc.errors import ProjectError
from cryocc.run import runner
from cryocc.run.gc import TABLES, _pipeline_text

ABORT_NOW = "RELION_JOB_ABORT_NOW"


# --- helpers, shared with test_gc.py ------------------------------------------------------------

def applied(example, cli, tmp_path: Path) -> tuple[Path, Path]:
    """The quickstart applied (not run) to tmp_path/p; returns (pipeline, project)."""
    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    return pipeline, project


def set_lock(project: Path, job: str, **values: object) -> None:
    """Change one job's entry of cryocc.lock, as a hand edit or a bad merge would."""
    doc = json.loads((project / "cryocc.lock").read_text())
    doc["jobs"][job].update(values)
    (project / "cryocc.lock").write_text(json.dumps(doc))


def finished_job(project: Path, job_dir: str, job: str = "ctf") -> Path:
    """A job directory that looks like a finished cryocc job: a receipt and RELION's success sentinel."""
    d = project / job_dir
    d.mkdir(parents=True, exist_ok=True)
    (d / "cryocc_receipt.json").write_text(json.dumps({"job": job, "fingerprint": "0" * 64, "status": "succeeded", "outputs": []}))
    (d / "RELION_JOB_EXIT_SUCCESS").touch()
    (d / "data.mrc").write_bytes(b"x" * 1000)
    return d


def write_pipeline(project: Path, processes: list[str], outputs: dict[str, str] | None = None) -> None:
    """default_pipeline.star with these processes (Succeeded) and output nodes (node -> process)."""
    tables: dict[str, list[dict[str, str]]] = dict.fromkeys(TABLES, [])
    tables["pipeline_processes"] = [{"rlnPipeLineProcessName": p, "rlnPipeLineProcessAlias": "None",
                                     "rlnPipeLineProcessTypeLabel": "relion.external", "rlnPipeLineProcessStatusLabel": "Succeeded"}
                                    for p in processes]
    tables["pipeline_nodes"] = [{"rlnPipeLineNodeName": n, "rlnPipeLineNodeTypeLabel": "TomogramGroupMetadata.star",
                                 "rlnPipeLineNodeTypeLabelDepth": "1"} for n in outputs or {}]
    tables["pipeline_output_edges"] = [{"rlnPipeLineEdgeProcess": p, "rlnPipeLineEdgeToNode": n} for n, p in (outputs or {}).items()]
    (project / "default_pipeline.star").write_text(_pipeline_text({"rlnPipeLineJobCounter": "9"}, tables))


def abort_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(ABORT_NOW))


# --- the rule -----------------------------------------------------------------------------------

def test_a_path_that_stays_in_its_folder_is_its_real_path(tmp_path):
    (tmp_path / "External/job004").mkdir(parents=True)
    assert confined(tmp_path, "External/job004/run.out", "External/job004", source="x") == tmp_path.resolve() / "External/job004/run.out"
    assert job_dir(tmp_path, "External/job004/", source="x") == tmp_path.resolve() / "External/job004"
    assert job_dir(tmp_path, "External/job005/", source="x") == tmp_path.resolve() / "External/job005"  # not made yet
    assert scheme_dir(tmp_path, "cryocc_001", source="x") == tmp_path.resolve() / "Schemes/cryocc_001"


@pytest.mark.parametrize("rel", ["External/../..", "External/job001/../../..", "/etc/passwd", "../q/External/job001/", "External/job001/../../../q"])
def test_a_path_that_leads_out_is_a_located_error(rel, tmp_path):
    with pytest.raises(ProjectError) as err:
        confined(tmp_path, rel, "External", source="/p/default_pipeline.star", key="rlnPipeLineProcessName")
    text = err.value.render()
    assert text.startswith("/p/default_pipeline.star: rlnPipeLineProcessName: ") and "outside the project" in text and "hint:" in text


def test_a_nul_byte_is_a_located_error_too(tmp_path):
    with pytest.raises(ProjectError, match=r"'External/job001/x\\x00' is not a path"):
        confined(tmp_path, "External/job001/x\0", "External/job001", source="default_pipeline.star")


def test_a_symlink_is_followed_before_the_check(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    root = tmp_path / "p"
    (root / "External/job001").mkdir(parents=True)
    (root / "External/job002").symlink_to(outside)
    (root / "External/job003").symlink_to(root / "External/job001")  # stays in the project, but is not job003
    (root / "External/job001/run.out").symlink_to(outside / "secret")
    with pytest.raises(ProjectError, match="outside the project"):
        job_dir(root, "External/job002/", source="cryocc.lock")
    with pytest.raises(ProjectError, match="External/job003/ leads to .*/External/job001, not in External/job003/"):
        job_dir(root, "External/job003/", source="cryocc.lock")
    with pytest.raises(ProjectError, match="outside the project"):
        confined(root, "External/job001/run.out", "External/job001", source="run.out")


@pytest.mark.parametrize("name", ["External/job1/", "External/job001", "External/job001/../job002/", "Import/job001/", "External/job001/x/",
                                  "External/job001/\n"])
def test_a_job_directory_has_exactly_relions_shape(name, tmp_path):
    with pytest.raises(ProjectError, match=r"is not a job directory of the project \(External/jobNNN/\)"):
        job_dir(tmp_path, name, source="cryocc.lock", key="jobs.ctf.job_dir")


@pytest.mark.parametrize("name", ["..", ".", "a/b", "", "../../x"])
def test_a_scheme_is_one_plain_name(name, tmp_path):
    with pytest.raises(ProjectError, match="is not a scheme name"):
        scheme_dir(tmp_path, name, source="cryocc.lock", key="schemes")


# --- abort --------------------------------------------------------------------------------------

def test_abort_with_nothing_running_writes_nothing_and_says_so(example, cli, tmp_path):
    _, project = applied(example, cli, tmp_path)
    err = cli("abort", "--project", project, code=1).stderr
    assert "nothing to abort" in err and "Traceback" not in err
    assert abort_files(tmp_path) == []


def test_abort_takes_a_schemer_of_another_project_for_none(example, cli, tmp_path, monkeypatch):
    """pgrep finds every project's relion_schemer of a scheme named cryocc_001; only one holding
    this project's scheme lock is this project's."""
    _, project = applied(example, cli, tmp_path)
    monkeypatch.setattr(cryocc.observe.project, "foreign_schemer", lambda root, scheme: True)
    monkeypatch.setattr(runner, "_wait_stopped", lambda *args: None)  # how abort waits is test_run_truth's
    assert "nothing to abort" in cli("abort", "--project", project, code=1).stderr and abort_files(tmp_path) == []
    (project / ".relion_lock_scheme_cryocc_001").mkdir()
    assert "asked Schemes/cryocc_001/ to stop" in cli("abort", "--project", project).stdout
    assert abort_files(tmp_path) == [f"p/Schemes/cryocc_001/{ABORT_NOW}"]


@pytest.fixture
def schemer_alive(monkeypatch):
    """A relion_schemer of cryocc_001 taken for alive (its liveness is the runner's business, not abort's)."""
    record = {"scheme": "cryocc_001", "pid": 1, "host": "here"}
    monkeypatch.setattr(cryocc.observe.project, "live_schemer", lambda project: dict(record))
    monkeypatch.setattr(runner, "_wait_stopped", lambda *args: None)  # how abort waits is test_run_truth's
    return record


def test_abort_asks_the_running_scheme_inside_the_project(example, cli, tmp_path, schemer_alive):
    _, project = applied(example, cli, tmp_path)
    out = cli("abort", "--project", project).stdout
    assert "asked Schemes/cryocc_001/ to stop" in out
    assert abort_files(tmp_path) == [f"p/Schemes/cryocc_001/{ABORT_NOW}"]


def test_abort_refuses_a_job_directory_the_lockfile_leads_out_with(example, cli, tmp_path, schemer_alive):
    _, project = applied(example, cli, tmp_path)
    set_lock(project, "ctf", job_dir="External/../../")  # passes a prefix check: it starts with External/
    err = cli("abort", "--project", project, code=1).stderr
    assert "cryocc.lock: jobs.ctf.job_dir: External/../../ is not a job directory" in err, err
    assert abort_files(tmp_path) == []  # neither outside nor, half done, inside


def test_abort_refuses_a_current_job_scheme_star_leads_out_with(example, cli, tmp_path, schemer_alive):
    _, project = applied(example, cli, tmp_path)
    star = project / "Schemes/cryocc_001/scheme.star"
    text = star.read_text()
    # the schemer is at import, which it named External/../../
    star.write_text(text.replace("import      import      new 0", "import      External/../../ new 1", 1))
    err = cli("abort", "--project", project, code=1).stderr
    assert "scheme.star: rlnSchemeJobName: External/../../ is not a job directory" in err, err
    assert abort_files(tmp_path) == []


def test_abort_refuses_a_scheme_named_out_of_schemes(example, cli, tmp_path):
    _, project = applied(example, cli, tmp_path)
    (project / ".cryocc/run.json").write_text(json.dumps({"scheme": "../..", "pid": os.getpid(), "host": "here"}))
    for command in ("abort", "status"):
        err = cli(command, "--project", project, code=1).stderr
        assert "run.json: scheme: ../.. is not a scheme name" in err, err
    assert abort_files(tmp_path) == []


def test_abort_does_not_touch_through_a_planted_abort_file(example, cli, tmp_path, schemer_alive):
    _, project = applied(example, cli, tmp_path)
    victim = tmp_path / "victim"
    (project / "Schemes/cryocc_001" / ABORT_NOW).symlink_to(victim)
    err = cli("abort", "--project", project, code=1).stderr
    assert "outside the project" in err and not victim.exists()


# --- logs ---------------------------------------------------------------------------------------

@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("someone else's words\n")
    return path


def test_logs_does_not_follow_a_symlinked_run_out_out_of_the_project(example, cli, tmp_path, secret):
    _, project = applied(example, cli, tmp_path)
    d = finished_job(project, "External/job005/")
    set_lock(project, "ctf", job_dir="External/job005/")
    (d / "run.out").symlink_to(secret)
    r = cli("logs", "ctf", "--project", project, code=1)
    assert "External/job005/run.out leads to" in r.stderr and "outside the project" in r.stderr, r.stderr
    assert "someone else" not in r.output
    (d / "run.out").unlink()
    (d / "run.out").write_text("mine\n")
    (d / "run.err").symlink_to(secret)
    r = cli("logs", "ctf", "--project", project, code=1)
    assert "mine" in r.stdout and "someone else" not in r.output and "run.err leads to" in r.stderr


def test_logs_does_not_follow_a_symlinked_tilt_series_log_out_of_the_project(example, cli, tmp_path, secret):
    _, project = applied(example, cli, tmp_path)
    d = finished_job(project, "External/job005/")
    set_lock(project, "ctf", job_dir="External/job005/")
    (d / "logs").mkdir()
    (d / "logs/TS_01.log").symlink_to(secret)
    r = cli("logs", "ctf", "--project", project, "--item", "TS_01", code=1)
    assert "External/job005/logs/TS_01.log leads to" in r.stderr and "someone else" not in r.output, r.output
    (d / "logs/TS_01.log").unlink()
    (d / "logs").rmdir()
    (d / "logs").symlink_to(secret.parent)
    r = cli("logs", "ctf", "--project", project, "--item", "secret", code=1)
    assert "External/job005/logs leads to" in r.stderr and "someone else" not in r.output, r.output


def test_logs_reads_an_earlier_attempt_as_it_reads_the_latest(example, cli, tmp_path, monkeypatch):
    """Only regular files (a FIFO would block a read), run.N.err's end only, links confined."""
    _, project = applied(example, cli, tmp_path)
    d = finished_job(project, "External/job005/")
    set_lock(project, "ctf", job_dir="External/job005/")
    (d / "run.out").write_text("attempt 2\n")
    (d / "run.1.out").write_text("attempt 1\n")
    (d / "run.1.err").write_text("the start of a long run.err\n" + "x" * 100 + "its end\n")
    monkeypatch.setattr(runner, "LOG_LIMIT", 20)
    out = cli("logs", "ctf", "--project", project, "--attempt", "1").stdout
    assert out == "attempt 1\n--- External/job005/run.1.err ---\n" + "x" * 12 + "its end\n--- attempt 1 of 2 of ctf ---\n", out
    (d / "run.1.out").unlink()
    os.mkfifo(d / "run.1.out")
    err = cli("logs", "ctf", "--project", project, "--attempt", "1", code=1).stderr
    assert f"error: {d.resolve()}/run.1.out: a FIFO where a file belongs" in err, err


def test_logs_refuses_a_job_directory_out_of_the_project(example, cli, tmp_path, secret):
    _, project = applied(example, cli, tmp_path)
    os.rename(secret, tmp_path / "run.out")
    set_lock(project, "ctf", job_dir="External/../../")
    r = cli("logs", "ctf", "--project", project, code=1)
    assert "cryocc.lock: jobs.ctf.job_dir: External/../../ is not a job directory" in r.stderr and "someone else" not in r.output


# --- status and run --wait: a failed job's log tail ---------------------------------------------

def failed_job_with_linked_log(project: Path, secret: Path) -> Path:
    d = finished_job(project, "External/job005/")
    (d / "RELION_JOB_EXIT_SUCCESS").rename(d / "RELION_JOB_EXIT_FAILURE")
    (d / "cryocc_receipt.json").write_text(json.dumps({"job": "ctf", "fingerprint": "0" * 64, "status": "failed", "outputs": []}))
    set_lock(project, "ctf", job_dir="External/job005/")
    (d / "run.out").symlink_to(secret)
    return d


def test_status_does_not_show_a_symlinked_log_out_of_the_project(example, cli, tmp_path, secret):
    _, project = applied(example, cli, tmp_path)
    failed_job_with_linked_log(project, secret)
    ctf = next(j for j in json.loads(cli("status", "--project", project, "--json").stdout)["jobs"] if j["name"] == "ctf")
    assert ctf["log_tail"] == [f"(not shown: External/job005/run.out leads to {secret}, outside the project)"], ctf
    assert "someone else" not in cli("status", "--project", project).output


def test_run_wait_does_not_show_a_symlinked_log_out_of_the_project(example, cli, tmp_path, secret, monkeypatch):
    _, project = applied(example, cli, tmp_path)
    failed_job_with_linked_log(project, secret)
    doc = json.loads((project / "cryocc.lock").read_text())
    doc["schemes"][-1]["jobs"] = ["ctf"]  # the one job it ran
    (project / "cryocc.lock").write_text(json.dumps(doc))
    scheme = doc["schemes"][-1]["name"]
    monkeypatch.setattr(runner, "schemer_alive", lambda pid, scheme: False)
    said: list[str] = []
    assert runner.follow(project, {"scheme": scheme, "pid": 1}, say=said.append, poll=0) == 1
    assert not any("someone else" in line for line in said) and "  | (not shown: External/job005/run.out leads to" in said[-1], said


# --- the watchdog (cryocc.run.watchdog) -----------------------------------------------------------

def running_job(root: Path, name: str) -> None:
    """Schemes/s/ started the job directory name, which RELION's pipeline says is Running."""
    from cryocc.star import block_loop, block_pairs

    (root / "Schemes/s").mkdir(parents=True, exist_ok=True)
    (root / "External").mkdir(exist_ok=True)
    (root / "Schemes/s/scheme.star").write_text(block_pairs("scheme_general", {"rlnSchemeName": "Schemes/s/", "rlnSchemeCurrentNodeName": "a"})
        + block_loop("scheme_jobs", ["rlnSchemeJobNameOriginal", "rlnSchemeJobName", "rlnSchemeJobMode", "rlnSchemeJobHasStarted"],
                     [["a", name, "new", "1"]]))
    (root / "default_pipeline.star").write_text(block_pairs("pipeline_general", {"rlnPipeLineJobCounter": "2"})
        + block_loop("pipeline_processes", ["rlnPipeLineProcessName", "rlnPipeLineProcessStatusLabel"], [[name, "Running"]]))


@pytest.mark.parametrize("how", ["External/../../victim/", "a symlinked External/job001/"])
def test_the_watchdog_writes_nothing_out_of_the_project(how, tmp_path, monkeypatch, capsys):
    from cryocc.run import watchdog

    root, victim = tmp_path / "p", tmp_path / "victim"
    victim.mkdir()
    (victim / "run.err").write_text("precious\n")
    running_job(root, how if how.startswith("External/..") else "External/job001/")
    if how.startswith("a symlinked"):
        (root / "External/job001").symlink_to(victim)
    monkeypatch.setattr(cryocc.observe.project.Project, "liveness", lambda self, d: (False, "SLURM does not know it", {}))
    assert watchdog.lost_jobs(root, "s") == []
    assert "cryocc watchdog: skipped: " in capsys.readouterr().out
    assert sorted(p.name for p in victim.iterdir()) == ["run.err"] and (victim / "run.err").read_text() == "precious\n"


def test_the_watchdog_outlives_a_damaged_project_file(tmp_path, capsys):
    """An error reading the project (here a scheme.star RELION left half-written) is said, once, and
    the watchdog looks again: the schemer it supervises runs on."""
    import subprocess

    from cryocc.run import watchdog

    running_job(tmp_path, "External/job001/")
    (tmp_path / "Schemes/s/scheme.star").write_bytes(b"\xff\xfe not a star file")
    child = subprocess.Popen(["sleep", "0.5"], text=True)
    assert watchdog.watch(tmp_path, "s", child, 0.05) == 0
    out = capsys.readouterr().out
    assert out.count("cryocc watchdog: ") == 1 and "scheme.star" in out, out


# --- run: what cryocc.lock names ----------------------------------------------------------------

@pytest.mark.parametrize(("key", "value"), [("name", "../../outside"), ("name", ".."), ("site", "/etc/passwd"),
                                            ("site", ".cryocc/specs/../../../outside/site.yaml"), ("pipeline", "../x.yaml")])
def test_run_refuses_a_scheme_the_lockfile_names_out_of_the_project(key, value, example, cli, tmp_path, monkeypatch):
    _, project = applied(example, cli, tmp_path)
    (tmp_path / "outside").mkdir()
    doc = json.loads((project / "cryocc.lock").read_text())
    doc["schemes"][-1][key] = value
    (project / "cryocc.lock").write_text(json.dumps(doc))
    monkeypatch.setattr(runner.subprocess, "Popen", lambda *a, **k: pytest.fail("would start"))
    err = cli("run", "--project", project, code=1).stderr
    assert f"cryocc.lock: schemes[0].{key}: cryocc.lock is damaged: {value} is not a " in err, err
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_job_whose_scheme_the_lockfile_names_out_of_schemes_is_a_damaged_lockfile(example, cli, tmp_path):
    _, project = applied(example, cli, tmp_path)
    set_lock(project, "ctf", scheme="../x")
    assert "cryocc.lock: jobs.ctf.scheme: cryocc.lock is damaged: ../x is not a scheme name" in cli("status", "--project", project, code=1).stderr


def test_run_does_not_read_a_site_profile_copy_linked_out_of_the_project(example, cli, tmp_path, monkeypatch):
    _, project = applied(example, cli, tmp_path)
    site = project / json.loads((project / "cryocc.lock").read_text())["schemes"][-1]["site"]
    elsewhere = tmp_path / "site.yaml"
    site.rename(elsewhere)
    site.symlink_to(elsewhere)
    monkeypatch.setattr(runner.subprocess, "Popen", lambda *a, **k: pytest.fail("would start"))
    err = cli("run", "--project", project, code=1).stderr
    assert f"cryocc.lock: schemes[0].site: {site.relative_to(project)} leads to {elsewhere}, outside the project" in err, err


# --- plan: results that are not the project's ---------------------------------------------------

def test_plan_does_not_reuse_a_job_directory_linked_out_of_the_project(example, cli, tmp_path):
    """A symlinked External/job099 with a receipt of the right fingerprint, and its params document."""
    pipeline, project = applied(example, cli, tmp_path)
    job = json.loads((project / "cryocc.lock").read_text())["jobs"]["import"]
    other = tmp_path / "other/External/job099"
    other.mkdir(parents=True)
    (other / "cryocc_receipt.json").write_text(json.dumps({
        "job": "import", "type": job["type"], "fingerprint": job["fingerprint"], "params_file": job["params_file"],
        "status": "succeeded", "outputs": [], "ended": "2030-01-01T00:00:00"}))
    (other / "RELION_JOB_EXIT_SUCCESS").touch()
    (project / "External").mkdir(exist_ok=True)
    (project / "External/job099").symlink_to(other)
    out = cli("plan", pipeline, "--project", project, "--json").stdout
    assert "job099" not in out and json.loads(out)["jobs"][0]["action"] == "run", out


def test_a_receipt_is_not_matched_against_a_params_document_linked_out_of_the_project(example, cli, tmp_path):
    pipeline, project = applied(example, cli, tmp_path)
    job = json.loads((project / "cryocc.lock").read_text())["jobs"]["import"]
    d = finished_job(project, "External/job001/", "import")
    (d / "cryocc_receipt.json").write_text(json.dumps({
        "job": "import", "type": job["type"], "fingerprint": job["fingerprint"], "params_file": job["params_file"],
        "status": "succeeded", "outputs": [], "ended": "2030-01-01T00:00:00"}))
    (project / ".cryocc/jobs").rename(tmp_path / "jobs")
    (project / ".cryocc/jobs").symlink_to(tmp_path / "jobs")
    err = cli("plan", pipeline, "--project", project, code=1).stderr
    assert f"{job['params_file']} leads to {tmp_path / 'jobs'}/" in err and "outside the project" in err, err
