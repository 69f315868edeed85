"""Site profiles: where a profile named by a pipeline is found, and loading one with its errors located."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Collector, CryoccError, Location, SpecError, did_you_mean
from ..resources import data_dir
from .layers import by_type
from .located import pydantic_errors
from .models import Resources, SiteProfile
from .yamldoc import Document, load_yaml


@dataclass(frozen=True)
class Site:
    profile: SiteProfile
    doc: Document
    params: dict[str, tuple[str, dict[str, Any]]]  # type name -> (its key as written, maybe an alias; the values)
    resources: dict[str, Resources]  # by the job types' names; "default" is profile.resources["default"]



def site_search_path(pipeline_dir: Path) -> list[Path]:
    return [pipeline_dir / "config" / "sites", data_dir("config") / "sites"]


def site_candidates(ref: str, pipeline_dir: Path) -> list[Path]:
    """Where a site profile reference may be, first match wins: a path, or a name on the search path."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return [(pipeline_dir / ref).expanduser()]
    return [d / f"{ref}.yaml" for d in site_search_path(pipeline_dir)]


def known_sites(pipeline_dir: Path) -> list[str]:
    return sorted({p.stem for d in site_search_path(pipeline_dir) if d.is_dir() for p in d.glob("*.yaml")})


def find_site(ref: str, pipeline_dir: Path) -> Path | None:
    return next((p for p in site_candidates(ref, pipeline_dir) if p.is_file()), None)


def load_site(ref: str, pipeline_dir: Path, errors: Collector, where: Location) -> Site | None:
    path = find_site(ref, pipeline_dir)
    if path is None:
        errors.add(SpecError(f"site profile '{ref}' does not exist", location=where, key="site",
                             hint=did_you_mean(ref, known_sites(pipeline_dir)) or "give a name under config/sites/ or a path to a YAML file"))
        return None
    try:
        doc = load_yaml(path)
    except CryoccError as exc:
        errors.add(exc)
        return None
    raw = doc.data if isinstance(doc.data, dict) else {}
    try:
        profile = SiteProfile.model_validate(raw)
    except ValidationError as exc:
        for e in pydantic_errors(exc.errors(), doc, model=SiteProfile):
            errors.add(e)
        # keep the sections that were fine, so their job params are still checked in this pass
        bad = {err["loc"][0] for err in exc.errors() if err["loc"]}
        try:
            profile = SiteProfile.model_validate({"name": "invalid", **{k: v for k, v in raw.items() if k not in bad}})
        except ValidationError:
            return None
    params = by_type(profile.params, doc, ("params",), errors)
    resources = {t: v for t, (_, v) in by_type(profile.resources, doc, ("resources",), errors, skip=("default",)).items()}
    return Site(profile, doc, params, resources)
