"""Process control: run one tool in its own process group, stream its output, stop it and all it
started when the job stops; run tilt series side by side on threads that each wait on a tool."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

POLL_SECONDS = 0.2
KILL_GRACE_SECONDS = 5.0
T = TypeVar("T")


def run_tool(argv: list[str], *, cwd: Path, env: dict[str, str], log: Path | None,
             on_line: Callable[[str], None], check: Callable[[], None]) -> tuple[int, list[str]]:
    """Run argv to its end; returns its exit code and output lines. Its output goes to log, or to
    stdout (the job log) with on_line(line) for each. check() runs at every poll: what it raises
    (an abort, the job stopping) stops the tool and is raised here. FileNotFoundError: no such command."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc, lines, log, on_line), daemon=True)
    reader.start()
    try:
        while proc.poll() is None:
            check()
            time.sleep(POLL_SECONDS)
    except BaseException:
        stop(proc)
        raise
    reader.join(timeout=5)
    return proc.returncode, lines


def _pump(proc: subprocess.Popen[str], lines: list[str], log: Path | None, on_line: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") if log is not None else contextlib.nullcontext(sys.stdout) as out:
        for line in proc.stdout:
            lines.append(line)
            out.write(line)
            out.flush()
            if log is None:
                on_line(line.rstrip("\n"))


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop the tool and everything it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Stoppable(Protocol):
    stopping: threading.Event  # set: every tool still running stops


def for_each_item(ctx: Stoppable, items: list[T], work: Callable[[T], None], workers: int) -> None:
    """work(item) for each item, at most `workers` at once (threads, each waiting on its tool).
    work records a failure of its own item with ctx.item; anything it raises (abort, SIGTERM, a bug)
    stops the tools of the others and is raised here."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=workers)
    futures = [pool.submit(work, item) for item in items]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in done:
            f.result()
    except BaseException:
        ctx.stopping.set()
        raise
    finally:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True)


def gpu_ordinals() -> list[str]:
    """-g takes device ordinals as the process sees them (0..n-1 of CUDA_VISIBLE_DEVICES), not the
    node's device numbers: pytom refuses any index >= the visible device count (io.py:169-191)."""
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",") if d.strip()]
    return [str(i) for i in range(max(1, len(visible)))]


