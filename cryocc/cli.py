"""The cryocc command line."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec

import typer
import typer.core

from . import __version__
from .contract import PARAMS_DIR, SCRIPTS_DIR, scheme_dir
from .errors import CryoccError, os_failure

# pydantic looks for third-party plugins (entry points) the first time a model is built; cryocc has none
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

UsageError: type[Exception] = typer.BadParameter.__bases__[0]  # click's, whichever click typer carries


@contextlib.contextmanager
def _usage_errors_exit_1() -> Iterator[None]:
    try:
        yield
    except UsageError as exc:
        exc.exit_code = 1  # type: ignore[attr-defined]  # click's UsageError has one; typer hides which click
        raise


# 128 + SIGPIPE: what the shell reports for git, grep or cat writing into a pipe whose reader has gone
CLOSED_PIPE = 141


@contextlib.contextmanager
def _closed_pipe_ends_quietly() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        raise typer.Exit(_stdout_to_devnull()) from None


def _stdout_to_devnull() -> int:
    """The reader of stdout has gone (`cryocc status | head -1`): nothing more can be said, and nothing
    went wrong. What is still buffered goes to /dev/null, so that Python's own flush at exit does not
    complain either; the exit status is the one a program killed by SIGPIPE leaves (as git's and
    coreutils' are), with no message."""
    with contextlib.suppress(OSError, ValueError):  # ValueError: a stdout with no file descriptor (a test's)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return CLOSED_PIPE


class Commands(typer.core.TyperGroup):
    """Usage errors (an unknown option, a missing argument) exit 1 like every other user error:
    2 is what plan --detailed-exitcode says when changes are pending. A closed stdout ends quietly."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_exit_1(), _closed_pipe_ends_quietly():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_exit_1(), _closed_pipe_ends_quietly():
            return super().invoke(ctx)


P = ParamSpec("P")

app = typer.Typer(
    cls=Commands,
    name="cryocc",
    help="Compile pipeline.yaml into a RELION 5 project run by relion_schemer on SLURM; "
         "keep what already succeeded when you come back.",
    no_args_is_help=True,
    epilog="Exit status: 0 done; 1 an error (a bad spec, data, project or command line), with nothing "
           "written; 2 only from plan --detailed-exitcode (something would run) and status --detailed-exitcode "
           "(a job failed); 3 only from status --detailed-exitcode (jobs still to run); 141 quietly when the "
           "reader of the output has gone (`cryocc status | head -1`), as for git or grep.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help formatter costs more to import than a plan takes
)

PipelineArg = typer.Argument(..., metavar="PIPELINE", help="the pipeline spec, e.g. pipeline.yaml", show_default=False)


def _project_default(ctx: typer.Context, project: Path | None) -> Path | None:
    """--project, else $CRYOCC_PROJECT (click reads it), else the current directory when it holds a
    cryocc project. Never a directory that merely exists: a new project is always named."""
    if project is not None or ctx.resilient_parsing:  # resilient: shell completion, which must not fail
        return project
    here = Path.cwd()
    if (here / "cryocc.lock").is_file() or (here / ".cryocc").is_dir():
        return here
    raise typer.BadParameter("no project: give --project DIR, set CRYOCC_PROJECT=DIR, or run cryocc in the project "
                             "directory (one holding cryocc.lock or .cryocc/)", param_hint="'--project'")


ProjectOpt = typer.Option(None, "--project", "-p", envvar="CRYOCC_PROJECT", callback=_project_default, show_default=False,
                          show_envvar=False, help="the RELION project directory (default: $CRYOCC_PROJECT, else the current "
                          "directory if it holds a cryocc project: cryocc.lock or .cryocc/)")
PlainOpt = typer.Option(False, "--plain", help="print the table as tab-separated values, with a header line")


def user_errors(fn: Callable[P, None]) -> Callable[P, None]:
    """Print a CryoccError as a message (file:line:col, key, hint) and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # not the file system's fault: the reader of stdout has gone (Commands ends quietly)
        except OSError as exc:  # a disk, a permission or a file system met on the way
            _report(os_failure(exc), "cryocc.lock is unchanged: the project is as the last complete apply left it.")
        except CryoccError as exc:
            done = exc.written or "nothing was written."
            _report(exc, f"{len(exc.errors)} errors; {done}" if len(exc.errors) > 1 else done)

    return wrapper


def _report(exc: CryoccError, closing: str) -> None:
    print(exc.render() if len(exc.errors) > 1 else f"error: {exc.render()}", file=sys.stderr)
    print(closing, file=sys.stderr)
    raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        print(f"cryocc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit"),
) -> None:
    pass


