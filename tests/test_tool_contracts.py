"""The drivers' command lines and configs against the real programs' own definitions, where those can
run here without a GPU: RELION's job definitions (relion_pipeliner), pytom-match-pick 0.10.0's
argument parsers and cryoCARE 0.3.0's config readers, as installed from PyPI (tests/run.sh)."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
import warptools
from conftest import FAKE_BIN, copy_examples

from cryocc.drivers._process import gpu_ordinals
from cryocc.drivers.candidate_extract import extract_args
from cryocc.drivers.denoise_predict import predict_config
from cryocc.drivers.denoise_train import train_config
from cryocc.drivers.template_match import match_args, volume_split
from cryocc.schema.jobs import CATALOG

EMPTY_PIPELINE = "\n# version 50001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter 1\n \n"


@pytest.mark.parametrize("name", ["quickstart", "full-catalog"])
def test_every_job_star_loads_in_the_real_pipeliner_without_a_warning(name, relion, cli, tmp_path):
    """RELION warns about any option it does not define for the job type, and checks the script exists."""
    pipeline = copy_examples(tmp_path / "examples", name)
    project = tmp_path / "p"
    cli("apply", pipeline, "--project", project)
    (project / "default_pipeline.star").write_text(EMPTY_PIPELINE)
    stars = sorted((project / "Schemes/cryocc_001").glob("*/job.star"))
    assert stars
    for star in stars:
        out = subprocess.run([f"{relion}/relion_pipeliner", "--addJobFromStar", str(star.relative_to(project))],
                             cwd=project, capture_output=True, text=True, timeout=60)
        log = out.stdout + out.stderr
        assert out.returncode == 0 and "WARNING" not in log and "ERROR" not in log, f"{star}:\n{log}"
    added = (project / "default_pipeline.star").read_text()
    assert added.count("relion.external") == len(stars)


# --- pytom-match-pick 0.10.0 -------------------------------------------------------------------------

@pytest.fixture
def pytom(monkeypatch):
    """The installed package, its GPU library replaced by tests/fake_tools/gpu_stub, nothing run on a GPU."""
    if importlib.metadata.version("pytom-match-pick") != "0.10.0":
        pytest.fail("tests/run.sh installs pytom-match-pick 0.10.0, the version the facility container pins")
    monkeypatch.syspath_prepend(str(FAKE_BIN.parent / "gpu_stub"))
    import pytom_tm.entry_points

    return pytom_tm.entry_points


def _files(tmp_path: Path) -> dict[str, str]:
    import mrcfile
    import numpy as np

    out = {}
    for name, shape in (("tomo", (16, 32, 32)), ("template", (8, 8, 8)), ("mask", (8, 8, 8))):
        with mrcfile.new(tmp_path / f"{name}.mrc") as m:
            m.set_data(np.zeros(shape, dtype=np.float32))
            m.voxel_size = 10.0
        out[name] = str(tmp_path / f"{name}.mrc")
    for name, values in (("TS.tlt", "-3.0\n0.0\n3.0\n"), ("defocus.txt", "3.1\n3.0\n3.2\n"), ("dose.txt", "3.0\n0.0\n6.0\n")):
        (tmp_path / name).write_text(values)
        out[name.split(".")[0] if name != "TS.tlt" else "tlt"] = str(tmp_path / name)
    return out


def test_the_match_command_line_is_what_pytoms_parser_takes(pytom, tmp_path, monkeypatch):
    f = _files(tmp_path)
    params = {**CATALOG["template_match"].params(template=f["template"], mask=f["mask"]).model_dump(mode="json"),
              "symmetry": "C2", "bandpass": "20:400", "spectral_whitening": True}
    acq = {"voltage": 300.0, "cs": 2.7, "amplitude_contrast": 0.1}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    gpus = gpu_ordinals()
    args = [str(a) for a in match_args(params, acq, Path(f["tomo"]), f["tlt"], f["defocus"], f["dose"], gpus,
                                       volume_split("auto", len(gpus)))]
    seen = {}

    class Job:  # stands in for TMJob, whose search needs a GPU: the parser's results arrive here
        def __init__(self, *args, **kwargs):
            seen.update(kwargs, tomogram=args[2], template=args[3], mask=args[4])

    monkeypatch.setattr("pytom_tm.tmjob.TMJob", Job)
    monkeypatch.setattr("pytom_tm.parallel.run_job_parallel", lambda job, split, gpu_ids: seen.update(split=split, gpus=gpu_ids) or (None, None))
    monkeypatch.setattr(pytom, "write_mrc", lambda *a, **k: None)
    with pytest.raises(AttributeError):  # after the search it writes the job file of our stand-in, which has none
        pytom.match_template(args)
    assert seen["gpus"] == [0, 1] and seen["split"] == (2, 2, 1)
    assert seen["tilt_angles"] == [-3.0, 0.0, 3.0] and seen["dose_accumulation"] == [3.0, 0.0, 6.0]
    assert [c["defocus"] for c in seen["ctf_data"]] == pytest.approx([3.1e-6, 3.0e-6, 3.2e-6])
    assert seen["ctf_data"][0]["voltage"] == 300e3 and seen["ctf_data"][0]["spherical_aberration"] == 2.7e-3
    assert seen["rotational_symmetry"] == 2 and seen["whiten_spectrum"] and seen["tilt_weighting"]
    assert (seen["low_pass"], seen["high_pass"]) == (20.0, 400.0)


def test_device_numbers_of_the_node_are_refused_by_pytom(pytom, tmp_path, monkeypatch, capsys):
    """What the old driver passed on a node with CUDA_VISIBLE_DEVICES=4,5: -g 4 5."""
    f = _files(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with pytest.raises(SystemExit):
        pytom.match_template(["-t", f["template"], "-m", f["mask"], "-v", f["tomo"], "-g", "4", "5", "--angular-search", "12"])
    assert "all gpu indices should be between 0" in capsys.readouterr().err


def test_the_extract_command_line_is_what_pytoms_parser_takes(pytom, tmp_path, monkeypatch):
    job = tmp_path / "TS_01_job.json"
    job.write_text("{}")
    seen = {}
    monkeypatch.setattr(pytom, "load_json_to_tmjob", lambda path: seen.setdefault("job", path))

    def extract_particles(job, n_particles, **kwargs):  # the numpy work; then pytom writes its STAR file
        seen.update(kwargs, n_particles=n_particles)
        raise _Stop

    monkeypatch.setattr(pytom, "extract_particles", extract_particles)
    params = CATALOG["candidate_extract"].params(tophat_filter=True).model_dump(mode="json")
    with pytest.raises(_Stop):
        pytom.extract_candidates([str(a) for a in extract_args(params, job)])
    assert seen["job"] == job
    assert (seen["n_particles"], seen["particle_diameter"], seen["n_false_positives"]) == (1500, 200.0, 1.0)
    assert seen["relion5_compat"] and seen["tophat_filter"]


class _Stop(Exception):
    """Raised where pytom would go on to extract and write its STAR file."""


# --- cryoCARE 0.3.0 -------------------------------------------------------------------------------

def _config_keys(script: str) -> tuple[set[str], set[str]]:
    """(keys the script reads as config['k'] without testing 'k' in config first, every key it reads)."""
    path = next(f.locate() for f in importlib.metadata.files("cryoCARE") if f.name == f"{script}.py")
    tree = ast.parse(Path(path).read_text())
    read, guarded, assigned = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "config" and isinstance(node.slice, ast.Constant):
            (assigned if isinstance(node.ctx, ast.Store) else read).add(node.slice.value)
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) \
                and isinstance(node.left, ast.Constant) and getattr(node.comparators[0], "id", None) == "config":
            guarded.add(node.left.value)
    return read - guarded - assigned, read


def test_cryocare_configs_have_the_keys_its_scripts_read():
    if importlib.metadata.version("cryoCARE") != "0.3.0":
        pytest.fail("tests/run.sh installs cryoCARE 0.3.0")
    train = train_config(CATALOG["denoise_train"].params().model_dump(), ["e.mrc"], ["o.mrc"])
    extract_needs, extract_reads = _config_keys("cryoCARE_extract_train_data")
    train_needs, train_reads = _config_keys("cryoCARE_train")
    _, gpu_reads = _config_keys("cryoCARE_predict")  # cryoCARE_train.py imports set_gpu_id from it
    assert extract_needs | train_needs <= set(train), sorted(extract_needs | train_needs - set(train))
    assert set(train) <= extract_reads | train_reads | {"gpu_id", "overwrite"}, sorted(set(train) - extract_reads - train_reads)
    predict = predict_config("model.tar.gz", "even/t.mrc", "odd/t.mrc", [4, 4, 4])
    predict_needs, predict_reads = _config_keys("cryoCARE_predict")
    assert predict_needs <= set(predict) and set(predict) <= predict_reads, (predict_needs, predict_reads)


# --- WarpTools: the fake's parser is CommandLineParser's ----------------------------------------------

def test_warptools_prints_a_parse_error_and_writes_nothing(tmp_path, capsys):
    assert warptools.main(["create_settings", "--output", str(tmp_path / "s.settings"), "--folder_data", "f",
                           "--angpix", "1", "--gain_reference", "g.mrc"]) == 0
    assert "Option 'gain_reference' is unknown." in capsys.readouterr().out
    assert not (tmp_path / "s.settings").exists()


def test_a_value_after_a_warptools_switch_is_ignored_and_the_switch_is_on():
    options = warptools.parse("ts_reconstruct", ["--settings", "s", "--angpix", "10", "--deconv", "0"])
    assert options["deconv"] is True


def test_fake_tools_run_from_the_command_line():
    out = subprocess.run([str(FAKE_BIN / "WarpTools"), "no_such_verb"], capture_output=True, text=True)
    assert out.returncode == 0 and "Unknown command" in out.stdout
    assert sys.executable
