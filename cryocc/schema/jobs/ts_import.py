from ._base import InputSlot, Output, Params, JobType, param, register
from ._types import Dims


class TsImportParams(Params):
    min_intensity: float = param(0.0, "drop tilts darker than this fraction of cos(angle)*max", ge=0, le=1)
    tomo_dimensions: Dims = param("4096x4096x2048", "unbinned tomogram size XxYxZ", unit="px")


JOB = register(JobType(
    name="tsImport",
    stem="ts_import",
    summary="Tilt-series import: .tomostar files and the tilt-series settings",
    tool="warptools",
    tool_label="WarpTools ts_import + create_settings",
    params=TsImportParams,
    inputs={"frame_series": InputSlot(("motion_ctf",), "in_mic", "motion-corrected frame series")},
    outputs=(
        Output("ts_settings", "warp_tiltseries.settings", "WarpTools tilt-series settings"),
        Output(None, "tomostar", "one .tomostar per tilt series", is_dir=True),
    ),
    acquisition=("pixel_size", "dose_per_tilt", "tilt_axis", "invert_tilt_angles"),
    uses_data=True,
))
