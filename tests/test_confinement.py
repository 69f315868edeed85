"""cryocc writes and deletes only inside the project: symlinks that lead out are refused before
the first write, so the refusal leaves both the project and the link's target as they were."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import edit


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file (bytes) and symlink (its target) below root, links not followed."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
    return out


def _applied(example, cli, tmp_path) -> tuple[Path, Path]:
    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: 12")  # something for the next apply to write
    return pipeline, project


def _move_out(project: Path, rel: str, outside: Path) -> None:
    """Replace project/rel by a symlink to a copy outside the project."""
    src = project / rel
    dest = outside / Path(rel).name
    shutil.move(str(src), dest)
    src.symlink_to(dest, target_is_directory=dest.is_dir())


@pytest.mark.parametrize("rel", [".cryocc", ".cryocc/jobs", ".cryocc/jobs/reconstruct", ".cryocc/scripts", ".cryocc/specs",
                                 ".cryocc/frames", ".cryocc/apply.lock", "Schemes", "Schemes/cryocc_001",
                                 "Schemes/cryocc_001/reconstruct", "cryocc.lock"])
def test_a_symlink_out_of_the_project_is_refused_and_nothing_changes(rel, example, cli, tmp_path):
    pipeline, project = _applied(example, cli, tmp_path)
    if rel == ".cryocc/apply.lock":
        (project / rel).touch()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _move_out(project, rel, outside)
    before = snapshot(project), snapshot(outside)
    err = cli("apply", pipeline, "--project", project, code=1).stderr
    assert f"refusing to write outside the project: {rel} is a symlink to {outside}" in err, err
    assert "Traceback" not in err and "hint:" in err
    assert (snapshot(project), snapshot(outside)) == before


def test_a_planted_next_scheme_pointing_out_is_refused(example, cli, tmp_path):
    """The scheme the next apply would create already exists as a link to someone's directory."""
    pipeline, project = _applied(example, cli, tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "job.star").write_text("not cryocc's\n")
    (project / "Schemes/cryocc_002").symlink_to(theirs)
    before = snapshot(project), snapshot(theirs)
    err = cli("apply", pipeline, "--project", project, code=1).stderr
    assert "Schemes/cryocc_002 is a symlink to" in err, err
    assert (snapshot(project), snapshot(theirs)) == before


def test_links_that_stay_inside_the_project_are_fine(example, cli, tmp_path):
    pipeline, project = _applied(example, cli, tmp_path)
    (project / "real-specs").mkdir()
    _move_out(project, ".cryocc/specs", project / "real-specs")
    cli("apply", pipeline, "--project", project)
    assert len(list((project / "real-specs/specs").iterdir())) == 3  # the old spec, its site, and the new spec through the link


def test_a_dangling_project_symlink_is_a_message(example, cli, tmp_path):
    pipeline = example()
    (tmp_path / "p").symlink_to(tmp_path / "gone")
    err = cli("apply", pipeline, "--project", tmp_path / "p", code=1).stderr
    assert "is a symlink to" in err and "which does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "gone").exists()


def test_a_project_that_is_a_file_is_a_message(example, cli, tmp_path):
    pipeline = example()
    (tmp_path / "p").write_text("x")
    assert "is not a directory" in cli("apply", pipeline, "--project", tmp_path / "p", code=1).stderr


@pytest.mark.parametrize("where", ["data/frames", "data/frames/proj", "data/mdoc/sub/proj"])
def test_a_project_in_its_own_data_is_refused(where, example, cli):
    pipeline = example()
    project = pipeline.parent / where
    before = snapshot(pipeline.parent)
    err = cli("apply", pipeline, "--project", project, code=1).stderr
    assert "data directory" in err and "hint: put the project beside the data" in err, err
    assert snapshot(pipeline.parent) == before
