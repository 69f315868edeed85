"""The driver runtime's command lines: native, and inside an apptainer image (no container runtime is
needed to check what would be run)."""

from __future__ import annotations

from pathlib import Path

from cryocc.drivers._context import Context


def _ctx(tool, gpus=1, scratch="/scratch"):
    doc = {"tool": tool, "gpus": gpus, "scratch": scratch, "params": {"template": "/refs/t.mrc", "n": 3},
           "data": {"frames": "/data/frames/*.eer", "mdocs": "/data/mdoc/*.mdoc", "gain": None},
           "container": {"executable": "apptainer", "binds": ["/groups"], "nv": True, "options": ["--cleanenv", "--no-home"]}}
    return Context(job_dir=Path("/p/External/job001"), project=Path("/p"), doc=doc, inputs={}, threads=2)


def test_native_command_uses_path_or_bin_dir():
    assert _ctx(None).command("WarpTools", ["ts_ctf"]) == ["WarpTools", "ts_ctf"]
    assert _ctx({"bin_dir": "/opt/warp/bin"}).command("WarpTools", ["ts_ctf"]) == ["/opt/warp/bin/WarpTools", "ts_ctf"]


def test_container_command_binds_project_data_params_and_scratch():
    argv = _ctx({"image": "/c/warp.sif"}).command("WarpTools", ["ts_ctf", "--window", "512"])
    assert argv == ["apptainer", "exec", "--nv", "--cleanenv", "--no-home",
                    "-B", "/p", "-B", "/data/frames", "-B", "/data/mdoc", "-B", "/refs", "-B", "/groups", "-B", "/scratch",
                    "/c/warp.sif", "WarpTools", "ts_ctf", "--window", "512"]


def test_no_gpu_flag_for_cpu_jobs():
    assert "--nv" not in _ctx({"image": "/c/relion.sif"}, gpus=0).command("relion_tomo_subtomo", [])


def test_a_folder_output_is_recorded_file_by_file_and_kept_only_while_each_is_there(tmp_path):
    from cryocc.drivers._receipt import check_outputs
    from cryocc.observe.receipts import outputs_missing

    job = tmp_path / "External/job007"
    (job / "reconstruction/sub").mkdir(parents=True)
    (job / "reconstruction/TS_01.mrc").write_bytes(b"x" * 10)
    (job / "reconstruction/sub/TS_02.mrc").write_bytes(b"y" * 20)
    (job / "tomograms.star").write_text("data_\n")
    ctx = Context(job_dir=job, project=tmp_path, doc={"outputs": [{"path": "reconstruction", "is_dir": True},
                                                                   {"path": "tomograms.star", "is_dir": False}]}, inputs={}, threads=1)
    outputs = check_outputs(ctx)
    assert outputs[0] == {"path": "reconstruction", "is_dir": True, "size": 30,
                          "files": {"TS_01.mrc": 10, "sub/TS_02.mrc": 20}}
    receipt = {"outputs": outputs}
    assert outputs_missing(tmp_path, "External/job007", receipt) == []
    (job / "reconstruction/sub/TS_02.mrc").unlink()  # the folder is not empty, but a tomogram is gone
    assert outputs_missing(tmp_path, "External/job007", receipt) == ["reconstruction/sub/TS_02.mrc"]
    (job / "reconstruction/TS_01.mrc").write_bytes(b"x")
    assert outputs_missing(tmp_path, "External/job007", receipt) == ["reconstruction/TS_01.mrc and 1 more (changed)"]


def test_drivers_import_only_what_a_compute_node_needs():
    """docs/architecture.md: drivers import contract, fsio, errors and star, nothing else of cryocc
    (no compiler, no schema: no pydantic on the nodes)."""
    import ast

    from conftest import ROOT

    seen = set()
    for path in (ROOT / "cryocc/drivers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                seen.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("cryocc"):
                seen.add(node.module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("cryocc") for a in node.names), path
    assert seen <= {"contract", "fsio", "errors", "star"}, seen


def test_a_params_document_of_another_format_fails_the_job_with_one_sentinel_and_says_what_to_do(tmp_path):
    """A params document apply wrote in another format (another cryocc) is refused as it is read: the job
    fails, with exactly one sentinel, and the message names the file, both formats and the way out."""
    import json
    import subprocess
    import sys

    from cryocc.contract import FAILURE, PARAMS_FORMAT, SUCCESS

    doc = tmp_path / ".cryocc/jobs/ctf/0123456789abcdef.json"
    doc.parent.mkdir(parents=True)
    doc.write_text(json.dumps({"format": PARAMS_FORMAT + 97, "job": "ctf", "type": "ts_ctf", "fingerprint": "0" * 64}))
    job = tmp_path / "External/job004"
    job.mkdir(parents=True)
    (job / SUCCESS).touch()  # an earlier run's
    argv = [sys.executable, "-m", "cryocc.drivers", "--job", ".cryocc/jobs/ctf/0123456789abcdef.json", "--o", "External/job004/", "--j", "1"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert sorted(p.name for p in job.iterdir() if p.name.startswith("RELION_JOB_EXIT")) == [FAILURE]
    said = (f"the params document .cryocc/jobs/ctf/0123456789abcdef.json is of format {PARAMS_FORMAT + 97}, and this cryocc "
            f"reads format {PARAMS_FORMAT}: run cryocc apply again with this cryocc")
    assert said in proc.stderr and said in proc.stdout
    assert "Traceback" not in proc.stderr
