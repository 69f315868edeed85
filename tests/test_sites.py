"""The bundled site profiles compile the examples, and their settings reach the job scripts and
the relion_schemer command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, edit

from cryocc.compiler import apply_pipeline
from cryocc.errors import Collector, Location
from cryocc.run.runner import schemer_command
from cryocc.schema.site import load_site

SITES = sorted((ROOT / "config/sites").glob("*.yaml"))


@pytest.mark.parametrize("site", SITES, ids=lambda p: p.stem)
def test_every_bundled_site_profile_compiles_the_full_catalog(site, example, tmp_path):
    pipeline = example("full-catalog")
    edit(pipeline, "site: local", f"site: {site.stem}")
    result = apply_pipeline(pipeline, tmp_path / "p")
    assert result.scheme == "cryocc_001" and len(result.plan.to_run) == 14


def test_cluster_profile_reaches_the_job_script(example, tmp_path):
    pipeline = example("quickstart")
    edit(pipeline, "site: local", "site: example-cluster")
    edit(pipeline, "defaults:\n  resources: {time: \"00:20:00\"}\n", "")
    apply_pipeline(pipeline, tmp_path / "p")
    scripts = {p.name.split(".")[0]: p.read_text() for p in (tmp_path / "p/.cryocc/scripts").iterdir()}
    params = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "p/.cryocc/jobs").glob("*/*.json")}
    # reconstruct runs as an array (an sbatch site): each task gets the site's resources for its type
    assert params["reconstruct"]["array"]["resources"] == {"partition": "gpu", "gpus": 1, "mem": "2G", "cpus": 4, "time": "01:00:00",
                                                         "constraint": None, "sbatch": None}
    # and the job RELION submits, its supervisor, the site's supervisor resources, the script's setup
    recon = scripts["reconstruct"]
    for line in ("#SBATCH --cpus-per-task=1", "#SBATCH --mem=2G", "#SBATCH --time=3-00:00:00", "module purge", "export OMP_NUM_THREADS=1"):
        assert line in recon, line
    assert "--gres" not in recon and "--partition" not in recon
    assert "#SBATCH --partition=cpu" in scripts["import"] and "--gres" not in scripts["import"]  # a job that runs whole
    assert recon.index("module purge") < recon.index("XXXcommandXXX")


def test_schemer_command_native_and_in_the_relion_image(tmp_path):
    sites = {p.stem: load_site(p.stem, tmp_path, Collector(), Location("x")).profile for p in SITES}
    assert schemer_command(sites["local"], "cryocc_002", Path("/proj")) == [
        "relion_schemer", "--scheme", "cryocc_002", "--run", "--pipeline_control", "Schemes/cryocc_002/"]
    argv = schemer_command(sites["example-cluster"], "cryocc_002", Path("/proj"))
    assert argv[:2] == ["apptainer", "exec"] and "/opt/containers/relion5.0_tomo.sif" in argv
    assert argv[argv.index("-B") + 1] == "/proj"
    assert argv[-6:] == ["relion_schemer", "--scheme", "cryocc_002", "--run", "--pipeline_control", "Schemes/cryocc_002/"]
