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
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import ABORT_NOW, ABORTED, FAILURE, INPUT_FLAGS, ITEM_LOGS, RECEIPT, RECEIPT_FORMAT, SUCCESS

POLL_SECONDS = 0.2
KILL_GRACE_SECONDS = 5.0


class JobFailed(Exception):
    """The job cannot succeed; the message is the one-line reason in the log and the receipt."""


class PartialFailure(JobFailed):
    """The tool failed on some tilt series and the policy is to stop."""


def items_failed(failed: dict[str, str], total: int) -> str:
    """One line naming the failed tilt series and why: '2 of 30 tilt series failed: TS_03 (why), TS_11 (why)'."""
    return f"{len(failed)} of {total} tilt series failed: " + ", ".join(f"{n} ({why})" if why else n for n, why in sorted(failed.items()))


class Aborted(Exception):
    """RELION_JOB_ABORT_NOW appeared."""


class Terminated(JobFailed):
    """SLURM (scancel, wall time) or a user sent SIGTERM/SIGINT."""


@dataclass
class Context:
    job_dir: Path  # absolute
    project: Path  # absolute: RELION runs jobs from the project directory
    doc: dict[str, Any]
    inputs: dict[str, Path]  # slot -> input file RELION passed (absolute)
    threads: int
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=30))
    tools_run: list[list[str]] = field(default_factory=list)
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # tilt series -> {outcome, reason, fingerprint}
    kept_rows: list[dict[str, str]] = field(default_factory=list)  # an extension: the items_star rows it keeps
    seen: set[str] = field(default_factory=set)  # the tilt series to process that the input holds
    stopping: threading.Event = field(default_factory=threading.Event)  # set: every tool still running stops

    def item(self, name: str, outcome: str, reason: str = "") -> None:
        """Record what became of one tilt series: succeeded, failed (the tool failed on it), or
        filtered (left out by a rule the user set). Every item goes into the receipt, with the
        fingerprint the plan gave it, which is what lets a later plan keep it."""
        record = {"outcome": outcome, "reason": reason}
        fingerprint = ((self.doc.get("items") or {}).get("fingerprints") or {}).get(name)
        self.items[name] = {**record, "fingerprint": fingerprint} if fingerprint else record

    def to_process(self, series: list) -> list:
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
        return {name: i["reason"] for name, i in self.items.items() if i["outcome"] == "failed"}

    @property
    def params(self) -> dict[str, Any]:
        return self.doc["params"]

    @property
    def acq(self) -> dict[str, Any]:
        return self.doc["acquisition"]

    def path(self, rel: str) -> Path:
        return self.job_dir / rel

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

    # --- running a tool ---------------------------------------------------------------------

    def command(self, executable: str, args: list[str]) -> list[str]:
        """The argv for a tool executable, natively or inside the site's container image."""
        tool = self.doc.get("tool") or {}
        exe = os.path.join(tool["bin_dir"], executable) if tool.get("bin_dir") else executable
        image = tool.get("image")
        if not image:
            return [exe, *args]
        c = self.doc["container"]
        binds = [str(self.project)] + [b for b in self._data_dirs() if b] + list(c.get("binds") or [])
        if self.doc.get("scratch"):
            binds.append(self.doc["scratch"])
        bind_args = [a for b in dict.fromkeys(binds) for a in ("-B", b)]
        nv = ["--nv"] if c.get("nv") and self.doc.get("gpus") else []
        return [c["executable"], "exec", *nv, *c.get("options", []), *bind_args, image, exe, *args]

    def _data_dirs(self) -> list[str]:
        """The directories to bind: each data glob's fixed part (a glob per session), the gain's, the params' files'."""
        data = self.doc.get("data") or {}
        globs = [g for k in ("frames", "mdocs") for g in ([data[k]] if isinstance(data.get(k), str) else data.get(k) or [])]
        dirs = [_fixed_dir(g) for g in globs] + ([os.path.dirname(data["gain"])] if data.get("gain") else [])
        dirs += [os.path.dirname(v) for v in self.params.values() if isinstance(v, str) and os.path.isabs(v)]
        return dirs

    def run(self, executable: str, args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
            log: Path | None = None) -> str:
        """Run a tool, streaming its output to the job log (or to log: one tilt series' own); returns
        the output. Polls for abort, and for the job stopping (for_each_item)."""
        argv = self.command(executable, [str(a) for a in args])
        self.tools_run.append(argv)
        self.say(f"+ {shlex.join(argv)}" + (f"  (output in {self.rel(log)})" if log else ""))
        full_env = {**os.environ, **((self.doc.get("tool") or {}).get("env") or {}), **(env or {})}
        try:
            proc = subprocess.Popen(argv, cwd=cwd or self.job_dir, env=full_env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace",
                                    start_new_session=True)
        except FileNotFoundError:
            raise JobFailed(f"{argv[0]}: command not found (check the site profile's tools and PATH)") from None
        lines: list[str] = []
        reader = threading.Thread(target=self._pump, args=(proc, lines, log), daemon=True)
        reader.start()
        try:
            while proc.poll() is None:
                self.check_abort()
                if self.stopping.is_set():
                    raise Terminated("stopped with the job")
                time.sleep(POLL_SECONDS)
        except BaseException:
            _stop(proc)
            raise
        reader.join(timeout=5)
        if proc.returncode and log is not None:  # the job log shows why, the item log has the rest
            self.say(f"--- last lines of {self.rel(log)} ---")
            for line in lines[-15:]:
                self.say(line.rstrip("\n"))
        if proc.returncode < 0:
            raise JobFailed(f"{executable} was killed by signal {-proc.returncode}")
        if proc.returncode != 0:
            raise JobFailed(f"{executable} exited with code {proc.returncode}")
        return "".join(lines)

    def _pump(self, proc: subprocess.Popen, lines: list[str], log: Path | None) -> None:
        assert proc.stdout is not None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") if log is not None else contextlib.nullcontext(sys.stdout) as out:
            for line in proc.stdout:
                lines.append(line)
                out.write(line)
                out.flush()
                if log is None:
                    self.tail.append(line.rstrip("\n"))


