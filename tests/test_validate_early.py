"""What would fail late is refused early (issue 19): a data glob that loops through symlinks, a
project a data glob reaches into, tilt-series names and bind paths the tools would split, thousands
of unknown names in data.exclude, and a group project's lock. Empty frames, booleans for numbers,
SLURM's limits and huge integers are cases of tests/test_corpus.py; empty frames also of
tests/test_sessions.py."""

from __future__ import annotations

import glob
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, edit

from cryocc.acquisition.listing import list_files
from cryocc.errors import Collector, CryoccError, DataError

# --- a bounded walk of ** globs -----------------------------------------------------------

def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for rel in ["a/x.mrc", "a/b/y.mrc", "a/b/c/z.mrc", "a/.hidden/h.mrc", "a/.h.mrc", "a/b/notes.txt", "top.mrc",
                "d/e/f/g.mrc", "data/TS_1/frames/q.mrc", "../elsewhere/e/w.mrc"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * len(rel))
    (root / "a/linked").symlink_to(tmp_path / "elsewhere")  # followed, as glob follows it
    (root / "a/dangling").symlink_to(root / "nowhere")
    return root


@pytest.mark.parametrize("pattern", ["**/*.mrc", "a/**/*.mrc", "a/**", "**", "a/*/*.mrc", "*/b/**/*.mrc", "a/**/b/*.mrc",
                                     "a/.*/*.mrc", "a/**/.h*", "**/frames/*.mrc", "*/*/frames/*.mrc", "a/**/**/*.mrc",
                                     "a/b*/**", "nothing/**/*.mrc"])
def test_the_walk_matches_what_glob_matches(pattern, tmp_path):
    root = _tree(tmp_path)
    expected = {os.path.relpath(p, root) for p in glob.glob(str(root / pattern), recursive=True) if os.path.isfile(p)}
    found = list_files(pattern, str(root))
    assert set(found) == expected and (expected or pattern.startswith("nothing"))
    assert all(found[k] == (os.stat(root / k).st_size, os.stat(root / k).st_mtime_ns) for k in found)


def test_a_directory_reached_twice_is_refused(tmp_path):
    root = _tree(tmp_path)
    (root / "d/again").symlink_to(root / "a/b")  # a/b/y.mrc would be listed twice, as two frames of one name
    with pytest.raises(DataError, match=r"reaches the directory a/b a second time, as d/again"):
        list_files("**/*.mrc", str(root))


