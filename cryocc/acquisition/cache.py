"""Parsed mdocs kept between runs: plan reads no mdoc whose size and mtime are unchanged, and re-parses
none whose content is unchanged (a touched mdoc costs one hash, once).

A user-level cache, not a project file: validate, plan and apply share it, and so does every project
over the same data. One JSON file per mdoc directory in the user cache (fsio.user_cache). Written
atomically; a cache that cannot be read or written is simply not used. Bounded as the recipe
cache is (fsio.prune_cache).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..fsio import atomic_write, prune_cache, use_cache_file, user_cache
from .infer import MdocInfo, read_mdoc, series_name

PARSER = 4  # bump when read_mdoc's results change: every cached entry is then parsed again


class MdocCache:
    def __init__(self, base: Path | None = None) -> None:
        self.base = base or user_cache("mdoc")
        self.stores: dict[str, tuple[dict[str, Any], bool]] = {}  # mdoc directory -> (entries, changed)
        self.hashes: dict[str, tuple[int, int, str]] = {}  # listing key -> (size, mtime_ns, sha256)

    def _file(self, directory: str) -> Path:
        return self.base / (hashlib.sha256(os.path.realpath(directory).encode()).hexdigest()[:20] + ".json")

    def _entries(self, directory: str) -> dict[str, Any]:
        if directory not in self.stores:
            try:
                doc = json.loads(self._file(directory).read_text())
                entries = doc["entries"] if doc.get("parser") == PARSER else {}
                use_cache_file(self._file(directory))  # in use: kept when the cache is pruned
            except (OSError, ValueError, KeyError, TypeError):
                entries = {}
            self.stores[directory] = (entries, False)
        return self.stores[directory][0]

    def read(self, key: str, path: str, stat: tuple[int, int]) -> MdocInfo:
        directory, name = os.path.split(path)
        entries = self._entries(directory)
        size, mtime = stat
        entry = entries.get(name)
        if entry and entry[0] == size and entry[1] == mtime:
            self.hashes[key] = (size, mtime, entry[2])
            return MdocInfo.from_cache(entry[3], path, series_name(path), key)
        try:
            data = Path(path).read_bytes()  # read once: hashed, and parsed if it changed
        except OSError:
            data = None  # read_mdoc says why
        sha = hashlib.sha256(data or b"").hexdigest()
        if entry and data is not None and entry[0] == size and entry[2] == sha:  # touched, not changed
            info = MdocInfo.from_cache(entry[3], path, series_name(path), key)
        else:
            info = read_mdoc(Path(path), key, data)
        entries[name] = [size, mtime, sha, info.to_cache()]
        self.stores[directory] = (entries, True)
        self.hashes[key] = (size, mtime, sha)
        return info

    def save(self) -> None:
        written = None
        for directory, (entries, changed) in self.stores.items():
            if changed:
                try:
                    atomic_write(self._file(directory), json.dumps({"parser": PARSER, "dir": os.path.realpath(directory),
                                                                    "entries": entries}, separators=(",", ":")),
                                 durable=False)
                    written = self._file(directory)
                except OSError:
                    pass  # an optimisation only
        if written is not None:
            prune_cache(self.base, written)
