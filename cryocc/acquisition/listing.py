"""The data files of a pipeline, in one pass over the file system.

Projects hold 10^4-10^5 frames on network file systems: each data directory is listed once
(os.scandir) and each matching file stat'ed once; the stat results also serve the fingerprints.
Paths stay strings relative to the pipeline's directory (joined by prefix, never os.path.relpath),
absolute only where the glob is.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

Stat = tuple[int, int]  # (size, mtime_ns)


@dataclass
class Listing:
    """The data files of a pipeline: key (path relative to root) -> (size, mtime_ns)."""

    root: str  # the pipeline's directory, absolute
    frames: dict[str, Stat]
    mdocs: dict[str, Stat]
    unmatched: tuple[str, ...] = ()  # the globs that matched no file

    def path(self, key: str) -> str:
        return os.path.normpath(os.path.join(self.root, key))


def absolute(pattern: str, root: Path | str) -> str:
    """A glob or path relative to the pipeline's directory, made absolute and normalised."""
    return os.path.normpath(pattern if os.path.isabs(pattern) else os.path.join(root, pattern))


def list_files(pattern: str, root: str) -> dict[str, Stat]:
    """The files matching a glob (as glob.glob matches: hidden files only by a pattern starting with
    '.'), each stat'ed once, keyed relative to root. A plain directory with a pattern of names is
    listed with scandir; anything else goes through glob."""
    head, tail = os.path.split(absolute(pattern, root))
    if glob.has_magic(head) or "**" in tail or not tail:
        return _by_glob(pattern, root)
    match = re.compile(fnmatch.translate(tail)).match
    hidden = tail.startswith(".")
    rel = os.path.relpath(head, root)  # once per directory
    prefix = "" if rel == "." else rel + "/"
    out: dict[str, Stat] = {}
    try:
        with os.scandir(head) as entries:
            for e in entries:
                name = e.name
                if (hidden or name[0] != ".") and match(name) and e.is_file():
                    st = e.stat()
                    out[prefix + name] = (st.st_size, st.st_mtime_ns)
    except (FileNotFoundError, NotADirectoryError):
        pass
    return out


def _by_glob(pattern: str, root: str) -> dict[str, Stat]:
    rel: dict[str, str] = {}  # directory -> its path relative to root
    out: dict[str, Stat] = {}
    for p in glob.iglob(absolute(pattern, root), recursive=True):
        try:
            st = os.stat(p)
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o100000:  # a regular file (glob follows links, so does stat)
            head, name = os.path.split(p)
            if head not in rel:
                rel[head] = os.path.relpath(head, root)
            out[name if rel[head] == "." else rel[head] + "/" + name] = (st.st_size, st.st_mtime_ns)
    return out


def list_globs(patterns: list[str], root: str, unmatched: list[str]) -> dict[str, Stat]:
    """The files of every glob; the globs that match none are added to unmatched."""
    out: dict[str, Stat] = {}
    for pattern in patterns:
        found = list_files(pattern, root)
        if not found:
            unmatched.append(pattern)
        out.update(found)
    return out


def list_data(root: str, frames: list[str], mdocs: list[str]) -> Listing:
    """The files of every frame glob and every mdoc glob (a glob per session, say)."""
    unmatched: list[str] = []
    return Listing(root, list_globs(frames, root, unmatched), list_globs(mdocs, root, unmatched), tuple(unmatched))
