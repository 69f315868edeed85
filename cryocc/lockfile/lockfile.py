"""cryocc.lock: one JSON document per project, written atomically and last by apply.

Format (version 2), keys sorted, one space indent:
  lockfile      2
  cryocc        version that wrote it
  recipe        fingerprint recipe version (contract.FINGERPRINT_VERSION)
  pipeline      {name, path, spec_sha256, site, order}, and what is left out and why: excluded (data.exclude),
                excluded_tilts (data.exclude_tilts: name -> {zvalues, frames, why}), waiting
  frame_check   stat | lenient
  files         key -> {size, mtime_ns, sha256}   every small input file (mdocs, gain, templates)
  frames        .cryocc/frames/<hash>.tsv: "key<TAB>size<TAB>mtime_ns" of every frame a tilt series uses,
                read only to say which frame changed (10^5 lines on large projects)
  jobs          name -> {type, fingerprint, parts, scheme, job_dir, state, params_file}, and for a job that
                works tilt series by tilt series: recipe_fingerprint (its fingerprint without the data),
                items {tilt series: "<item fingerprint> <outcome>"} and continues (the job directory an
                extension runs in)
  schemes       [{name, jobs}]   every scheme apply wrote, oldest first
Keys are paths relative to the pipeline's directory. Format 1 (frames inline under files) is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Required, TypedDict, cast

from .. import __version__
from ..confine import PLAIN_NAME, shown
from ..contract import FINGERPRINT_VERSION, FRAMES_DIR, STATE_DIR
from ..errors import Location, ProjectError
from ..fsio import atomic_write
from ..project_files import DamagedFile, expect, expect_fields, parse_json, read_bytes, read_text
from ..states import Status

LOCKFILE = "cryocc.lock"
FORMAT = 2


def frames_text(frames: dict[str, tuple[int, int]]) -> str:
    return "".join(f"{k}\t{s}\t{m}\n" for k, (s, m) in sorted(frames.items()))


def frames_file(text: str) -> str:
    """The map's project-relative path, named by its content."""
    return f"{FRAMES_DIR}/{hashlib.sha256(text.encode()).hexdigest()[:20]}.tsv"


def read_frames(project: Path, rel: str | None) -> dict[str, tuple[int, int]]:
    if not rel:
        return {}
    try:
        out = {}
        for line in (read_text(project / rel, "frame map") or "").splitlines():
            key, size, mtime = line.rsplit("\t", 2)
            out[key] = (int(size), int(mtime))
        return out
    except (OSError, ValueError, DamagedFile):
        return {}  # gone or damaged: the plan can then only say that the frames changed


class PipelineRecord(TypedDict, total=False):
    """What the lockfile says of the pipeline it was applied from."""

    name: Required[str]
    path: Required[str]  # pipeline.yaml, absolute
    spec_sha256: str
    site: str
    order: list[str]  # the jobs in run order
    excluded: dict[str, str]  # tilt series data.exclude leaves out, and why
    excluded_tilts: dict[str, dict[str, Any]]  # tilt series -> {zvalues, frames, why}
    waiting: list[list[Any]]  # tilt series waiting for their frames: [name, frames there, of]


class FileRecord(TypedDict, total=False):
    """A small input file (mdoc, gain, template, mask) as its fingerprint saw it: hashed when its stat moved."""

    size: Required[int]
    mtime_ns: Required[int]
    sha256: str


class SchemeRecord(TypedDict, total=False):
    """A scheme apply wrote, with the jobs it runs and the spec copies it was compiled from."""

    name: Required[str]
    jobs: Required[list[str]]
    pipeline: str
    site: str