@app.command(short_help="Check PIPELINE and its data; show what the mdocs say.")
@user_errors
def validate(
    pipeline: Path = PipelineArg,
    as_json: bool = typer.Option(False, "--json", help="print one JSON object: valid, and what was inferred and wired; "
                                 "or valid false and the errors (file, line, column, key, message, hint)"),
) -> None:
    """Check PIPELINE and its data; show what was inferred from the mdocs and how jobs are wired."""
    from .compiler.compile import compile_pipeline

    try:
        recipe = compile_pipeline(pipeline).recipe
    except (CryoccError, OSError) as exc:
        if as_json and not isinstance(exc, BrokenPipeError):
            found = exc.errors if isinstance(exc, CryoccError) else os_failure(exc).errors
            print(json.dumps({"pipeline": str(pipeline), "valid": False, "errors": [_error_json(e) for e in found]}, indent=1))
        raise
    if as_json:
        print(json.dumps(_validated_json(recipe, pipeline), indent=1))
        return
    from .report import print_validated

    print_validated(recipe, str(pipeline))


def _error_json(error: CryoccError) -> dict[str, Any]:
    where = error.location
    return {"file": where and where.file, "line": where and where.line, "column": where and where.col,
            "key": error.key, "message": error.message, "hint": error.hint}


def _validated_json(recipe: Any, pipeline: Path) -> dict[str, Any]:
    """validate's table as data: the acquisition with each value's source, the tilt series as the mdocs
    group them, and the jobs as wired with their resources."""
    s = recipe.summary
    groups = [dict(zip(("tilts", "angles", "pixel_size", "voltage", "dose_per_tilt", "tilt_axis", "count"), g, strict=True))
              for g in s["groups"]]
    jobs = [{"name": name, "type": job.type, "inputs": {w.slot: w.upstream for w in job.wires}, "resources": job.resources}
            for name, job in ((n, recipe.jobs[n]) for n in recipe.order)]
    return {"pipeline": str(pipeline), "valid": True, "name": recipe.name, "site": recipe.site["name"],
            "acquisition": {k: {"value": v, "source": s["sources"].get(k)} for k, v in s["acquisition"].items()},
            "tilt_series": s["tilt_series"], "frames": s["frames"], "groups": groups, "jobs": jobs,
            "notes": s["notes"], "waiting": s.get("waiting", []), "excluded": s.get("excluded", {})}


ForceOpt = typer.Option([], "--force", "-f", metavar="JOB", help="re-run JOB (and so everything downstream of it); repeatable")


@app.command(short_help="Show what apply would keep, run, re-run or extend, and why.")
@user_errors
def plan(
    pipeline: Path = PipelineArg,
    project: Path = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="print the plan as one JSON object"),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="exit 0 when nothing would run, 2 when something would"),
    force: list[str] = ForceOpt,
    plain: bool = PlainOpt,
) -> None:
    """Show, job by job, what apply would keep, run, re-run or extend (run again in its directory for
    some tilt series), and why. Writes nothing. A project directory that does not exist yet is named
    as new first (a typo in --project shows up here, not as a second project)."""
    from .compiler import plan_pipeline
    from .report import print_plan, reason

    new = _new_project(project)
    the_plan, _ = plan_pipeline(pipeline, project, force=force)
    if as_json:
        print(json.dumps({**the_plan.to_json(), "new_project": bool(new)}, indent=1))
    elif plain:
        from .ui import print_table

        print_table(("action", "job", "type", "directory", "why"), plain=True,
                    rows=[[j.action, j.name, j.type, j.job_dir or "", "; ".join(reason(r) for r in j.reasons)] for j in the_plan.jobs])
    else:
        if new:
            print(f"New project: {project} {new}; apply starts one there, and every job runs.\n")
        print_plan(the_plan)
    if detailed_exitcode and the_plan.to_run:
        raise typer.Exit(2)


