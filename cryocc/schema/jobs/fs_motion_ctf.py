from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Grid, Int, PerDevice, Span


class FsMotionCtfParams(Params):
    m_range_min_max: Span = param("500:10", "motion fit resolution range, low:high", unit="Å")
    m_bfac: Int = param(-500, "motion B-factor", unit="Å²", le=0)
    m_grid: Grid = param("1x1x3", "motion grid XxYxZ (Z is temporal)")
    c_range_min_max: Span = param("30:6.0", "CTF fit resolution range, low:high", unit="Å")
    c_defocus_min_max: Span = param("1.1:8", "defocus search range, min:max", unit="µm")
    c_grid: Grid = param("2x2x1", "CTF grid XxYxZ")
    c_window: Int = param(512, "CTF fit window", unit="px", ge=128, le=2048)
    c_use_sum: Bool = param(False, "fit the CTF on the frame sum")
    do_phase: Bool = param(False, "fit a phase shift (phase plate data)")
    out_average_halves: Bool = param(True, "write even/odd half averages (cryoCARE needs them)")
    out_skip_first: Int = param(0, "frames to skip at the start of each movie", unit="frames", ge=0)
    out_skip_last: Int = param(0, "frames to skip at the end of each movie", unit="frames", ge=0)
    perdevice: PerDevice = param(2, "movies processed at once per GPU", affects_results=False)


JOB = register(JobType(
    name="fs_motion_ctf",
    aliases=("fsMotionAndCtf",),
    summary="Frame-series motion correction and per-tilt CTF",
    tool="warptools",
    tool_label="WarpTools fs_motion_and_ctf",
    params=FsMotionCtfParams,
    inputs={"tilt_series": InputSlot(("tilt_series",), "in_mic", "imported tilt series")},
    outputs=(
        Output("motion_ctf", "fs_motion_and_ctf.star", "tilt-series STAR with motion-corrected averages and CTF"),
        Output(None, "tilt_series", "per-tilt-series STAR files", is_dir=True),
        Output(None, "warp_frameseries", "WarpTools frame-series processing folder", is_dir=True),
    ),
    per_tilt_series=True,
    array=True,
    items_star="fs_motion_and_ctf.star",
    acquisition=("pixel_size", "voltage", "cs", "amplitude_contrast", "dose_per_tilt", "eer_grouping"),
    reads_data=True,
    # 2: gain passed with WarpTools' real options, --exposure, astigmatism as Warp exports it;
    # 3: rlnCtfMaxResolution (the tilt filter reads it)
    type_version=3,
    gpu=True,
))
