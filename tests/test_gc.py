"""cryocc gc: superseded job directories listed, then moved to Trash/ the way RELION deletes a job,
with the real relion_schemer running the project before and after (it must still read the
pipeline cryocc rewrote); what the spec would reuse is never offered; Trash/ is emptied only by
cryocc trash --empty. Then, without RELION, projects planted by hand: gc never reads, moves,
writes or deletes outside the project, whatever its files name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import starfile
from conftest import edit
from relion_strict import read_strict
from test_confine import applied, finished_job, set_lock, write_pipeline
from test_incremental import JOBS, Proj


def processes(p: Proj) -> list[str]:
    return list(starfile.read(p.root / "default_pipeline.star", always_dict=True)["pipeline_processes"]["rlnPipeLineProcessName"])


@pytest.fixture
def superseded(tmp_path, relion):
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
    out = p.cli("gc", p.pipeline, "--project", p.root).stdout
    assert "External/job005/" in out and "External/job006/" in out and "superseded" in out
    for kept in ("job001", "job002", "job003", "job004", "job007", "job008"):
        assert f"External/{kept}/" not in out
    assert "pass --yes to move them to Trash/" in out
    assert (p.root / "External/job005").is_dir() and len(processes(p)) == 8
    doc = json.loads(p.cli("gc", p.pipeline, "--project", p.root, "--json").stdout)
    assert [(u["job_dir"], u["job"], u["why"]) for u in doc["unused"]] == [
        ("External/job005/", "ctf", "superseded"), ("External/job006/", "reconstruct", "superseded")]
    assert all(u["size"] > 0 for u in doc["unused"])


def test_gc_yes_moves_them_to_trash_as_relion_does_and_the_project_goes_on(superseded):
    p = superseded
    out = p.cli("gc", p.pipeline, "--project", p.root, "--yes").stdout
    assert "moved to Trash/" in out and f"Trash/ holds {out.split('Trash/ holds ')[1].split(':')[0]}" in out
    assert f"the disk space is freed only when it is emptied: cryocc trash --project {p.root} --empty" in out
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
    assert "nothing" in p.cli("gc", p.pipeline, "--project", p.root).stdout
    # RELION goes on with the rewritten pipeline: a changed parameter runs in the next job directory
    edit(p.pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: 11}")
    p.apply()
    result = p.run()
    assert result.statuses == {"reconstruct": "Succeeded"} and result.jobs[0][1] == "External/job009/"


def test_gc_keeps_what_a_reused_result_reads(superseded):
    p = superseded
    edit(p.pipeline, "{type: ts_ctf, params: {window: 640}}", "{type: ts_ctf}")  # back: job005 and job006 are reused
    p.apply()
    doc = json.loads(p.cli("gc", p.pipeline, "--project", p.root, "--json").stdout)
    assert [u["job_dir"] for u in doc["unused"]] == ["External/job007/", "External/job008/"]


def test_gc_never_offers_what_the_spec_would_reuse(superseded):
    """A parameter reverted, not applied yet: plan promises to reuse job005 and job006, so gc,
    given the spec, keeps them (the lockfile still names job007 and job008: those are kept too)."""
    p = superseded
    edit(p.pipeline, "{type: ts_ctf, params: {window: 640}}", "{type: ts_ctf}")
    reused = {j["name"]: j["job_dir"] for j in p.plan()["jobs"] if any(r["kind"] == "reuse" for r in j["reasons"])}
    assert reused == {"ctf": "External/job005/", "reconstruct": "External/job006/"}
    doc = json.loads(p.cli("gc", p.pipeline, "--project", p.root, "--json").stdout)
    assert doc["unused"] == [] and doc["trash"] == 0
    p.cli("gc", p.pipeline, "--project", p.root, "--yes")
    assert (p.root / "External/job005/RELION_JOB_EXIT_SUCCESS").is_file() and p.actions() == dict.fromkeys(JOBS, "keep")


def test_gc_lists_a_job_gone_from_the_pipeline_and_refuses_while_a_scheme_runs(superseded):
    p = superseded
    edit(p.pipeline, "  reconstruct: {type: ts_reconstruct, params: {rescale_angpixs: 10}, resources: {mem: 2G}}\n", "")
    p.apply()
    doc = json.loads(p.cli("gc", p.pipeline, "--project", p.root, "--json").stdout)
    assert ("External/job008/", "no longer in pipeline.yaml") in [(u["job_dir"], u["why"]) for u in doc["unused"]]
    (p.root / ".relion_lock_scheme_cryocc_002").mkdir()
    out = p.cli("gc", p.pipeline, "--project", p.root, "--yes", code=1).output
    assert "relion_schemer" in out and (p.root / "External/job008").is_dir()


# --- without RELION: projects planted by hand ---------------------------------------------------

@pytest.fixture
def planted(example, cli, tmp_path) -> tuple[Path, Path]:
    """The quickstart applied (not run) and a finished job directory that no job of it uses,
    External/job005/, in default_pipeline.star with one output node."""
    pipeline, project = applied(example, cli, tmp_path)
    finished_job(project, "External/job005/")
    write_pipeline(project, ["External/job005/"], {"External/job005/tomograms.star": "External/job005/"})
    (project / ".Nodes/TomogramGroupMetadata.star/External/job005").mkdir(parents=True)
    (project / ".Nodes/TomogramGroupMetadata.star/External/job005/tomograms.star").touch()
    return pipeline, project


def refused(cli, pipeline: Path, project: Path, *expected: str) -> None:
    """gc (listing, then --yes) stops with a located error and leaves the project as it was."""
    before = tree(project)
    for extra in ((), ("--yes",)):
        err = cli("gc", pipeline, "--project", project, *extra, code=1).stderr
        assert all(e in err for e in expected) and "hint:" in err and "Traceback" not in err, err
    assert tree(project) == before


def tree(root: Path) -> dict[str, str]:
    """Every entry below root, links not followed: a file's bytes, a link's target, a directory."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            out[str(path.relative_to(root))] = ("-> " + os.readlink(path) if path.is_symlink() else
                                                "dir" if path.is_dir() else path.read_bytes().decode(errors="replace"))
    return out


