from typing import Any, Literal

from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Float, Int


class CandidateExtractParams(Params):
    particle_diameter_ang: Float = param(200.0, "particle diameter", unit="Å", gt=0)
    max_num_particles: Int = param(1500, "at most this many candidates per tomogram", ge=1)
    cutoff_method: Literal["NumberOfFalsePositives", "ManualCutOff"] = param("NumberOfFalsePositives", "how the score cut-off is chosen")
    expected_false_positives: Float = param(1.0, "false positives allowed per tomogram (NumberOfFalsePositives)", gt=0)
    cc_threshold: Float = param(0.1, "LCC cut-off (ManualCutOff)", gt=0, le=1)
    tophat_filter: Bool = param(False, "tophat-filter the score map before peak picking")


def deviation(p: dict[str, Any]) -> str:
    d = p["particle_diameter_ang"]
    return (f"candidate_extract passes particle_diameter_ang to pytom's --particle-diameter, a diameter as pytom "
            f"defines it (picks at least {d / 2:g} Å apart); the validated chain passed about the radius (picks "
            f"{d / 4:g} Å apart): particle_diameter_ang: {d / 2:g} reproduces it (docs/science.md, point 3)")


JOB = register(JobType(
    name="candidate_extract",
    aliases=("tmextractcand",),
    summary="Candidate extraction from template-matching scores",
    tool="pytom",
    tool_label="pytom-match-pick pytom_extract_candidates.py",
    params=CandidateExtractParams,
    per_tilt_series=True,
    array=True,
    items_star="tomograms.star",
    inputs={"tm_results": InputSlot(("tm_results",), "in_mic", "template-matching results")},
    outputs=(
        Output("candidates", "optimisation_set.star", "optimisation set: candidates + tomograms"),
        Output(None, "candidates.star", "picked particles, RELION 5 coordinates"),
    ),
    is_tomo=True,
    gpu=False,
    deviation=deviation,
))
