"""Compile a pipeline in two stages: spec + mdocs -> Recipe (cached), then Recipe + stat -> fingerprints.

Stage one imports the YAML parser, the spec models and the job catalog; it runs only when the
recipe cache cannot vouch for its result, so a plan over an unchanged pipeline costs a listing of
the data and a little hashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..acquisition.listing import Listing, list_data
from .fingerprint import FileFingerprints, data_digest, item_fingerprint, job_fingerprint, job_parts, recipe_fingerprints, series_fingerprints, tilt_exclusions
from .recipe import JobRecipe, Recipe
from .recipe_cache import RecipeCache, ScanCache

if TYPE_CHECKING:
    from ..acquisition.infer import Dataset
    from ..schema.pipeline import Pipeline


@dataclass
class Compiled:
    recipe: Recipe
    listing: Listing
    files: FileFingerprints
    parts: dict[str, dict[str, Any]]  # job -> the parts of its fingerprint
    fingerprints: dict[str, str]
    # job -> a fingerprint of how it works, without the data: the same for every tilt series, so a
    # change to it re-runs them all (per-tilt-series jobs only)
    recipe_fingerprints: dict[str, str] = field(default_factory=dict)
    # the jobs from the one that leaves data.exclude_tilts out on, and tilt series -> a digest of its excluded
    # tilts: part of those jobs' item fingerprints for those tilt series only
    sees_exclusion: frozenset[str] = frozenset()
    tilt_exclusions: dict[str, str] = field(default_factory=dict)
    _series: dict[str, str] | None = None

    def series_fingerprints(self) -> dict[str, str]:
        """Tilt series -> a hash of what it is made of (its mdoc, its frames' stats, the gain), computed
        when a plan or an apply has to look at tilt series one by one."""
        if self._series is None:
            self._series = series_fingerprints(self.recipe, self.listing, self.files)
        return self._series

    def items(self, name: str) -> dict[str, str]:
        """Tilt series -> the fingerprint of this job's result for it (per-tilt-series jobs)."""
        recipe = self.recipe_fingerprints[name]
        excluded = self.tilt_exclusions if name in self.sees_exclusion else {}
        return {ts: item_fingerprint(recipe, f"{fp}:{excluded[ts]}" if ts in excluded else fp)
                for ts, fp in self.series_fingerprints().items()}

    @property
    def jobs(self) -> dict[str, JobRecipe]:
        return self.recipe.jobs

    @property
    def order(self) -> tuple[str, ...]:
        return self.recipe.order


def compile_pipeline(path: Path, known_files: dict[str, Any] | None = None) -> Compiled:
    """known_files: the lockfile's small files, whose hashes need not be computed again."""
    cache = RecipeCache(path)
    recipe = cache.load()
    listing = None
    if recipe is not None:
        listing = list_data(recipe.root, recipe.data["frames"], recipe.data["mdocs"])
        if not cache.matches(listing):
            recipe, cache.doc = None, {}  # let go of the stale one (10^5 frames) before stage one makes another
    if recipe is None:
        recipe, listing, mdoc_hashes = prepare(path, listing)
        cache.store(recipe, listing, mdoc_hashes)
    assert listing is not None  # listed for the cached recipe, or by prepare
    files = FileFingerprints(recipe.frame_check, known_files, cache.hashes)
    compiled = fingerprint(recipe, listing, files, cache.digests)
    cache.remember(files.small)
    cache.save()
    return compiled


def prepare(path: Path, listing: Listing | None = None) -> tuple[Recipe, Listing, dict[str, tuple[int, int, str]]]:
    """Stage one: load and validate the spec, read the mdocs, infer, wire and resolve the jobs.
    listing: the data as just listed for this same spec, if it was."""
    from ..schema.pipeline import load_pipeline
    from .graph import order, wire
    from .resolve import resolve

    pipeline = load_pipeline(path)
    dataset, listing, mdoc_hashes = _scan(path, pipeline, listing)
    wires = wire(pipeline)
    return resolve(pipeline, dataset, listing, wires, order(pipeline, wires)), listing, mdoc_hashes


def _scan(path: Path, pipeline: Pipeline, listing: Listing | None) -> tuple[Dataset, Listing, dict[str, tuple[int, int, str]]]:
    """The data as the scan makes it out, or as the scan cache kept it when only the spec's other
    sections changed (a parameter edited: no mdoc read, nothing inferred again)."""
    from ..acquisition.cache import MdocCache
    from ..acquisition.infer import Dataset
    from ..acquisition.scan import scan

    data = pipeline.spec.data
    if listing is None:
        listing = list_data(str(pipeline.root), data.frame_globs, data.mdoc_globs)
    memo = ScanCache(path)
    key = memo.key(str(pipeline.root), data.model_dump(mode="json"), any(t.image for t in pipeline.site.profile.tools.values()))
    kept = memo.load(key, listing)
    if kept is not None:
        try:
            return Dataset.from_json(kept[0]), listing, kept[1]
        except (KeyError, TypeError, ValueError):
            pass  # a damaged cache file: scanned again, and written anew
    mdocs = MdocCache()
    dataset, listing = scan(pipeline, read=mdocs.read, listing=listing)
    mdocs.save()
    memo.store(key, dataset.to_json(), listing, mdocs.hashes)
    return dataset, listing, mdocs.hashes


def fingerprint(recipe: Recipe, listing: Listing, files: FileFingerprints, memo: dict[str, str] | None = None) -> Compiled:
    """Stage two, in run order so each fingerprint includes its upstream fingerprints."""
    data = data_digest(recipe, listing, files, {} if memo is None else memo) if any(j.reads_data for j in recipe.jobs.values()) else None
    parts: dict[str, dict[str, Any]] = {}
    fingerprints: dict[str, str] = {}
    for name in recipe.order:
        job = recipe.jobs[name]
        parts[name] = job_parts(
            job_type=job.fingerprint_name, type_version=job.type_version, params=job.result_params, acquisition=job.acquisition,
            inputs={key: files.small_file(key, path) for key, path in job.files.items()},
            data=data if job.reads_data else None, upstream={w.slot: fingerprints[w.upstream] for w in job.wires},
            exclude_tilts={ts: e["zvalues"] for ts, e in job.exclude_tilts.items()} if job.exclude_tilts else None)
        fingerprints[name] = job_fingerprint(parts[name])
    return Compiled(recipe, listing, files, parts, fingerprints, recipe_fingerprints(recipe, parts, fingerprints),
                    *tilt_exclusions(recipe))
