from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Float, PerDevice


class TsReconstructParams(Params):
    rescale_angpixs: Float = param(12.0, "pixel size of the reconstructed tomograms", unit="Å/px", ge=2, le=50)
    halfmap_frames: Bool = param(True, "also reconstruct even/odd half tomograms (cryoCARE needs them)")
    deconv: Bool = param(True, "write a deconvolved tomogram")
    perdevice: PerDevice = param(1, "tomograms reconstructed at once per GPU", affects_results=False)


JOB = register(JobType(
    name="ts_reconstruct",
    aliases=("tsReconstruct",),
    summary="Tomogram reconstruction",
    tool="warptools",
    tool_label="WarpTools ts_reconstruct",
    params=TsReconstructParams,
    inputs={"tilt_series": InputSlot(("filtered_tilt_series", "ctf_tilt_series"), "in_mic", "CTF-fitted (optionally filtered) tilt series")},
    outputs=(
        Output("tomograms", "tomograms.star", "RELION 5 tomograms STAR"),
        Output(None, "warp_tiltseries", "reconstructions under warp_tiltseries/reconstruction", is_dir=True),
    ),
    type_version=2,  # 2: --halfmap_frames/--deconv as switches, rlnTomoSizeX/Y/Z
    per_tilt_series=True,
    array=True,
    items_star="tomograms.star",
    acquisition=("pixel_size",),
    gpu=True,
))
