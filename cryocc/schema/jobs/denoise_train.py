from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Int


class DenoiseTrainParams(Params):
    tomograms_for_training: str = param("", "substring selecting training tomograms by name (empty: all)")
    number_training_subvolumes: Int = param(600, "subvolumes extracted per tomogram", ge=100)
    subvolume_dimensions: Int = param(64, "edge of a training subvolume", unit="px", ge=32)
    epochs: Int = param(10, "training epochs", ge=1)


JOB = register(JobType(
    name="denoise_train",
    aliases=("denoisetrain",),
    summary="cryoCARE training on even/odd half tomograms",
    tool="cryocare",
    tool_label="cryoCARE_extract_train_data.py + cryoCARE_train.py",
    params=DenoiseTrainParams,
    pools=lambda p: "cryoCARE trains one model from the tilt series",
    inputs={"tomograms": InputSlot(("tomograms",), "in_mic", "tomograms with even/odd halves")},
    outputs=(Output("denoise_model", "denoising_model.tar.gz", "trained cryoCARE model"),),
    gpu=True,
))
