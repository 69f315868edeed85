from ._base import JobType, Output, Params, param, register


class ImportMoviesParams(Params):
    optics_group_name: str = param("opticsGroup1", "RELION optics group name", pattern=r"^[A-Za-z0-9_.-]+$")


JOB = register(JobType(
    name="import_movies",
    aliases=("importmovies",),
    summary="Import movies and mdocs into RELION tilt-series STAR files",
    tool="relion",
    tool_label="RELION 5 relion_python_tomo_import",
    params=ImportMoviesParams,
    inputs={},
    outputs=(
        Output("tilt_series", "tilt_series.star", "global tilt-series STAR (one row per tilt series)"),
        Output(None, "tilt_series", "per-tilt-series STAR files", is_dir=True),
    ),
    type_version=2,  # 2: globs relative to the project, as relion_tomo_import needs
    per_tilt_series=True,
    items_star="tilt_series.star",
    acquisition=("pixel_size", "voltage", "cs", "amplitude_contrast", "dose_per_tilt", "tilt_axis", "invert_defocus_hand"),
    reads_data=True,
))
