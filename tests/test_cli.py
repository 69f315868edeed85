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


# --- a command line that behaves (issue 23, item 4) --------------------------------------------

LONG = {"name": "reconstruct_denoised_tomograms", "type": "ts_reconstruct", "state": "outputs_missing", "job_dir": "External/job012/",
        "detail": "tomograms/TS_01.mrc is gone or changed since it succeeded " * 3, "seconds": 4000.0, "slurm": None, "log_tail": []}


def _status_doc(**job):
    return {"jobs": [{**LONG, **job}], "last_apply": None, "schemer": None}


def test_status_piped_prints_every_column_whole_one_line_a_row(example, cli, tmp_path):
    import re

    project = tmp_path / "p"
    cli("apply", example(), "--project", project)
    out = cli("status", "--project", project).stdout  # CliRunner's stdout is a pipe, not a terminal
    assert re.search(r"^job +type +state +directory +time +detail$", out, re.M), out
    assert re.search(r"^reconstruct +ts_reconstruct +scheduled +- +- +applied, not run yet$", out, re.M), out
    assert "…" not in out


def test_a_piped_table_keeps_long_names_states_and_directories_whole(capsys):
    from cryocc.ui import print_status

    print_status(_status_doc(), "p")
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(LONG["name"]))
    assert row.split()[:5] == [LONG["name"], "ts_reconstruct", "outputs_missing", "External/job012/", "66.7"]
    assert row.endswith(LONG["detail"].strip()) and "…" not in out


@pytest.mark.parametrize("width", [130, 200])
def test_at_a_terminal_the_table_is_as_wide_as_the_terminal_and_its_key_columns_whole(width, capsys):
    import io

    from rich.console import Console

    from cryocc.ui import print_status

    screen = io.StringIO()
    print_status(_status_doc(), "p", terminal=Console(file=screen, width=width, force_terminal=True, color_system=None))
    lines = screen.getvalue().splitlines()
    assert "┃ job" in lines[2] and max(map(len, lines)) == width  # a rich table, filling the terminal
    row = next(line for line in lines if LONG["name"] in line)
    assert all(cell in row for cell in ("ts_reconstruct", "outputs_missing", "External/job012/", "66.7 min"))
    assert "…" not in screen.getvalue()
    detail = "".join(line.split("│")[-2].strip() for line in lines if "│" in line)  # only free text wraps
    assert detail.replace(" ", "") == LONG["detail"].replace(" ", "")


def test_a_terminal_too_narrow_for_the_key_columns_gets_whole_lines_not_cut_cells(capsys):
    import io

    from rich.console import Console

    from cryocc.ui import print_status

    screen = io.StringIO()
    print_status(_status_doc(), "p", terminal=Console(file=screen, width=60, force_terminal=True))
    assert not screen.getvalue()  # no rich table
    assert LONG["detail"].strip() in capsys.readouterr().out


def test_jobs_piped_prints_each_tool_whole(cli):
    from cryocc.schema.jobs import CATALOG

    out = cli("jobs").stdout
    for t in CATALOG.values():
        assert any(line.startswith(f"{t.name} ") and t.tool_label in line for line in out.splitlines()), t.name
    assert "…" not in out


def test_plain_prints_tsv(example, cli, tmp_path):
    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    for args, header in ((["status", "--project", project], "job type state directory time detail"),
                         (["status", "--project", project, "--tilt-series"], "tilt_series job directory outcome reason measured"),
                         (["jobs"], "type also tool consumes produces"),
                         (["plan", pipeline, "--project", project], "action job type directory why"),
                         (["sites"], "site submit description file")):
        lines = cli(*args, "--plain").stdout.splitlines()
        width = len(header.split())
        assert lines[0].split("\t") == header.split(), args
        assert all(len(line.split("\t")) == width for line in lines), args
    rows = [line.split("\t") for line in cli("status", "--project", project, "--plain").stdout.splitlines()[1:]]
    assert rows[-1] == ["reconstruct", "ts_reconstruct", "scheduled", "", "", "applied, not run yet"]


