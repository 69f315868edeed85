"""A project shared by a facility's group: file modes follow the umask (group-writable in a setgid
project), and what the file system refuses (disk full, permissions) is a message, not a traceback."""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import edit


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _modes(project: Path) -> dict[str, int]:
    return {str(p.relative_to(project)): stat.S_IMODE(p.stat().st_mode) for p in project.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_users_umask(mask, expected, umask, example, cli, tmp_path):
    umask(mask)
    cli("apply", example(), "--project", tmp_path / "p")
    modes = _modes(tmp_path / "p")
    assert modes and set(modes.values()) == {expected}, {k: oct(v) for k, v in modes.items()}


def test_a_setgid_project_gets_group_writable_files_and_directories(umask, example, cli, tmp_path):
    umask(0o022)
    project = tmp_path / "p"
    project.mkdir()
    os.chmod(project, 0o2775)
    cli("apply", example(), "--project", project)
    assert set(_modes(project).values()) == {0o664}  # .cryocc/apply.lock too: a colleague must take it
    dirs = [d for d in project.rglob("*") if d.is_dir()]
    assert dirs and all(d.stat().st_mode & 0o2070 == 0o2070 for d in dirs), [(str(d), oct(d.stat().st_mode)) for d in dirs]


@pytest.mark.parametrize("code, hint", [(errno.ENOSPC, "disk or its inode table is full"), (errno.EACCES, "permissions"),
                                        (errno.EROFS, "read-only")])
def test_a_refused_write_is_a_message_and_leaves_the_lockfile(code, hint, example, cli, tmp_path, monkeypatch):
    import cryocc.fsio as fsio

    pipeline, project = example(), tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    lock = (project / "cryocc.lock").read_bytes()
    edit(pipeline, "rescale_angpixs: 10", "rescale_angpixs: 12")
    real = fsio.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if "jobs" in str(dir):
            raise OSError(code, os.strerror(code), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fsio.tempfile, "mkstemp", refuse)
    err = cli("apply", pipeline, "--project", project, code=1).stderr
    assert "Traceback" not in err and "hint: " in err and hint in err, err
    assert err.startswith(f"error: {project}/.cryocc/jobs/"), err
    assert "cryocc.lock is unchanged" in err
    assert (project / "cryocc.lock").read_bytes() == lock


def _tiny_fs(where: Path, size: str) -> bool:
    where.mkdir()
    return os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                                capture_output=True).returncode == 0


