"""Compile a pipeline in two stages: spec + mdocs -> Recipe (cached), then Recipe + stat -> fingerprints.

Stage one imports the YAML parser, the spec models and the job catalog; it runs only when the
recipe cache cannot vouch for its result, so a plan over an unchanged pipeline costs a listing of
the data and a little hashing.
"""

from __future__ import annotations

import hashlib
import marshal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..acquisition.listing import Listing, list_data
from ..lockfile.files import FileFingerprints
from ..lockfile.fingerprint import digest, job_fingerprint, job_parts
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
    data = _data_digest(recipe, listing, files, {} if memo is None else memo) if any(j.reads_data for j in recipe.jobs.values()) else None
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


def tilt_exclusions(recipe: Recipe) -> tuple[frozenset[str], dict[str, str]]:
    """The jobs that see data.exclude_tilts (the one that would apply it, and every job after it) and, per
    tilt series it names, a digest of the tilts it leaves out."""
    sees: set[str] = set()
    for name in recipe.order:
        job = recipe.jobs[name]
        if job.exclude_tilts is not None or any(w.upstream in sees for w in job.wires):
            sees.add(name)
    excluded = recipe.summary.get("excluded_tilts") or {}
    return frozenset(sees), {ts: digest(e["zvalues"]) for ts, e in excluded.items()} if sees else {}


def recipe_fingerprints(recipe: Recipe, parts: dict[str, dict[str, Any]], fingerprints: dict[str, str]) -> dict[str, str]:
    """A per-tilt-series job's fingerprint without the data: its own parts, and upstream the recipe
    fingerprint of a per-tilt-series job or the whole fingerprint of one that pools tilt series (whose
    one result depends on all of them)."""
    out: dict[str, str] = {}
    for name in recipe.order:
        job = recipe.jobs[name]
        if not job.per_item and not job.decides:  # a decision (a model) counts for what it is made with, not from
            continue
        upstream = {w.slot: out[w.upstream] if w.upstream in out else fingerprints[w.upstream] for w in job.wires}
        # without the excluded tilts: they change the item fingerprints of their tilt series only
        own = {k: v for k, v in parts[name].items() if k != "exclude_tilts"}
        out[name] = digest({**own, "data": None, "upstream": upstream})
    return out


def series_fingerprints(recipe: Recipe, listing: Listing, files: FileFingerprints) -> dict[str, str]:
    """One hash per tilt series, over its mdoc's content hash, its frames' keys and stats (sizes only
    when frame_check is lenient) and the gain's hash, serialised in one C call each."""
    gain = files.small_file(recipe.gain, recipe.data["gain"]) if recipe.gain else None
    lenient = files.mode == "lenient"
    frames = listing.frames
    out = {}
    for ts in recipe.tilt_series:
        stats = [frames[k][0] for k in ts.frames] if lenient else [frames[k] for k in ts.frames]
        blob = marshal.dumps((files.mode, files.small_file(ts.mdoc, listing.path(ts.mdoc), listing.mdocs[ts.mdoc]), gain, ts.frames, stats), 2)
        out[ts.name] = hashlib.sha256(blob).hexdigest()
    return out


def item_fingerprint(recipe_fingerprint: str, series_fingerprint: str) -> str:
    """What one tilt series' result in one job depends on; 16 hex digits, as the lockfile keeps one per
    job and tilt series."""
    return hashlib.sha256(f"{recipe_fingerprint}:{series_fingerprint}".encode()).hexdigest()[:16]


def _data_digest(recipe: Recipe, listing: Listing, files: FileFingerprints, memo: dict[str, str]) -> str:
    """Over the fingerprints of every mdoc, frame and gain file the data-reading jobs read. Formatting
    10^5 frame fingerprints costs more than listing them, so the digest is memoised under a hash of
    the same inputs, packed."""
    small = {ts.mdoc: files.small_file(ts.mdoc, listing.path(ts.mdoc), listing.mdocs[ts.mdoc]) for ts in recipe.tilt_series}
    if recipe.gain:
        small[recipe.gain] = files.small_file(recipe.gain, recipe.data["gain"])
    files.use_frames(listing.frames, [f for ts in recipe.tilt_series for f in ts.frames])
    quick = digest([files.mode, small, files.frames_stat_digest()])
    if quick not in memo:
        memo[quick] = digest({**small, **files.frame_fingerprints()})
    return memo[quick]
