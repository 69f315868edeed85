"""Golden tests of everything apply writes: deterministic, RELION-strict, parsed by starfile."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import starfile
from conftest import REAL, tree
from relion_strict import StrictError, read_strict

from cryocc.compiler.render import check_scheme_refs, render_scheme
from cryocc.errors import SpecError
from cryocc.star import parse_star

EXAMPLES = ["quickstart", "full-catalog"]


def _apply(cli, pipeline, project):
    cli("apply", pipeline, "--project", project)
    return tree(project)


_PARAMS_FILE = re.compile(r"(\.cryocc/jobs/[\w-]+/)[0-9a-f]{16}(\.json)")


def _normalised(files: dict[str, bytes], pipeline_dir) -> dict[str, str]:
    """Project files with the example's temp location masked; the resolved-params files hold
    absolute data paths, so their content-addressed names are masked too."""
    def norm(text: str) -> str:
        return _PARAMS_FILE.sub(r"\1<hash>\2", text.replace(str(pipeline_dir.parent), "<EXAMPLES>"))

    return {norm(k): norm(v.decode()) for k, v in files.items() if not k.endswith("apply.lock")}


@pytest.mark.parametrize("name", EXAMPLES)
def test_apply_is_deterministic(name, example, cli, tmp_path):
    pipeline = example(name)
    a = _apply(cli, pipeline, tmp_path / "a")
    b = _apply(cli, pipeline, tmp_path / "b")
    assert a == b


@pytest.mark.parametrize("name", EXAMPLES)
def test_what_apply_writes_matches_snapshot(name, example, cli, tmp_path, snapshot):
    """What a reviewer reads: the files written, the scheme, and one job as RELION and the driver see
    it (its job.star, resolved params and job script). Fingerprints are checked elsewhere."""
    pipeline = example(name)
    files = _normalised(_apply(cli, pipeline, tmp_path / "p"), pipeline.parent)
    align = "Schemes/cryocc_001/align/job.star"
    options = {r["rlnJobOptionVariable"]: r.get("rlnJobOptionValue", "") for r in parse_star(files[align])["joboptions_values"]}
    params_file = _PARAMS_FILE.sub(r"\1<hash>\2", shlex.split(options["fn_exe"])[2])
    params = json.loads(files[params_file])
    params["fingerprint"] = "<fingerprint>"
    if params["items"]:  # per tilt series: each its own fingerprint
        params["items"]["fingerprints"] = dict.fromkeys(params["items"]["fingerprints"], "<fingerprint>")
    assert sorted(files) == snapshot(name="files")
    assert files["Schemes/cryocc_001/scheme.star"] == snapshot(name="scheme.star")
    assert files[align] == snapshot(name="align job.star")
    assert json.dumps(params, indent=1, sort_keys=True) == snapshot(name="align params")
    assert files[options["qsubscript"]] == snapshot(name="align job script")


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_star_file_is_strict_relion_and_parses_with_starfile(name, example, cli, tmp_path):
    pipeline = example(name)
    project = tmp_path / "p"
    files = _apply(cli, pipeline, project)
    stars = [k for k in files if k.endswith(".star")]
    assert "Schemes/cryocc_001/scheme.star" in stars
    for rel in stars:
        text = files[rel].decode()
        read_strict(text)
        parsed = starfile.read(project / rel, always_dict=True)
        assert parsed, rel
        assert text.count("# version 50001") == len(parsed)


def test_scheme_shape(example, cli, tmp_path):
    pipeline = example()
    cli("apply", pipeline, "--project", tmp_path / "p")
    scheme = read_strict((tmp_path / "p/Schemes/cryocc_001/scheme.star").read_text())
    jobs = ["import", "motion", "tsimport", "align", "ctf", "reconstruct"]
    assert scheme["scheme_general"] == {"rlnSchemeName": "Schemes/cryocc_001/", "rlnSchemeCurrentNodeName": "import"}
    assert [r["rlnSchemeJobNameOriginal"] for r in scheme["scheme_jobs"]] == jobs
    assert all(r["rlnSchemeJobMode"] == "new" and r["rlnSchemeJobHasStarted"] == "0" for r in scheme["scheme_jobs"])
    edges = [(r["rlnSchemeEdgeInputNodeName"], r["rlnSchemeEdgeOutputNodeName"]) for r in scheme["scheme_edges"]]
    assert edges == list(zip(jobs, jobs[1:] + ["EXIT"]))  # the start edge first, EXIT last
    assert scheme["scheme_operators"] == [{"rlnSchemeOperatorName": "EXIT", "rlnSchemeOperatorType": "exit",
                                           "rlnSchemeOperatorOutput": "undefined", "rlnSchemeOperatorInput1": "undefined",
                                           "rlnSchemeOperatorInput2": "undefined"}]


def test_job_star_wires_inputs_and_queue_options(example, cli, tmp_path):
    pipeline = example()
    project = tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    job = read_strict((project / "Schemes/cryocc_001/align/job.star").read_text())
    assert job["job"] == {"rlnJobTypeLabel": "relion.external", "rlnJobIsContinue": "0", "rlnJobIsTomo": "1"}
    opts = {r["rlnJobOptionVariable"]: r.get("rlnJobOptionValue", "") for r in job["joboptions_values"]}
    assert opts["in_mic"] == "Schemes/cryocc_001/motion/fs_motion_and_ctf.star"
    assert opts["in_mov"] == "Schemes/cryocc_001/tsimport/warp_tiltseries.settings"
    assert opts["do_queue"] == "Yes" and opts["qsub"] == "sbatch" and opts["nr_threads"] == "1"
    # fn_exe: the driver and its resolved-params file, which exists and names the job
    exe = shlex.split(opts["fn_exe"])
    assert exe[:2] == ["cryocc_relion_driver", "--job"] and "relion_" in exe[0]
    import json

    params = json.loads((project / exe[2]).read_text())
    assert params["job"] == "align" and params["type"] == "ts_alignment"
    assert params["params"]["sample_thickness_nm"] == 150
    assert params["inputs"]["tilt_series"] == {"upstream": "motion", "kind": "motion_ctf", "option": "in_mic",
                                               "flag": "--in_mics", "file": "fs_motion_and_ctf.star"}
    # on an sbatch site align runs as an array: its layered resources are each task's, and the job
    # script RELION submits (the supervisor's) asks for the supervisor's
    reconstruct = read_strict((project / "Schemes/cryocc_001/reconstruct/job.star").read_text())
    ropts = {r["rlnJobOptionVariable"]: r.get("rlnJobOptionValue", "") for r in reconstruct["joboptions_values"]}
    rparams = json.loads((project / shlex.split(ropts["fn_exe"])[2]).read_text())
    assert params["array"]["resources"]["mem"] == "1G" and rparams["array"]["resources"]["mem"] == "2G"  # site default vs the job's own
    assert params["array"]["resources"]["time"] == "00:20:00"  # pipeline-wide default
    assert params["threads"] == params["array"]["resources"]["cpus"] == 1
    script = (project / opts["qsubscript"]).read_text()
    assert "#SBATCH --mem=2G" in script and "#SBATCH --time=3-00:00:00" in script and "--gres" not in script
    # execution: node puts the job's own resources into its script
    text = pipeline.read_text()
    pipeline.write_text(text.replace("defaults:\n", "defaults:\n  execution: node\n", 1))
    assert "execution: node" in pipeline.read_text()
    node = tmp_path / "node"
    cli("apply", pipeline, "--project", node)
    job = read_strict((node / "Schemes/cryocc_001/align/job.star").read_text())
    opts = {r["rlnJobOptionVariable"]: r.get("rlnJobOptionValue", "") for r in job["joboptions_values"]}
    assert json.loads((node / shlex.split(opts["fn_exe"])[2]).read_text())["array"] is None
    script = (node / opts["qsubscript"]).read_text()
    assert "#SBATCH --mem=1G" in script and "#SBATCH --time=00:20:00" in script
    for text in (script, (project / ropts["qsubscript"]).read_text()):
        assert "XXXcommandXXX" in text and "XXXnameXXXRELION_JOB_EXIT_FAILURE" in text
        assert text.splitlines()[-1] == "XXXcommandXXX"


def test_strict_reader_reads_the_real_crboost_scheme():
    blocks = read_strict((REAL / "crboost_server/config/Schemes/warp_tomo_prep/scheme.star").read_text())
    assert blocks["scheme_general"]["rlnSchemeName"] == "Schemes/warp_tomo_prep/"
    assert len(blocks["scheme_jobs"]) == 12
    assert blocks["scheme_edges"][0]["rlnSchemeEdgeInputNodeName"] == "WAIT"
    assert {r["rlnSchemeEdgeOutputNodeNameIfTrue"] for r in blocks["scheme_edges"]} == {"undefined"}
    # cryocc's own light reader agrees with it
    assert parse_star((REAL / "crboost_server/config/Schemes/warp_tomo_prep/scheme.star").read_text())["scheme_jobs"] == blocks["scheme_jobs"]


GOOD = render_scheme("s", ["a", "b"])


@pytest.mark.parametrize("broken, why", [
    (GOOD.replace("a a new 0\n", "a a new 0\n\n"), "blank line inside a loop"),
    (GOOD.replace("a a new 0\nb b new 0\n", ""), "empty loop"),
    (GOOD.replace("_rlnSchemeJobMode #3", "_rlnSchemeJobMode#3"), "label spacing"),
    (GOOD.replace("a a new 0", "a a new true"), "boolean not 0/1"),
    (GOOD.replace("\n", "\r\n"), "CRLF"),
    (GOOD.replace("data_scheme_jobs", "data_scheme_jobs # jobs"), "text after data_"),
    (GOOD.replace("b b new 0\n\n", "b b new 0\n"), "loop not ended by a blank line"),
], ids=lambda v: v if len(v) < 40 else "")
def test_strict_reader_rejects_what_relion_gets_wrong(broken, why):
    assert broken != GOOD
    read_strict(GOOD)
    with pytest.raises(StrictError):
        read_strict(broken)


def test_compile_time_check_refuses_schemes_reference_outside_the_scheme():
    job_a = "data_joboptions_values\n\nloop_\n_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\nfn_exe x\n\n"
    job_b = job_a.replace("fn_exe x", "in_mic Schemes/s/gone/out.star")
    with pytest.raises(SpecError, match="refers to a job that does not run before it"):
        check_scheme_refs("s", ["a", "b"], {"a": job_a, "b": job_b})
    check_scheme_refs("s", ["a", "b"], {"a": job_a, "b": job_b.replace("gone", "a")})
    with pytest.raises(SpecError):  # a reference to a later job resolves to garbage in RELION
        check_scheme_refs("s", ["b", "a"], {"a": job_a, "b": job_b.replace("gone", "a")})


def test_a_params_documents_path_names_its_job_and_nothing_else_does():
    from cryocc.contract import params_job, params_path, script_path

    assert params_job(params_path("align", "0123456789abcdef")) == "align"
    assert [params_job(p) for p in (script_path("align", "0123456789abcdef"), ".cryocc/jobs/align", ".cryocc/jobs/a/b/c.json",
                                    ".cryocc/specs/pipeline-0123456789abcdef.yaml", "External/job001/")] == [None] * 5
