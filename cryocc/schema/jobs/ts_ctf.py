from typing import Literal

from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Int, PerDevice, Span


class TsCtfParams(Params):
    window: Int = param(512, "CTF fit window", unit="px", ge=128, le=2048)
    range_min_max: Span = param("30:6.0", "CTF fit resolution range, low:high", unit="Å")
    defocus_min_max: Span = param("1.1:8", "defocus search range, min:max", unit="µm")
    defocus_hand: Literal["set_flip", "set_noflip", "auto"] = param(
        "set_flip", "defocus handedness: force flip, force no flip, or let ts_defocus_hand --set_auto decide from the data")
    do_phase: Bool = param(False, "fit a phase shift (phase plate data)")
    perdevice: PerDevice = param(1, "tilt series fitted at once per GPU", affects_results=False)


JOB = register(JobType(
    name="ts_ctf",
    aliases=("tsCtf",),
    summary="Tilt-series CTF with the defocus-handedness step",
    tool="warptools",
    tool_label="WarpTools ts_defocus_hand + ts_ctf",
    params=TsCtfParams,
    inputs={"tilt_series": InputSlot(("aligned_tilt_series",), "in_mic", "aligned tilt series")},
    outputs=(
        Output("ctf_tilt_series", "ts_ctf_tilt_series.star", "tilt-series STAR with per-tilt defocus and handedness"),
        Output(None, "tilt_series", "per-tilt-series STAR files", is_dir=True),
        Output(None, "warp_tiltseries", "WarpTools tilt-series processing folder", is_dir=True),
    ),
    type_version=3,  # 2: astigmatism as Warp exports it, auto = --set_auto; 3: auto decided once and kept
    per_tilt_series=True,
    array=True,
    items_star="ts_ctf_tilt_series.star",
    # defocus_hand auto is decided once, over the tilt series of the job's first run, and kept by its
    # extensions and array tasks (drivers/ts_ctf.py decide); --force re-decides
    acquisition=("voltage", "cs", "amplitude_contrast"),
    gpu=True,
))
