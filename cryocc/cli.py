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


class Commands(typer.core.TyperGroup):
    """Usage errors (an unknown option, a missing argument) exit 1 like every other user error:
    2 is what plan --detailed-exitcode says when changes are pending."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_exit_1():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_exit_1():
            return super().invoke(ctx)


P = ParamSpec("P")

app = typer.Typer(
    cls=Commands,
    name="cryocc",
    help="Compile pipeline.yaml into a RELION 5 project run by relion_schemer on SLURM; "
         "keep what already succeeded when you come back.",
    no_args_is_help=True,
    epilog="Exit status: 0 done; 1 an error (a bad spec, data, project or command line), with nothing "
           "written; 2 only from plan --detailed-exitcode: something would run.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help formatter costs more to import than a plan takes
)

PipelineArg = typer.Argument(..., metavar="PIPELINE", help="the pipeline spec, e.g. pipeline.yaml", show_default=False)
ProjectOpt = typer.Option(..., "--project", "-p", help="the RELION project directory", show_default=False)


def user_errors(fn: Callable[P, None]) -> Callable[P, None]:
    """Print a CryoccError as a message (file:line:col, key, hint) and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            return fn(*args, **kwargs)
        except OSError as exc:  # a disk, a permission or a file system met on the way
            _report(os_failure(exc), "cryocc.lock is unchanged: the project is as the last complete apply left it.")
        except CryoccError as exc:
            _report(exc, f"{len(exc.errors)} errors; nothing was written." if len(exc.errors) > 1 else "nothing was written.")

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
def validate(pipeline: Path = PipelineArg) -> None:
    """Check PIPELINE and its data; show what was inferred from the mdocs and how jobs are wired."""
    from .compiler.compile import compile_pipeline
    from .report import print_validated

    print_validated(compile_pipeline(pipeline).recipe, str(pipeline))


ForceOpt = typer.Option([], "--force", "-f", metavar="JOB", help="re-run JOB (and so everything downstream of it); repeatable")


@app.command(short_help="Show what apply would keep, run, re-run or extend, and why.")
@user_errors
def plan(
    pipeline: Path = PipelineArg,
    project: Path = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="print the plan as one JSON object"),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="exit 0 when nothing would run, 2 when something would"),
    force: list[str] = ForceOpt,
) -> None:
    """Show, job by job, what apply would keep, run, re-run or extend (run again in its directory for
    some tilt series), and why. Writes nothing."""
    from .compiler import plan_pipeline
    from .report import print_plan

    the_plan, _ = plan_pipeline(pipeline, project, force=force)
    if as_json:
        print(json.dumps(the_plan.to_json(), indent=1))
    else:
        print_plan(the_plan)
    if detailed_exitcode and the_plan.to_run:
        raise typer.Exit(2)


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

    result = apply_pipeline(pipeline, project, force=force, ignore_running=ignore_running, lock_timeout=lock_timeout)
    print_acquisition_line(result.summary)
    print_plan(result.plan)
    if result.noop:
        if result.scheme:
            print(f"Nothing new to write: Schemes/{result.scheme}/ already holds this plan and has not run yet.")
        else:
            print("Nothing to run: every job is kept." + (" Updated cryocc.lock with what was learned." if result.written else ""))
        return
    s = result.scheme
    print(f"\nWrote {len(result.written)} files to {project}/:")
    for path, what in ((f"Schemes/{s}/scheme.star", f"the scheme: {' -> '.join(result.plan.to_run)} -> EXIT"),
                       (f"Schemes/{s}/<job>/job.star", "one per job to run"),
                       (".cryocc/jobs/, .cryocc/scripts/", "resolved params and SLURM job scripts"),
                       ("cryocc.lock", "fingerprints of what was applied")):
        print(f"  {path:<34} {what}")
    print(f"Run it: cryocc run --project {project} --wait   (or, by hand from {project}/: "
          f"relion_schemer --scheme {s} --run --pipeline_control Schemes/{s}/)")


