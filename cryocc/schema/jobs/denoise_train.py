from typing import Any

from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Float, Int


class DenoiseTrainParams(Params):
    tomograms_for_training: str = param("", "substring selecting training tomograms by name (empty: all)")
    number_training_subvolumes: Int = param(600, "subvolumes extracted per tomogram", ge=100)
    subvolume_dimensions: Int = param(64, "edge of a training subvolume", unit="px", ge=32)
    epochs: Int = param(10, "training epochs", ge=1)
    learning_rate: Float = param(0.0004, "training learning rate (cryoCARE's and RELION's own; the validated chain used 1e-5)",
                                 gt=0, le=0.1)


VALIDATED_LEARNING_RATE = 1e-5  # crboost_server drivers/denoise_train.py (docs/science.md, point 4)


def deviation(p: dict[str, Any]) -> str | None:
    """docs/science.md, point 4."""
    notes = []
    if p["learning_rate"] != VALIDATED_LEARNING_RATE:
        notes.append(f"learns at {p['learning_rate']:g} (cryoCARE's and RELION's rate), the validated chain at "
                     f"{VALIDATED_LEARNING_RATE:g} (learning_rate: {VALIDATED_LEARNING_RATE:g})")
    if not p["tomograms_for_training"]:
        notes.append("trains on every tomogram, the validated chain on those named by tomograms_for_training (it used Position_1)")
    return f"denoise_train {' and '.join(notes)}: docs/science.md, point 4" if notes else None


JOB = register(JobType(
    name="denoise_train",
    aliases=("denoisetrain",),
    summary="cryoCARE training on even/odd half tomograms",
    tool="cryocare",
    tool_label="cryoCARE_extract_train_data.py + cryoCARE_train.py",
    params=DenoiseTrainParams,
    pools=lambda p: "cryoCARE trains one model from the tilt series",
    decides="the cryoCARE model",
    inputs={"tomograms": InputSlot(("tomograms",), "in_mic", "tomograms with even/odd halves")},
    outputs=(Output("denoise_model", "denoising_model.tar.gz", "trained cryoCARE model"),),
    gpu=True,
    deviation=deviation,
))
