from __future__ import annotations

import pytest
from conftest import edit

from cryocc import __version__
from cryocc.cli import app


def test_version(cli):
    assert cli("--version").stdout.strip() == f"cryocc {__version__}"


COMMANDS = {c.name or c.callback.__name__: c for c in app.registered_commands}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_its_options_and_the_readme_lists_it(command, cli):
    import inspect

    from conftest import ROOT

    out = " ".join(cli(command, "--help").stdout.split())
    doc = " ".join(inspect.getdoc(COMMANDS[command].callback).split())
    assert doc and doc.split(". ")[0] in out  # its own text, not only typer's frame
    options = [p.default.param_decls[0] for p in inspect.signature(COMMANDS[command].callback).parameters.values()
               if getattr(p.default, "param_decls", None)]
    assert all(o in out for o in options), options
    assert f"| `cryocc {command}" in (ROOT / "README.md").read_text()


def test_jobs_lists_every_type_with_its_tool(cli):
    import json

    from cryocc.schema.jobs import CATALOG

    rows = json.loads(cli("jobs", "--json").stdout)
    assert [r["type"] for r in rows] == list(CATALOG)
    assert all(r["tool"] for r in rows)


def test_apply_twice_is_a_noop_that_says_so(example, cli, tmp_path):
    from conftest import tree

    pipeline = example()
    cli("apply", pipeline, "--project", tmp_path / "p")
    before = tree(tmp_path / "p")
    out = cli("apply", pipeline, "--project", tmp_path / "p").stdout
    assert "Nothing new to write" in out
    assert tree(tmp_path / "p") == before


def test_apply_writes_only_inside_the_project(example, cli, tmp_path):
    pipeline = example()
    outside = {p for p in tmp_path.rglob("*")}
    cli("apply", pipeline, "--project", tmp_path / "p")
    new = {p for p in tmp_path.rglob("*")} - outside
    assert new and all(tmp_path / "p" in p.parents or p == tmp_path / "p" for p in new)
    import json

    scheme = json.loads((tmp_path / "p/cryocc.lock").read_text())["schemes"][-1]
    assert (tmp_path / "p" / scheme["pipeline"]).read_text() == pipeline.read_text()


def test_the_lockfile_names_one_frame_map_and_apply_keeps_no_other(example, cli, tmp_path):
    import json
    import os

    from conftest import FIXED_MTIME

    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    (first,) = (project / ".cryocc/frames").glob("*.tsv")
    assert json.loads((project / "cryocc.lock").read_text())["frames"] == f".cryocc/frames/{first.name}"
    lines = first.read_text().splitlines()
    assert len(lines) == 41 and f"data/frames/TS_01_010_-15.0.mrc\t9216\t{FIXED_MTIME * 10**9}" in lines

    os.utime(pipeline.parent / "data/frames/TS_01_010_-15.0.mrc", ns=(5, 5))
    cli("apply", pipeline, "--project", project)
    (second,) = (project / ".cryocc/frames").glob("*.tsv")
    assert second != first and "data/frames/TS_01_010_-15.0.mrc\t9216\t5" in second.read_text().splitlines()
    assert json.loads((project / "cryocc.lock").read_text())["frames"] == f".cryocc/frames/{second.name}"


def test_validate_shows_each_inferred_value_with_its_source_and_the_wiring(example, cli):
    import re

    out = cli("validate", example()).stdout
    assert re.search(r"^pixel size +5\.4 Å/px +mdoc$", out, re.M), out
    assert re.search(r"^voltage +300 kV +override$", out, re.M)
    assert re.search(r"^tilt axis +85\.3 ° +mdoc$", out, re.M)
    assert re.search(r"^ +41 +-60\.0 \.\. 60\.0 +5\.4 +- +- +85\.3 +1$", out, re.M)  # one tilt series as its mdoc says
    assert re.search(r"^align +ts_alignment +tilt_series <- motion, settings <- tsimport +1 cpu", out, re.M)


@pytest.mark.parametrize("args", [["plan", "--bogus"], ["plan", "pipeline.yaml"], ["--bogus"], ["nosuch"], ["apply"]])
def test_a_bad_command_line_exits_1_not_2(args, cli):
    """2 means "changes pending" (plan --detailed-exitcode); scripts must tell the two apart."""
    assert "Usage:" in cli(*args, code=1).stderr


def test_detailed_exitcode_is_2_only_when_something_would_run(example, cli, tmp_path):
    pipeline = example()
    cli("plan", pipeline, "--project", tmp_path / "p", "--detailed-exitcode", code=2)


def test_apply_removes_the_temp_files_a_killed_apply_left(example, cli, tmp_path):
    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    stale = [project / ".cryocc.lock.k2j4h5g6.tmp", project / ".cryocc/jobs/ctf/.0123abcd.json.a1b2c3d4.tmp",
             project / "Schemes/cryocc_001/.scheme.star.zzzzzzzz.tmp"]
    for path in stale:
        path.write_text("half")
    keep = project / "Schemes/cryocc_001/my-notes.tmp"  # not ours: a user's file
    keep.write_text("mine")
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: 12")
    cli("apply", pipeline, "--project", project)
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
