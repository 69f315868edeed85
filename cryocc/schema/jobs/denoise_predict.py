from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Int


class DenoisePredictParams(Params):
    ntiles_x: Int = param(4, "tiles along X (raised for large volumes)", ge=1, le=8)
    ntiles_y: Int = param(4, "tiles along Y", ge=1, le=8)
    ntiles_z: Int = param(4, "tiles along Z", ge=1, le=8)
    denoising_tomo_name: str = param("", "substring selecting tomograms to denoise (empty: all)")


JOB = register(JobType(
    name="denoise_predict",
    aliases=("denoisepredict",),
    summary="cryoCARE denoising of tomograms",
    tool="cryocare",
    tool_label="cryoCARE_predict.py",
    params=DenoisePredictParams,
    per_tilt_series=True,
    items_star="tomograms.star",
    inputs={
        "tomograms": InputSlot(("tomograms",), "in_mic", "tomograms with even/odd halves"),
        "model": InputSlot(("denoise_model",), "in_coords", "trained cryoCARE model"),
    },
    outputs=(
        Output("tomograms", "tomograms.star", "tomograms STAR pointing at the denoised volumes"),
        Output(None, "denoised", "denoised tomograms", is_dir=True),
    ),
    gpu=True,
))
