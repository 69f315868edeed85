"""The decisions of docs/science.md: where cryocc departs from the validated chain, validate says so once
and a spec setting reproduces the validated behaviour; defaults held to the tool authors' own values."""

from __future__ import annotations

import json

from conftest import edit, run_relion

from cryocc.drivers.denoise_train import train_config
from cryocc.schema.jobs.denoise_train import DenoiseTrainParams


def notes(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("note: ")]


def test_validate_notes_each_deviation_once_and_the_setting_that_reproduces_it(example, cli):
    pipeline = example("full-catalog")
    edit(pipeline, "  picks:", "  picks2:      {type: candidate_extract, params: {max_num_particles: 500, particle_diameter_ang: 60}}\n  picks:")
    found = notes(cli("validate", pipeline).stdout)
    picks = [n for n in found if "candidate_extract" in n]
    assert picks == ["note: candidate_extract passes particle_diameter_ang to pytom's --particle-diameter, a diameter as "
                     "pytom defines it (picks at least 30 Å apart); the validated chain passed about the radius (picks "
                     "15 Å apart): particle_diameter_ang: 30 reproduces it (docs/science.md, point 3)"]  # two jobs, one note
    train = [n for n in found if "denoise_train" in n]
    assert len(train) == 1 and "learning_rate: 1e-05" in train[0] and "tomograms_for_training" in train[0]

    edit(pipeline, "{number_training_subvolumes: 100}", "{number_training_subvolumes: 100, learning_rate: 1.0e-5, tomograms_for_training: TS_}")
    assert not [n for n in notes(cli("validate", pipeline).stdout) if "denoise_train" in n]


RELION_CRYOCARE = """
import json, sys
from pathlib import Path
from tomography_python_programs.denoise.cryoCARE._utils import generate_train_config_json, generate_train_data_config_json
n, d = int(sys.argv[1]), int(sys.argv[2])
# relion:src/tomography_python_programs/denoise/cryoCARE/_utils.py:68-99
data = generate_train_data_config_json(["e.mrc"], ["o.mrc"], Path("train_data"), n, d)
train = generate_train_config_json(Path("train_data"), Path("."), "denoising_model")
print(json.dumps({**data, **train}))
"""


def test_cryocare_config_is_relions_own(relion_python):
    """RELION 5's own cryoCARE wrapper (which the validated chain's predecessor ran, as relion.denoisetomo)
    and cryoCARE's README (juglab/cryoCARE_pip v0.3.0 README.md:95-107) train with these values;
    cryocc's config differs only where docs/science.md (point 4) says."""
    p = DenoiseTrainParams().model_dump()
    ours = train_config(p, ["e.mrc"], ["o.mrc"])
    relion = run_relion(relion_python, RELION_CRYOCARE, p["number_training_subvolumes"], p["subvolume_dimensions"])
    same = ["patch_shape", "num_slices", "split", "tilt_axis", "steps_per_epoch", "batch_size", "unet_kern_size",
            "unet_n_depth", "unet_n_first", "learning_rate"]
    assert {k: ours[k] for k in same} == {k: relion[k] for k in same}
    # the known differences (docs/science.md, point 4): epochs, and normalisation samples
    assert (ours["epochs"], relion["epochs"]) == (10, 100)
    assert (ours["n_normalization_samples"], relion["n_normalization_samples"]) == (540, 60)
    assert json.dumps(ours)  # a config cryoCARE can read
