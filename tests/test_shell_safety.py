"""No value from a spec or a site profile reaches a shell unquoted. Each field that ends up in the
job script gets shell syntax planted in it: either validation refuses the value, located and with
nothing written, or the rendered script, run by bash the way RELION runs it, executes nothing of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, tree
from ruamel.yaml import YAML

PAYLOADS = ["$(touch {m})", "`touch {m}`", "x; touch {m}", "x' ; touch {m} #", 'x" ; touch {m} #', "x\ntouch {m}",
            "x && touch {m}", "x | touch {m}", "x > {m}", "${{IFS}}touch${{IFS}}{m}"]

# field: (which file, where in it, how the payload is placed)
FIELDS = {
    "partition": ("pipeline", ("jobs", "ctf", "resources", "partition"), lambda p: p),
    "constraint": ("pipeline", ("jobs", "ctf", "resources", "constraint"), lambda p: p),
    "sbatch": ("pipeline", ("jobs", "ctf", "resources", "sbatch"), lambda p: ["--qos=" + p]),
    "mem": ("pipeline", ("jobs", "ctf", "resources", "mem"), lambda p: "2G" + p),
    "time": ("pipeline", ("jobs", "ctf", "resources", "time"), lambda p: "01:00:00" + p),
    "job_name": ("pipeline", ("jobs",), lambda p: p),  # a job named by the payload
    "env_key": ("site", ("job_script", "env"), lambda p: {"X" + p: "1"}),
    "env_value": ("site", ("job_script", "env"), lambda p: {"CRYOCC_PROBE": p}),
    "setup": ("site", ("job_script", "setup"), lambda p: ["module load " + p]),
    "driver": ("site", ("driver",), lambda p: "cryocc_relion_driver " + p),
    "submit": ("site", ("submit",), lambda p: "sbatch " + p),
    "relion_command": ("site", ("relion", "command"), lambda p: "relion_schemer" + p),
}


def _load(path: Path):
    return YAML(typ="safe").load(path.read_text())


def _plant(doc: dict, where: tuple, value) -> None:
    if where == ("jobs",):  # a new job, named by the payload, of a type that fits the chain
        doc["jobs"][value] = {"type": "tsCtf"}
        return
    for key in where[:-1]:
        doc = doc.setdefault(key, {})
    doc[where[-1]] = value


def _project(tmp_path: Path, field: str, payload: str) -> tuple[Path, Path, Path]:
    """(pipeline, project, marker): the quickstart with the payload planted, written as JSON (which YAML reads)."""
    from conftest import copy_examples

    pipeline = copy_examples(tmp_path / "examples", "quickstart")
    marker = tmp_path / "PWNED"
    which, where, place = FIELDS[field]
    spec = _load(pipeline)
    site = _load(ROOT / "config/sites/local.yaml")
    spec["site"] = "probe-site.yaml"
    _plant(spec if which == "pipeline" else site, where, place(payload.format(m=marker)))
    (pipeline.parent / "probe-site.yaml").write_text(json.dumps(site, indent=1))
    pipeline.write_text(json.dumps(spec, indent=1))
    return pipeline, tmp_path / "project", marker


def _run_like_relion(project: Path, tmp_path: Path) -> None:
    """Each job's script as RELION submits it: placeholders filled in, the job.star's fn_exe (plus
    RELION's --o and --j) as the command, run by bash from the project directory; the driver a stub
    that records the environment it got."""
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "cryocc_relion_driver").write_text('#!/bin/bash\nprintenv CRYOCC_PROBE > "$CRYOCC_SEEN" || true\n')
    (stub / "cryocc_relion_driver").chmod(0o755)
    schemes = sorted((project / "Schemes").iterdir())
    for star in sorted(schemes[-1].glob("*/job.star")):
        text = star.read_text()
        fn_exe = re.search(r"^fn_exe\s+(.*)$", text, re.M).group(1).strip().strip('"')
        script_rel = re.search(r"^qsubscript\s+(\S+)$", text, re.M).group(1)
        job_dir = project / "External" / star.parent.name
        job_dir.mkdir(parents=True, exist_ok=True)
        body = (project / script_rel).read_text()
        for k, v in {"XXXnameXXX": f"External/{star.parent.name}/", "XXXoutfileXXX": str(job_dir / "run.out"),
                     "XXXerrfileXXX": str(job_dir / "run.err"),
                     "XXXcommandXXX": f"{fn_exe} --o External/{star.parent.name}/ --j 1"}.items():
            body = body.replace(k, v)
        env = {**os.environ, "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}", "CRYOCC_SEEN": str(job_dir / "seen")}
        subprocess.run(["bash", "-c", body], cwd=project, env=env, capture_output=True, timeout=30)


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_planted_shell_syntax_never_runs(field, payload, cli, tmp_path):
    pipeline, project, marker = _project(tmp_path, field, payload)
    result = cli("apply", pipeline, "--project", project, code=None)
    if result.exit_code != 0:  # refused: located, explained, nothing written
        err = result.stderr
        assert result.exit_code == 1 and "Traceback" not in err, err
        assert re.match(r"error: \S+(pipeline\.yaml|probe-site\.yaml):\d+:\d+: ", err), err
        assert "nothing was written" in err and tree(project) == {}
        return
    _run_like_relion(project, tmp_path)
    assert not marker.exists(), f"{field} executed {payload!r}"
    if field == "env_value":  # accepted and quoted: the job sees exactly the value written
        seen = {p.read_text() for p in project.glob("External/*/seen")}
        assert seen == {payload.format(m=marker) + "\n"}


def test_every_field_that_reaches_the_script_is_covered(tmp_path, cli):
    """Holds the table above to the template: every value the job script template renders is planted."""
    template = (ROOT / "templates/job_script.sh.j2").read_text()
    rendered = set(re.findall(r"\{\{\s*([a-z_.]+)", template)) | set(re.findall(r"\{%-?\s*for \w+(?:, \w+)? in ([a-z_.]+)", template))
    covered = {"r.partition": "partition", "r.constraint": "constraint", "r.sbatch": "sbatch", "r.mem": "mem",
               "r.time": "time", "key": "env_key", "value": "env_value", "env": "env_value", "line": "setup",
               "setup": "setup", "job": "job_name", "arg": "sbatch"}
    # integers, a catalog name, a validated site name, and contract.py's own file names (sentinels, pid and
    # SLURM id files: constants, never a value from a spec or a profile)
    safe = {"r.cpus", "r.gpus", "type", "site", "sentinels", "end", "failure", "job_pid", "slurm_id"}
    assert rendered - safe <= set(covered), rendered - safe - set(covered)
    assert set(covered.values()) <= set(FIELDS)