@dataclass
class JobLock:
    type: str
    fingerprint: str
    parts: dict[str, Any]
    scheme: str | None = None  # the scheme that last ran (or will run) it
    job_dir: str | None = None  # External/jobNNN/ once RELION made it
    state: Status = Status.SCHEDULED
    params_file: str | None = None
    recipe_fingerprint: str | None = None  # per-tilt-series jobs: what a change of re-runs every tilt series
    items: dict[str, str] | None = None  # tilt series -> "<item fingerprint> <outcome>"
    continues: str | None = None  # an extension: the job directory it runs in again, for the new tilt series
    # what the job decided once over some tilt series and its extensions keep (its receipt's decisions):
    # name -> {value, from: [tilt series]}; --force decides again
    decisions: dict[str, Any] | None = None

    def item_records(self) -> dict[str, tuple[str, str]]:
        return {ts: tuple(v.split(" ", 1)) for ts, v in (self.items or {}).items()}  # type: ignore[misc]

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None or k not in PER_ITEM_KEYS}


PER_ITEM_KEYS = ("recipe_fingerprint", "items", "continues", "decisions")  # left out of jobs that have none


@dataclass
class Lockfile:
    pipeline: PipelineRecord = field(default_factory=lambda: cast(PipelineRecord, {}))  # apply always writes one
    frame_check: str = "stat"
    files: dict[str, FileRecord] = field(default_factory=dict)  # the small input files
    frames: str | None = None
    jobs: dict[str, JobLock] = field(default_factory=dict)
    schemes: list[SchemeRecord] = field(default_factory=list)
    recipe: int = FINGERPRINT_VERSION
    cryocc: str = __version__

    def to_text(self) -> str:
        doc = {
            "lockfile": FORMAT,
            "cryocc": self.cryocc,
            "recipe": self.recipe,
            "pipeline": self.pipeline,
            "frame_check": self.frame_check,
            "files": {},
            "frames": self.frames,
            "jobs": {k: v.to_json() for k, v in self.jobs.items()},
            "schemes": self.schemes,
        }
        text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False)
        # one line per input file: projects have 10^4-10^5 frames
        rows = ",\n".join(f"  {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, sort_keys=True)}"
                           for k, v in sorted(self.files.items()))
        return text.replace('"files": {}', '"files": {\n' + rows + "\n }" if rows else '"files": {}', 1) + "\n"

    @classmethod
    def from_text(cls, text: str | bytes, path: str = LOCKFILE) -> Lockfile:
        try:
            doc = check_lockfile(parse_json(text.encode() if isinstance(text, str) else text, path, "lockfile"), path)
            return cls(
                pipeline=doc["pipeline"], frame_check=doc["frame_check"], files=doc["files"], frames=doc.get("frames"),
                jobs={k: JobLock(**v) for k, v in doc["jobs"].items()}, schemes=doc["schemes"],
                recipe=doc["recipe"], cryocc=doc["cryocc"],
            )
        except DamagedFile as exc:
            raise DamagedLockfile(f"{Path(path).name} is damaged: {exc.message}", location=exc.location, key=exc.key,
                                  hint="plan and apply rebuild it from the job directories' receipts; "
                                       "cryocc never deletes job directories, so nothing is lost") from None


_WHAT = "lockfile"  # the file, as expect's errors name it
_NONE = type(None)
_TOP: dict[str, type | tuple[type, ...]] = {
    "lockfile": int, "cryocc": str, "recipe": int, "pipeline": dict, "frame_check": str, "files": dict,
    "frames": (str, _NONE), "jobs": dict, "schemes": list}
_PIPELINE: dict[str, type | tuple[type, ...]] = {"name": str, "path": str, "spec_sha256": str, "site": str, "order": list}
_JOB: dict[str, type | tuple[type, ...]] = {
    "type": str, "fingerprint": str, "parts": dict, "scheme": (str, _NONE), "job_dir": (str, _NONE), "state": str,
    "params_file": (str, _NONE), "recipe_fingerprint": (str, _NONE), "items": (dict, _NONE), "continues": (str, _NONE),
    "decisions": (dict, _NONE)}
_PARTS: dict[str, type | tuple[type, ...]] = {
    "recipe": int, "type": str, "type_version": int, "params": dict, "acquisition": dict, "inputs": dict, "data": (str, _NONE),
    "upstream": dict}
_SCHEME: dict[str, type | tuple[type, ...]] = {"name": str, "jobs": list, "pipeline": str, "site": str}


