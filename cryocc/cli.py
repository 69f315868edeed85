"""The cryocc command line."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__
from .errors import CryoccError

app = typer.Typer(
    name="cryocc",
    help="Compile pipeline.yaml into a RELION 5 project run by relion_schemer on SLURM; "
         "keep what already succeeded when you come back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PipelineArg = typer.Argument(..., help="the pipeline spec, e.g. pipeline.yaml", show_default=False)
ProjectOpt = typer.Option(..., "--project", "-p", help="the RELION project directory", show_default=False)


def user_errors(fn):
    """Print a CryoccError as a message (file:line:col, key, hint) and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CryoccError as exc:
            from .ui import console

            text = exc.render() if len(exc.errors) > 1 else f"error: {exc.render()}"
            console(stderr=True).print(text, markup=False)
            if len(exc.errors) > 1:
                console(stderr=True).print(f"{len(exc.errors)} errors; nothing was written.", markup=False)
            else:
                console(stderr=True).print("nothing was written.", markup=False)
            raise typer.Exit(1) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        print(f"cryocc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit"),
) -> None:
    pass


@app.command()
@user_errors
def validate(pipeline: Path = PipelineArg) -> None:
    """Check PIPELINE and its data; show what was inferred from the mdocs and how jobs are wired."""
    from .compiler.compile import compile_pipeline
    from .ui import acquisition_table, console, jobs_table, tilt_series_table

    c = compile_pipeline(pipeline)
    out = console()
    out.print(f"{pipeline}: valid ({len(c.jobs)} jobs, site {c.pipeline.site.profile.name})")
    out.print(acquisition_table(c))
    out.print(tilt_series_table(c))
    out.print(jobs_table(c))
    for note in c.dataset.notes:
        out.print(f"note: {note}", markup=False)


@app.command()
@user_errors
def apply(
    pipeline: Path = PipelineArg,
    project: Path = ProjectOpt,
) -> None:
    """Compile PIPELINE into the project: job.star files, a scheme of the jobs to run, job scripts, lockfile."""
    from .compiler.apply import apply as do_apply
    from .compiler.compile import compile_pipeline
    from .compiler.plan import plan_fresh
    from .ui import console, print_plan

    c = compile_pipeline(pipeline, project)
    plan = plan_fresh(c.order, {n: j.type.name for n, j in c.jobs.items()})
    out = console()
    print_plan(out, plan)
    result = do_apply(c, project, plan)
    if result.noop:
        where = f" as Schemes/{result.scheme}/" if result.scheme else ""
        out.print(f"Nothing to write: the project already holds this plan{where}.")
        return
    out.print(f"\nWrote {len(result.written)} files to {project}/:")
    out.print(f"  Schemes/{result.scheme}/scheme.star   the scheme: {', '.join(plan.to_run)} -> EXIT")
    out.print(f"  Schemes/{result.scheme}/<job>/job.star one per job to run")
    out.print("  .cryocc/jobs/, .cryocc/scripts/      resolved params and SLURM job scripts")
    out.print("  cryocc.lock                          fingerprints of what was applied")
    out.print(f"Run it with: cd {project} && relion_schemer --scheme {result.scheme} --run "
              f"--pipeline_control Schemes/{result.scheme}/")


@app.command()
def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to this file instead of stdout")) -> None:
    """Print the JSON Schema of pipeline.yaml (for editor completion and checks)."""
    from .schema.export import schema_text

    text = schema_text()
    if output:
        from .fsio import atomic_write

        atomic_write(output, text)
    else:
        sys.stdout.write(text)


@app.command()
def jobs(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List the job types: the tool behind each, what it consumes and produces."""
    from .schema.jobs import CATALOG
    from .ui import console

    rows = [{"type": t.name, "tool": t.tool_label, "summary": t.summary,
             "consumes": {s: list(i.kinds) for s, i in t.inputs.items()},
             "produces": {o.kind: o.path for o in t.outputs if o.kind}} for t in CATALOG.values()]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    from rich.table import Table

    table = Table()
    for col in ("type", "tool", "consumes", "produces"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["type"], r["tool"], ", ".join(f"{s}: {'|'.join(k)}" for s, k in r["consumes"].items()) or "data",
                      ", ".join(f"{k} ({p})" for k, p in r["produces"].items()))
    console().print(table)


@app.command()
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
