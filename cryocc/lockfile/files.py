"""Input-file fingerprints that trust stat where stat can vouch.

Frames (10^4-10^5 per project, on network file systems) are never read: path + size + mtime
(`stat` mode) or path + size (`lenient` mode), from the one stat of the data listing. Small files
(mdocs, gain, templates, masks) are content-hashed, but only when their size or mtime changed since
the lockfile or the mdoc cache recorded them. Files are named by the listing's keys: paths relative
to the pipeline's directory.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from typing import Any

from ..errors import DataError
from ..fsio import sha256_file


def frame_fingerprint(size: int, mtime_ns: int, mode: str) -> str:
    return f"size:{size}" if mode == "lenient" else f"stat:{size}:{mtime_ns}"


class FileFingerprints:
    def __init__(self, mode: str = "stat", known: dict[str, dict[str, Any]] | None = None,
                 hashes: dict[str, tuple[int, int, str]] | None = None) -> None:
        self.mode = mode
        self.known = known or {}  # the lockfile's small files: key -> {size, mtime_ns, sha256}
        self.hashes = hashes or {}  # key -> (size, mtime_ns, sha256) vouched for by the mdoc cache
        self.small: dict[str, dict[str, Any]] = {}  # what this compile saw
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

    def fingerprint(self, entry: dict[str, Any] | tuple[int, int] | None) -> str | None:
        """The fingerprint of a recorded file: a small file's dict, or a frame's (size, mtime_ns)."""
        if entry is None:
            return None
        if isinstance(entry, dict):
            return "sha256:" + entry["sha256"] if entry.get("sha256") else frame_fingerprint(entry["size"], entry["mtime_ns"], self.mode)
        return frame_fingerprint(entry[0], entry[1], self.mode)