def _new_project(project: Path) -> str | None:
    """Why apply would start the project from nothing, or None for a project there is."""
    if not project.exists():
        return "does not exist yet"
    if project.is_dir() and not (project / "cryocc.lock").is_file() and not (project / "External").is_dir():
        return "holds no cryocc project yet (no cryocc.lock, no job results)"  # an apply cut short before its first write too
    return None


@app.command(short_help="Write the scheme, job.star files and lockfile for what must run.")
@user_errors
def apply(
    pipeline: Path = PipelineArg,
    project: Path = ProjectOpt,
    force: list[str] = ForceOpt,
    ignore_running: bool = typer.Option(False, "--ignore-running", help="apply even though jobs of the project look running"),
    lock_timeout: float = typer.Option(0, "--lock-timeout", metavar="SECONDS", min=0,
                                       help="wait up to SECONDS for another apply's project lock (default: refuse at once)"),
) -> None:
    """Compile PIPELINE into the project: a scheme holding only the jobs that must run, their job.star files
    and job scripts, and the lockfile. Jobs that already succeeded with the same inputs are kept."""
    from .compiler import apply_pipeline
    from .report import print_acquisition_line, print_plan

    new, existed = _new_project(project), project.exists()
    result = apply_pipeline(pipeline, project, force=force, ignore_running=ignore_running, lock_timeout=lock_timeout)
    if new:
        print(f"New project: {project}/ " + ("(a directory that held no cryocc project)" if existed else "(created)"))
    print_acquisition_line(result.summary)
    print_plan(result.plan)
    if result.noop:
        if result.scheme:
            print(f"Nothing new to write: {scheme_dir(result.scheme)}/ already holds this plan and has not run yet.")
        else:
            print("Nothing to run: every job is kept." + (" Updated cryocc.lock with what was learned." if result.written else ""))
        return
    s = result.scheme or ""
    print(f"\nWrote {len(result.written)} files to {project}/:")
    for path, what in ((f"{scheme_dir(s)}/scheme.star", f"the scheme: {' -> '.join(result.plan.to_run)} -> EXIT"),
                       (f"{scheme_dir(s)}/<job>/job.star", "one per job to run"),
                       (f"{PARAMS_DIR}/, {SCRIPTS_DIR}/", "resolved params and SLURM job scripts"),
                       ("cryocc.lock", "fingerprints of what was applied")):
        print(f"  {path:<34} {what}")
    print(f"Run it: cryocc run --project {project} --wait   (or, by hand from {project}/: "
          f"relion_schemer --scheme {s} --run --pipeline_control {scheme_dir(s)}/)")


