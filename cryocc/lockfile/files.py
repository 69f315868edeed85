"""Input-file fingerprints that trust stat where stat can vouch.

Frames (10^4-10^5 per project, on network file systems) are never read: path + size + mtime
(`stat` mode) or path + size (`lenient` mode). Small files (mdocs, gain, templates, masks) are
content-hashed, but only when their size or mtime changed since the lockfile recorded them.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import DataError
from ..fsio import sha256_file


class FileFingerprints:
    def __init__(self, mode: str = "stat", known: dict[str, dict[str, Any]] | None = None) -> None:
        self.mode = mode
        self.known = known or {}
        self.seen: dict[str, dict[str, Any]] = {}

    def __call__(self, path: str, kind: str) -> str:
        entry = self.seen.get(path)
        if entry is None:
            entry = self.seen[path] = self._entry(path, kind)
        return self.fingerprint(entry)

    def _entry(self, path: str, kind: str) -> dict[str, Any]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DataError(f"input file not found: {path}", hint="was it moved or deleted?") from None
        entry: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if kind == "small":
            old = self.known.get(path)
            if old and old.get("sha256") and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
                entry["sha256"] = old["sha256"]
            else:
                entry["sha256"] = sha256_file(path)
        return entry

    def fingerprint(self, entry: dict[str, Any]) -> str:
        if "sha256" in entry:
            return "sha256:" + entry["sha256"]
        if self.mode == "lenient":
            return f"size:{entry['size']}"
        return f"stat:{entry['size']}:{entry['mtime_ns']}"
