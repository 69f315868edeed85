"""Parsed mdocs kept between runs: plan reads no mdoc whose size and mtime are unchanged, and re-parses
none whose content is unchanged (a touched mdoc costs one hash, once).

A user-level cache, not a project file: validate, plan and apply share it, and so does every project
over the same data. JSON files per mdoc directory in the user cache (fsio.user_cache). Written
atomically; a cache that cannot be read or written is simply not used. Bounded as the recipe
cache is (fsio.prune_cache). Each directory's entries are spread over SHARDS files by name, so that
an mdoc arriving in a directory of 10^3 rewrites the entries of its shard, not of every mdoc there.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

from ..fsio import atomic_write, prune_cache, use_cache_file, user_cache
from .infer import MdocInfo, read_mdoc, series_name

PARSER = 4  # bump when read_mdoc's results change: every cached entry is then parsed again
SHARDS = 64  # files per mdoc directory


class MdocCache:
    def __init__(self, base: Path | None = None) -> None:
        self.base = base or user_cache("mdoc")
        self.stores: dict[tuple[str, int], tuple[dict[str, Any], bool]] = {}  # (mdoc directory, shard) -> (entries, changed)
        self.hashes: dict[str, tuple[int, int, str]] = {}  # listing key -> (size, mtime_ns, sha256)

    def _file(self, where: tuple[str, int]) -> Path:
        return self.base / f"{hashlib.sha256(os.path.realpath(where[0]).encode()).hexdigest()[:20]}-{where[1]:02d}.json"

    def _entries(self, where: tuple[str, int]) -> dict[str, Any]:
        if where not in self.stores:
            try:
                doc = json.loads(self._file(where).read_text())
                entries = doc["entries"] if doc.get("parser") == PARSER else {}
                use_cache_file(self._file(where))  # in use: kept when the cache is pruned
            except (OSError, ValueError, KeyError, TypeError):
                entries = {}
            self.stores[where] = (entries, False)
        return self.stores[where][0]

    def read(self, key: str, path: str, stat: tuple[int, int]) -> MdocInfo:
        directory, name = os.path.split(path)
        where = (directory, zlib.crc32(name.encode()) % SHARDS)
        entries = self._entries(where)
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
        self.stores[where] = (entries, True)
        self.hashes[key] = (size, mtime, sha)
        return info

    def save(self) -> None:
        written = None
        for where, (entries, changed) in self.stores.items():
            if changed:
                try:
                    atomic_write(self._file(where), json.dumps({"parser": PARSER, "dir": os.path.realpath(where[0]),
                                                                "entries": entries}, separators=(",", ":")),
                                 durable=False)
                    written = self._file(where)
                except OSError:
                    pass  # an optimisation only
        if written is not None:
            prune_cache(self.base, written)
