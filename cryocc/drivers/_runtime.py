"""The driver contract, shared by every job type.

RELION runs `cryocc_relion_driver --job <params.json> --o External/jobNNN/ [--in_mics F ...]
--j N [--pipeline_control DIR]` on the compute node, from the project directory. Whatever
happens, the job directory ends with exactly one sentinel: RELION_JOB_EXIT_SUCCESS only after
every promised output exists and is non-empty (a tool's exit code 0 is not enough),
RELION_JOB_EXIT_ABORTED after RELION_JOB_ABORT_NOW appeared, RELION_JOB_EXIT_FAILURE otherwise.
A receipt (cryocc_receipt.json) is written just before the sentinel. This module imports
nothing heavy: it runs on every compute node for every job.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import ABORT_NOW, ABORTED, FAILURE, INPUT_FLAGS, ITEM_LOGS, LOG_TAIL_MARK, SUCCESS, Outcome, ReceiptStatus
from ._container import command_line
from ._errors import Aborted, JobFailed, PartialFailure, Terminated, items_failed
from ._process import run_tool
from ._receipt import check_outputs, write_receipt, write_sentinel


@dataclass
class Context:
    job_dir: Path  # absolute
    project: Path  # absolute: RELION runs jobs from the project directory
    doc: dict[str, Any]
    inputs: dict[str, Path]  # slot -> input file RELION passed (absolute)
    threads: int
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=30))
    tools_run: list[list[str]] = field(default_factory=list)
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # tilt series -> {outcome, reason, fingerprint}
    kept_rows: list[dict[str, str]] = field(default_factory=list)  # an extension: the items_star rows it keeps
    seen: set[str] = field(default_factory=set)  # the tilt series to process that the input holds
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)  # tilt series -> what the tools measured (_quality)
    stopping: threading.Event = field(default_factory=threading.Event)  # set: every tool still running stops
    task: int | None = None  # an array task's number (drivers/_array.py); None: the job itself
    task_files: dict[str, str] = field(default_factory=dict)  # an array task's job-level files: name -> how to merge
    array: dict[str, Any] | None = None  # a supervisor's record of its arrays, for the receipt
    # what the job decided once over many tilt series, and every later run of it uses (an extension, every
    # array task): name -> {value, from: [tilt series]}; the receipt keeps it (ts_ctf's defocus handedness)
    decisions: dict[str, Any] = field(default_factory=dict)

    def item(self, name: str, outcome: str, reason: str = "") -> None:
        """Record what became of one tilt series: succeeded, failed (the tool failed on it), or
        filtered (left out by a rule the user set). Every item goes into the receipt, with the
        fingerprint the plan gave it, which is what lets a later plan keep it."""
        record = {"outcome": outcome, "reason": reason}
        fingerprint = ((self.doc.get("items") or {}).get("fingerprints") or {}).get(name)
        self.items[name] = {**record, "fingerprint": fingerprint} if fingerprint else record

    def to_process(self, series: list[Any]) -> list[Any]:
        """The tilt series (records with .name, or dicts with "name") of the input that this run is to
        process: all of them, or for an extension only the new, changed and failed ones."""
        todo = (self.doc.get("items") or {}).get("todo")
        chosen = [s for s in series if todo is None or _name(s) in todo]
        self.seen |= {_name(s) for s in chosen}
        return chosen

    @property
    def keep(self) -> set[str]:
        """An extension's tilt series kept as its earlier run left them (none for a whole run)."""
        return set((self.doc.get("items") or {}).get("keep") or ())

    def failed_items(self) -> dict[str, str]:
        return {name: i["reason"] for name, i in self.items.items() if i["outcome"] == Outcome.FAILED}

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.doc["params"]
        return params

    @property
    def acq(self) -> dict[str, Any]:
        acq: dict[str, Any] = self.doc["acquisition"]
        return acq

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
        full_env = {**os.environ, **((self.doc.get("tool") or {}).get("env") or {}), **(env or {})}
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

    # --- running a tool ---------------------------------------------------------------------



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


# --- entry point --------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(prog="cryocc_relion_driver", description="Run one cryocc job (called by RELION).")
    ap.add_argument("--job", required=True, help="resolved-params file written by cryocc apply")
    ap.add_argument("--o", required=True, help="job directory (External/jobNNN/)")
    for flag in INPUT_FLAGS.values():
        ap.add_argument(flag, default=None)
    ap.add_argument("--j", type=int, default=1, help="threads")
    ap.add_argument("--pipeline_control", default=None, help="added by RELION for commands containing relion_")
    ap.add_argument("--task-base", type=int, default=None,
                    help="run as array task base + $SLURM_ARRAY_TASK_ID of the job's manifest (given by its supervisor)")
    return ap.parse_known_args(argv)


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(f"terminated by signal {signal.Signals(signum).name} (scancel, wall time or a user)")


