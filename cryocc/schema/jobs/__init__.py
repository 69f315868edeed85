"""The job catalog: one module per job type, named like the type, as its driver in drivers/ is."""

# ruff: noqa: I001  (the catalog order is the import order)
from ._base import InputSlot, JobType, Output, Params
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

__all__ = ["ALIASES", "CATALOG", "TYPE_NAMES", "InputSlot", "JobType", "Output", "Params", "job_type"]

CATALOG: dict[str, JobType] = JobType.catalog
ALIASES: dict[str, str] = JobType.alias_of  # a name users of the replaced system know -> the type's name
TYPE_NAMES: list[str] = [*CATALOG, *ALIASES]  # every name a pipeline may give as a type


def job_type(name: str) -> JobType | None:
    """The job type a pipeline or site profile names, by its name or an alias."""
    return CATALOG.get(ALIASES.get(name, name))
