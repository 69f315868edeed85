"""The project's apply mutex: one apply (or gc --yes) at a time, and who holds it. Its own small module, so
that gc takes it without importing the write side of the compiler."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..contract import APPLY_MUTEX, STATE_DIR
from ..errors import ProjectError
from ..fsio import atomic_write, file_mode, make_dirs


@contextmanager
def apply_mutex(project: Path, timeout: float = 0) -> Iterator[None]:
    """One apply at a time; the second waits up to timeout seconds, then is told who holds the lock."""
    import socket

    from filelock import FileLock, Timeout

    make_dirs(project / STATE_DIR)
    owner = project / STATE_DIR / "apply.owner"
    lock = FileLock(str(project / APPLY_MUTEX), timeout=timeout, mode=file_mode(project / STATE_DIR))
    try:
        lock.acquire()
    except Timeout:
        who = owner.read_text().strip() if owner.exists() else "another cryocc process"
        waited = f" (waited {timeout:g} s)" if timeout else ""
        raise ProjectError(f"project {project} is locked by {who}{waited}",
                           hint="wait for that apply to finish, or pass --lock-timeout SECONDS to wait for it; "
                                "the lock is released when its process ends") from None
    try:
        atomic_write(owner, f"cryocc apply, pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n",
                     durable=False)  # who holds it, for the message: nothing to keep
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()