def main(argv: list[str] | None = None, run_job: Callable[[Context], None] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parse_args(argv)
    if args.task_base is not None:
        return task_main(args, run_job)
    job_dir = Path(args.o).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_terminated)
    ctx: Context | None = None
    try:
        doc = json.loads(Path(args.job).read_text())
        doc["_path"] = args.job
        inputs = {}
        by_option = {spec["option"]: slot for slot, spec in doc["inputs"].items()}
        for option, flag in INPUT_FLAGS.items():
            value = getattr(args, flag[2:])
            if value and option in by_option:
                inputs[by_option[option]] = Path(value).resolve()
        ctx = Context(job_dir=job_dir, project=Path.cwd().resolve(), doc=doc, inputs=inputs, threads=args.j)
        ctx.say(f"cryocc driver: job {doc['job']} ({doc['type']}) in {ctx.rel(job_dir)}/, fingerprint {doc['fingerprint'][:12]}")
        if extra:
            ctx.say(f"note: ignoring arguments {shlex.join(extra)}")
        for slot, path in inputs.items():
            if not path.exists():
                raise JobFailed(f"input '{slot}' does not exist: {ctx.rel(path)}")
        from . import _items

        _items.start(ctx, started)
        if run_job is None:
            from . import driver_for

            run_job = driver_for(doc["type"])
        if _items.nothing_to_do(ctx):
            pass
        elif doc.get("array"):
            from . import _array

            _array.supervise(ctx, _array.own_argv(argv))
        else:
            run_job(ctx)
            from . import _quality

            _quality.collect(ctx)
        ctx.check_abort()
        _items.end(ctx)
        failed = ctx.failed_items()
        if failed and doc.get("on_item_failure", "stop") == "stop":
            raise PartialFailure(f"{items_failed(failed, len(ctx.items))}; on_item_failure: stop "
                                 "(fix them and run again, leave them out with data.exclude, or set on_item_failure: continue)")
        outputs = check_outputs(ctx)
        write_receipt(ctx, ReceiptStatus.SUCCEEDED, started, outputs, None)
        write_sentinel(job_dir, SUCCESS)
        if failed:
            ctx.say(f"cryocc driver: warning: {items_failed(failed, len(ctx.items))}; continued without them (on_item_failure: continue)")
        ctx.say("cryocc driver: succeeded")
        return 0
    except Aborted as exc:
        return _end(ctx, job_dir, ABORTED, ReceiptStatus.ABORTED, started, str(exc), 2)
    except PartialFailure as exc:
        return _end(ctx, job_dir, FAILURE, ReceiptStatus.FAILED_PARTIAL, started, str(exc), 1)
    except JobFailed as exc:
        return _end(ctx, job_dir, FAILURE, ReceiptStatus.FAILED, started, str(exc), 1)
    except BaseException as exc:  # any bug or surprise still ends with a sentinel
        traceback.print_exc()
        return _end(ctx, job_dir, FAILURE, ReceiptStatus.FAILED, started, f"{type(exc).__name__}: {exc}", 1)


def task_main(args: argparse.Namespace, run_job: Callable[[Context], None] | None) -> int:
    """One array task: the job's driver on the tilt series of its task, in the job directory; it ends
    with its record (drivers/_array.py), never with a RELION sentinel."""
    from . import _array, _items, _quality

    started = time.time()
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_terminated)
    job_dir = Path(args.o).resolve()
    doc = json.loads(Path(args.job).read_text())
    doc["_path"] = args.job
    number = _array.task_number(args.task_base)
    names, decisions = _array.task_of(job_dir, doc, number)
    doc["items"] = {**doc["items"], "todo": names, "keep": []}
    by_option = {spec["option"]: slot for slot, spec in doc["inputs"].items()}
    inputs = {by_option[o]: Path(v).resolve() for o, flag in INPUT_FLAGS.items() if (v := getattr(args, flag[2:])) and o in by_option}
    ctx = Context(job_dir=job_dir, project=Path.cwd().resolve(), doc=doc, inputs=inputs, threads=doc["threads"], task=number,
                  decisions=decisions)
    ctx.items = {t: {"outcome": Outcome.PENDING, "reason": "", "fingerprint": doc["items"]["fingerprints"].get(t)} for t in names}
    ctx.say(f"cryocc driver: job {doc['job']} ({doc['type']}), array task {number}: {', '.join(names)}")
    status, reason = "succeeded", None
    try:
        (run_job or _driver(doc["type"]))(ctx)
        _quality.collect(ctx)
        _items.end(ctx)
    except Aborted as exc:
        status, reason = "aborted", str(exc)
    except JobFailed as exc:
        status, reason = "failed", str(exc)
    except BaseException as exc:  # a bug or a surprise: still a record
        traceback.print_exc()
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the record, whatever comes
    for name, item in ctx.items.items():
        if item["outcome"] == Outcome.PENDING:
            ctx.item(name, Outcome.FAILED, reason or "no result")
    _array.write_task_record(ctx, status, reason, started)
    failed = ctx.failed_items()
    ctx.say(f"cryocc driver: task {number} {status}" + (f": {reason}" if reason else "") + (f"; {items_failed(failed, len(ctx.items))}" if failed else ""))
    return 0 if status == "succeeded" and not failed else 1


def _driver(type_name: str) -> Callable[[Context], None]:
    from . import driver_for

    return driver_for(type_name)


def _end(ctx: Context | None, job_dir: Path, sentinel: str, status: str, started: float, reason: str, code: int) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish writing the sentinel, whatever comes
    try:
        if ctx is not None:
            if ctx.tail:
                print(LOG_TAIL_MARK, flush=True)
                print("\n".join(list(ctx.tail)[-15:]), flush=True)
            write_receipt(ctx, status, started, [], reason)
    except BaseException:  # the sentinel matters more than the receipt
        pass
    write_sentinel(job_dir, sentinel)
    print(f"cryocc driver: {status}: {reason}", file=sys.stderr, flush=True)
    print(f"cryocc driver: {status}: {reason}", flush=True)
    return code