@app.command(short_help="List job directories the spec no longer uses; --yes moves them to Trash/.")
@user_errors
def gc(
    pipeline: Path = PipelineArg,
    project: Path = ProjectOpt,
    yes: bool = typer.Option(False, "--yes", help="move them to Trash/, as RELION deletes a job (the GUI can undelete)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """List the job directories that PIPELINE, as it is now, no longer uses (superseded, failed and
    run again, or of jobs gone from pipeline.yaml), with their sizes. A directory plan would keep,
    reuse or extend is in use, and so is every directory it reads. --yes moves them to Trash/ the
    way RELION deletes a job: out of default_pipeline.star, into Trash/External/. Trash/ keeps
    their disk space until `cryocc trash --empty`. Never a job that is kept, read by one, running
    or queued; refused while a schemer runs."""
    from .compiler import apply_mutex
    from .run import gc as collector

    _existing(project)
    collector.refuse_while_running(project)
    # a list only reads, as plan does; --yes decides and moves with no apply in between
    with apply_mutex(project) if yes else contextlib.nullcontext():
        found, _ = collector.unused(project, pipeline)
        if yes and found:
            collector.move_to_trash(project, [u.job_dir for u in found])
    held = collector.trash_contents(project)[1]
    if as_json:
        print(json.dumps({"unused": [u.__dict__ for u in found], "moved": bool(yes and found), "trash": held}, indent=1))
        return
    empty = f"cryocc trash --project {project} --empty"
    if not found:
        print("nothing to collect: every job directory is in use" + (f"; Trash/ holds {_bytes(held)} ({empty} frees it)" if held else ""))
        return
    width = max(len(u.job_dir) for u in found)
    for u in found:
        print(f"{u.job_dir:<{width}}  {_bytes(u.size):>9}  {u.job or '-':<12} {u.why}")
    total = _bytes(sum(u.size for u in found))
    if yes:
        print(f"\n{len(found)} job directories, {total}: moved to Trash/ (RELION's GUI can undelete them).\n"
              f"Trash/ holds {_bytes(held)}: the disk space is freed only when it is emptied: {empty}")
    else:
        print(f"\n{len(found)} job directories, {total}: pass --yes to move them to Trash/ "
              f"(which keeps their space until {empty}).")


@app.command(short_help="What Trash/ holds; --empty deletes it for good, freeing the disk space.")
@user_errors
def trash(
    project: Path = ProjectOpt,
    empty: bool = typer.Option(False, "--empty", help="delete everything in Trash/ for good (nothing can undelete it then)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Show the job directories in the project's Trash/ (where gc and RELION's GUI move deleted jobs,
    which keeps their disk space) and its size. --empty deletes everything in Trash/ for good, and
    nothing else: links in it are removed, never followed; refused when Trash/ is not a plain
    directory of the project."""
    from .run import gc as collector

    _existing(project)
    jobs, size = collector.trash_contents(project)
    deleted = collector.empty_trash(project)[0] if empty else 0
    if as_json:
        print(json.dumps({"job_dirs": jobs, "size": size, "emptied": empty}, indent=1))
    elif not size and not deleted:
        print("Trash/ is empty")
    elif empty:
        print(f"deleted {len(jobs)} job directories from Trash/: {_bytes(size)} freed")
    else:
        print("".join(f"Trash/{j}\n" for j in jobs) + f"Trash/ holds {len(jobs)} job directories, {_bytes(size)}: "
              f"cryocc trash --project {project} --empty deletes them for good")


def _existing(project: Path) -> None:
    """gc and trash work on a project there is: they never create one."""
    from .errors import ProjectError

    if not project.is_dir():
        raise ProjectError(f"--project {project} is not a directory", hint="give the project directory cryocc apply wrote")


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@app.command(short_help="Each job's state and directory in the project.")
@user_errors
def status(
    project: Path = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    tilt_series: bool = typer.Option(False, "--tilt-series", help="per tilt series: what each job's tools measured (defocus, "
                                     "CTF fit, tilt axis, tilts dropped and why, picks, particles) and which job measured it"),
    plain: bool = PlainOpt,
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="exit 0 when every job succeeded, 2 when a job "
                                           "failed, was aborted, stopped unfinished or lost outputs, 3 when none did but jobs are still to run"),
) -> None:
    """Each job's state and directory, learned from the project, and what the last apply planned.
    With --tilt-series, the quality of each tilt series as the tools measured it, job by job.
    With --detailed-exitcode, the exit status says how the project stands, for scripts: 0 every job
    succeeded; 2 a job failed, was aborted, stopped unfinished or lost its outputs; 3 none did, but jobs
    are scheduled or running; 1 is an error, as for every command."""
    from .observe.project import JobState, observe
    from .run.runner import applied_lock, job_log_tail, live_schemer
    from .states import Status
    from .ui import JobStatusJSON, LogTail, StatusJSON

    lock = applied_lock(project)
    states = observe(project, lock)
    order = lock.pipeline.get("order", [])
    states = dict(sorted(states.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))

    def log_tail(st: JobState) -> LogTail:
        """A failed job's last log lines: its run.out, or its run.err where it wrote nothing else (a
        submission that failed: the submit command's message)."""
        if not st.job_dir or st.status not in (Status.FAILED, Status.ABORTED):
            return {"log_tail": []}
        for log in ("run.out", "run.err"):
            if lines := job_log_tail(project, st.job_dir, log, 5):
                return {"log_tail": lines, "log": f"{st.job_dir}{log}"}
        return {"log_tail": []}

    doc: StatusJSON = {"jobs": [JobStatusJSON(name=n, type=lock.jobs[n].type, state=st.status, job_dir=st.job_dir, scheme=st.scheme,
                                              detail=st.detail, slurm=st.slurm or None, array=st.array,
                                              seconds=st.receipt.get("seconds") if st.receipt else None, **log_tail(st))
                                for n, st in states.items()],
           "last_apply": lock.schemes[-1] if lock.schemes else None,
           "schemer": live_schemer(project)}
    if tilt_series:
        from .observe.quality import by_tilt_series

        quality = by_tilt_series(states)
        doc["tilt_series"] = quality
    from .ui import print_status, print_tilt_series

    if as_json:
        print(json.dumps(doc, indent=1))
    elif tilt_series:
        print_tilt_series(quality, plain=plain)
    else:
        print_status(doc, project, plain=plain)
    if detailed_exitcode:
        raise typer.Exit(_standing({st.status for st in states.values()}))


def _standing(states: set[str]) -> int:
    """status --detailed-exitcode: 2 when a job needs attention, 3 when jobs are still to run, else 0."""
    from .states import Status

    if states & {Status.FAILED, Status.ABORTED, Status.INCOMPLETE, Status.OUTPUTS_MISSING}:
        return 2
    return 3 if states & {Status.SCHEDULED, Status.RUNNING} else 0


@app.command(short_help="Write one self-contained HTML report of the project: graph, timeline, quality, plots.")
@user_errors
def report(
    project: Path = ProjectOpt,
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="the HTML file to write"),
) -> None:
    """Write one HTML file that opens offline, with no server (from a cluster file system, say): the pipeline
    as a graph with each job's state, a timeline of the jobs, the quality of each tilt series as the tools
    measured it (a sortable table, and plots of defocus and CTF fit against tilt angle, alignment, picks),
    a central slice of each tomogram, and what the next apply would do."""
    from .html_report import write_report

    counts = write_report(project, output)
    print(f"Wrote {output}: {counts['tilt_series']} tilt series, {counts['plots']} plots, {counts['thumbnails']} tomogram slices.")


