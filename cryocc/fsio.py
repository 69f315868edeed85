"""File writes that never leave a half-written file, confined to one project directory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from .errors import ProjectError


def _umask() -> int:
    """The process umask, not cached (a caller may change it). Read from /proc where it can be:
    setting it to read it would race with the threads of a driver starting tools."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _shared(directory: Path) -> bool:
    """A setgid directory: a facility's group project, where colleagues must be able to write too."""
    return bool(os.stat(directory).st_mode & stat.S_ISGID)


def file_mode(directory: Path) -> int:
    """The mode of a new file in directory: a plain open()'s (the umask), group-writable inside a
    setgid directory. Locks and state files get it too: a colleague must be able to take the lock."""
    return (0o666 & ~_umask()) | (0o060 if _shared(directory) else 0)


def touch(path: Path) -> None:
    """An empty marker file (a sentinel, a lock, RELION's flags), made with file_mode (a plain touch
    would leave a colleague in a group project unable to remove or replace it)."""
    os.close(_open_made(path, os.O_WRONLY))
    os.utime(path)  # now, as touch: an existing one is marked again


def open_append(path: Path) -> BinaryIO:
    """A log opened to append to, created with file_mode: a colleague's run appends to it too."""
    return os.fdopen(_open_made(path, os.O_WRONLY | os.O_APPEND), "ab")


def _open_made(path: Path, flags: int) -> int:
    """path opened with flags, made first if missing, with file_mode (open's mode is cut by the umask)."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return os.open(path, flags | os.O_CLOEXEC)
    os.fchmod(fd, file_mode(path.parent))
    return fd


def make_dirs(path: Path) -> None:
    """mkdir -p with the umask; group-writable inside a setgid directory."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        if _shared(d.parent):
            os.chmod(d, os.stat(d).st_mode | 0o070)


_CHUNK = 1 << 20  # characters encoded at a time by atomic_write


def atomic_write(path: Path, data: str | bytes | list[str], *, durable: bool = True) -> None:
    """Write to a temp file in the same directory, fsync (unless not durable: a cache, which may be
    lost in a crash but never half-written), then rename over the target. The file gets the mode a
    plain open() would (the umask), group-writable inside a setgid directory: mkstemp's 0600 would
    lock colleagues out of a shared project. A list is written part by part: a large document is
    not joined into one more copy of itself."""
    make_dirs(path.parent)
    parts = [data] if isinstance(data, (str, bytes)) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                if isinstance(part, bytes):
                    fh.write(part)
                    continue
                for i in range(0, len(part), _CHUNK):  # not a second whole copy, encoded
                    fh.write(part[i:i + _CHUNK].encode())
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(path.parent))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write names no file: name the target
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def inside(root: Path, relative: str | Path) -> Path:
    """Resolve a project-relative path, refusing anything that would land outside root."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise ProjectError(f"refusing to write outside the project: {relative}",
                           hint="a symlink under the project leads out of it: replace it by a directory of the project")
    return target


def project_root(project: Path) -> Path:
    """The project directory's real path; refuses what cannot be one (a file, a dangling symlink)."""
    if os.path.islink(project) and not project.exists():
        raise ProjectError(f"--project {project} is a symlink to {os.readlink(project)}, which does not exist",
                           hint="create the directory it points to, or give the real project directory")
    if project.exists() and not project.is_dir():
        raise ProjectError(f"--project {project} is not a directory", hint="give a directory (it is created if missing)")
    return project.resolve()


def refuse_escapes(root: Path, tops: list[str]) -> None:
    """Before a first write: no symlink at or under the project-relative paths tops (where cryocc
    writes and deletes) may lead outside root. Writes then cannot leave the project, and a refusal
    has touched nothing."""
    seen: set[Path] = set()  # real directories walked (a link may lead back up)
    stack = [root / top for top in tops]
    while stack:
        path = stack.pop()
        real = path.resolve()
        if os.path.islink(path) and real != root and root not in real.parents:
            raise ProjectError(f"refusing to write outside the project: {path.relative_to(root)} is a symlink to {real}",
                               hint="cryocc writes only inside the project: replace the link by a directory or file of the project")
        if real not in seen and path.is_dir():
            seen.add(real)
            stack.extend(path.iterdir())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def user_cache(kind: str) -> Path:
    """cryocc's user-level cache of one kind: under CRYOCC_CACHE, else $XDG_CACHE_HOME/cryocc, else ~/.cache/cryocc."""
    base = os.environ.get("CRYOCC_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cryocc")
    return Path(base) / kind


CACHE_DAYS = 30  # a cache file no plan used for this long goes
CACHE_BYTES = 512 << 20  # and, newest first, what a kind keeps at most (a 3,000-tilt-series pipeline: ~6 MB a file)


def use_cache_file(path: Path) -> None:
    """Mark a cache file used now (its mtime: atime is often off on cluster file systems), so that
    prune_cache keeps it; best effort."""
    try:
        os.utime(path)
    except OSError:
        pass


def prune_cache(directory: Path, keep: Path, days: float = CACHE_DAYS, limit: int = CACHE_BYTES) -> None:
    """Bound one kind of the user cache: the .json files of directory unused for `days`, then the least
    recently used beyond `limit` bytes, are removed; never keep. Best effort: a cache only saves time."""
    try:
        with os.scandir(directory) as it:
            entries = [(e.stat(follow_symlinks=False), e.path) for e in it
                       if e.name.endswith(".json") and e.is_file(follow_symlinks=False) and e.path != str(keep)]
    except OSError:
        return
    cutoff, total = time.time() - days * 86400, _size_of(keep)
    for st, path in sorted(entries, key=lambda e: -e[0].st_mtime):
        total += st.st_size
        if st.st_mtime < cutoff or total > limit:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
