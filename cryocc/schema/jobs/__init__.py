"""The job catalog: one module per job type, sharing its stem with templates/ and drivers/."""

# ruff: noqa: I001  (the catalog order is the import order)
from ._base import InputSlot, JobType, Output, Params  # noqa: F401
from . import (  # noqa: F401  (import order = catalog order = the order of a standard chain)
    import_movies,
    fs_motion_ctf,
    ts_import,
    ts_alignment,
    ts_ctf,
    tilt_filter,
    ts_reconstruct,
    denoise_train,
    denoise_predict,
    template_match,
    candidate_extract,
    subtomo_extraction,
    reconstruct_particle,
    class3d,
)

CATALOG: dict[str, JobType] = JobType.catalog