@app.command(short_help="Start or resume relion_schemer on the applied scheme.")
@user_errors
def run(
    project: Path = ProjectOpt,
    wait: bool = typer.Option(False, "--wait", help="follow the run job by job until the scheme ends; exit 1 if a job failed"),
) -> None:
    """Start relion_schemer on the applied scheme, detached from the terminal; recover after a crash.

    First the site must answer: the schemer, the submit command (on a SLURM site, sbatch and squeue),
    the driver, and every image and tool directory of the site profile; otherwise run refuses and
    names each. A scheme not run yet is run as applied, with a warning when pipeline.yaml changed since.

    If the last scheme already ran (fully or partly), jobs still running are waited for, stale RELION
    locks are removed, and only what is left is planned and run: finished work is never submitted again.
    That applies pipeline.yaml again, so run refuses when it changed since the last apply: review it
    with cryocc plan and apply it first."""
    from .run import runner
    from .ui import console

    out = console()
    record = runner.run(project, say=out.print)
    if not (record and wait):
        return
    if not out.is_terminal:
        raise typer.Exit(runner.follow(project, record, say=out.print))
    from rich.live import Live

    from .ui import jobs_live_table

    with Live(jobs_live_table([], record["scheme"]), console=out, refresh_per_second=2, transient=True) as live:
        code = runner.follow(project, record, say=lambda text: None,
                             show=lambda states: live.update(jobs_live_table(states, record["scheme"])))
    runner.follow(project, record, say=out.print)  # the final word, and the log of a failed job
    raise typer.Exit(code)