@app.command(short_help="List job directories no job uses any more; --yes moves them to Trash/.")
@user_errors
def gc(
    project: Path = ProjectOpt,
    yes: bool = typer.Option(False, "--yes", help="move them to Trash/, as RELION deletes a job (the GUI can undelete)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """List the job directories that no job of the pipeline uses any more (superseded, failed and
    run again, or of jobs gone from pipeline.yaml), with their sizes. --yes moves them to Trash/
    the way RELION deletes a job: out of default_pipeline.star, into Trash/External/. Never a job
    that is kept, read by one, running or queued; refused while a schemer runs."""
    from . import gc as collector
    from .compiler import project_lock

    collector.refuse_while_running(project)
    with project_lock(project):
        found, _ = collector.unused(project)
        if yes and found:
            collector.move_to_trash(project, [u.job_dir for u in found])
    if as_json:
        print(json.dumps({"unused": [u.__dict__ for u in found], "moved": bool(yes and found)}, indent=1))
        return
    if not found:
        print("nothing to collect: every job directory is in use")
        return
    width = max(len(u.job_dir) for u in found)
    for u in found:
        print(f"{u.job_dir:<{width}}  {_bytes(u.size):>9}  {u.job or '-':<12} {u.why}")
    total = _bytes(sum(u.size for u in found))
    print(f"\n{len(found)} job directories, {total}: " + ("moved to Trash/ (RELION's GUI can undelete them)." if yes
                                                       else "pass --yes to move them to Trash/."))


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
) -> None:
    """Each job's state and directory, learned from the project, and what the last apply planned."""
    from .project import JobState, observe
    from .runner import applied_lock, failure_tail, live_schemer
    from .states import Status
    from .ui import console, print_status

    lock = applied_lock(project)
    states = observe(project, lock)
    order = lock.pipeline.get("order", [])
    states = dict(sorted(states.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    def log_tail(st: JobState) -> dict[str, Any]:
        """A failed job's last log lines: its run.out, or its run.err where it wrote nothing else (a
        submission that failed: the submit command's message)."""
        if not st.job_dir or st.status not in (Status.FAILED, Status.ABORTED):
            return {"log_tail": []}
        for log in ("run.out", "run.err"):
            if lines := failure_tail(project / st.job_dir / log, 5):
                return {"log_tail": lines, "log": f"{st.job_dir}{log}"}
        return {"log_tail": []}

    doc = {"jobs": [{"name": n, "type": lock.jobs[n].type, "state": st.status, "job_dir": st.job_dir,
                     "scheme": st.scheme, "detail": st.detail, "slurm": st.slurm or None,
                     "seconds": (st.receipt or {}).get("seconds"), **log_tail(st)}
                    for n, st in states.items()],
           "last_apply": lock.schemes[-1] if lock.schemes else None,
           "schemer": live_schemer(project)}
    if as_json:
        print(json.dumps(doc, indent=1))
    else:
        print_status(console(), doc, project)


@app.command(short_help="Start or resume relion_schemer on the applied scheme.")
@user_errors
def run(
    project: Path = ProjectOpt,
    wait: bool = typer.Option(False, "--wait", help="follow the run job by job until the scheme ends; exit 1 if a job failed"),
) -> None:
    """Start relion_schemer on the applied scheme, detached from the terminal; recover after a crash.

    First the site must answer: the schemer, the submit command (on a SLURM site, sbatch and squeue),
    the driver, and every image and tool directory of the site profile; otherwise run refuses and
    names each. It warns when pipeline.yaml changed since the scheme was applied from it.

    If the last scheme already ran (fully or partly), jobs still running are waited for, stale RELION
    locks are removed, and only what is left is planned and run: finished work is never submitted again."""
    from . import runner
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
    item: str | None = typer.Option(None, "--item", metavar="NAME", help="that tilt series' own log (jobs that run tilt series side by side)"),
) -> None:
    """Print JOB's run.out, then its run.err if there is anything in it, then which tilt series have
    their own log; the job directory is found through the lockfile and the project, so you need not know it."""
    from . import runner

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    runner.logs(project, job, follow=follow, item=item, write=write)


@app.command(short_help="Stop the running scheme and its running job.")
@user_errors
def abort(project: Path = ProjectOpt) -> None:
    """Stop the running scheme and its running job, and wait until they have stopped (the job ends
    with RELION_JOB_EXIT_ABORTED; one still queued in SLURM is cancelled). Exit 1 when nothing was
    running, or when something still runs after 30 s (it says what)."""
    from . import runner
    from .ui import console

    runner.abort(project, say=console().print)


@app.command(short_help="Print the JSON Schema of pipeline.yaml.")
@user_errors
def schema(output: Path | None = typer.Option(None, "--output", "-o", help="write to this file instead of stdout")) -> None:
    """Print the JSON Schema of pipeline.yaml (for editor completion and checks)."""
    from .schema.export import schema_text

    text = schema_text()
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
) -> None:
    """List the job types: the tool behind each, what it consumes and produces, and the other name
    each is known by ("also", accepted wherever a type is named). With TYPE (either name): every
    parameter of that type, with its type, unit, default, allowed values and description."""
    from .schema.jobs import CATALOG, TYPE_NAMES
    from .schema.jobs import job_type as find_type
    from .ui import console

    if job_type is not None:
        from .errors import SpecError, did_you_mean
        from .schema.describe import describe, describe_text

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
    from rich.table import Table

    table = Table()
    for col in ("type", "also", "tool", "consumes", "produces"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["type"], ", ".join(r["aliases"]), r["tool"], ", ".join(f"{s}: {'|'.join(k)}" for s, k in r["consumes"].items()) or "data",
                      ", ".join(f"{k} ({p})" for k, p in r["produces"].items()))
    console().print(table)


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
    """Write a starter pipeline.yaml for the standard chain, with the inferred acquisition as comments."""
    from .init import write_starter
    from .ui import console

    text = write_starter(output, frames=frames, mdocs=mdocs, name=name, site=site, force=force)
    console().print(f"Wrote {output} ({len(text.splitlines())} lines). Next: cryocc validate {output}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
