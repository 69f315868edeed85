"""A job's earlier logs are kept: an extension (RELION's continue) runs the job again in its own
directory, and the job script keeps the earlier attempt's run.out and run.err as run.N.out and
run.N.err before the new one writes, with the real relion_schemer, run by bash (workstation) and
submitted with sbatch (SLURM). `cryocc logs JOB --attempt N` prints them."""

from __future__ import annotations

import json

import pytest
from test_incremental import Proj
from test_items import add_series, names

pytestmark = pytest.mark.usefixtures("relion")


def _fingerprint(root) -> str:
    """The import job's fingerprint as its driver prints it in run.out's first line."""
    return json.loads((root / "cryocc.lock").read_text())["jobs"]["import"]["fingerprint"][:12]


def _grown(p) -> list[str]:
    """The quickstart run once, then a second tilt series: every job is extended in its directory.
    Returns the import job's fingerprint in each run."""
    p.apply()
    first = p.run()
    assert set(first.statuses.values()) == {"Succeeded"}, first.output
    fingerprints = [_fingerprint(p.root)]
    add_series(p.pipeline.parent, names(2, 1))
    p.apply()
    second = p.run()
    assert set(second.statuses.values()) == {"Succeeded"}, second.output
    assert {n: d for n, d, _ in second.jobs} == {n: d for n, d, _ in first.jobs}  # continued in place
    return [*fingerprints, _fingerprint(p.root)]


def _check_attempts(p, cli, fingerprints: list[str]) -> None:
    d = p.root / p.job_dir("import")
    first, latest = (d / "run.1.out").read_text(), (d / "run.out").read_text()
    assert first.startswith("cryocc driver: job import") and first.endswith("cryocc driver: succeeded\n")
    assert latest.startswith("cryocc driver: job import") and latest.endswith("cryocc driver: succeeded\n")
    assert f"fingerprint {fingerprints[0]}\n" in first and f"fingerprint {fingerprints[1]}\n" in latest
    assert fingerprints[0] != fingerprints[1]
    assert (d / "run.1.err").is_file() and not (d / "run.2.out").exists()
    assert cli("logs", "import", "--project", p.root, "--attempt", "1").stdout == first + "--- attempt 1 of 2 of import ---\n"
    out = cli("logs", "import", "--project", p.root).stdout
    assert out.startswith(latest) and out.endswith(
        "--- this is attempt 2 of import; the logs of earlier attempts are kept: 1 (cryocc logs import --attempt N) ---\n")
    assert cli("logs", "import", "--project", p.root, "--attempt", "2").stdout == out
    err = cli("logs", "import", "--project", p.root, "--attempt", "3", code=1).stderr
    assert "import has no attempt 3: " in err and "holds the logs of attempts 1 to 2" in err and "hint: " in err


def test_an_extension_keeps_the_earlier_log_run_by_bash(tmp_path):
    p = Proj(tmp_path)
    _check_attempts(p, p.cli, _grown(p))


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm_cluster")
def test_an_extension_keeps_the_earlier_log_under_slurm(tmp_path, monkeypatch):
    from test_slurm import E2E, _stop_everything

    e2e = E2E(tmp_path, monkeypatch)
    try:
        e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
        e2e.cli("run", "--project", e2e.root, "--wait")
        fingerprints = [_fingerprint(e2e.root)]
        add_series(e2e.pipeline.parent, names(2, 1))
        e2e.cli("apply", e2e.pipeline, "--project", e2e.root)
        assert "6 jobs succeeded" in e2e.cli("run", "--project", e2e.root, "--wait").stdout
        assert e2e.submissions() == 6  # each job continued in its own directory
        e2e.job_dir = lambda job: e2e.receipts()[job][0]["job_dir"]
        _check_attempts(e2e, e2e.cli, [*fingerprints, _fingerprint(e2e.root)])
    finally:
        _stop_everything(e2e.root)


def test_a_job_run_once_has_one_attempt(tmp_path):
    p = Proj(tmp_path)
    p.apply()
    p.run()
    out = p.cli("logs", "import", "--project", p.root).stdout
    assert out == (p.root / p.job_dir("import") / "run.out").read_text() and "attempt" not in out
    err = p.cli("logs", "import", "--project", p.root, "--attempt", "2", code=1).stderr
    assert "import has no attempt 2: " in err and "holds the logs of attempt 1" in err
    assert "hint: cryocc logs import prints the latest (attempt 1)" in err