@app.command(short_help="Print a job's log; --follow keeps printing until it ends.")
@user_errors
def logs(
    job: str = typer.Argument(..., metavar="JOB", help="the job's name in pipeline.yaml", show_default=False),
    project: Path = ProjectOpt,
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing what the job writes until it ends"),
    item: str | None = typer.Option(None, "--item", metavar="NAME", help="that tilt series' own log (jobs that run tilt series side "
                                    "by side), or the log of the array task that ran it (jobs run as SLURM arrays)"),
    attempt: int | None = typer.Option(None, "--attempt", metavar="N", min=1,
                                       help="the log of the job's Nth run (an extension or a re-run runs again in its "
                                            "directory; earlier runs' logs are kept); default: the latest"),
) -> None:
    """Print JOB's run.out, then its run.err if there is anything in it, then which tilt series have
    their own log and which earlier attempts' logs are kept (run.N.out, shown with --attempt N); the job
    directory is found through the lockfile and the project, so you need not know it."""
    from .run import runner

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    runner.logs(project, job, follow=follow, item=item, attempt=attempt, write=write)


@app.command(short_help="Stop the running scheme and its running job.")
@user_errors
def abort(project: Path = ProjectOpt) -> None:
    """Stop the running scheme and its running job, and wait until they have stopped (the job ends
    with RELION_JOB_EXIT_ABORTED; one still queued in SLURM is cancelled, and so are the SLURM arrays
    of a job run as arrays). Exit 1 when nothing was running, or when something still runs after 30 s
    (it says what)."""
    from .run import runner
    from .ui import console

    runner.abort(project, say=console().print)


@app.command(short_help="Print the JSON Schema of pipeline.yaml (or of site profiles).")
@user_errors
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="write to this file instead of stdout"),
    site: bool = typer.Option(False, "--site", help="the schema of site profiles instead of pipeline.yaml"),
) -> None:
    """Print the JSON Schema of pipeline.yaml, or with --site of site profiles (for editor completion and checks).
    Both are derived from the models `cryocc validate` uses; the repository ships them as cryocc.schema.json
    and cryocc.site.schema.json."""
    from .schema.export import schema_text, site_schema_text

    text = site_schema_text() if site else schema_text()
    if output:
        from .fsio import atomic_write

        atomic_write(output, text)
    else:
        sys.stdout.write(text)


