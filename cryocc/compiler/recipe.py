"""What a pipeline compiles to before a single frame is stat'ed: plain JSON data, no models.

`prepare` (stage one) turns pipeline.yaml, its site profile and the mdocs into a Recipe; `fingerprint`
(stage two) adds the stat of every file the jobs read. Everything after stage one works on the
recipe, so a recipe cached between runs (recipe_cache.py) lets plan and validate skip the YAML
parser, the spec models and the mdocs altogether.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# Immutable records as NamedTuples: plan imports this module on every run, and a frozen dataclass
# costs several times more to define.


class Wire(NamedTuple):
    slot: str
    option: str  # RELION input option, e.g. in_mic
    flag: str  # how RELION passes that option to fn_exe, e.g. --in_mics
    upstream: str  # job name
    kind: str
    path: str  # file in the upstream job directory


class JobRecipe(NamedTuple):
    name: str
    type: str  # the job type's name: also its driver's, drivers/<type>.py
    aliases: tuple[str, ...]  # its other names; the first is its name in fingerprints
    is_tomo: bool
    type_version: int
    params: dict[str, Any]  # JSON values; file params absolute
    result_params: dict[str, Any]  # the params a fingerprint covers; file params by key
    acquisition: dict[str, Any]  # the acquisition values the job uses
    files: dict[str, str]  # key (relative to the pipeline) -> absolute path of each file a param names
    reads_data: bool  # reads the frames, mdocs and gain of data: itself
    wires: tuple[Wire, ...]
    outputs: tuple[dict[str, Any], ...]  # {path, kind, is_dir}
    resources: dict[str, Any]  # cpus, mem, time, gpus, partition, constraint, sbatch
    tool: dict[str, Any] | None  # image, bin_dir, env
    on_item_failure: str = "stop"  # stop | continue: what a failure on some tilt series makes of the job
    per_item: bool = False  # works tilt series by tilt series: can be extended with some, keeping the rest
    items_star: str | None = None  # its combined result, a row per tilt series (merged when extended)
    pools: str | None = None  # why these params make it pool the tilt series (it then re-runs them all)
    decides: str | None = None  # its pooled result is a decision new tilt series use (JobType.decides)
    # the job that leaves data.exclude_tilts out (its type's excludes_tilts): name -> {zvalues, frames, why}, {} if none
    exclude_tilts: dict[str, Any] | None = None
    # run as SLURM arrays (execution: array): {tilt_series_per_task, max_parallel, poll_seconds, supervisor
    # (the supervisor job's resources)}; resources are then each task's. None: one job (execution: node)
    array: dict[str, Any] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name of its type: receipts and results written before a rename carry an alias."""
        return (self.type, *self.aliases)

    @property
    def fingerprint_name(self) -> str:
        """The type's name in fingerprints: its first alias, so that a renamed type re-runs nothing."""
        return self.aliases[0] if self.aliases else self.type


class Series(NamedTuple):
    name: str
    mdoc: str  # listing key
    frames: tuple[str, ...]  # listing keys, in ZValue order


class Recipe(NamedTuple):
    name: str
    path: str  # pipeline.yaml, absolute
    spec_sha256: str
    root: str  # the pipeline's directory: keys are relative to it
    site: dict[str, Any]  # the site profile, validated and dumped
    site_path: str
    sources: dict[str, str | None]  # every file stage one read (or looked for) besides the data: path -> sha256, None if absent
    frame_check: str
    order: tuple[str, ...]
    jobs: dict[str, JobRecipe]
    data: dict[str, Any]  # what data-reading jobs get: globs, gain, gain operations, tilt series names and mdocs
    gain: str | None  # the gain reference's key
    tilt_series: tuple[Series, ...]
    summary: dict[str, Any]  # what validate and apply show: acquisition, counts, notes, tilt-series groups

    def to_json(self) -> dict[str, Any]:
        """Records become JSON objects, except the tilt series (10^5 frames): [name, mdoc, frames]."""
        jobs = {n: {**j._asdict(), "wires": [w._asdict() for w in j.wires]} for n, j in self.jobs.items()}
        return {**self._asdict(), "jobs": jobs, "tilt_series": [list(s) for s in self.tilt_series]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Recipe:
        jobs = {n: JobRecipe(**{**j, "wires": tuple(Wire(**w) for w in j["wires"]), "outputs": tuple(j["outputs"]),
                                  "aliases": tuple(j["aliases"])})
                for n, j in doc["jobs"].items()}
        series = tuple(Series(name, mdoc, tuple(frames)) for name, mdoc, frames in doc["tilt_series"])
        return cls(**{**doc, "order": tuple(doc["order"]), "jobs": jobs, "tilt_series": series})
