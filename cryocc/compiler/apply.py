"""Write the project: under a project lock, atomic writes, scheme.star next to last, lockfile last.
Where the scheme goes (a new number, or one never started again) is decided here too.

A crash between any two writes leaves the project as before (the lockfile still describes the
last complete apply; files already written are content-addressed or belong to a scheme no
lockfile names) and the next apply converges to the same project as an uninterrupted one."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..acquisition.listing import reaches
from ..contract import DAMAGED_DIR, FRAMES_DIR, SCHEMES_DIR, SPECS_DIR, STATE_DIR, scheme_dir
from ..errors import Location, ProjectError
from ..fsio import atomic_write, inside, project_root, refuse_escapes, sha256_bytes
from ..lockfile.lockfile import LOCKFILE, Lockfile, write_lockfile
from ..observe.project import JobState, Project
from .compile import Compiled
from .lockfile_build import frame_map, new_lockfile
from .plan import Plan
from .render import render_files
from .results import Results

SCHEME_PREFIX = "cryocc_"


def spec_copies(compiled: Compiled) -> dict[str, tuple[str, str]]:
    """{"pipeline": path, "site": path} -> (project-relative path, text), content-addressed so that
    writing them never changes what an earlier scheme names."""
    out: dict[str, tuple[str, str]] = {}
    for what, source in (("pipeline", compiled.recipe.path), ("site", compiled.recipe.site_path)):
        text = Path(source).read_text()
        out[what] = (f"{SPECS_DIR}/{what}-{sha256_bytes(text.encode())[:16]}.yaml", text)
    return out


@dataclass
class ApplyResult:
    plan: Plan
    summary: dict[str, Any]  # what the data looked like (Recipe.summary)
    scheme: str | None  # the scheme to run; None when nothing runs
    written: list[str]
    noop: bool


def _before_write(path: str) -> None:
    """Test hook: tests replace it to simulate a crash between two writes."""


def existing_schemes(project: Path) -> list[str]:
    d = project / SCHEMES_DIR
    return sorted(p.name for p in d.glob(f"{SCHEME_PREFIX}[0-9]*") if p.is_dir()) if d.is_dir() else []


def _identical(project: Path, files: dict[str, str]) -> bool:
    try:
        return all((project / rel).read_bytes() == text.encode() for rel, text in files.items())
    except OSError:
        return False


def _pick_scheme(project: Path, old: Lockfile | None, compiled: Compiled, plan: Plan) -> tuple[str, bool]:
    """(scheme name, already there). A scheme never started is reused: as is when the lockfile
    names it and it holds exactly this plan (no-op), overwritten when no lockfile names it (an
    apply that crashed before its lockfile). Otherwise the next number."""
    schemes = existing_schemes(project)
    recorded = {s["name"] for s in old.schemes} if old else set()
    if schemes and not Project(project).scheme_started(schemes[-1]):
        last = schemes[-1]
        if last not in recorded:
            return last, False
        if _identical(project, render_files(compiled, plan, last)):
            return last, True
    number = int(schemes[-1][len(SCHEME_PREFIX):]) + 1 if schemes else 1
    return f"{SCHEME_PREFIX}{number:03d}", False


def _clear_unrecorded(project: Path, scheme: str, keep: list[str]) -> None:
    """Job templates a crashed apply left in a scheme no lockfile names (cryocc's own files only)."""
    d = project / scheme_dir(scheme)
    for sub in d.iterdir() if d.is_dir() else ():
        star = sub / "job.star"
        if sub.is_dir() and sub.name not in keep and star.is_file():
            star.unlink()
            if not any(sub.iterdir()):
                sub.rmdir()


def write_apply(project: Path, compiled: Compiled, plan: Plan, old: Lockfile | None, states: dict[str, JobState],
                results: Results) -> ApplyResult:
    """Carry out a plan under the project lock: the job files and the scheme of the jobs to run, then
    the lockfile; when nothing runs, only the lockfile (if what it records changed)."""
    frames, frames_body = frame_map(compiled)
    if not plan.to_run:
        lock = new_lockfile(compiled, plan, old, states, None, {}, frames)
        changed = old is None or lock.to_text() != old.to_text()
        if changed:
            _remove_stale_temps(project)
            _write_frame_map(project, frames, frames_body)
            _write_lock(project, lock, old, results)
            _prune_frame_maps(project, frames)
        return ApplyResult(plan, compiled.recipe.summary, None, [LOCKFILE] if changed else [], noop=True)
    scheme, already = _pick_scheme(project, old, compiled, plan)
    if already:
        return ApplyResult(plan, compiled.recipe.summary, scheme, [], noop=True)
    _remove_stale_temps(project)
    _clear_unrecorded(project, scheme, plan.to_run)
    copies = spec_copies(compiled)
    files = {
        **{path: text for path, text in copies.values() if not (project / path).is_file()},
        **({} if (project / frames).is_file() else {frames: frames_body}),
        **render_files(compiled, plan, scheme),
    }
    lock = new_lockfile(compiled, plan, old, states, scheme, files, frames, {k: path for k, (path, _) in copies.items()})
    written = []
    for rel, text in files.items():
        _before_write(rel)
        atomic_write(inside(project, rel), text)
        written.append(rel)
    _write_lock(project, lock, old, results)
    written.append(LOCKFILE)
    _prune_frame_maps(project, frames)
    return ApplyResult(plan, compiled.recipe.summary, scheme, written, noop=False)


def confine(project: Path, compiled: Compiled) -> None:
    """Refuse, before anything is written, a project whose writes could leave it or land among the data."""
    root = project_root(project)
    listing = compiled.listing
    heads = {k.rpartition("/")[0] for files in (listing.frames, listing.mdocs) for k in files}  # keys, not paths: 10^5 frames
    data_dirs = {listing.path(h or ".") for h in heads}
    if compiled.recipe.data.get("gain"):
        data_dirs.add(os.path.dirname(compiled.recipe.data["gain"]))
    for d in sorted({Path(d).resolve() for d in data_dirs}):
        if root == d or d in root.parents:
            raise ProjectError(f"--project {project} is {'the' if root == d else 'inside the'} data directory {d}",
                               hint="put the project beside the data, not in it: cryocc and RELION write thousands of files there")
    recipe = compiled.recipe
    for what in ("frames", "mdocs"):
        for pattern in recipe.data[what]:
            if reaches(pattern, recipe.root, str(root)):
                raise ProjectError(f"--project {project} is within the reach of the data glob {os.path.relpath(pattern, recipe.root)}",
                                   location=Location(recipe.path), key=f"data.{what}",
                                   hint="put the project beside the data, or narrow the glob so it cannot match files in the "
                                        "project: the import job's links to the frames would be taken for frames")
    if ("," in str(root) or ":" in str(root)) and any((job.tool or {}).get("image") for job in recipe.jobs.values()):
        raise ProjectError(f"--project {root} holds , or :, which apptainer's -B would split",
                           hint="the site runs tools in containers, with the project bound in: use a path without , or :")
    refuse_escapes(root, [STATE_DIR, SCHEMES_DIR, LOCKFILE])


def _write_frame_map(project: Path, rel: str, text: str) -> None:
    if not (project / rel).is_file():  # named by its content: one that exists is this one
        _before_write(rel)
        atomic_write(inside(project, rel), text)


STALE_TEMP = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")  # what atomic_write leaves when killed mid-write


def _remove_stale_temps(project: Path) -> None:
    """Temp files an apply killed mid-write left behind, where apply writes (under the project lock,
    so none of them is being written)."""
    places = [(project, False), (project / STATE_DIR, True)] + [(d, True) for d in (project / SCHEMES_DIR).glob(f"{SCHEME_PREFIX}*")]
    for top, deep in places:
        for path in (top.rglob(".*.tmp") if deep else top.glob(".*.tmp")):
            if STALE_TEMP.fullmatch(path.name) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)


def _prune_frame_maps(project: Path, keep: str) -> None:
    """Frame maps the lockfile no longer names (one per data state, 10^5 lines each): only the
    lockfile's is ever read."""
    for path in (project / FRAMES_DIR).glob("*.tsv"):
        if path != project / keep:
            path.unlink(missing_ok=True)


def _write_lock(project: Path, lock: Lockfile, old: Lockfile | None, results: Results) -> None:
    """The last writes of an apply: the results index, then the lockfile. A lockfile that is there
    but could not be read (old is None) is damaged: it is kept, named by its content, first."""
    if old is None and (project / LOCKFILE).is_file():
        data = (project / LOCKFILE).read_bytes()
        atomic_write(inside(project, f"{DAMAGED_DIR}/cryocc.lock.{sha256_bytes(data)[:16]}"), data)
    results.save()
    _before_write("cryocc.lock")
    write_lockfile(project, lock)