def for_each_item(ctx: Context, items: list, work: Callable[[Any], None], workers: int) -> None:
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


def item_log(ctx: Context, name: str) -> Path:
    return ctx.path(ITEM_LOGS) / f"{name}.log"


def _name(series: Any) -> str:
    return series["name"] if isinstance(series, dict) else series.name


def input_list(ctx: Context, filename: str, paths: list[str]) -> str:
    """A WarpTools --input_data list: a .txt of one path per line, relative to the job directory the
    tool runs in (warp:WarpTools/Commands/BaseOptions.cs:113-119, 173)."""
    ctx.path(filename).write_text("".join(p + "\n" for p in paths))
    return filename


def _stop(proc: subprocess.Popen) -> None:
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


def relink(link: Path, target: Path | str) -> None:
    """Point link at target, replacing what a previous run in this directory left there."""
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def _fixed_dir(pattern: str) -> str:
    """The directory a glob searches below: its leading components without wildcards."""
    import glob

    parts = pattern.split(os.sep)
    first_magic = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return os.sep.join(parts[:first_magic]) or os.sep


# --- outputs, receipt, sentinel ---------------------------------------------------------------

def check_outputs(ctx: Context) -> list[dict[str, Any]]:
    """Every promised output exists and is non-empty; returns them with their sizes, and a folder
    with every file in it (so that keeping the job can check each one, by stat)."""
    found, missing = [], []
    for out in ctx.doc["outputs"]:
        p = ctx.path(out["path"])
        entry: dict[str, Any] = {"path": out["path"], "is_dir": out["is_dir"]}
        if out["is_dir"]:
            files = {str(f.relative_to(p)): f.stat().st_size for f in sorted(p.rglob("*")) if f.is_file()} if p.is_dir() else {}
            ok = bool(files)
            entry.update(size=sum(files.values()), files=files)
        else:
            ok = p.is_file() and p.stat().st_size > 0
            entry["size"] = p.stat().st_size if ok else 0
        (found if ok else missing).append(entry)
    if missing:
        names = ", ".join(m["path"] + ("/" if m["is_dir"] else "") for m in missing)
        raise JobFailed(f"the tool finished but promised outputs are missing or empty: {names}")
    return found