def _into_a_closed_pipe(*args, cwd=None):
    """Run cryocc with stdout a pipe whose reader has already gone, as after `| head -1` has read its line."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "cryocc.cli", *map(str, args)], stdout=write, stderr=subprocess.PIPE,
                              text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    finally:
        os.close(write)


def test_a_closed_pipe_ends_quietly_with_the_status_of_sigpipe(example, cli, tmp_path):
    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    for args in (["validate", pipeline], ["validate", pipeline, "--json"], ["status", "--project", project], ["jobs"], ["--help"]):
        done = _into_a_closed_pipe(*args)
        assert (done.returncode, done.stderr) == (141, ""), args


def test_validate_into_head_prints_its_first_line_and_no_error(example):
    import os
    import subprocess

    from conftest import ROOT

    pipeline = example()
    script = f"set -o pipefail; python3 -m cryocc.cli validate {pipeline} | head -1"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.stdout == f"{pipeline}: valid (6 jobs, site local)\n"
    # 0 when validate wrote everything before head left; then its warnings (GPU jobs given 0 GPUs by the
    # local site) follow on stderr, as without the pipe, and nothing else does
    assert done.returncode in (0, 141), done.stderr
    assert all(line.startswith(("warning: ", "  hint: ")) for line in done.stderr.splitlines()), done.stderr


def test_project_defaults_to_the_environment_then_to_a_project_in_the_current_directory(example, cli, tmp_path, monkeypatch):
    project = tmp_path / "p"
    cli("apply", example(), "--project", project)
    monkeypatch.delenv("CRYOCC_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    err = cli("status", code=1).stderr
    assert "no project" in err and "--project" in err and "CRYOCC_PROJECT" in err
    monkeypatch.setenv("CRYOCC_PROJECT", str(project))
    assert "reconstruct" in cli("status").stdout
    monkeypatch.delenv("CRYOCC_PROJECT")
    monkeypatch.chdir(project)
    assert "reconstruct" in cli("status").stdout
    (project / "cryocc.lock").unlink()
    assert "reconstruct" not in cli("status", code=None).stdout  # .cryocc/ is there: still the project, now with no lockfile


def test_plan_names_a_project_that_does_not_exist_yet_as_new(example, cli, tmp_path):
    import json

    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    typo = tmp_path / "pp"
    assert cli("plan", pipeline, "--project", typo).stdout.startswith(f"New project: {typo} does not exist yet")
    assert json.loads(cli("plan", pipeline, "--project", typo, "--json").stdout)["new_project"] is True
    assert "New project" not in cli("plan", pipeline, "--project", project).stdout
    assert json.loads(cli("plan", pipeline, "--project", project, "--json").stdout)["new_project"] is False
    (tmp_path / "empty").mkdir()
    assert "holds no cryocc project yet" in cli("plan", pipeline, "--project", tmp_path / "empty").stdout
    assert not typo.exists()
    assert cli("apply", pipeline, "--project", typo).stdout.startswith(f"New project: {typo}/ (created)\n")
    assert "New project" not in cli("apply", pipeline, "--project", project).stdout


def test_shell_completion_is_on_and_completes_commands(cli, monkeypatch):
    # typer's own switch: --show-completion takes the shell's name instead of looking for the shell
    # that started the process, which a test run in the background (its shell gone) does not have
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = cli("--show-completion", "bash").stdout
    assert "_CRYOCC_COMPLETE=complete_bash" in script and "complete " in script
    assert "--install-completion" in cli("--help").stdout
    done = cli.runner.invoke(app, [], env={"_CRYOCC_COMPLETE": "complete_bash", "COMP_WORDS": "cryocc sta", "COMP_CWORD": "1"})
    assert done.stdout.split() == ["status"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_dash_h_is_help_on_every_command(command, cli):
    assert cli(command, "-h").stdout == cli(command, "--help").stdout


def test_validate_json_says_what_was_inferred_and_wired(example, cli):
    import json

    doc = json.loads(cli("validate", example(), "--json").stdout)
    assert doc["valid"] is True and doc["site"] == "local" and doc["tilt_series"] == 1 and doc["frames"] == 41
    assert doc["acquisition"]["pixel_size"] == {"value": 5.4, "source": "mdoc"}
    assert doc["acquisition"]["voltage"] == {"value": 300.0, "source": "override"}
    jobs = {j["name"]: j for j in doc["jobs"]}
    assert jobs["align"]["inputs"] == {"tilt_series": "motion", "settings": "tsimport"} and jobs["align"]["resources"]["cpus"] == 1


def test_validate_groups_the_mdocs_the_same_from_a_scan_and_from_the_scan_cache(example, cli, monkeypatch):
    import json

    import cryocc.acquisition.scan as scan_module

    real, scans = scan_module.scan, []
    monkeypatch.setattr(scan_module, "scan", lambda *a, **k: scans.append(1) or real(*a, **k))
    pipeline = example()
    first = json.loads(cli("validate", pipeline, "--json").stdout)["groups"]
    pipeline.write_text(pipeline.read_text().replace("rescale_angpixs: 10", "rescale_angpixs: 12"))  # data: as it was
    second = json.loads(cli("validate", pipeline, "--json").stdout)["groups"]
    assert len(scans) == 1  # the second from the scan cache
    assert second == first == [
        {"tilts": 41, "angles": "-60.0 .. 60.0", "pixel_size": 5.4, "voltage": None, "dose_per_tilt": None,  # as the mdoc has them
         "tilt_axis": 85.3, "count": 1}]


def test_validate_json_of_a_bad_spec_lists_each_error_located_and_exits_1(example, cli):
    import json

    pipeline = example()
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: ten")
    done = cli("validate", pipeline, "--json", code=1)
    doc = json.loads(done.stdout)
    assert doc["valid"] is False and doc["errors"]
    (err,) = doc["errors"]
    line = next(i for i, text in enumerate(pipeline.read_text().splitlines(), 1) if "rescale_angpixs" in text)
    assert err["file"].endswith("pipeline.yaml") and err["line"] == line and "rescale_angpixs" in err["key"]
    assert "error:" in done.stderr  # the usual message too, for a person watching


def test_status_detailed_exitcode_says_how_the_project_stands(example, cli, tmp_path, monkeypatch):
    import cryocc.observe.project
    from cryocc.observe.project import JobState
    from cryocc.states import Status

    project = tmp_path / "p"
    cli("apply", example(), "--project", project)
    cli("status", "--project", project)
    cli("status", "--project", project, "--detailed-exitcode", code=3)  # applied, not run yet
    observe = cryocc.observe.project.observe

    def states(*finished):
        def fake(project, lock):
            return {n: JobState(n, finished[i] if i < len(finished) else Status.SUCCEEDED) for i, n in enumerate(observe(project, lock))}
        return fake

    monkeypatch.setattr(cryocc.observe.project, "observe", states())
    cli("status", "--project", project, "--detailed-exitcode", code=0)
    cli("status", "--project", project, "--json", "--detailed-exitcode", code=0)
    for bad in (Status.FAILED, Status.ABORTED, Status.INCOMPLETE, Status.OUTPUTS_MISSING):
        monkeypatch.setattr(cryocc.observe.project, "observe", states(Status.SUCCEEDED, bad, Status.SCHEDULED))
        cli("status", "--project", project, "--detailed-exitcode", code=2)
        cli("status", "--project", project, code=0)  # without the option: 0, as before
    monkeypatch.setattr(cryocc.observe.project, "observe", states(Status.SUCCEEDED, Status.RUNNING))
    cli("status", "--project", project, "--detailed-exitcode", code=3)
    help_text = " ".join(cli("status", "--help").stdout.split())
    assert "0 every job succeeded; 2 a job failed" in help_text and "3 none did" in help_text


def test_sites_lists_each_bundled_profile_with_its_description(cli, tmp_path, monkeypatch):
    import json
    import re

    from cryocc.resources import data_dir

    monkeypatch.chdir(tmp_path)
    bundled = sorted((data_dir("config") / "sites").glob("*.yaml"))
    out = cli("sites").stdout
    for path in bundled:
        description = re.search(r"^description: (.+)$", path.read_text(), re.M).group(1)
        assert re.search(rf"^{path.stem} +(sbatch|bash) +{re.escape(description)} +{re.escape(str(path))}$", out, re.M), out
    (tmp_path / "config/sites").mkdir(parents=True)
    (tmp_path / "config/sites/local.yaml").write_text("name: local\ndescription: our own cluster\nsubmit: sbatch\n")
    found = json.loads(cli("sites", "--json").stdout)
    assert [(f["name"], f["bundled"], f["shadowed"]) for f in found if f["name"] == "local"] == [("local", False, False), ("local", True, True)]
    assert "our own cluster" in cli("sites").stdout


def _site_keys(model, prefix=""):
    """Every key a site profile can hold, as docs/sites.md writes it: `resources.<job type>.cpus`."""
    import typing

    from pydantic import BaseModel

    keys = set()
    for name, field in model.model_fields.items():
        key = prefix + name
        keys.add(key)
        annotation = field.annotation
        args = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _site_keys(annotation, key + ".")
        elif typing.get_origin(annotation) is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            keys |= _site_keys(args[1], key + ".<>.")
    return keys


def test_docs_sites_describes_every_site_profile_key_and_no_other():
    import re

    from conftest import ROOT

    from cryocc.schema.models import SiteProfile

    doc = (ROOT / "docs/sites.md").read_text()
    keys = doc.split("\n## Keys\n")[1].split("\n## ")[0]
    documented = {re.sub(r"<[^>]+>", "<>", key) for key in re.findall(r"^\| `([^`]+)` \|", keys, re.M)}
    assert documented == _site_keys(SiteProfile)
    assert "cryocc.site.schema.json" in doc and "cryocc sites" in doc
    assert "docs/sites.md" in (ROOT / "README.md").read_text()


def test_the_run_side_imports_neither_pydantic_nor_the_compiler():
    """status, logs, abort and the watchdog import these modules on every call: kept off the models."""
    import subprocess
    import sys

    code = ("import sys; import cryocc.cli, cryocc.run.runner, cryocc.observe.project, cryocc.observe.arrays, cryocc.run.watchdog; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' or m.startswith('cryocc.compiler')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
