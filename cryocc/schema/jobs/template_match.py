from pathlib import Path
from typing import Literal

from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Float, Grid


class TemplateMatchParams(Params):
    template: Path = param(..., "template map (.mrc), at the tomograms' pixel size")
    mask: Path = param(..., "mask for the template (.mrc)")
    angular_search: Float = param(12.0, "angular search increment", unit="°", gt=0, le=90)
    symmetry: str = param("C1", "rotational symmetry Cn of the template (--z-axis-rotational-symmetry)", pattern=r"^C[1-9]\d*$")
    spectral_whitening: Bool = param(False, "spectral whitening")
    random_phase_correction: Bool = param(False, "random-phase correction of the scores")
    non_spherical_mask: Bool = param(False, "the mask is not spherical")
    bandpass: str | None = param(None, "band-pass 'low_pass:high_pass' resolutions, e.g. '20:400', or null for none", unit="Å",
                                 pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$")
    gpu_split: Grid | Literal["auto"] = param("auto", "split each tomogram XxYxZ across the GPU (auto: 2x2x1)", affects_results=False)


JOB = register(JobType(
    name="template_match",
    aliases=("templatematching",),
    summary="Template matching in tomograms",
    tool="pytom",
    tool_label="pytom-match-pick pytom_match_template.py",
    params=TemplateMatchParams,
    inputs={
        "tomograms": InputSlot(("tomograms",), "in_mic", "tomograms (denoised preferred by wiring order)"),
        "tilt_series": InputSlot(("filtered_tilt_series", "ctf_tilt_series"), "in_mov", "tilt series for angles, defocus and dose"),
    },
    outputs=(
        Output("tm_results", "tomograms.star", "the tomograms matched (scores in tmResults/)"),
        Output(None, "tmResults", "score, angle and job files per tomogram", is_dir=True),
    ),
    type_version=2,  # 2: mean defocus per tilt, device ordinals for -g
    per_tilt_series=True,
    array=True,
    items_star="tomograms.star",
    acquisition=("voltage", "cs", "amplitude_contrast"),
    is_tomo=False,
    gpu=True,
))