def test_two_links_to_their_own_directory_are_refused_not_walked_forever(example, tmp_path):
    """Before, validate never returned (glob follows 2^n paths); run in a process of its own, with a timeout."""
    pipeline = example()
    edit(pipeline, "frames: data/frames/*.mrc", "frames: data/**/*.mrc")
    frames = pipeline.parent / "data/frames"
    (frames / "again").symlink_to(".")
    (frames / "and_again").symlink_to(".")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))}
    out = subprocess.run([sys.executable, "-m", "cryocc", "validate", str(pipeline)], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(f"error: {frames}/again: data: data/**/*.mrc reaches the directory data/frames a second time"), out.stderr
    assert "hint: remove or replace the link" in out.stderr


def test_a_link_back_up_is_a_loop_even_below_the_glob(tmp_path):
    (tmp_path / "s/deep/deeper").mkdir(parents=True)
    (tmp_path / "s/deep/deeper/up").symlink_to("../..")
    with pytest.raises(DataError, match=r"s/\*\*/\*.mrc reaches the directory s a second time, as s/deep/deeper/up"):
        list_files("s/**/*.mrc", str(tmp_path))


# --- a project within the reach of a data glob --------------------------------------------

@pytest.mark.parametrize("pattern, project, reached", [
    ("data/**/*.mrc", "data/proj", True),
    ("data/*/*.mrc", "data/proj", True),  # data/proj/x.mrc
    ("data/*.mrc", "data/proj", False),
    ("data/frames/*.mrc", "data/proj", False),
    ("data/**/*.mrc", "data/.proj", False),  # glob's ** passes over hidden directories
    ("data/**/*.mrc", "elsewhere/proj", False),
    ("data/frames/*.mrc", "data/frames", True),
    ("data/*/frames/*.mrc", "data/proj", True),
    ("data/*/frames/*.mrc", "data/proj/External", False),
])
def test_a_glob_reaches_a_directory_as_the_walk_would(pattern, project, reached, tmp_path):
    from cryocc.acquisition.listing import reaches

    assert reaches(pattern, str(tmp_path), str(tmp_path / project)) is reached


def test_a_project_a_data_glob_reaches_into_is_refused(example, cli):
    """Before, it was accepted, and the import job's links to the frames were matched as frames."""
    pipeline = example()
    edit(pipeline, "frames: data/frames/*.mrc", "frames: data/**/*.mrc")
    project = pipeline.parent / "data/proj"
    cli("validate", pipeline)
    err = cli("apply", pipeline, "--project", project, code=1).stderr
    assert err.startswith(f"error: {pipeline}: data.frames: --project {project} is within the reach of the data glob "), err
    assert "hint: put the project beside the data" in err and not project.exists()
    cli("apply", pipeline, "--project", pipeline.parent / "data/.proj")  # out of the glob's reach: hidden


# --- data.exclude in linear time --------------------------------------------------------

def test_collecting_errors_renders_each_once(monkeypatch):
    """Before, each add rendered every error collected so far: n errors, n^2/2 renders (16,000
    unknown names in data.exclude took 170 s)."""
    renders = 0
    real = CryoccError.render

    def counted(self):
        nonlocal renders
        renders += 1
        return real(self)

    monkeypatch.setattr(CryoccError, "render", counted)
    errors = Collector()
    for i in range(2000):
        errors.add(DataError(f"error {i}"))
    errors.add(DataError("error 7"))  # the same error once
    assert len(errors.errors) == 2000 and renders == 2001


def test_thousands_of_unknown_names_in_exclude_are_reported_at_once(example, cli):
    pipeline = example()
    names = "".join(f"    TS_{i:05d}x: gone\n" for i in range(5000))
    edit(pipeline, "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  exclude:\n" + names)
    err = cli("validate", pipeline, code=1).stderr
    assert err.count("error: ") == 11, err
    assert "data.exclude names TS_00000x, but no mdoc of data.mdocs is TS_00000x.mdoc" in err
    assert "... and 4990 more names in data.exclude that no mdoc of data.mdocs has" in err


# --- tilt-series names and bind paths -----------------------------------------------------

@pytest.mark.parametrize("name, shown", [("TS 02", "' '"), ("TS'02", '"\'"'), ('TS"02', "'\"'"), ("TS\t02", r"'\t'"),
                                         ("TS;02", "';'"), ("TS\n02", r"'\n'"), ("TS\\02", r"'\\'"), ("-TS02", "'-'"),
                                         ("TS_é2", "'é'")])
def test_a_tilt_series_name_outside_the_safe_characters_is_refused(name, shown, example, cli):
    """Before, such names passed validate and failed (or waited forever) at run time."""
    pipeline = example()
    mdoc = pipeline.parent / "data/mdoc" / f"{name}.mdoc"
    shutil.copy(pipeline.parent / "data/mdoc/TS_01.mdoc", mdoc)
    err = cli("validate", pipeline, code=1).stderr
    assert f"data.mdocs: tilt-series name {name!r} holds {shown}: names may hold only letters, digits, _, - and +" in err, err
    assert "hint: the name (the mdoc's, without .mdoc) becomes file names" in err
    if name.isprintable():  # data.exclude takes no control characters
        edit(pipeline, "  mdocs: data/mdoc/*.mdoc\n", f"  mdocs: data/mdoc/*.mdoc\n  exclude: {{{_yaml(name)}: bad name}}\n")
        cli("validate", pipeline)  # excluded: never read, never named to a tool


def _yaml(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def test_data_directories_with_a_colon_are_refused_when_tools_run_in_containers(example, cli):
    pipeline = example()
    root = pipeline.parent
    (root / "data").rename(root / "ses:1")
    edit(pipeline, "frames: data/frames/*.mrc\n  mdocs: data/mdoc/*.mdoc", "frames: ses:1/frames/*.mrc\n  mdocs: ses:1/mdoc/*.mdoc")
    cli("validate", pipeline)  # native tools: nothing is bound
    site = root / "mysite.yaml"
    site.write_text((ROOT / "config/sites/local.yaml").read_text().replace("tools: {}", "tools: {warptools: {image: /images/warp.sif}}"))
    edit(pipeline, "site: local ", "site: mysite.yaml ")
    err = cli("validate", pipeline, code=1).stderr
    assert f"pipeline.yaml:9:11: data.frames: {root}/ses:1/frames holds :, which apptainer's -B would split" in err, err
    assert "data.mdocs" in err and "hint: the site runs tools in containers" in err


# --- a group project --------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as a colleague (another user of the project's group)")
def test_a_colleague_can_take_the_lock_of_a_setgid_group_project(example, cli, tmp_path):
    """Before, .cryocc/apply.lock was created 0644 under umask 022, and a colleague's apply and gc
    failed with 'Permission denied'."""
    from cryocc.compiler import apply_mutex

    group, colleague = 100, 65534  # users, nobody
    shared = Path(os.environ.get("TMPDIR", "/tmp")) / f"cryocc-group-{os.getpid()}"
    shared.mkdir(mode=0o755)
    try:
        project = shared / "p"
        project.mkdir()
        os.chown(project, 0, group)
        os.chmod(project, 0o2775)
        old = os.umask(0o022)
        try:
            cli("apply", example(), "--project", project)
        finally:
            os.umask(old)
        lock = project / ".cryocc/apply.lock"
        assert stat.S_IMODE(lock.stat().st_mode) == 0o664 and lock.stat().st_gid == group
        pid = os.fork()
        if pid == 0:  # the colleague: another user, in the project's group
            code = 1
            try:
                os.setgroups([group])
                os.setgid(group)
                os.setuid(colleague)
                os.umask(0o022)
                with apply_mutex(project):
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the colleague could not take the project lock"
    finally:
        shutil.rmtree(shared)


def test_a_param_file_in_a_directory_with_a_comma_is_refused_when_its_tool_runs_in_a_container(example, cli):
    pipeline = example("full-catalog")
    root = pipeline.parent
    (root / "refs").rename(root / "re,fs")
    edit(pipeline, "template: refs/ribo_10A.mrc, mask: refs/ribo_mask.mrc", "template: \"re,fs/ribo_10A.mrc\", mask: \"re,fs/ribo_mask.mrc\"")
    cli("validate", pipeline)  # pytom runs natively: nothing is bound
    site = root / "mysite.yaml"
    site.write_text((ROOT / "config/sites/local.yaml").read_text().replace("tools: {}", "tools: {pytom: {image: /images/pytom.sif}}"))
    text = pipeline.read_text()
    start = text.index("\nsite: ") + 1
    pipeline.write_text(text[:start] + "site: mysite.yaml" + text[text.index("\n", start):])
    err = cli("validate", pipeline, code=1).stderr
    assert "pipeline.yaml:27:" in err and "jobs.tm_ribo.params.template: re,fs/ribo_10A.mrc: its directory holds , or :" in err, err
    assert "jobs.tm_ribo.params.mask: re,fs/ribo_mask.mrc: its directory holds , or :" in err
