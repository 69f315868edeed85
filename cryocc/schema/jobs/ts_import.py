from typing import Any

from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Dims, Float

DEFAULT_TOMO_DEPTH = 2048  # px


class TsImportParams(Params):
    min_intensity: Float = param(0.0, "drop tilts darker than this fraction of cos(angle)*max", ge=0, le=1)
    tomo_dimensions: Dims | None = param(
        None, f"unbinned tomogram size XxYxZ (default: the mdocs' ImageSize x {DEFAULT_TOMO_DEPTH})", unit="px")


def with_dimensions(params: dict[str, Any], acquisition: dict[str, Any]) -> dict[str, Any]:
    """The tomogram covers the detector's field of view unless told otherwise: a K3's 5760x4092 is not cropped."""
    if params["tomo_dimensions"] is not None:
        return params
    size = acquisition.get("image_size")
    if not size:
        raise ValueError("the mdocs give no single ImageSize to size the tomograms by: set tomo_dimensions, e.g. 4096x4096x2048")
    return {**params, "tomo_dimensions": f"{size[0]}x{size[1]}x{DEFAULT_TOMO_DEPTH}"}


JOB = register(JobType(
    name="ts_import",
    aliases=("tsImport",),
    summary="Tilt-series import: .tomostar files and the tilt-series settings",
    tool="warptools",
    tool_label="WarpTools ts_import + create_settings",
    params=TsImportParams,
    inputs={"frame_series": InputSlot(("motion_ctf",), "in_mic", "motion-corrected frame series")},
    outputs=(
        Output("ts_settings", "warp_tiltseries.settings", "WarpTools tilt-series settings"),
        Output(None, "tomostar", "one .tomostar per tilt series", is_dir=True),
    ),
    per_tilt_series=True,
    acquisition=("pixel_size", "dose_per_tilt", "tilt_axis", "invert_tilt_angles"),
    reads_data=True,
    derive=with_dimensions,
))