def test_gc_moves_a_planted_job_into_a_trash_it_makes_and_says_the_space_is_still_held(planted, cli):
    pipeline, project = planted
    doc = json.loads(cli("gc", pipeline, "--project", project, "--json").stdout)
    assert [(u["job_dir"], u["why"]) for u in doc["unused"]] == [("External/job005/", "superseded")] and doc["trash"] == 0
    out = cli("gc", pipeline, "--project", project, "--yes").stdout
    trash = project / "Trash/External/job005"
    assert trash.is_dir() and not (project / "Trash").is_symlink() and (trash / "deleted_pipeline.star").is_file()
    assert not (project / ".Nodes/TomogramGroupMetadata.star/External/job005/tomograms.star").exists()
    assert "Trash/ holds 1." in out and f"cryocc trash --project {project} --empty" in out
    assert json.loads(cli("gc", pipeline, "--project", project, "--json").stdout)["trash"] > 1000


def test_gc_lists_while_an_apply_holds_the_project_and_moves_only_after_it(planted, cli):
    """Listing only reads, as plan does; --yes takes the apply mutex, so nothing moves under an apply."""
    from cryocc.compiler import apply_mutex

    pipeline, project = planted
    with apply_mutex(project):
        listed = json.loads(cli("gc", pipeline, "--project", project, "--json").stdout)
        err = cli("gc", pipeline, "--project", project, "--yes", code=1).stderr
    assert [u["job_dir"] for u in listed["unused"]] == ["External/job005/"]
    assert "is locked by cryocc apply, pid" in err and (project / "External/job005").is_dir()
    cli("gc", pipeline, "--project", project, "--yes")
    assert not (project / "External/job005").exists()


def test_gc_refuses_a_process_of_another_project(planted, cli, tmp_path):
    pipeline, project = planted
    theirs = finished_job(tmp_path / "other", "External/job001/")
    write_pipeline(project, ["External/job005/", "../other/External/job001/"])
    refused(cli, pipeline, project, "default_pipeline.star: pipeline_processes.rlnPipeLineProcessName: ",
            "../other/External/job001/ is not a job directory of the project")
    assert (theirs / "cryocc_receipt.json").is_file() and not (theirs / "deleted_pipeline.star").exists()


def test_gc_refuses_a_node_that_leads_out_of_the_project(planted, cli, tmp_path):
    pipeline, project = planted
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    write_pipeline(project, ["External/job005/"], {"External/job005/../../../../../victim": "External/job005/"})
    before = tree(project)
    err = cli("gc", pipeline, "--project", project, "--yes", code=1).stderr
    where = "default_pipeline.star: pipeline_output_edges.rlnPipeLineEdgeToNode: "
    assert f"{where}.Nodes/TomogramGroupMetadata.star/External/job005/../../../../../victim leads to" in err, err
    assert victim.read_text() == "keep me" and tree(project) == before


@pytest.mark.parametrize("link, to", [("Trash", "outside"), ("Trash/External", "outside"), ("Trash", "p/Data")])
def test_gc_refuses_a_trash_that_is_a_symlink(link, to, planted, cli, tmp_path):
    pipeline, project = planted
    target = tmp_path / to
    target.mkdir()
    (project / link).parent.mkdir(exist_ok=True)
    (project / link).symlink_to(target)
    refused(cli, pipeline, project, f"{link}: {link} leads to ", "Trash/ (and Trash/External/) plain directories")
    assert not any(target.iterdir())


