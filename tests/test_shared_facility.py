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
    return {str(p.relative_to(project)): stat.S_IMODE(p.stat().st_mode) for p in project.rglob("*")
            if p.is_file() and p.name not in ("apply.lock",)}  # filelock's own file: not cryocc's to set


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
    assert set(_modes(project).values()) == {0o664}
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
