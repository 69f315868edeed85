"""A command that stops with an error says what it had written (CryoccError.written) or, when every
check came before the first write, that nothing was: run, abort. gc's cases are in test_gc.py. No
RELION needed: projects are applied, then planted by hand."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from test_confine import ABORT_NOW, abort_files, applied

import cryocc.observe.project
from cryocc.errors import ProjectError
from cryocc.run import runner

STALE = ".relion_lock_scheme_cryocc_001"  # what a dead relion_schemer leaves behind: run removes it


def schemes(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "Schemes").iterdir())


def ran(project: Path) -> None:
    """cryocc_001 as a schemer that died in its first job leaves it: run re-plans (applies again)."""
    star = project / "Schemes/cryocc_001/scheme.star"
    star.write_text(star.read_text().replace("import      import      new 0", "import      import      new 1", 1))
    (project / STALE).mkdir()


def test_run_refused_by_preflight_removes_no_lock_and_replans_nothing(example, cli, tmp_path, monkeypatch):
    _, project = applied(example, cli, tmp_path)
    ran(project)
    lock = (project / "cryocc.lock").read_bytes()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no relion_schemer, no sbatch, no driver
    err = cli("run", "--project", project, code=1).stderr
    assert "relion_schemer: command not found" in err and err.endswith("nothing was written.\n"), err
    assert (project / STALE).is_dir() and schemes(project) == ["cryocc_001"] and (project / "cryocc.lock").read_bytes() == lock


def test_run_that_fails_to_start_after_replanning_says_apply_wrote_the_scheme(example, cli, tmp_path, monkeypatch):
    _, project = applied(example, cli, tmp_path)
    ran(project)
    checked = []
    monkeypatch.setattr(runner, "preflight", lambda project, scheme, *_: checked.append(scheme))

    def no_start(*_: object) -> None:
        raise ProjectError("relion_schemer did not start", hint="its log says why")

    monkeypatch.setattr(runner, "start", no_start)
    err = cli("run", "--project", project, code=1).stderr
    new = schemes(project)[-1]
    assert new != "cryocc_001" and checked == ["cryocc_001"] and not (project / STALE).exists()
    assert f"cryocc apply wrote Schemes/{new}/ and cryocc.lock (what is left to run); nothing was started." in err, err
    assert "nothing was written" not in err


@pytest.mark.parametrize("failure", [ProjectError("External/../../ is not a job directory of the project", hint="h"),
                                     OSError(errno.EACCES, "Permission denied", "External/job004/RELION_JOB_EXIT_ABORTED")])
def test_abort_that_fails_while_it_waits_says_the_abort_request_was_written(failure, example, cli, tmp_path, monkeypatch):
    _, project = applied(example, cli, tmp_path)
    monkeypatch.setattr(cryocc.observe.project, "live_schemer", lambda project: {"scheme": "cryocc_001", "pid": 1, "host": "here"})

    def waits(*_: object) -> None:
        raise failure  # as _mark_aborted does for a job directory it may not write in

    monkeypatch.setattr(runner, "_wait_stopped", waits)
    err = cli("abort", "--project", project, code=1).stderr
    assert abort_files(tmp_path) == [f"p/Schemes/cryocc_001/{ABORT_NOW}"]
    assert f"{ABORT_NOW} was written: a job that sees it later still stops." in err and "nothing was written" not in err, err
    assert "cryocc.lock is unchanged" not in err and "Traceback" not in err