def test_gc_stops_before_its_first_write_when_a_file_is_where_trash_goes(planted, cli):
    pipeline, project = planted
    (project / "Trash").write_text("not a directory")
    before = tree(project)
    err = cli("gc", pipeline, "--project", project, "--yes", code=1).stderr
    assert "Trash" in err and "hint:" in err and tree(project) == before, err


def test_gc_never_writes_through_a_job_directory_that_is_a_symlink(planted, cli, tmp_path):
    pipeline, project = planted
    theirs = tmp_path / "theirs"
    os.rename(project / "External/job005", theirs)
    (project / "External/job005").symlink_to(theirs)
    refused(cli, pipeline, project, "default_pipeline.star: pipeline_processes.rlnPipeLineProcessName: External/job005/ leads to ",
            "outside the project")
    assert not (theirs / "deleted_pipeline.star").exists()


def test_gc_refuses_a_pipeline_has_changed_link_before_it_moves_anything(planted, cli, tmp_path):
    pipeline, project = planted
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("x")
    (project / ".pipeline_has_changed").symlink_to(elsewhere)
    before = tree(project)
    err = cli("gc", pipeline, "--project", project, "--yes", code=1).stderr
    assert ".pipeline_has_changed leads to " in err and "nothing was written." in err, err
    assert tree(project) == before and elsewhere.read_text() == "x"


def test_gc_says_what_it_wrote_when_it_fails_after_its_first_write(planted, cli, monkeypatch):
    import errno

    from cryocc.run import gc

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    pipeline, project = planted
    monkeypatch.setattr(gc.shutil, "move", full)
    err = cli("gc", pipeline, "--project", project, "--yes", code=1).stderr
    assert "No space left on device" in err and "nothing was written" not in err and "cryocc.lock is unchanged" not in err, err
    assert "gc had written: External/job005/deleted_pipeline.star; default_pipeline.star without them" in err, err
    assert not (project / ".relion_lock").exists()


def test_gc_refuses_a_lockfile_that_names_no_jobs(planted, cli):
    pipeline, project = planted
    doc = json.loads((project / "cryocc.lock").read_text())
    doc["jobs"] = {}
    (project / "cryocc.lock").write_text(json.dumps(doc))
    refused(cli, pipeline, project, "cryocc.lock: jobs: names no jobs")


def test_gc_refuses_a_lockfile_job_directory_out_of_the_project(planted, cli):
    pipeline, project = planted
    set_lock(project, "ctf", job_dir="External/job005/../../../q/")
    refused(cli, pipeline, project, "cryocc.lock: jobs.ctf.job_dir: External/job005/../../../q/ is not a job directory")


def test_gc_needs_the_spec_of_its_project(planted, cli):
    """gc plans the spec, like plan; a spec that shares no job with the project would make every
    directory look unused, so it is refused."""
    pipeline, project = planted
    assert "Missing argument 'PIPELINE'" in cli("gc", "--project", project, code=1).stderr
    other = pipeline.with_name("other.yaml")
    other.write_text(pipeline.read_text().replace("\n  import: ", "\n  imp: ").replace("\n  motion: ", "\n  mot: ")
                     .replace("\n  tsimport: ", "\n  tsi: ").replace("\n  align: ", "\n  ali: ")
                     .replace("\n  ctf: ", "\n  ctff: ").replace("\n  reconstruct: ", "\n  rec: "))
    refused(cli, other, project, "has none of the jobs of", "hint: give gc the pipeline.yaml this project was applied from")


def test_trash_lists_then_empties_only_the_projects_trash(planted, cli, tmp_path):
    pipeline, project = planted
    assert cli("trash", "--project", project).stdout == "Trash/ is empty\n"
    cli("gc", pipeline, "--project", project, "--yes")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "theirs.mrc").write_text("theirs")
    (project / "Trash/External/job099").symlink_to(outside)  # a link in Trash/ is removed, never followed
    out = cli("trash", "--project", project).stdout
    assert "Trash/External/job005/\n" in out and "cryocc trash --project" in out and "--empty deletes them for good" in out
    out = cli("trash", "--project", project, "--empty").stdout
    assert "freed" in out and (project / "Trash").is_dir() and not any((project / "Trash").iterdir())
    assert (outside / "theirs.mrc").read_text() == "theirs"
    assert cli("trash", "--project", project).stdout == "Trash/ is empty\n"
    os.rmdir(project / "Trash")
    (project / "Trash").symlink_to(outside)
    err = cli("trash", "--project", project, "--empty", code=1).stderr
    assert "Trash: Trash leads to" in err and (outside / "theirs.mrc").is_file()
