"""The data files of a pipeline, in one pass over the file system.

Projects hold 10^4-10^5 frames on network file systems: each data directory is listed once
(os.scandir) and each matching file stat'ed once; the stat results also serve the fingerprints.
Paths stay strings relative to the pipeline's directory (joined by prefix, never os.path.relpath),
absolute only where the glob is.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, Location

Stat = tuple[int, int]  # (size, mtime_ns)


@dataclass
class Listing:
    """The data files of a pipeline: key (path relative to root) -> (size, mtime_ns)."""

    root: str  # the pipeline's directory, absolute
    frames: dict[str, Stat]
    mdocs: dict[str, Stat]
    unmatched: tuple[str, ...] = ()  # the globs that matched no file
    empty: tuple[str, ...] = ()  # frames of 0 bytes (still being copied): not among frames, so their tilt series waits

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
    """The files of a glob with wildcards in its directories, matched as glob.glob(recursive=True)
    matches them (symlinked directories followed, hidden names only by a component starting with '.'),
    in one walk that lists each directory once. A directory reached a second time (a symlink loop, or
    two links to one directory) is an error: glob would list it again and again (and never return)."""
    base, parts = _split(absolute(pattern, root))
    if not parts:
        return {}
    rel = os.path.relpath(base, root)
    out: dict[str, Stat] = {}
    try:
        seen = {_identity(base): "" if rel == "." else rel}
    except OSError:
        return out
    stack = [(base, "" if rel == "." else rel + "/", _closure(parts, {0}))]
    matchers: dict[frozenset[int], Callable[[str], bool]] = {}
    while stack:
        directory, prefix, states = stack.pop()
        if states not in matchers:
            matchers[states] = _file_matcher(parts, states)
        try:
            dirs = _files_and_dirs(directory, prefix, matchers[states], out)
        except OSError:
            continue  # unreadable or gone: glob passes over it too
        below = []
        for e in sorted(dirs, key=lambda e: e.name):  # in name order: the same walk, and the same messages, every time
            on = _below(parts, states, e.name)
            if not on:
                continue
            key = prefix + e.name
            try:
                st = e.stat()
            except OSError:
                continue
            first = seen.setdefault((st.st_dev, st.st_ino), key)
            if first != key:
                raise _loop_error(pattern, root, key, first)
            below.append((e.path, key + "/", on))
        stack.extend(reversed(below))  # depth first, in name order
    return out


def _files_and_dirs(directory: str, prefix: str, is_match: Callable[[str], bool], out: dict[str, Stat]) -> list[os.DirEntry[str]]:
    """One listing of directory: the matching files go to out (key -> stat), its directories are returned."""
    dirs = []
    with os.scandir(directory) as entries:
        for e in entries:
            try:
                if e.is_dir():
                    dirs.append(e)
                elif is_match(e.name) and e.is_file():
                    st = e.stat()
                    out[prefix + e.name] = (st.st_size, st.st_mtime_ns)
            except OSError:
                continue  # gone since listed
    return dirs


def _split(path: str) -> tuple[str, list[str]]:
    """An absolute glob as (the directory before its first wildcard, the components from there)."""
    parts = path.split("/")
    first = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts))
    return "/".join(parts[:first]) or "/", [p for p in parts[first:] if p]


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


@functools.lru_cache(maxsize=256)
def _component(part: str) -> Callable[[str], re.Match[str] | None]:
    return re.compile(fnmatch.translate(part)).match


def _closure(parts: list[str], states: set[int]) -> frozenset[int]:
    """The states (components still to match) a `**` lets through: it also matches no directory."""
    todo, out = list(states), set(states)
    while todo:
        i = todo.pop()
        if i < len(parts) and parts[i] == "**" and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return frozenset(out)


def _hidden_ok(part: str, name: str) -> bool:
    return name[0] != "." or part.startswith(".")  # as glob: hidden names only by a component that starts with '.'


def _below(parts: list[str], states: frozenset[int], name: str) -> frozenset[int]:
    """The states in the directory name (none: the glob matches nothing below it)."""
    on: set[int] = set()
    for i in states:
        if i >= len(parts) or not _hidden_ok(parts[i], name):
            continue
        if parts[i] == "**":
            on.add(i)
        elif i < len(parts) - 1 and _component(parts[i])(name):
            on.add(i + 1)
    return _closure(parts, on) if on else frozenset()


def _file_matcher(parts: list[str], states: frozenset[int]) -> Callable[[str], bool]:
    """Whether a file's name matches, in a directory of these states: by the last component, or by a
    trailing ** (which matches every file below it)."""
    last = len(parts) - 1
    tests = [(parts[i], None if parts[i] == "**" else _component(parts[i])) for i in sorted(states)
             if i == last or (i < last and all(p == "**" for p in parts[i:]))]
    if len(tests) == 1 and tests[0][1] is not None and not tests[0][0].startswith("."):  # the usual *.eer
        rx = tests[0][1]
        return lambda name: name[0] != "." and rx(name) is not None
    return lambda name: any(_hidden_ok(part, name) and (rx is None or rx(name)) for part, rx in tests)


def _loop_error(pattern: str, root: str, key: str, first: str) -> DataError:
    return DataError(f"{pattern} reaches the directory {first or '.'} a second time, as {key}: a symlink loop "
                     "(or two links to one directory) would list its files again and again",
                     location=Location(os.path.join(root, key)), key="data",
                     hint="remove or replace the link, or narrow the glob (e.g. no ** where links lead back up)")


def bound_dir(pattern: str, root: str) -> str:
    """The directory a glob searches below (drivers/_container.py binds it into containers)."""
    base, parts = _split(absolute(pattern, root))
    return base if parts else os.path.dirname(base)


def reaches(pattern: str, root: str, directory: str) -> bool:
    """Whether the glob can match a file inside directory (both resolved: links included)."""
    base, parts = _split(absolute(pattern, root))
    if not parts:
        return False
    base, target = os.path.realpath(base), os.path.realpath(directory)
    if target != base and not target.startswith(base.rstrip("/") + "/"):
        return False
    states = _closure(parts, {0})
    for name in filter(None, target[len(base):].split("/")):
        states = _below(parts, states, name)
    return any(i < len(parts) for i in states)


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
    """The files of every frame glob and every mdoc glob (a glob per session, say). A frame of 0 bytes
    is not there yet (a copy has created it, not filled it): set aside, so its tilt series waits, and
    the recipe cache, which knows frames by name, sees it arrive once it has a size."""
    unmatched: list[str] = []
    found = list_globs(frames, root, unmatched)
    empty = tuple(sorted(k for k, (size, _) in found.items() if size == 0))
    for key in empty:
        del found[key]
    return Listing(root, found, list_globs(mdocs, root, unmatched), tuple(unmatched), empty)
