from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Float, Int


class SubtomoExtractionParams(Params):
    binning: Int = param(1, "extraction binning", ge=1, le=16)
    box_size: Int = param(384, "box size (binned)", unit="px", ge=16)
    crop_size: Int = param(224, "crop size (binned), -1 for no cropping", unit="px", ge=-1)
    do_float16: Bool = param(True, "write float16")
    do_stack2d: Bool = param(True, "write 2D stacks (pseudo-subtomograms)")
    max_dose: Float = param(-1.0, "use tilts up to this accumulated dose (-1: all)", unit="e/Å²", ge=-1)
    min_frames: Int = param(1, "discard particles seen in fewer tilts", ge=1)


JOB = register(JobType(
    name="subtomo_extraction",
    aliases=("subtomoExtraction",),
    summary="Pseudo-subtomogram extraction",
    tool="relion",
    tool_label="RELION 5 relion_tomo_subtomo",
    params=SubtomoExtractionParams,
    per_tilt_series=True,
    array=True,
    inputs={"particles": InputSlot(("candidates",), "in_mic", "optimisation set with particles and tomograms")},
    outputs=(
        Output("subtomo_set", "optimisation_set.star", "optimisation set of the extracted particles"),
        Output(None, "particles.star", "extracted particles"),
    ),
))