def check_lockfile(doc: Any, path: str) -> dict[str, Any]:
    """doc, when it has the shape of a lockfile (every key cryocc reads of it); else DamagedFile at its key."""
    format_ = expect_fields(doc, {"lockfile": int}, path, _WHAT, required=("lockfile",))["lockfile"]
    if format_ not in (1, FORMAT):
        raise ProjectError(f"lockfile format {format_} is newer than {FORMAT}", location=Location(path), key="lockfile",
                           hint="it was written by a newer cryocc: upgrade cryocc")
    expect_fields(doc, _TOP, path, _WHAT, required=tuple(k for k in _TOP if k != "frames"))
    expect_fields(doc["pipeline"], _PIPELINE, path, _WHAT, "pipeline.")
    for name in doc["pipeline"].get("order", []):
        expect(name, str, path, "pipeline.order[]", _WHAT)
    for key, entry in doc["files"].items():
        expect(entry, dict, path, f"files.{key}", _WHAT)
    for name, job in doc["jobs"].items():
        _check_job(job, name, path)
    for i, scheme in enumerate(doc["schemes"]):
        _check_scheme(scheme, i, path)
    return dict(doc)


def _check_job(job: Any, name: str, path: str) -> None:
    """One entry of jobs: its keys (none unknown), its fingerprint's parts, its items' records, its scheme's name."""
    expect_fields(job, _JOB, path, _WHAT, f"jobs.{name}.", required=("type", "fingerprint", "parts"))
    unknown = sorted(set(job) - set(_JOB))
    if unknown:
        raise DamagedFile("unknown key: not a lockfile cryocc wrote", location=Location(path), key=f"jobs.{name}.{unknown[0]}")
    expect_fields(job["parts"], _PARTS, path, _WHAT, f"jobs.{name}.parts.")
    for item, record in (job.get("items") or {}).items():
        expect(record, str, path, f"jobs.{name}.items.{item}", _WHAT)
    if job.get("scheme") is not None:
        _expect_shape(job["scheme"], PLAIN_NAME, path, f"jobs.{name}.scheme")


def _check_scheme(scheme: Any, i: int, path: str) -> None:
    """One entry of schemes: its keys, its name, and the spec copies it names."""
    expect_fields(scheme, _SCHEME, path, _WHAT, f"schemes[{i}].", required=("name", "jobs"))
    _expect_shape(scheme["name"], PLAIN_NAME, path, f"schemes[{i}].name")
    for copy in ("pipeline", "site"):
        if copy in scheme:
            _expect_shape(scheme[copy], _SPEC_COPY, path, f"schemes[{i}].{copy}")


_SPEC_COPY = re.compile(rf"{re.escape(STATE_DIR)}/specs/{PLAIN_NAME.pattern}")  # apply's copies (compiler.apply.spec_copies)


def _expect_shape(value: str, shape: re.Pattern[str], path: str, key: str) -> None:
    """A scheme name (a folder of Schemes/) or a spec copy's path, as apply writes them: run acts on
    them (removes a stale lock, reads the site profile's commands), so nothing else may pass."""
    if not shape.fullmatch(value):
        raise DamagedFile(f"{shown(value)} is not a {'scheme name' if shape is PLAIN_NAME else 'copy apply made'}: "
                          "not a lockfile cryocc wrote", location=Location(path), key=key)


class DamagedLockfile(ProjectError):
    """cryocc.lock cannot be read (a bad merge, a truncated copy): rebuilt from the receipts."""


def read_lockfile(project: Path) -> Lockfile | None:
    """The project's lockfile (None when there is none). Not a file, or too big: an error; not a
    lockfile: DamagedLockfile, which plan and apply recover from."""
    path = project / LOCKFILE
    data = read_bytes(path, "lockfile")
    return None if data is None else Lockfile.from_text(data, str(path))


def write_lockfile(project: Path, lock: Lockfile) -> None:
    atomic_write(project / LOCKFILE, lock.to_text())
