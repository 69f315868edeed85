from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Float, Int


class TiltFilterParams(Params):
    max_defocus_um: Float = param(8.0, "drop tilts whose mean defocus exceeds this", unit="µm", gt=0)
    min_defocus_um: Float = param(0.0, "drop tilts whose mean defocus is below this", unit="µm", ge=0)
    max_ctf_resolution: Float = param(50.0, "drop tilts whose CTF fit is worse than this (0: no check)", unit="Å", ge=0)
    max_abs_tilt: Float = param(90.0, "drop tilts beyond this absolute nominal tilt angle", unit="°", gt=0, le=90)
    min_tilts: Int = param(10, "drop a whole tilt series left with fewer tilts than this", ge=1)


JOB = register(JobType(
    name="tilt_filter",
    aliases=("tiltFilter",),
    summary="Rule-based tilt filter on the CTF and tilt metadata",
    tool="python",
    tool_label="cryocc (no external tool)",
    params=TiltFilterParams,
    inputs={"tilt_series": InputSlot(("ctf_tilt_series",), "in_mic", "CTF-fitted tilt series")},
    per_tilt_series=True,
    items_star="filtered_tilt_series.star",
    outputs=(
        Output("filtered_tilt_series", "filtered_tilt_series.star", "tilt-series STAR without the rejected tilts"),
        Output(None, "tilt_series", "per-tilt-series STAR files, kept tilts only", is_dir=True),
        Output(None, "tilt_filter_report.tsv", "every tilt with its verdict and reason"),
        Output(None, "warp_tiltseries", "WarpTools tilt-series folder with the dropped tilts switched off", is_dir=True),
    ),
    type_version=2,  # 2: dropped tilts switched off in WarpTools' XMLs, so ts_reconstruct leaves them out
))
