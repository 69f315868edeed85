"""cryocc gc: superseded job directories listed, then moved to Trash/ the way RELION deletes a job,
with the real relion_schemer running the project before and after (it must still read the
pipeline cryocc rewrote)."""

from __future__ import annotations

import json

import pytest
import starfile
from conftest import edit
from relion_strict import read_strict
from test_incremental import JOBS, Proj

pytestmark = pytest.mark.usefixtures("relion")


def processes(p: Proj) -> list[str]:
    return list(starfile.read(p.root / "default_pipeline.star", always_dict=True)["pipeline_processes"]["rlnPipeLineProcessName"])


@pytest.fixture
def superseded(tmp_path):
    """The quickstart ran; then tsCtf's window changed and ctf and reconstruct ran again."""
    p = Proj(tmp_path)
    p.apply()
    p.run()
    edit(p.pipeline, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 640}}")
    p.apply()
    assert set(p.run().statuses.values()) == {"Succeeded"}
    return p


def test_gc_lists_what_no_job_uses_and_moves_nothing_without_yes(superseded):
    p = superseded
    out = p.cli("gc", "--project", p.root).stdout
    assert "External/job005/" in out and "External/job006/" in out and "superseded" in out
    for kept in ("job001", "job002", "job003", "job004", "job007", "job008"):
        assert f"External/{kept}/" not in out
    assert "pass --yes to move them to Trash/" in out
    assert (p.root / "External/job005").is_dir() and len(processes(p)) == 8
    doc = json.loads(p.cli("gc", "--project", p.root, "--json").stdout)
    assert [(u["job_dir"], u["job"], u["why"]) for u in doc["unused"]] == [
        ("External/job005/", "ctf", "superseded"), ("External/job006/", "reconstruct", "superseded")]
    assert all(u["size"] > 0 for u in doc["unused"])


def test_gc_yes_moves_them_to_trash_as_relion_does_and_the_project_goes_on(superseded):
    p = superseded
    p.cli("gc", "--project", p.root, "--yes")
    assert not (p.root / "External/job005").exists() and (p.root / "Trash/External/job005/cryocc_receipt.json").is_file()
    assert (p.root / "Trash/External/job006/RELION_JOB_EXIT_SUCCESS").is_file()
    assert processes(p) == [f"External/job00{i}/" for i in (1, 2, 3, 4, 7, 8)]
    strict = read_strict((p.root / "default_pipeline.star").read_text())
    assert all(not r["rlnPipeLineEdgeProcess"].startswith(("External/job005", "External/job006"))
               for r in strict["pipeline_input_edges"])
    deleted = starfile.read(p.root / "Trash/External/job005/deleted_pipeline.star", always_dict=True)
    assert list(deleted["pipeline_processes"]["rlnPipeLineProcessName"]) == ["External/job005/", "External/job006/"]
    assert not list(p.root.glob(".Nodes/*/External/job005/*")) and not (p.root / ".relion_lock").exists()
    assert p.actions() == dict.fromkeys(JOBS, "keep")
    assert "nothing" in p.cli("gc", "--project", p.root).stdout
    # RELION goes on with the rewritten pipeline: a changed parameter runs in the next job directory
    edit(p.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    p.apply()
    result = p.run()
    assert result.statuses == {"reconstruct": "Succeeded"} and result.jobs[0][1] == "External/job009/"


def test_gc_keeps_what_a_reused_result_reads(superseded):
    p = superseded
    edit(p.pipeline, "{type: ts_ctf, params: {window: 640}}", "{type: ts_ctf}")  # back: job005 and job006 are reused
    p.apply()
    doc = json.loads(p.cli("gc", "--project", p.root, "--json").stdout)
    assert [u["job_dir"] for u in doc["unused"]] == ["External/job007/", "External/job008/"]


def test_gc_lists_a_job_gone_from_the_pipeline_and_refuses_while_a_scheme_runs(superseded):
    p = superseded
    edit(p.pipeline, "  reconstruct: {type: ts_reconstruct, params: {rescale_angpixs: 10}, resources: {mem: 2G}}\n", "")
    p.apply()
    doc = json.loads(p.cli("gc", "--project", p.root, "--json").stdout)
    assert ("External/job008/", "no longer in pipeline.yaml") in [(u["job_dir"], u["why"]) for u in doc["unused"]]
    (p.root / ".relion_lock_scheme_cryocc_002").mkdir()
    out = p.cli("gc", "--project", p.root, "--yes", code=1).output
    assert "relion_schemer" in out and (p.root / "External/job008").is_dir()
