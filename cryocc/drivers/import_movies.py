"""importmovies: RELION 5's tilt-series import from movies and mdocs."""

from ._runtime import Context


def run(ctx: Context) -> None:
    data, a = ctx.doc["data"], ctx.acq
    ctx.run("relion_python_tomo_import", [
        "SerialEM",
        "--tilt-image-movie-pattern", data["frames"],
        "--mdoc-file-pattern", data["mdocs"],
        "--output-directory", ctx.rel(ctx.job_dir) + "/",
        "--nominal-tilt-axis-angle", a["tilt_axis"],
        "--nominal-pixel-size", a["pixel_size"],
        "--voltage", a["voltage"],
        "--spherical-aberration", a["cs"],
        "--amplitude-contrast", a["amplitude_contrast"],
        "--dose-per-tilt-image", a["dose_per_tilt"],
        "--optics-group-name", ctx.params["optics_group_name"],
        "--invert-defocus-handedness" if a["invert_defocus_hand"] else "--no-invert-defocus-handedness",
    ], cwd=ctx.project)
