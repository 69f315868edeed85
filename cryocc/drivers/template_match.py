"""templatematching: pytom_match_template per tomogram, with per-tilt angle, defocus and dose files."""

import os
import shutil

from ._metadata import read_global, read_tilt_series
from ._runtime import Context, JobFailed, relink


def _write_lists(ctx: Context, ts) -> tuple[str, str, str]:
    files = []
    for folder, values in (
        ("tiltAngleFiles", [t["rlnTomoNominalStageTiltAngle"] for t in ts.tilts]),
        ("defocusFiles", [f"{float(t['rlnDefocusU']) / 1e4:.4f}" for t in ts.tilts]),  # µm
        ("doseFiles", [t["rlnMicrographPreExposure"] for t in ts.tilts]),
    ):
        d = ctx.path(folder)
        d.mkdir(exist_ok=True)
        path = d / f"{ts.name}.{'tlt' if folder == 'tiltAngleFiles' else 'txt'}"
        path.write_text("\n".join(str(v) for v in values) + "\n")
        files.append(str(path))
    return tuple(files)  # type: ignore[return-value]


def run(ctx: Context) -> None:
    p, a = ctx.params, ctx.acq
    tomograms = read_global(ctx.input("tomograms"))
    series = {ts.name: ts for ts in read_tilt_series(ctx.input("tilt_series"), ctx.project)}
    results = ctx.path("tmResults")
    results.mkdir(exist_ok=True)
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")
    split = "2x2x1" if p["gpu_split"] == "auto" else p["gpu_split"]
    for row in tomograms:
        name = row["rlnTomoName"]
        if name not in series:
            raise JobFailed(f"tomogram {name} has no tilt series in {ctx.rel(ctx.input('tilt_series'))}")
        if (results / f"{name}_scores.mrc").is_file():
            ctx.say(f"{name}: scores exist, skipped")
            continue
        tlt, defocus, dose = _write_lists(ctx, series[name])
        volume = results / f"{name}.mrc"
        relink(volume, ctx.project / row["rlnTomoReconstructedTomogram"])
        args = ["-t", p["template"], "-d", str(results), "-m", p["mask"], "--voltage", a["voltage"],
                "--spherical-aberration", a["cs"], "--amplitude-contrast", a["amplitude_contrast"],
                "--per-tilt-weighting", "--log", "debug", "-g", *gpus, "--angular-search", p["angular_search"]]
        if p["symmetry"] != "C1":
            args += ["--z-axis-rotational-symmetry", p["symmetry"][1:]]
        args += ["-s", *split.split("x")]
        args += ["--spectral-whitening"] * p["spectral_whitening"] + ["--random-phase-correction"] * p["random_phase_correction"]
        args += ["--non-spherical-mask"] * p["non_spherical_mask"]
        if p["bandpass"]:
            low, high = p["bandpass"].split(":")
            args += ["--low-pass", low, "--high-pass", high]
        args += ["-v", str(volume), "--tilt-angles", tlt, "--defocus", defocus, "--dose-accumulation", dose]
        ctx.run("pytom_match_template.py", args, env={"TQDM_DISABLE": "1"})
        for suffix in ("_scores.mrc", "_angles.mrc", "_job.json"):  # exit code 0 is not enough
            if not (results / f"{name}{suffix}").is_file():
                raise JobFailed(f"pytom_match_template.py wrote no {name}{suffix}")
    shutil.copy2(ctx.input("tomograms"), ctx.path("tomograms.star"))