@app.command(short_help="List the job types, or every parameter of one.")
@user_errors
def jobs(
    job_type: str | None = typer.Argument(None, metavar="[TYPE]", help="a job type: show its parameters", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    plain: bool = PlainOpt,
) -> None:
    """List the job types: the tool behind each, what it consumes and produces, and the other name
    each is known by ("also", accepted wherever a type is named). With TYPE (either name): every
    parameter of that type, with its type, unit, default, allowed values and description."""
    from .schema.jobs import CATALOG, TYPE_NAMES
    from .schema.jobs import job_type as find_type

    if job_type is not None:
        from .describe import describe, describe_text
        from .errors import SpecError, did_you_mean

        jt = find_type(job_type)
        if jt is None:
            raise SpecError(f"no job type '{job_type}'", hint=did_you_mean(job_type, TYPE_NAMES) or "cryocc jobs lists them")
        print(json.dumps(describe(jt), indent=1) if as_json else describe_text(jt))
        return

    rows: list[dict[str, Any]] = [{"type": t.name, "aliases": list(t.aliases), "tool": t.tool_label, "summary": t.summary,
             "consumes": {s: list(i.kinds) for s, i in t.inputs.items()},
             "produces": {o.kind: o.path for o in t.outputs if o.kind}} for t in CATALOG.values()]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    from .ui import print_table

    print_table(("type", "also", "tool", "consumes", "produces"), key=(0, 1), plain=plain, rows=[
        [r["type"], ", ".join(r["aliases"]), r["tool"], ", ".join(f"{s}: {'|'.join(k)}" for s, k in r["consumes"].items()) or "data",
         ", ".join(f"{k} ({p})" for k, p in r["produces"].items())] for r in rows])


@app.command(short_help="List the site profiles: the bundled ones and those in ./config/sites/, with what each does.")
@user_errors
def sites(
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    plain: bool = PlainOpt,
) -> None:
    """List the site profiles a pipeline.yaml in the current directory can name with `site:`: those in
    ./config/sites/ first (they win over a bundled one of the same name), then the ones bundled with cryocc,
    each with its description and how it submits jobs. Copy one beside pipeline.yaml and adapt it:
    docs/sites.md describes every key, and cryocc.site.schema.json (cryocc schema --site) checks them in an editor."""
    from .resources import data_dir
    from .schema.site import site_search_path
    from .schema.yamldoc import load_yaml

    bundled = (data_dir("config") / "sites").resolve()
    found: list[dict[str, Any]] = []
    for directory in dict.fromkeys(d.resolve() for d in site_search_path(Path.cwd()) if d.is_dir()):  # cwd may be the bundle's
        for path in sorted(directory.glob("*.yaml")):
            try:
                data = load_yaml(path).data
            except CryoccError as exc:
                data = {"description": f"unreadable: {exc.message}"}
            except OSError as exc:
                data = {"description": f"unreadable: {exc.strerror}"}
            data = data if isinstance(data, dict) else {}
            found.append({"name": path.stem, "description": str(data.get("description") or ""), "submit": str(data.get("submit") or "sbatch"),
                          "path": str(path), "bundled": directory == bundled, "shadowed": any(f["name"] == path.stem for f in found)})
    if as_json:
        print(json.dumps(found, indent=1))
        return
    from .ui import print_table

    print_table(("site", "submit", "description", "file"), key=(0, 1), plain=plain, rows=[
        [f["name"], f["submit"], f["description"] + (" (shadowed by ./config/sites/)" if f["shadowed"] else ""), f["path"]] for f in found])


@app.command(short_help="Write a starter pipeline.yaml from the data globs.")
@user_errors
def init(
    frames: str = typer.Option(..., help="glob of movie frames, e.g. 'raw/frames/*.eer'"),
    mdocs: str = typer.Option(..., help="glob of mdoc files, e.g. 'raw/mdoc/*.mdoc'"),
    output: Path = typer.Option(Path("pipeline.yaml"), "--output", "-o", help="where to write the pipeline"),
    name: str = typer.Option("my-pipeline", help="pipeline name"),
    site: str = typer.Option("local", help="site profile"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
) -> None:
    """Write a starter pipeline.yaml for the standard chain, with the inferred acquisition as comments.
    A value the mdocs lack (voltage, dose per tilt, pixel size, tilt axis) is never guessed: it is listed,
    and left empty (null) in data.acquisition, which validate refuses until you fill it in."""
    from .init import write_starter

    text, missing = write_starter(output, frames=frames, mdocs=mdocs, name=name, site=site, force=force)
    print(f"Wrote {output} ({len(text.splitlines())} lines).")
    if missing:
        print(f"{len(missing)} value{'s' if len(missing) > 1 else ''} not in the mdocs, left empty (null) for you to fill in:")
        print("".join(f"  {m.describe(output)}\n" for m in missing), end="")
    print(f"Next: {'fill them in, then ' if missing else ''}cryocc validate {output}")


def main() -> None:
    try:
        app()
    except SystemExit:
        try:  # what print() buffered is written now, where a closed pipe can still end quietly
            sys.stdout.flush()
        except BrokenPipeError:
            sys.exit(_stdout_to_devnull())
        raise


if __name__ == "__main__":
    main()
