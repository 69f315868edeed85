"""A pipeline's recipe kept between runs, so that plan and validate skip stage one: the YAML parser,
the spec models and the mdocs, which cost more than listing 10^5 frames.

One JSON file per pipeline (by its real path) in the user cache. The recipe stands while cryocc's
code is the same (its version and the stat of its modules), every file stage one read has the same
bytes and no site profile appeared where it would take precedence, the same mdocs are listed with
the same content (a touched mdoc costs one hash, once) and the same frames by name. Any doubt, and
stage one runs again. The file also remembers the hashes of the small files, so a validate without
a lockfile hashes no template twice, and the last data digests (compile._data_digest), which an
edit of the spec keeps: they are keyed by the data's stat alone. A cache that cannot be read or
written is simply not used. The cache is bounded (fsio.prune_cache): a file no plan used for 30 days
goes, and the least recently used beyond 512 MB.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..acquisition.listing import Listing
from ..fsio import atomic_write, prune_cache, sha256_file, use_cache_file, user_cache
from .recipe import Recipe

if TYPE_CHECKING:
    from ..lockfile.lockfile import FileRecord

FORMAT = 2  # 2: the scan cache's data record is its first line
DIGESTS_KEPT = 8  # memoised data digests: the current data and a few states back (an undo, a frame touched)
_PACKAGE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)  # the same in one process; asked by load, store and the scan cache's key
def code_id() -> str:
    """cryocc's version and the size and mtime of each of its modules: an edited checkout invalidates."""
    entries = [__version__]
    for d, subdirs, names in os.walk(_PACKAGE):
        subdirs[:] = sorted(s for s in subdirs if s != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                st = os.stat(os.path.join(d, name))
                entries.append(f"{os.path.relpath(d, _PACKAGE)}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def names_digest(keys: Iterable[str]) -> str:
    """The listed names in listing order: a directory's order is stable while it is unchanged, and a
    directory reordered with the same files only costs a stage one. No sort of 10^5 names."""
    return hashlib.sha256(marshal.dumps(list(keys), 2)).hexdigest()


def _same_file(path: str, sha: str | None) -> bool:
    if sha is None:
        return not os.path.isfile(path)
    try:
        return sha256_file(path) == sha
    except OSError:
        return False


def data_record(listing: Listing, mdoc_hashes: dict[str, tuple[int, int, str]]) -> dict[str, Any]:
    """What a cache keeps of the data it was made from: each mdoc read (size, mtime, sha256), those
    listed but left unread (data.exclude), and the frames' names."""
    return {"mdocs": {k: list(mdoc_hashes[k]) for k in sorted(listing.mdocs) if k in mdoc_hashes},
            "unread": sorted(k for k in listing.mdocs if k not in mdoc_hashes), "frames": names_digest(listing.frames)}


def same_data(record: dict[str, Any], listing: Listing) -> tuple[bool, bool]:
    """(the listing has the data of record: the same mdocs by content, the same frames by name;
    whether a touched mdoc's new mtime was written into record)."""
    mdocs = record["mdocs"]
    if listing.mdocs.keys() != {*mdocs, *record.get("unread", [])} or record["frames"] != names_digest(listing.frames):
        return False, False
    touched = False
    for key, old in mdocs.items():
        size, mtime = listing.mdocs[key]
        if (old[0], old[1]) != (size, mtime):
            if old[0] != size or sha256_file(listing.path(key)) != old[2]:
                return False, touched
            old[1] = mtime  # touched, not changed
            touched = True
    return True, touched


class ScanCache:
    """What the scan made of the data (the Dataset: mdocs read, acquisition inferred, tilt series
    matched to their frames), kept for an edit of the spec that leaves `data:` as it was: one JSON
    file per pipeline in the user cache, read only when the recipe cache cannot vouch. It stands while
    cryocc's code, the pipeline's directory, its `data:` section, whether the site runs tools in
    containers (which refuses some data paths) and the data (as the recipe cache checks it) are the
    same; only a scan without errors is kept."""

    def __init__(self, pipeline: Path) -> None:
        self.file = user_cache("scans") / (hashlib.sha256(os.path.realpath(pipeline).encode()).hexdigest()[:20] + ".json")

    @staticmethod
    def key(root: str, data: dict[str, Any], containers: bool) -> str:
        return hashlib.sha256(json.dumps([FORMAT, code_id(), root, data, containers], sort_keys=True).encode()).hexdigest()

    def load(self, key: str, listing: Listing) -> tuple[dict[str, Any], dict[str, tuple[int, int, str]]] | None:
        """(the Dataset as plain values, the mdocs' hashes) when kept under key for this listing's data.
        The file's first line is what the data is checked against, so data that changed costs that line
        only, not the Dataset (10^5 frame names) after it."""
        if listing.unmatched:
            return None  # a glob that matches nothing is the scan's error to say
        try:
            with self.file.open(encoding="utf-8") as f:
                head = json.loads(f.readline())
                if head.get("key") != key or not same_data(head, listing)[0]:
                    return None
                dataset = json.loads(f.read())
            use_cache_file(self.file)
            return dict(dataset), {k: (v[0], v[1], v[2]) for k, v in head["mdocs"].items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def store(self, key: str, dataset: dict[str, Any], listing: Listing, mdoc_hashes: dict[str, tuple[int, int, str]]) -> None:
        head = json.dumps({"key": key, **data_record(listing, mdoc_hashes)}, separators=(",", ":"))
        try:
            atomic_write(self.file, [head, "\n", json.dumps(dataset, separators=(",", ":"))], durable=False)
        except OSError:
            return  # an optimisation only
        prune_cache(self.file.parent, self.file)


class RecipeCache:
    def __init__(self, pipeline: Path) -> None:
        self.file = user_cache("recipes") / (hashlib.sha256(os.path.realpath(pipeline).encode()).hexdigest()[:20] + ".json")
        self.doc: dict[str, Any] = {}
        self.digests: dict[str, str] = {}  # quick hash of the data's stat -> data digest (compile._data_digest)
        self.changed = False

    @property
    def hashes(self) -> dict[str, tuple[int, int, str]]:
        """key -> (size, mtime_ns, sha256) of each mdoc and small file the cache vouches for."""
        return {k: tuple(v) for k, v in {**self.doc.get("files", {}), **self.doc.get("mdocs", {})}.items()}

    def load(self) -> Recipe | None:
        """The cached recipe if cryocc and every source file are as they were (the data is checked by `matches`)."""
        try:
            doc = json.loads(self.file.read_text())
            if doc.get("format") != FORMAT or doc.get("code") != code_id():
                return None
            # the data digests depend on the data alone (their keys hash its stat): an edited spec keeps them
            self.digests = {str(k): str(v) for k, v in dict(doc.get("digests", {})).items()}
            recipe = Recipe.from_json(doc["recipe"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not all(_same_file(path, sha) for path, sha in recipe.sources.items()):
            return None
        self.doc = doc
        use_cache_file(self.file)  # in use: kept when the cache is pruned
        return recipe

    def matches(self, listing: Listing) -> bool:
        """The same mdocs (by content) and the same frames (by name) as when the recipe was made."""
        same, touched = same_data(self.doc, listing)
        self.changed |= touched
        return same

    def store(self, recipe: Recipe, listing: Listing, mdoc_hashes: dict[str, tuple[int, int, str]]) -> None:
        self.doc = {"format": FORMAT, "code": code_id(), "recipe": recipe.to_json(), **data_record(listing, mdoc_hashes), "files": {}}
        self.changed = True

    def remember(self, small: dict[str, FileRecord]) -> None:
        """The hashes of the small files (not mdocs) this compile computed or confirmed."""
        files = {k: [e["size"], e["mtime_ns"], e["sha256"]] for k, e in small.items() if k not in self.doc["mdocs"]}
        if files != self.doc["files"]:
            self.doc["files"] = files
            self.changed = True

    def save(self) -> None:
        digests = dict(list(self.digests.items())[-DIGESTS_KEPT:])
        if digests != self.doc.get("digests"):
            self.doc["digests"] = digests
            self.changed = True
        if self.changed:
            try:
                atomic_write(self.file, json.dumps(self.doc, separators=(",", ":")), durable=False)
            except OSError:
                return  # an optimisation only
            prune_cache(self.file.parent, self.file)
