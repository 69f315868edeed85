"""Run a project's applied scheme with the real relion_schemer, through `cryocc run --wait`, and read
what happened from the files RELION itself wrote: the scheme's scheme.star (job directories, the
current node), default_pipeline.star (statuses) and the schemer's log (submissions)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from cryocc.cli import app
from cryocc.star import read_star


@dataclass
class SchemeRun:
    scheme: str
    jobs: list[tuple[str, str, str]]  # (node, job directory, pipeline status) of the jobs that started, in order
    submitted: int  # "Executing Job" lines in the schemer's log
    ended_at: str  # rlnSchemeCurrentNodeName when the schemer stopped
    exit_code: int  # of `cryocc run --wait`: 0 only when every job of the scheme succeeded
    output: str

    @property
    def statuses(self) -> dict[str, str]:
        return {node: status for node, _, status in self.jobs}


@contextmanager
def environment(values: dict[str, str]):
    """os.environ as the schemer (and through it every job) will inherit it, for the duration."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_scheme(project: Path, env: dict[str, str]) -> SchemeRun:
    with environment(env):
        result = CliRunner().invoke(app, ["run", "--project", str(project), "--wait"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    record = json.loads((project / ".cryocc/run.json").read_text())
    return read_run(project, record["scheme"], result.exit_code, result.output)


def read_run(project: Path, scheme: str, exit_code: int = 0, output: str = "") -> SchemeRun:
    blocks = read_star(project / "Schemes" / scheme / "scheme.star")
    lock = json.loads((project / "cryocc.lock").read_text())
    order = next(s["jobs"] for s in lock["schemes"] if s["name"] == scheme)
    rows = {r["rlnSchemeJobNameOriginal"]: r for r in blocks.get("scheme_jobs") or []}
    pipeline = read_star(project / "default_pipeline.star").get("pipeline_processes") or []
    status = {r["rlnPipeLineProcessName"]: r["rlnPipeLineProcessStatusLabel"] for r in pipeline}
    jobs = [(node, rows[node]["rlnSchemeJobName"], status.get(rows[node]["rlnSchemeJobName"], ""))
            for node in order if rows.get(node, {}).get("rlnSchemeJobHasStarted") == "1"]
    log = project / "Schemes" / scheme / "run.out"
    submitted = log.read_text().count("Executing Job") if log.exists() else 0
    return SchemeRun(scheme, jobs, submitted, blocks["scheme_general"]["rlnSchemeCurrentNodeName"], exit_code, output)
