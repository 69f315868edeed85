from typing import Any, Literal

from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Float, Int, PerDevice


class TsAlignmentParams(Params):
    method: Literal["aretomo", "imod"] = param("aretomo", "aligner: AreTomo2 (ts_aretomo) or IMOD patch tracking (ts_etomo_patches)")
    rescale_angpixs: Float = param(12.0, "pixel size of the binned stack used for alignment", unit="Å/px", ge=2, le=50)
    sample_thickness_nm: Float = param(180.0, "sample thickness (AreTomo --alignz)", unit="nm", ge=50, le=1000)
    patch_x: Int = param(0, "AreTomo local patches in X (0: global only)", ge=0)
    patch_y: Int = param(0, "AreTomo local patches in Y (0: global only)", ge=0)
    axis_iter: Int = param(0, "AreTomo tilt-axis refinement iterations (0: off)", ge=0)
    axis_batch: Int = param(0, "AreTomo tilt series per axis-refinement batch (0: WarpTools default)", ge=0)
    imod_patch_size: Float = param(200.0, "IMOD patch size", unit="nm", gt=0)
    perdevice: PerDevice = param(1, "tilt series aligned at once per GPU", affects_results=False)


def _per_tilt_series_axis(p: dict[str, Any], per_task: int) -> dict[str, Any]:
    """An array task refines the tilt axis of its own tilt series, as the replaced system does: one per task."""
    if not p["axis_iter"]:
        return p
    if per_task > 1:
        raise ValueError(f"as a SLURM array it refines the tilt axis per tilt series (axis_iter {p['axis_iter']}), "
                         f"which needs one tilt series per task, not {per_task}")
    return {**p, "axis_per_tilt_series": True}


JOB = register(JobType(
    name="ts_alignment",
    aliases=("aligntiltsWarp",),
    summary="Tilt-series alignment with AreTomo2 or IMOD, through WarpTools",
    tool="warptools",
    tool_label="WarpTools ts_aretomo (AreTomo2) / ts_etomo_patches (IMOD)",
    params=TsAlignmentParams,
    inputs={
        "tilt_series": InputSlot(("motion_ctf",), "in_mic", "motion-corrected tilt series"),
        "settings": InputSlot(("ts_settings",), "in_mov", "tilt-series settings and .tomostar files"),
    },
    outputs=(
        Output("aligned_tilt_series", "aligned_tilt_series.star", "tilt-series STAR with alignment"),
        Output(None, "tilt_series", "per-tilt-series STAR files", is_dir=True),
        Output(None, "warp_tiltseries", "WarpTools tilt-series processing folder", is_dir=True),
        Output(None, "warp_tiltseries.settings", "settings copied for downstream jobs"),
    ),
    type_version=3,  # 2: tilts WarpTools left out removed; 3: rlnTomoYTilt = -TILT always, IMOD read as WarpTools reads it (docs/science.md)
    per_tilt_series=True,
    items_star="aligned_tilt_series.star",
    # with axis_iter 0 the one axis AreTomo uses is the median of the series' own, which ts_import set to
    # one value (--override_axis): each series aligns on its own (AreTomoTiltseries.cs:123-185)
    pools=lambda p: (f"AreTomo refines one tilt axis over the tilt series (axis_iter {p['axis_iter']})"
                     if p["axis_iter"] and not p.get("axis_per_tilt_series") else None),
    array=True,
    array_params=lambda p, per_task: _per_tilt_series_axis(p, per_task),
    excludes_tilts=True,  # before the alignment, as RELION's Exclude tilt images job and the validated chain do
    acquisition=("pixel_size", "invert_tilt_angles"),
    gpu=True,
))