def test_a_full_disk_is_a_message_and_the_next_apply_converges(example, cli, tmp_path):
    """On a real, full file system (a 512 KB tmpfs; needs root, as in CI)."""
    disk = tmp_path / "disk"
    if not _tiny_fs(disk, "512k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        pipeline, project = example(), disk / "p"
        (disk / "filler").write_bytes(b"\0" * 440_000)  # the project needs about 180 KB
        err = cli("apply", pipeline, "--project", project, code=1).stderr
        assert re.match(rf"error: {project}/\S+: No space left on device", err), err
        assert "hint: the disk or its inode table is full" in err, err
        assert "Traceback" not in err and not (project / "cryocc.lock").exists()
        (disk / "filler").unlink()
        cli("apply", pipeline, "--project", project)  # room again: the same apply goes through
        assert (project / "cryocc.lock").exists()
        cli("plan", pipeline, "--project", project, "--detailed-exitcode", code=2)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_template_that_is_a_directory_or_missing_is_located(example, cli, tmp_path):
    pipeline = example("full-catalog")
    refs = pipeline.parent / "refs"
    (refs / "ribo_mask.mrc").unlink()
    (refs / "ribo_10A.mrc").unlink()
    (refs / "ribo_10A.mrc").mkdir()
    err = cli("apply", pipeline, "--project", tmp_path / "p", code=1).stderr
    assert "pipeline.yaml:27:" in err and "jobs.tm_ribo.params.template: refs/ribo_10A.mrc is a directory, not a file" in err, err
    assert "jobs.tm_ribo.params.mask: refs/ribo_mask.mrc does not exist" in err, err
    assert "2 errors; nothing was written." in err and not (tmp_path / "p").exists()


def _fake_squeue(tmp_path: Path, monkeypatch, lines: list[str]) -> None:
    """squeue on PATH that answers like the real one, for this user only (--me) and in the format asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)  # a second call answers anew
    (bin_dir / "squeue").write_text("#!/bin/bash\n"
                                    '[[ " $* " == *" --me "* && " $* " == *" -o %i\t%T\t%Z\t%j "* ]] || { echo "bad args: $*" >&2; exit 1; }\n'
                                    "cat <<'END'\n" + "".join(line + "\n" for line in lines) + "END\n")
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_slurm_job_is_ours_by_name_and_working_directory(tmp_path, monkeypatch):
    from cryocc.observe.project import Project

    project = tmp_path / "p"
    (project / "External/job006").mkdir(parents=True)
    _fake_squeue(tmp_path, monkeypatch, [f"11\tPENDING\t{tmp_path}/other\tExternal/job006/",  # another project's job006
                                         f"12\tRUNNING\t{project}\tExternal/job005/",
                                         f"13\tPENDING\t{project}\tExternal/job006/"])
    assert Project(project).slurm("External/job006/") == {"id": "13", "state": "PENDING"}
    assert Project(project).slurm("External/job007/") == {}


def test_a_slurm_job_is_ours_by_the_id_its_script_recorded(tmp_path, monkeypatch):
    from cryocc.contract import SLURM_ID
    from cryocc.observe.project import Project

    project = tmp_path / "p"
    (project / "External/job006").mkdir(parents=True)
    (project / "External/job006" / SLURM_ID).write_text("21\n")
    _fake_squeue(tmp_path, monkeypatch, [f"20\tRUNNING\t{project}\tExternal/job006/"])  # not the one that ran our script
    assert Project(project).slurm("External/job006/") == {}
    _fake_squeue(tmp_path, monkeypatch, [f"21\tRUNNING\t{project}\tExternal/job006/"])
    assert Project(project).slurm("External/job006/") == {"id": "21", "state": "RUNNING"}


def test_the_job_script_records_its_slurm_id(example, cli, tmp_path):
    cli("apply", example(), "--project", tmp_path / "p")
    script = next((tmp_path / "p/.cryocc/scripts").glob("ctf.*.sh")).read_text()
    job = tmp_path / "p/External/job005"
    job.mkdir(parents=True)
    body = script.replace("XXXnameXXX", "External/job005/").replace("XXXcommandXXX", "true")
    body = body.replace("XXXoutfileXXX", str(job / "run.out")).replace("XXXerrfileXXX", str(job / "run.err"))
    env = {**os.environ, "SLURM_JOB_ID": "4242"}
    subprocess.run(["bash", "-c", body], cwd=tmp_path / "p", env=env, check=True)
    assert (job / "cryocc_slurm_job").read_text() == "4242\n"


def test_apply_waits_for_a_held_lock_with_lock_timeout(example, cli, tmp_path):
    import threading

    from cryocc.compiler import apply_mutex

    pipeline, project = example(), tmp_path / "p"
    project.mkdir()
    held, release = threading.Event(), threading.Event()

    def colleague():
        with apply_mutex(project):
            held.set()
            release.wait(10)

    t = threading.Thread(target=colleague)
    t.start()
    held.wait(5)
    err = cli("apply", pipeline, "--project", project, "--lock-timeout", "0.3", code=1).stderr
    assert "is locked by cryocc apply, pid" in err and "(waited 0.3 s)" in err and "--lock-timeout" in err, err
    threading.Timer(0.5, release.set).start()
    cli("apply", pipeline, "--project", project, "--lock-timeout", "20")  # gets it once the colleague is done
    t.join()
    assert (project / "cryocc.lock").exists()


def test_markers_and_logs_cryocc_makes_are_group_writable_in_a_setgid_project(umask, tmp_path):
    """Sentinels, RELION's flags and locks (fsio.touch), and the schemer's logs (fsio.open_append), as
    run, abort, gc and the supervisor make them: a colleague's run must append to and replace them."""
    from cryocc.fsio import open_append, touch

    umask(0o022)
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    os.chmod(shared, 0o2775)
    for d, mode in ((shared, 0o664), (private, 0o644)):
        touch(d / "RELION_JOB_ABORT_NOW")
        with open_append(d / "run.out") as log:
            log.write(b"one\n")
        with open_append(d / "run.out") as log:
            log.write(b"two\n")
        assert (d / "run.out").read_bytes() == b"one\ntwo\n"
        assert {stat.S_IMODE((d / n).stat().st_mode) for n in ("RELION_JOB_ABORT_NOW", "run.out")} == {mode}


def test_a_job_script_in_a_setgid_project_writes_group_writable_files(umask, example, cli, tmp_path):
    """What the job script, the driver and the tools write in a group project's job directory (the
    pid record, the logs an extension keeps, the tool's output) is group-writable like cryocc's own
    files, whatever the user's umask: a colleague's extension runs in that directory again."""
    import re

    umask(0o022)
    project = tmp_path / "p"
    project.mkdir()
    os.chmod(project, 0o2775)
    cli("apply", example(), "--project", project)
    star = sorted(project.glob("Schemes/*/align/job.star"))[-1]
    script = re.search(r"^qsubscript\s+(\S+)$", star.read_text(), re.M).group(1)
    job = project / "External/job004"
    job.mkdir(parents=True)
    os.chmod(job, 0o2775)  # as make_dirs makes it in a setgid project
    (job / "run.out").write_text("the earlier attempt\n")
    body = (project / script).read_text()
    for k, v in {"XXXnameXXX": "External/job004/", "XXXoutfileXXX": "External/job004/run.out",
                 "XXXerrfileXXX": "External/job004/run.err", "XXXcommandXXX": "echo tool > External/job004/made"}.items():
        body = body.replace(k, v)
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}
    subprocess.run(["bash", "-c", body], cwd=project, env=env, check=True, timeout=30)
    modes = {n: stat.S_IMODE((job / n).stat().st_mode) for n in ("cryocc_pid", "run.1.out", "made")}
    assert modes == dict.fromkeys(modes, 0o664), {k: oct(v) for k, v in modes.items()}