def write_receipt(ctx: Context, status: str, started: float, outputs: list[dict[str, Any]], reason: str | None) -> None:
    tool = ctx.doc.get("tool") or {}
    receipt = {
        "format": RECEIPT_FORMAT,
        "job": ctx.doc["job"],
        "type": ctx.doc["type"],
        "type_version": ctx.doc["type_version"],
        "fingerprint": ctx.doc["fingerprint"],
        "params_file": ctx.doc.get("_path"),
        "job_dir": ctx.rel(ctx.job_dir) + "/",
        "status": status,
        "reason": reason,
        "tool": {"image": tool.get("image"), "bin_dir": tool.get("bin_dir"), "commands": ctx.tools_run},
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": _iso(started),
        "ended": _iso(time.time()),
        "seconds": round(time.time() - started, 3),
        "outputs": outputs,
        "items": dict(sorted(ctx.items.items())),
        "cryocc": ctx.doc.get("cryocc"),
    }
    tmp = ctx.path(RECEIPT + ".tmp")
    tmp.write_text(json.dumps(receipt, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, ctx.path(RECEIPT))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def write_sentinel(job_dir: Path, name: str) -> None:
    """Exactly one sentinel: leftovers from an earlier run in this directory are removed first."""
    for other in (SUCCESS, FAILURE, ABORTED):
        if other != name:
            (job_dir / other).unlink(missing_ok=True)
    (job_dir / name).touch()


# --- entry point --------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(prog="cryocc_relion_driver", description="Run one cryocc job (called by RELION).")
    ap.add_argument("--job", required=True, help="resolved-params file written by cryocc apply")
    ap.add_argument("--o", required=True, help="job directory (External/jobNNN/)")
    for flag in INPUT_FLAGS.values():
        ap.add_argument(flag, default=None)
    ap.add_argument("--j", type=int, default=1, help="threads")
    ap.add_argument("--pipeline_control", default=None, help="added by RELION for commands containing relion_")
    return ap.parse_known_args(argv)


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(f"terminated by signal {signal.Signals(signum).name} (scancel, wall time or a user)")


def main(argv: list[str] | None = None, run_job: Callable[[Context], None] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
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

            run_job = driver_for(doc["stem"])
        if not _items.nothing_to_do(ctx):
            run_job(ctx)
        ctx.check_abort()
        _items.end(ctx)
        failed = ctx.failed_items()
        if failed and doc.get("on_item_failure", "stop") == "stop":
            raise PartialFailure(f"{items_failed(failed, len(ctx.items))}; on_item_failure: stop "
                                 "(fix them and run again, leave them out with data.exclude, or set on_item_failure: continue)")
        outputs = check_outputs(ctx)
        write_receipt(ctx, "succeeded", started, outputs, None)
        write_sentinel(job_dir, SUCCESS)
        if failed:
            ctx.say(f"cryocc driver: warning: {items_failed(failed, len(ctx.items))}; continued without them (on_item_failure: continue)")
        ctx.say("cryocc driver: succeeded")
        return 0
    except Aborted as exc:
        return _end(ctx, job_dir, ABORTED, "aborted", started, str(exc), 2)
    except PartialFailure as exc:
        return _end(ctx, job_dir, FAILURE, "failed_partial", started, str(exc), 1)
    except JobFailed as exc:
        return _end(ctx, job_dir, FAILURE, "failed", started, str(exc), 1)
    except BaseException as exc:  # any bug or surprise still ends with a sentinel
        traceback.print_exc()
        return _end(ctx, job_dir, FAILURE, "failed", started, f"{type(exc).__name__}: {exc}", 1)


def _end(ctx: Context | None, job_dir: Path, sentinel: str, status: str, started: float, reason: str, code: int) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish writing the sentinel, whatever comes
    try:
        if ctx is not None:
            if ctx.tail:
                print("--- last lines of output ---", flush=True)
                print("\n".join(list(ctx.tail)[-15:]), flush=True)
            write_receipt(ctx, status, started, [], reason)
    except BaseException:  # the sentinel matters more than the receipt
        pass
    write_sentinel(job_dir, sentinel)
    print(f"cryocc driver: {status}: {reason}", file=sys.stderr, flush=True)
    print(f"cryocc driver: {status}: {reason}", flush=True)
    return code
