"""The job as a driver sees it: the params document, the job directory, its inputs, and the tilt
series it records. Every driver and helper takes a `Context`; `_runtime` makes one per run. Standard
library only: it runs on every compute node."""

from __future__ import annotations

import collections
import os
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import ABORT_NOW, ITEM_LOGS, ArrayRun, DataSpec, Outcome, ParamsDoc, ReceiptItem
from ._container import command_line
from ._errors import Aborted, JobFailed, Terminated
from ._process import run_tool


@dataclass
class Context:
    job_dir: Path  # absolute
    project: Path  # absolute: RELION runs jobs from the project directory
    doc: ParamsDoc
    inputs: dict[str, Path]  # slot -> input file RELION passed (absolute)
    threads: int
    params_file: str | None = None  # the params document as RELION named it (--job): the receipt records it
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=30))
    tools_run: list[list[str]] = field(default_factory=list)
    items: dict[str, ReceiptItem] = field(default_factory=dict)  # tilt series -> {outcome, reason, fingerprint}
    kept_rows: list[dict[str, str]] = field(default_factory=list)  # an extension: the items_star rows it keeps
    seen: set[str] = field(default_factory=set)  # the tilt series to process that the input holds
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)  # tilt series -> what the tools measured (_quality)
    stopping: threading.Event = field(default_factory=threading.Event)  # set: every tool still running stops
    task: int | None = None  # an array task's number (drivers/_array.py); None: the job itself
    task_files: dict[str, str] = field(default_factory=dict)  # an array task's job-level files: name -> how to merge
    array: ArrayRun | None = None  # a supervisor's record of its arrays, for the receipt
    # what the job decided once over many tilt series, and every later run of it uses (an extension, every
    # array task): name -> {value, from: [tilt series]}; the receipt keeps it (ts_ctf's defocus handedness)
    decisions: dict[str, Any] = field(default_factory=dict)

    def item(self, name: str, outcome: str, reason: str = "") -> None:
        """Record what became of one tilt series: succeeded, failed (the tool failed on it), or
        filtered (left out by a rule the user set). Every item goes into the receipt, with the
        fingerprint the plan gave it, which is what lets a later plan keep it."""
        items = self.doc.get("items")
        fingerprint = (items.get("fingerprints") or {}).get(name) if items else None
        self.items[name] = ReceiptItem(outcome=outcome, reason=reason, fingerprint=fingerprint) if fingerprint \
            else ReceiptItem(outcome=outcome, reason=reason)

    def to_process(self, series: list[Any]) -> list[Any]:
        """The tilt series (records with .name, or dicts with "name") of the input that this run is to
        process: all of them, or for an extension only the new, changed and failed ones."""
        items = self.doc.get("items")
        todo = items.get("todo") if items else None
        chosen = [s for s in series if todo is None or _name(s) in todo]
        self.seen |= {_name(s) for s in chosen}
        return chosen

    @property
    def keep(self) -> set[str]:
        """An extension's tilt series kept as its earlier run left them (none for a whole run)."""
        items = self.doc.get("items")
        return set((items.get("keep") if items else None) or ())

    def failed_items(self) -> dict[str, str | None]:
        return {name: i["reason"] for name, i in self.items.items() if i["outcome"] == Outcome.FAILED}

    @property
    def params(self) -> dict[str, Any]:
        return self.doc["params"]

    @property
    def acq(self) -> dict[str, Any]:
        return self.doc["acquisition"]

    @property
    def data(self) -> DataSpec:
        """data: as a job type that reads the data gets it (JobType.reads_data)."""
        data = self.doc.get("data")
        if data is None:
            raise JobFailed(f"its params document gives job type {self.doc.get('type')} no data: (a cryocc bug: the type reads it)")
        return data

    def path(self, rel: str) -> Path:
        return self.job_dir / rel

    def job_name(self, name: str, merge: str | None = None) -> str:
        """The name, in the job directory, of a job-level file (a combined STAR file, settings, a tool's
        input list): the name itself, or for an array task its own copy beside it (same folder, so that
        relative paths in it still hold), <stem>.task<N><suffix>, which the supervisor merges:
        merge "rows" (data_global tables), "loop" (one loop of rows by tomogram), "table" (tab-separated,
        one header), "one" (identical in every task: one is kept), "" (the task's own: removed), or None:
        only read here (whoever writes it says how it merges)."""
        if self.task is None:
            return name
        if merge is not None and not self.task_files.get(name):
            self.task_files[name] = merge
        return task_copy(name, self.task)

    def job_file(self, name: str, merge: str | None = None) -> Path:
        return self.path(self.job_name(name, merge))

    def rel(self, path: Path) -> str:
        """A path as RELION and downstream jobs write it: relative to the project."""
        return os.path.relpath(path, self.project)

    def input(self, slot: str) -> Path:
        try:
            return self.inputs[slot]
        except KeyError:
            raise JobFailed(f"RELION passed no file for input '{slot}' ({self.doc['inputs'][slot]['flag']})") from None

    def input_dir(self, slot: str) -> Path:
        """The upstream job directory behind an input file."""
        return self.input(slot).parent

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.tail.append(line)

    def check_abort(self) -> None:
        if (self.job_dir / ABORT_NOW).exists():
            raise Aborted("RELION_JOB_ABORT_NOW found")

    def check_running(self) -> None:
        """Raises when the job is to stop: RELION_JOB_ABORT_NOW, or another tilt series' failure (for_each_item)."""
        self.check_abort()
        if self.stopping.is_set():
            raise Terminated("stopped with the job")

    def command(self, executable: str, args: list[str]) -> list[str]:
        return command_line(self.doc, self.project, executable, args)

    def run(self, executable: str, args: list[Any], *, cwd: Path | None = None, env: dict[str, str] | None = None,
            log: Path | None = None) -> str:
        """Run a tool, streaming its output to the job log (or to log: one tilt series' own); returns
        the output. Polls for abort, and for the job stopping (for_each_item)."""
        argv = self.command(executable, [str(a) for a in args])
        self.tools_run.append(argv)
        self.say(f"+ {shlex.join(argv)}" + (f"  (output in {self.rel(log)})" if log else ""))
        tool = self.doc.get("tool")
        full_env = {**os.environ, **((tool.get("env") if tool else None) or {}), **(env or {})}
        try:
            code, lines = run_tool(argv, cwd=cwd or self.job_dir, env=full_env, log=log, on_line=self.tail.append,
                                   check=self.check_running)
        except FileNotFoundError:
            raise JobFailed(f"{argv[0]}: command not found (check the site profile's tools and PATH)") from None
        if code and log is not None:  # the job log shows why, the item log has the rest
            self.say(f"--- last lines of {self.rel(log)} ---")
            for line in lines[-15:]:
                self.say(line.rstrip("\n"))
        if code == -9:  # SIGKILL: no tool sends it itself
            raise JobFailed(f"{executable} was killed by signal 9 (by the kernel's out-of-memory killer, a memory or "
                            "time limit of the site, or by hand: dmesg and the job's resources say which)")
        if code < 0:
            raise JobFailed(f"{executable} was killed by signal {-code}")
        if code != 0:
            raise JobFailed(f"{executable} exited with code {code}")
        return "".join(lines)


def task_copy(name: str, task: int) -> str:
    """An array task's own copy of a job-level file: <stem>.task<N><suffix>, beside it."""
    stem, dot, suffix = name.rpartition(".") if "." in name.rpartition("/")[2] else (name, "", "")
    return f"{stem}.task{task}{dot}{suffix}"


def item_log(ctx: Context, name: str) -> Path:
    return ctx.path(ITEM_LOGS) / f"{name}.log"


def _name(series: Any) -> str:
    return str(series["name"] if isinstance(series, dict) else series.name)


def input_list(ctx: Context, filename: str, paths: list[str]) -> str:
    """A WarpTools --input_data list: a .txt of one path per line, relative to the job directory the
    tool runs in (warp:WarpTools/Commands/BaseOptions.cs:113-119, 173)."""
    name = ctx.job_name(filename, "")
    ctx.path(name).write_text("".join(p + "\n" for p in paths))
    return name


def relink(link: Path, target: Path | str) -> None:
    """Point link at target, replacing what a previous run in this directory left there."""
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
