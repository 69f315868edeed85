"""template_match: pytom_match_template per tomogram, with per-tilt angle, defocus and dose files."""

from pathlib import Path
from typing import Any

from ..contract import Outcome
from ._context import Context, relink
from ._errors import JobFailed, Terminated
from ._process import gpu_ordinals
from ._relion_star import TiltSeries, TomogramRow, read_global, read_tilt_series, write_global

OUTPUTS = ("_scores.mrc", "_angles.mrc", "_job.json")  # what pytom_match_template.py writes per tomogram


def _write_lists(ctx: Context, ts: TiltSeries) -> tuple[str, str, str]:
    files = []
    for folder, values in (
        ("tiltAngleFiles", [t["rlnTomoNominalStageTiltAngle"] for t in ts.tilts]),
        # µm, the mean of U and V: pytom takes one defocus per tilt (entry_points.py:787-797 at 0.10.0)
        ("defocusFiles", [f"{(float(t['rlnDefocusU']) + float(t['rlnDefocusV'])) / 2e4:.4f}" for t in ts.tilts]),
        ("doseFiles", [t["rlnMicrographPreExposure"] for t in ts.tilts]),
    ):
        d = ctx.path(folder)
        d.mkdir(exist_ok=True)
        path = d / f"{ts.name}.{'tlt' if folder == 'tiltAngleFiles' else 'txt'}"
        path.write_text("\n".join(str(v) for v in values) + "\n")
        files.append(str(path))
    return tuple(files)  # type: ignore[return-value]


def volume_split(setting: str, n_gpus: int) -> list[str]:
    """-s x y z; pytom needs the number of pieces to be a multiple of the GPUs (parallel.py:87-95)."""
    if setting == "auto":
        dims = [2, 2, 1] if 4 % n_gpus == 0 else [n_gpus, 1, 1]
    else:
        dims = [int(v) for v in setting.split("x")]
    if (dims[0] * dims[1] * dims[2]) % n_gpus:
        raise JobFailed(f"gpu_split {setting} makes {dims[0] * dims[1] * dims[2]} pieces, which {n_gpus} GPUs cannot share evenly")
    return [str(v) for v in dims]


def match_args(p: dict[str, Any], a: dict[str, Any], volume: Path, tlt: str, defocus: str, dose: str, gpus: list[str], split: list[str]) -> list[Any]:
    """pytom_match_template.py's command line for one tomogram (src/pytom_tm/entry_points.py:607-977 at 0.10.0)."""
    args = ["-t", p["template"], "-d", str(volume.parent), "-m", p["mask"], "--voltage", a["voltage"],
            "--spherical-aberration", a["cs"], "--amplitude-contrast", a["amplitude_contrast"],
            "--per-tilt-weighting", "--log", "debug", "-g", *gpus, "--angular-search", p["angular_search"]]
    if p["symmetry"] != "C1":
        args += ["--z-axis-rotational-symmetry", p["symmetry"][1:]]
    args += ["-s", *split]
    args += ["--spectral-whitening"] * p["spectral_whitening"] + ["--random-phase-correction"] * p["random_phase_correction"]
    args += ["--non-spherical-mask"] * p["non_spherical_mask"]
    if p["bandpass"]:
        low, high = p["bandpass"].split(":")
        args += ["--low-pass", low, "--high-pass", high]
    return args + ["-v", str(volume), "--tilt-angles", tlt, "--defocus", defocus, "--dose-accumulation", dose]


def run(ctx: Context) -> None:
    p, a = ctx.params, ctx.acq
    tomograms = ctx.to_process([TomogramRow(r) for r in read_global(ctx.input("tomograms"))])
    series = {ts.name: ts for ts in read_tilt_series(ctx.input("tilt_series"), ctx.project)}
    results = ctx.path("tmResults")
    results.mkdir(exist_ok=True)
    gpus = gpu_ordinals()
    split = volume_split(p["gpu_split"], len(gpus))
    done = []
    for tomogram in tomograms:
        name, row = tomogram.name, tomogram.row
        if name not in series:
            raise JobFailed(f"tomogram {name} has no tilt series in {ctx.rel(ctx.input('tilt_series'))}")
        for suffix in OUTPUTS:  # an earlier run's, which would pass for this run's
            (results / f"{name}{suffix}").unlink(missing_ok=True)
        tlt, defocus, dose = _write_lists(ctx, series[name])
        volume = results / f"{name}.mrc"
        relink(volume, ctx.project / row["rlnTomoReconstructedTomogram"])
        args = match_args(p, a, volume, tlt, defocus, dose, gpus, split)
        try:
            ctx.run("pytom_match_template.py", args, env={"TQDM_DISABLE": "1"})
            for suffix in OUTPUTS:  # exit code 0 is not enough
                if not (results / f"{name}{suffix}").is_file():
                    raise JobFailed(f"pytom_match_template.py wrote no {name}{suffix}")
        except Terminated:
            raise
        except JobFailed as exc:  # this tomogram fails, the others go on
            ctx.item(name, Outcome.FAILED, str(exc))
            continue
        done.append(row)
    write_global(ctx, "tomograms.star", done)

