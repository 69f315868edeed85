"""Fingerprints: a hash of everything that changes a job's results, and every rule that makes one.

A job's fingerprint is a hash of its named parts (job_parts), in canonical JSON. Input files trust
stat where stat can vouch: frames (10^4-10^5 per project, on network file systems) are never read: path + size + mtime
(`stat` mode) or path + size (`lenient` mode), from the one stat of the data listing. Small files
(mdocs, gain, templates, masks) are content-hashed, but only when their size or mtime changed since
the lockfile or the mdoc cache recorded them. Files are named by the listing's keys: paths relative
to the pipeline's directory.

A per-tilt-series job also has one item fingerprint per tilt series: its recipe fingerprint (the
job without the data) with that tilt series' own files (series_fingerprints, item_fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from typing import TYPE_CHECKING, Any

from ..contract import FINGERPRINT_VERSION
from ..errors import DataError
from ..fsio import sha256_file
from ..lockfile.lockfile import FileRecord

if TYPE_CHECKING:
    from ..acquisition.listing import Listing
    from .recipe import Recipe



def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def job_parts(*, job_type: str, type_version: int, params: dict[str, Any], acquisition: dict[str, Any],
              inputs: dict[str, str], data: str | None, upstream: dict[str, str],
              exclude_tilts: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """The named parts a job's fingerprint is made of, kept in the lockfile so plan can explain a change.
    exclude_tilts (the job that leaves them out): tilt series -> the ZValues it leaves out; a part only
    when some are, so that no other fingerprint changes."""
    return {**({"exclude_tilts": exclude_tilts} if exclude_tilts else {}),
        "recipe": FINGERPRINT_VERSION,
        "type": job_type,
        "type_version": type_version,
        "params": params,
        "acquisition": acquisition,
        "inputs": inputs,  # input file named by a param -> its fingerprint
        "data": data,  # digest over the fingerprints of every frame, mdoc and gain file (jobs that read data:)
        "upstream": upstream,  # slot -> upstream job's fingerprint
    }


def job_fingerprint(parts: dict[str, Any]) -> str:
    return digest(parts)


def frame_fingerprint(size: int, mtime_ns: int, mode: str) -> str:
    return f"size:{size}" if mode == "lenient" else f"stat:{size}:{mtime_ns}"


class FileFingerprints:
    def __init__(self, mode: str = "stat", known: dict[str, FileRecord] | None = None,
                 hashes: dict[str, tuple[int, int, str]] | None = None) -> None:
        self.mode = mode
        self.known = known or {}  # the lockfile's small files: key -> {size, mtime_ns, sha256}
        self.hashes = hashes or {}  # key -> (size, mtime_ns, sha256) vouched for by the mdoc cache
        self.small: dict[str, FileRecord] = {}  # what this compile saw
        self._listing: dict[str, tuple[int, int]] = {}
        self._used: list[str] = []  # the frames the data-reading jobs read

    def small_file(self, key: str, path: str, stat: tuple[int, int] | None = None) -> str:
        """sha256:<hex> of a small file, read only if neither the lockfile nor the cache vouch for it.
        stat: (size, mtime_ns) if the listing has it already."""
        entry = self.small.get(key)
        if entry is None:
            if stat is None:
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    raise DataError(f"input file not found: {path}", hint="was it moved or deleted?") from None
                stat = st.st_size, st.st_mtime_ns
            size, mtime = stat
            old = self.known.get(key)
            cached = self.hashes.get(key)
            if old and old.get("sha256") and (old["size"], old["mtime_ns"]) == (size, mtime):
                sha = old["sha256"]
            elif cached and cached[:2] == (size, mtime):
                sha = cached[2]
            else:
                sha = sha256_file(path)
            entry = self.small[key] = {"size": size, "mtime_ns": mtime, "sha256": sha}
        return "sha256:" + str(entry["sha256"])

    def use_frames(self, listing: dict[str, tuple[int, int]], keys: list[str]) -> None:
        """The frames the data-reading jobs read, stat'ed by the listing."""
        self._listing, self._used = listing, keys

    @property
    def frames(self) -> dict[str, tuple[int, int]]:
        """key -> (size, mtime_ns) of every frame used: the lockfile's frame map, built only when asked for."""
        return {k: self._listing[k] for k in self._used}

    def frame_fingerprints(self) -> dict[str, str]:
        if self.mode == "lenient":
            return {k: f"size:{s}" for k in self._used for s, _ in (self._listing[k],)}
        return {k: f"stat:{s}:{m}" for k in self._used for s, m in (self._listing[k],)}

    def frames_stat_digest(self) -> str:
        """A hash of the frames used and of the listing that stat'ed them, serialised in one C call:
        when it is equal, so are frame_fingerprints(), which cost more to format than listing the
        frames (10^5 a project, on every plan). marshal version 2 writes no back-references, so equal
        listings in equal order give equal bytes."""
        h = hashlib.sha256("\n".join(self._used).encode())
        h.update(marshal.dumps(self._listing, 2))
        return h.hexdigest()

    def fingerprint(self, entry: FileRecord | tuple[int, int] | None) -> str | None:
        """The fingerprint of a recorded file: a small file's dict, or a frame's (size, mtime_ns)."""
        if entry is None:
            return None
        if isinstance(entry, dict):
            return "sha256:" + entry["sha256"] if entry.get("sha256") else frame_fingerprint(entry["size"], entry["mtime_ns"], self.mode)
        return frame_fingerprint(entry[0], entry[1], self.mode)


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


def data_digest(recipe: Recipe, listing: Listing, files: FileFingerprints, memo: dict[str, str]) -> str:
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
