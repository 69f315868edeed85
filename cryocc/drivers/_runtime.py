"""The driver's entry point, shared by every job type.

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
import json
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from ..contract import (
    ABORTED,
    FAILURE,
    INPUT_FLAGS,
    LOG_TAIL_MARK,
    PARAMS_FORMAT,
    SUCCESS,
    ItemsPlan,
    Outcome,
    ParamsDoc,
    ReceiptStatus,
    other_format,
)
from . import _array, _items, _quality, driver_for
from ._context import Context
from ._errors import Aborted, JobFailed, PartialFailure, Terminated, items_failed
from ._receipt import check_outputs, write_receipt, write_sentinel

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
    _stop_on_signals()
    ctx: Context | None = None
    try:
        doc = _read_doc(args.job)
        ctx = Context(job_dir=job_dir, project=Path.cwd().resolve(), doc=doc, inputs=_inputs(args, doc), threads=args.j,
                      params_file=args.job)
        ctx.say(f"cryocc driver: job {doc['job']} ({doc['type']}) in {ctx.rel(job_dir)}/, fingerprint {doc['fingerprint'][:12]}")
        if extra:
            ctx.say(f"note: ignoring arguments {shlex.join(extra)}")
        _run_job(ctx, argv, started, run_job or _driver(doc["type"]))
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


def _run_job(ctx: Context, argv: list[str], started: float, run_job: Callable[[Context], None]) -> None:
    """The job from its inputs to its success sentinel: its tilt series to do, the tool (here, or as
    the supervisor of its arrays), the outputs checked, the receipt, the sentinel."""
    for slot, path in ctx.inputs.items():
        if not path.exists():
            raise JobFailed(f"input '{slot}' does not exist: {ctx.rel(path)}")
    _items.start(ctx, started)
    if _items.nothing_to_do(ctx):
        pass
    elif ctx.doc.get("array"):
        _array.supervise(ctx, _array.own_argv(argv))
    else:
        run_job(ctx)
        _quality.collect(ctx)
    ctx.check_abort()
    _items.end(ctx)
    failed = ctx.failed_items()
    if failed and ctx.doc.get("on_item_failure", "stop") == "stop":
        raise PartialFailure(f"{items_failed(failed, len(ctx.items))}; on_item_failure: stop "
                             "(fix them and run again, leave them out with data.exclude, or set on_item_failure: continue)")
    outputs = check_outputs(ctx)
    write_receipt(ctx, ReceiptStatus.SUCCEEDED, started, outputs, None)
    write_sentinel(ctx.job_dir, SUCCESS)
    if failed:
        ctx.say(f"cryocc driver: warning: {items_failed(failed, len(ctx.items))}; continued without them (on_item_failure: continue)")
    ctx.say("cryocc driver: succeeded")


def _stop_on_signals() -> None:
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_terminated)


def _read_doc(path: str) -> ParamsDoc:
    """The params document cryocc apply wrote for this job, of the format this cryocc reads."""
    doc = json.loads(Path(path).read_text())
    problem = other_format(doc, (PARAMS_FORMAT,))
    if problem:
        raise JobFailed(f"the params document {path} {problem}: run cryocc apply again with this cryocc, "
                        "which writes the job's params document anew")
    return cast(ParamsDoc, doc)


def _inputs(args: argparse.Namespace, doc: ParamsDoc) -> dict[str, Path]:
    """The input files RELION passed, by the job's input slot (absolute)."""
    by_option = {spec["option"]: slot for slot, spec in doc["inputs"].items()}
    return {by_option[o]: Path(v).resolve() for o, flag in INPUT_FLAGS.items() if (v := getattr(args, flag[2:])) and o in by_option}


def task_main(args: argparse.Namespace, run_job: Callable[[Context], None] | None) -> int:
    """One array task: the job's driver on the tilt series of its task, in the job directory; it ends
    with its record (drivers/_array.py), never with a RELION sentinel."""
    started = time.time()
    _stop_on_signals()
    job_dir = Path(args.o).resolve()
    doc = _read_doc(args.job)
    number = _array.task_number(args.task_base)
    names, decisions = _array.task_of(job_dir, doc, number)
    fingerprints = _array.items_of(doc)["fingerprints"]
    doc["items"] = ItemsPlan(fingerprints=fingerprints, todo=names, keep=[])
    ctx = Context(job_dir=job_dir, project=Path.cwd().resolve(), doc=doc, inputs=_inputs(args, doc), threads=doc["threads"], task=number,
                  decisions=decisions, params_file=args.job)
    _items.mark_pending(ctx, names, fingerprints)
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
