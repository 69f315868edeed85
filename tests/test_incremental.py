"""Coming back to a project: the scenarios of the incremental-apply issue, end to end with the real
relion_schemer (workstation site profile: jobs run by bash, no SLURM), the real drivers and RELION
import, and the contract fakes of tests/fake_tools."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from conftest import copy_examples, edit, tool_env, tree
from relion_strict import read_strict
from schemer import run_scheme
from typer.testing import CliRunner

import cryocc.compiler.apply as apply_mod
from cryocc.cli import app
from cryocc.compiler import apply_mutex

pytestmark = pytest.mark.usefixtures("relion")

JOBS = ["import", "motion", "tsimport", "align", "ctf", "reconstruct"]


class Proj:
    def __init__(self, tmp_path, example="quickstart"):
        self.pipeline = copy_examples(tmp_path / "examples", example, site="workstation")
        self.root = tmp_path / "project"
        self.runner = CliRunner()
        self.schemes_run: list[str] = []

    def at(self, root) -> Proj:
        """The same pipeline and data applied to another project directory."""
        other = Proj.__new__(Proj)
        other.__dict__.update(self.__dict__, root=root, schemes_run=[])
        return other

    def cli(self, *args, code=0):
        r = self.runner.invoke(app, [str(a) for a in args])
        if r.exception and not isinstance(r.exception, SystemExit):
            raise r.exception
        assert r.exit_code == code, r.output
        return r

    def apply(self, *extra, code=0):
        return self.cli("apply", self.pipeline, "--project", self.root, *extra, code=code)

    def plan(self, *extra) -> dict:
        doc = json.loads(self.cli("plan", self.pipeline, "--project", self.root, "--json", *extra).stdout)
        return doc

    def actions(self, *extra) -> dict[str, str]:
        return {j["name"]: j["action"] for j in self.plan(*extra)["jobs"]}

    def latest_scheme(self) -> str:
        return sorted(p.name for p in (self.root / "Schemes").iterdir())[-1]

    def run(self, **switches):
        result = run_scheme(self.root, tool_env(**switches))
        self.schemes_run.append(result.scheme)
        return result

    def job_dir(self, job: str) -> str:
        return json.loads((self.root / "cryocc.lock").read_text())["jobs"][job]["job_dir"] or \
            next(j["job_dir"] for j in self.plan()["jobs"] if j["name"] == job)

    def options(self, scheme: str, job: str) -> dict[str, str]:
        star = read_strict((self.root / "Schemes" / scheme / job / "job.star").read_text())
        return {r["rlnJobOptionVariable"]: r.get("rlnJobOptionValue", "") for r in star["joboptions_values"]}


@pytest.fixture
def done(tmp_path):
    """A quickstart project applied and run to the end."""
    p = Proj(tmp_path)
    p.apply()
    assert p.run().statuses == {j: "Succeeded" for j in JOBS}
    return p


def _job(plan: dict, job: str) -> dict:
    return next(j for j in plan["jobs"] if j["name"] == job)


def _reasons(plan: dict, job: str) -> list[dict]:
    return next(j["reasons"] for j in plan["jobs"] if j["name"] == job)


def test_fresh_project_runs_everything_then_keeps_everything(tmp_path):
    p = Proj(tmp_path)
    plan = p.plan()
    assert [(j["name"], j["action"], j["reasons"]) for j in plan["jobs"]] == [(j, "run", [{"kind": "new"}]) for j in JOBS]
    assert plan["summary"] == {"keep": 0, "run": 6, "rerun": 0, "extend": 0, "orphan": 0}
    p.cli("plan", p.pipeline, "--project", p.root, "--detailed-exitcode", code=2)
    p.apply()
    run = p.run()
    assert run.submitted == 6 and run.ended_at == "EXIT"
    assert p.actions() == {j: "keep" for j in JOBS}
    p.cli("plan", p.pipeline, "--project", p.root, "--detailed-exitcode", code=0)
    assert "Nothing to run" in p.apply().stdout
    before = tree(p.root)
    assert "Nothing to run" in p.apply().stdout
    assert tree(p.root) == before  # the second no-op writes nothing at all
    assert [s.name for s in (p.root / "Schemes").iterdir()] == ["cryocc_001"]
    lock = json.loads((p.root / "cryocc.lock").read_text())
    assert {j: lock["jobs"][j]["state"] for j in JOBS} == {j: "succeeded" for j in JOBS}
    assert lock["jobs"]["ctf"]["job_dir"] == "External/job005/"


def test_one_changed_parameter_reruns_that_job_and_what_is_below(done):
    p = done
    edit(p.pipeline, "{tomo_dimensions: 64x64x32}", "{tomo_dimensions: 64x64x24}")
    plan = p.plan()
    assert {j["name"]: j["action"] for j in plan["jobs"]} == {
        "import": "keep", "motion": "keep", "tsimport": "rerun", "align": "rerun", "ctf": "rerun", "reconstruct": "rerun"}
    assert _reasons(plan, "tsimport") == [{"kind": "params", "key": "tomo_dimensions", "old": "64x64x32", "new": "64x64x24"}]
    assert _reasons(plan, "align") == [{"kind": "upstream", "job": "tsimport"}]
    assert _reasons(plan, "ctf") == [{"kind": "upstream", "job": "align"}]
    assert next(j for j in plan["jobs"] if j["name"] == "motion")["job_dir"] == "External/job002/"
    text = p.cli("plan", p.pipeline, "--project", p.root).stdout
    assert "tomo_dimensions: '64x64x32' -> '64x64x24'" in text
    p.apply()
    scheme = p.latest_scheme()
    assert scheme == "cryocc_002"
    jobs = read_strict((p.root / f"Schemes/{scheme}/scheme.star").read_text())["scheme_jobs"]
    assert [r["rlnSchemeJobNameOriginal"] for r in jobs] == ["tsimport", "align", "ctf", "reconstruct"]
    # kept jobs by their literal directories, jobs of this scheme through Schemes/
    assert p.options(scheme, "tsimport")["in_mic"] == "External/job002/fs_motion_and_ctf.star"
    assert p.options(scheme, "align")["in_mic"] == "External/job002/fs_motion_and_ctf.star"
    assert p.options(scheme, "align")["in_mov"] == f"Schemes/{scheme}/tsimport/warp_tiltseries.settings"
    run = p.run()
    assert run.submitted == 4 and [d for _, d, _ in run.jobs] == [f"External/job00{i}/" for i in (7, 8, 9)] + ["External/job010/"]
    motion_dir = p.root / "External/job007"
    assert "--frameseries ../job002/warp_frameseries" in (motion_dir / "run.out").read_text()  # read the kept job's outputs
    assert p.actions() == {j: "keep" for j in JOBS}


def test_a_slurm_resource_change_reruns_nothing(done):
    edit(done.pipeline, 'resources: {mem: 2G}', 'resources: {mem: 64G, cpus: 8, gpus: 1, partition: gpu}')
    edit(done.pipeline, 'align:       {type: ts_alignment, params: {method: aretomo, sample_thickness_nm: 150}}',
         'align:       {type: aligntiltsWarp, params: {method: aretomo, sample_thickness_nm: 150, perdevice: 4}}')
    assert done.actions() == {j: "keep" for j in JOBS}


def test_a_failed_job_reruns_from_there(tmp_path):
    p = Proj(tmp_path)
    p.apply()
    run = p.run(FAKE_FAIL="ts_aretomo")
    assert run.statuses == {"import": "Succeeded", "motion": "Succeeded", "tsimport": "Succeeded", "align": "Failed"}
    plan = p.plan()
    actions = {j["name"]: j["action"] for j in plan["jobs"]}
    assert actions == {"import": "keep", "motion": "keep", "tsimport": "keep", "align": "rerun", "ctf": "run", "reconstruct": "run"}
    assert _reasons(plan, "align")[0]["kind"] == "failed"
    assert "exited with code 1" in _reasons(plan, "align")[0]["detail"]
    p.apply()
    assert read_strict((p.root / "Schemes/cryocc_002/scheme.star").read_text())["scheme_general"]["rlnSchemeCurrentNodeName"] == "align"
    run = p.run()
    assert run.submitted == 3 and run.ended_at == "EXIT"
    assert p.actions() == {j: "keep" for j in JOBS}


def test_a_job_that_died_without_a_sentinel_is_incomplete(done):
    d = done.root / "External/job004"
    (d / "RELION_JOB_EXIT_SUCCESS").unlink()
    plan = done.plan()
    assert _reasons(plan, "align")[0]["kind"] == "incomplete"
    assert {j["name"]: j["action"] for j in plan["jobs"]}["align"] == "rerun"
    assert [r["kind"] for r in _reasons(plan, "ctf")] == ["upstream"]


def test_deleted_outputs_rerun_the_job_and_below(done):
    (done.root / "External/job004/aligned_tilt_series.star").unlink()
    plan = done.plan()
    actions = {j["name"]: j["action"] for j in plan["jobs"]}
    assert actions == {"import": "keep", "motion": "keep", "tsimport": "keep", "align": "rerun", "ctf": "rerun", "reconstruct": "rerun"}
    assert _reasons(plan, "align") == [{"kind": "outputs_missing", "detail": "aligned_tilt_series.star"}]
    assert _reasons(plan, "reconstruct") == [{"kind": "upstream", "job": "ctf"}]


def test_an_edited_mdoc_reruns_the_jobs_that_read_it(done):
    mdoc = done.pipeline.parent / "data/mdoc/TS_01.mdoc"
    edit(mdoc, "Magnification = 105000", "Magnification = 105001")  # same size, new content
    plan = done.plan()
    assert {j["name"]: j["action"] for j in plan["jobs"]} == {j: "rerun" for j in JOBS}
    assert {"kind": "input", "path": "data/mdoc/TS_01.mdoc", "change": "content changed"} in _reasons(plan, "import")
    assert _reasons(plan, "align") == [{"kind": "upstream", "job": "motion"}, {"kind": "upstream", "job": "tsimport"}]


def test_a_replaced_frame_reruns_the_jobs_that_read_it(done):
    frame = done.pipeline.parent / "data/frames/TS_01_010_-15.0.mrc"
    frame.write_bytes(b"new movie")
    plan = done.plan()
    assert {j["name"]: j["action"] for j in plan["jobs"]} == {j: "rerun" for j in JOBS}
    assert {"kind": "input", "path": "data/frames/TS_01_010_-15.0.mrc", "change": "size 9216 -> 9"} in _reasons(plan, "motion")


@pytest.mark.parametrize("mode, reruns", [("stat", True), ("lenient", False)])
def test_a_pure_mtime_change_reruns_only_in_stat_mode(tmp_path, mode, reruns):
    p = Proj(tmp_path)
    edit(p.pipeline, "  mdocs: data/mdoc/*.mdoc", f"  mdocs: data/mdoc/*.mdoc\n  frame_check: {mode}")
    p.apply()
    p.run()
    frame = p.pipeline.parent / "data/frames/TS_01_010_-15.0.mrc"
    os.utime(frame, (1_800_000_000, 1_800_000_000))
    actions = p.actions()
    assert actions["import"] == ("rerun" if reruns else "keep")
    assert actions["align"] == "keep" if not reruns else actions["align"] == "rerun"


def test_a_removed_job_is_an_orphan_and_its_directory_stays(done):
    edit(done.pipeline, "  reconstruct: {type: ts_reconstruct, params: {rescale_angpixs: 10}, resources: {mem: 2G}}\n", "")
    before = tree(done.root / "External/job006")
    plan = done.plan()
    orphan = next(j for j in plan["jobs"] if j["name"] == "reconstruct")
    assert orphan == {"name": "reconstruct", "type": "ts_reconstruct", "action": "orphan", "reasons": [{"kind": "removed"}],
                      "job_dir": "External/job006/"}
    done.apply()
    assert tree(done.root / "External/job006") == before
    assert json.loads((done.root / "cryocc.lock").read_text())["jobs"]["reconstruct"]["job_dir"] == "External/job006/"


def test_force_reruns_a_job_and_below(done):
    plan = done.plan("--force", "ctf")
    assert {j["name"]: j["action"] for j in plan["jobs"]}["ctf"] == "rerun"
    assert _reasons(plan, "ctf") == [{"kind": "forced"}]
    assert _reasons(plan, "reconstruct") == [{"kind": "upstream", "job": "ctf"}]
    err = done.cli("plan", done.pipeline, "--project", done.root, "--force", "cft", code=1).stderr
    assert "did you mean 'ctf'" in err


def test_two_applies_at_once_exactly_one_proceeds(tmp_path):
    p = Proj(tmp_path)
    p.root.mkdir()
    with apply_mutex(p.root):
        err = p.apply(code=1).stderr
        assert "is locked by cryocc apply, pid" in err and "nothing was written" in err
        assert not (p.root / "Schemes").exists()
    p.apply()
    assert (p.root / "Schemes/cryocc_001/scheme.star").exists()


def _submitted_with_sbatch(job_dir) -> None:
    """As if RELION had submitted the job to SLURM (the project ran with the workstation profile)."""
    star = job_dir / "job.star"
    star.write_text(re.sub(r"^(\s*qsub\s+)bash", r"\1sbatch", star.read_text(), count=1, flags=re.M))


def test_apply_refuses_while_a_job_runs(done, monkeypatch):
    import cryocc.observe.project as state

    monkeypatch.setattr(state.Project, "slurm", lambda self, job_dir: {"id": "42", "state": "RUNNING"})  # what squeue says
    _submitted_with_sbatch(done.root / "External/job006")
    (done.root / "External/job006/RELION_JOB_EXIT_SUCCESS").unlink()
    (done.root / ".relion_lock_scheme_cryocc_001").mkdir()
    pipeline = done.root / "default_pipeline.star"  # as RELION left it while the job ran
    pipeline.write_text(re.sub(r"(External/job006/\s+None\s+relion\.external\s+)Succeeded", r"\1Running", pipeline.read_text()))
    edit(done.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    before = tree(done.root)
    err = done.apply(code=1).stderr
    assert "still running: reconstruct (External/job006/)" in err
    assert tree(done.root) == before  # the refusal wrote nothing, not even the lock's owner note
    done.apply("--ignore-running")


def test_a_job_gone_from_slurm_without_a_sentinel_is_not_running(done, monkeypatch):
    import cryocc.observe.project as state

    monkeypatch.setattr(state.Project, "slurm", lambda self, job_dir: {})  # squeue answers: not queued
    _submitted_with_sbatch(done.root / "External/job006")
    (done.root / "External/job006/RELION_JOB_EXIT_SUCCESS").unlink()
    (done.root / ".relion_lock_scheme_cryocc_001").mkdir()
    assert _reasons(done.plan(), "reconstruct")[0]["kind"] == "incomplete"


class Crash(BaseException):
    """A process dying mid-apply (not an Exception: nothing may catch it)."""


def _crash_at_every_write(monkeypatch, base: Proj, make_copy) -> int:
    """Apply on a copy uninterrupted, then on fresh copies crashing before each write in turn;
    after each crash plan must be truthful and a new apply must reach the same files."""
    writes: list[str] = []
    clean = make_copy("clean")
    monkeypatch.setattr(apply_mod, "_before_write", writes.append)
    before_plan = clean.plan()
    clean.apply()
    expected = {k: v for k, v in tree(clean.root).items() if "apply." not in k}
    for n in range(len(writes)):
        p = make_copy(f"crash{n}")
        calls: list[str] = []

        def crash(path, calls=calls, n=n):
            if len(calls) == n:
                raise Crash(f"simulated crash before writing {path}")
            calls.append(path)

        monkeypatch.setattr(apply_mod, "_before_write", crash)
        with pytest.raises(Crash):
            p.runner.invoke(app, ["apply", str(p.pipeline), "--project", str(p.root)], catch_exceptions=False)
        monkeypatch.setattr(apply_mod, "_before_write", lambda path: None)
        assert p.plan() == before_plan, f"plan after a crash before write {n} ({writes[n]})"
        p.apply()
        assert {k: v for k, v in tree(p.root).items() if "apply." not in k} == expected, f"crash before {writes[n]}"
    return len(writes)


def test_a_crash_between_any_two_writes_of_a_fresh_apply_converges(tmp_path, monkeypatch):
    base = Proj(tmp_path)
    assert _crash_at_every_write(monkeypatch, base, lambda name: base.at(tmp_path / name)) > 20


def test_a_crash_between_any_two_writes_of_an_incremental_apply_converges(done, tmp_path, monkeypatch):
    edit(done.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 640}}")

    def make_copy(name):
        shutil.copytree(done.root, tmp_path / name, symlinks=True)
        return done.at(tmp_path / name)

    assert _crash_at_every_write(monkeypatch, done, make_copy) > 8


def test_a_crash_between_any_two_writes_of_an_extending_apply_converges(done, tmp_path, monkeypatch):
    from test_items import add_series

    add_series(done.pipeline.parent, ["TS_02"])

    def make_copy(name):
        shutil.copytree(done.root, tmp_path / name, symlinks=True)
        return done.at(tmp_path / name)

    assert {j["action"] for j in done.plan()["jobs"]} == {"extend"}
    assert _crash_at_every_write(monkeypatch, done, make_copy) > 8
    done.apply()
    again = done.apply().stdout  # an extension applied, not run yet, is planned again the same
    assert "already holds this plan and has not run yet" in again and again.count("+1 new, 1 kept; applied, not run yet") == 6


def test_plan_json_shape(done):
    edit(done.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    doc = done.plan()
    assert set(doc) == {"jobs", "summary", "data", "notes", "estimate", "new_project"}
    assert doc["new_project"] is False
    assert doc["data"] == {"waiting": [], "excluded": {}}
    assert set(doc["summary"]) == {"keep", "run", "rerun", "extend", "orphan"}
    for job in doc["jobs"]:
        runs = job["action"] in ("run", "rerun", "extend")
        assert set(job) == {"name", "type", "action", "reasons", "job_dir"} | ({"items"} if runs else set())
        assert job["action"] in ("keep", "run", "rerun", "extend", "orphan")
        for r in job["reasons"]:
            assert r["kind"] in {"new", "params", "input", "upstream", "failed", "aborted", "incomplete", "outputs_missing",
                                 "forced", "removed", "running", "items_failed", "reuse", "items", "pools", "receipt"}
    assert _reasons(doc, "reconstruct") == [{"kind": "params", "key": "rescale_angpixs", "old": 10.0, "new": 11.0}]
    assert _job(doc, "reconstruct")["items"] == {"todo": ["TS_01"], "keep": 0}  # a recipe change: every tilt series again


def test_status_reports_each_job(done):
    doc = json.loads(done.cli("status", "--project", done.root, "--json").stdout)
    assert [(j["name"], j["state"], j["job_dir"]) for j in doc["jobs"]] == [
        (j, "succeeded", f"External/job00{i}/") for i, j in enumerate(JOBS, 1)]
    assert all(j["seconds"] is not None for j in doc["jobs"])
    last = doc["last_apply"]
    assert (last["name"], last["jobs"]) == ("cryocc_001", JOBS)
    assert (done.root / last["pipeline"]).read_text() == done.pipeline.read_text()  # what the scheme was compiled from
    assert (done.root / last["site"]).read_text().startswith("# Site profile")


def test_upgrading_the_fingerprint_recipe_reruns_nothing(done, monkeypatch):
    import cryocc.compiler.compile as compile_module
    import cryocc.compiler.fingerprint as fingerprint

    monkeypatch.setattr(fingerprint, "FINGERPRINT_VERSION", fingerprint.FINGERPRINT_VERSION + 1)
    original = fingerprint.job_parts

    def parts(**kw):
        p = original(**kw)
        p["recipe"] = fingerprint.FINGERPRINT_VERSION
        return p

    monkeypatch.setattr(compile_module, "job_parts", parts)
    assert done.actions() == {j: "keep" for j in JOBS}


def test_logs_prints_a_jobs_log_found_through_the_lockfile(done):
    d = done.root / done.job_dir("ctf")
    out = done.cli("logs", "ctf", "--project", done.root).stdout
    assert out == (d / "run.out").read_text() and "cryocc driver: succeeded" in out
    (d / "run.err").write_text("a warning\n")
    assert done.cli("logs", "ctf", "--project", done.root).stdout.endswith(f"--- {done.job_dir('ctf')}run.err ---\na warning\n")
    err = done.cli("logs", "ctff", "--project", done.root, code=1).stderr
    assert "no job 'ctff'" in err and "did you mean 'ctf'" in err


def test_logs_follow_prints_until_the_job_ends(done):
    import threading

    from cryocc.run import runner

    d = done.root / done.job_dir("reconstruct")
    (d / "RELION_JOB_EXIT_SUCCESS").unlink()  # as if still running
    seen: list[str] = []
    t = threading.Thread(target=runner.logs, args=(done.root, "reconstruct"), kwargs={"follow": True, "write": seen.append, "poll": 0.05})
    t.start()
    with open(d / "run.out", "a") as fh:
        fh.write("a line written while followed\n")
    assert t.is_alive()
    (d / "RELION_JOB_EXIT_SUCCESS").touch()
    t.join(10)
    assert not t.is_alive() and "".join(seen).endswith("a line written while followed\n")


def test_logs_of_a_job_not_started_says_so(tmp_path):
    p = Proj(tmp_path)
    p.apply()
    err = p.cli("logs", "ctf", "--project", p.root, code=1).stderr
    assert "ctf has no job directory yet (applied, not run yet)" in err and "hint: " in err


# --- every result the project holds is found again by its fingerprint ------------------------

def _reuse(plan: dict, job: str) -> str | None:
    r = _reasons(plan, job)
    return r[0]["job_dir"] if r and r[0]["kind"] == "reuse" else None


def test_a_reverted_parameter_reuses_the_earlier_result(done):
    edit(done.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    done.apply()
    assert done.run().statuses["reconstruct"] == "Succeeded"
    assert done.job_dir("reconstruct") == "External/job007/"
    edit(done.pipeline, "{rescale_angpixs: 11}", "{rescale_angpixs: 10}")  # back to what job006 was made with
    plan = done.plan()
    assert plan["summary"] == {"keep": 6, "run": 0, "rerun": 0, "extend": 0, "orphan": 0}
    assert _reuse(plan, "reconstruct") == "External/job006/"
    out = done.cli("plan", done.pipeline, "--project", done.root).stdout
    assert re.search(r"= keep +reconstruct +ts_reconstruct +External/job006/ +reuse External/job006/ "
                     r"\(same fingerprint, job reconstruct, finished 20", out), out
    assert "Nothing to run" in done.apply().stdout
    assert done.job_dir("reconstruct") == "External/job006/"
    assert done.actions() == {j: "keep" for j in JOBS} and not _reasons(done.plan(), "reconstruct")


def test_a_job_below_a_reused_result_follows_it_back(done):
    """Reverting ctf's window reuses ctf's earlier directory; reconstruct, made from the other one,
    must go back to its own earlier result too, not stay on what it made from the reverted one."""
    edit(done.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 640}}")
    done.apply()
    assert set(done.run().statuses) == {"ctf", "reconstruct"}
    edit(done.pipeline, "{type: ts_ctf, params: {window: 640}}", "{type: ts_ctf}")
    plan = done.plan()
    assert (_reuse(plan, "ctf"), _reuse(plan, "reconstruct")) == ("External/job005/", "External/job006/")
    done.apply()
    assert done.actions() == {j: "keep" for j in JOBS} and done.job_dir("reconstruct") == "External/job006/"


def test_a_renamed_job_keeps_its_result(done):
    edit(done.pipeline, "  ctf:         {type: ts_ctf}", "  tsctf:       {type: ts_ctf}")
    plan = done.plan()
    actions = {j["name"]: j["action"] for j in plan["jobs"]}
    assert actions == {"import": "keep", "motion": "keep", "tsimport": "keep", "align": "keep", "tsctf": "keep",
                       "reconstruct": "keep", "ctf": "orphan"}
    assert _reuse(plan, "tsctf") == "External/job005/"
    done.apply()
    assert done.job_dir("tsctf") == "External/job005/"


@pytest.mark.parametrize("how", ["deleted", "damaged"])
def test_a_lost_lockfile_is_rebuilt_from_the_receipts(how, done):
    lock = done.root / "cryocc.lock"
    if how == "deleted":
        lock.unlink()
    else:
        lock.write_text(lock.read_text()[:300])  # a truncated copy
    plan = done.plan()
    assert plan["summary"] == {"keep": 6, "run": 0, "rerun": 0, "extend": 0, "orphan": 0}
    assert [_reuse(plan, j) for j in JOBS] == [f"External/job00{i}/" for i in range(1, 7)]
    assert plan["notes"] and "rebuilt from the receipts in External/" in plan["notes"][0]
    assert ("is damaged" in plan["notes"][0]) == (how == "damaged")
    done.apply()
    assert json.loads(lock.read_text())["jobs"]["ctf"]["job_dir"] == "External/job005/"
    assert done.actions() == {j: "keep" for j in JOBS} and done.plan()["notes"] == []
    if how == "damaged":
        assert len(list((done.root / ".cryocc/damaged").iterdir())) == 1


def test_the_results_index_spares_reading_receipts(done):
    from cryocc.compiler.results import Results

    first = Results(done.root)
    assert first.find("nothing has this fingerprint") == [] and first.read == 6  # no index yet: every receipt
    edit(done.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    done.apply()  # writes the index
    again = Results(done.root)
    assert [d for d, _ in again.find(json.loads((done.root / "External/job006/cryocc_receipt.json").read_text())["fingerprint"])] \
        == ["External/job006/"] and again.read == 0


def test_the_plan_estimates_what_it_will_cost(tmp_path):
    from cryocc.compiler.estimate import DEFAULT_COST

    p = Proj(tmp_path)
    fresh = p.plan()["estimate"]
    fixed, per_series = DEFAULT_COST["ts_reconstruct"]
    assert fresh["jobs"]["reconstruct"] == {"seconds": fixed + per_series * 1, "gpu_hours": 0.0, "source": "default for the type"}
    assert fresh["seconds"] == sum(j["seconds"] for j in fresh["jobs"].values()) and set(fresh["jobs"]) == set(JOBS)
    assert "Estimate: ~ " in p.cli("plan", p.pipeline, "--project", p.root).stdout
    p.apply()
    p.run()
    took = json.loads((p.root / p.job_dir("reconstruct") / "cryocc_receipt.json").read_text())["seconds"]
    edit(p.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    est = p.plan()["estimate"]
    assert set(est["jobs"]) == {"reconstruct"}
    assert est["jobs"]["reconstruct"] == {"seconds": round(took), "gpu_hours": 0.0, "source": "median of 1 earlier run"}
    out = p.cli("plan", p.pipeline, "--project", p.root).stdout
    assert "wall, one job after another (from this project's history)" in out
    edit(p.pipeline, "{rescale_angpixs: 11}", "{rescale_angpixs: 10}")
    assert p.plan()["estimate"] == {"jobs": {}, "seconds": 0, "gpu_hours": 0, "gpus": 0}  # nothing runs: reused
