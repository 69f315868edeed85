"""What the CLI prints as tables: status, jobs, sites and the live view of run (validate, plan and apply
print plain text: report.py).

A table goes one of three ways. At a terminal, a rich table as wide as the terminal, whose key columns
(names, states, directories) are never cut: only free text wraps. Piped (or at a terminal too narrow for the
key columns), plain columns aligned by spaces, every cell whole and "-" for an empty one, so that grep and
awk see one line per row. With --plain, TSV.
rich is imported only for a terminal: status, piped or in a script, stays light."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TextIO, TypedDict

from .contract import RunRecord, scheme_dir
from .lockfile.lockfile import SchemeRecord
from .states import Status

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from .observe.project import JobState


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, key: Sequence[int] = (), title: str = "",
                plain: bool = False, out: TextIO | None = None, terminal: Console | None = None) -> None:
    """key: the columns a reader looks rows up by, kept whole even at a narrow terminal. terminal: the
    console to draw on (a test's); by default a rich table only when `out` is a terminal."""
    out = out or sys.stdout
    cells = [[_one_line(c) for c in row] for row in [columns, *rows]]
    if plain:
        for row in cells:
            print("\t".join(c.replace("\t", " ") for c in row), file=out)
        return
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    if terminal is not None or out.isatty():
        terminal = terminal or console()
        # the key columns whole, and some room for the rest; else the aligned lines, which the terminal wraps
        room = sum(w if i in key else min(w, FREE_TEXT_MIN) for i, w in enumerate(widths)) + 3 * len(widths) + 1
        if room <= terminal.width:
            terminal.print(_rich_table(cells, widths, key, title))
            return
    for row in cells:
        print("  ".join((c or "-").ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


FREE_TEXT_MIN = 16  # the narrowest a column of free text (a detail, a tool) is wrapped to


def _one_line(cell: str) -> str:
    """A cell comes from project files: a newline in it must not start a row of its own."""
    return " ".join(cell.splitlines())


def _rich_table(cells: list[list[str]], widths: list[int], key: Sequence[int], title: str) -> Table:
    """cells: the header, then the rows."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title or None, title_justify="left")
    for i, col in enumerate(cells[0]):
        if i in key:  # as wide as its longest cell: never "ts_reconstru…"
            t.add_column(col, no_wrap=True, min_width=widths[i])
        else:
            t.add_column(col, overflow="fold")
    for row in cells[1:]:
        t.add_row(*(Text(c or ("-" if i in key else "")) for i, c in enumerate(row)))  # Text: a "[" in a file is not markup
    return t


class LogTail(TypedDict):
    """A failed job's last log lines, and the log they are from."""

    log_tail: list[str]
    log: NotRequired[str]


class JobStatusJSON(LogTail):
    name: str
    type: str
    state: Status
    job_dir: str | None
    scheme: str | None
    detail: str
    slurm: dict[str, str] | None  # id, state while SLURM has it
    array: dict[str, Any] | None  # a job run as SLURM arrays, while it runs (observe/arrays.Progress.to_json)
    seconds: int | float | None


class StatusJSON(TypedDict):
    """`status --json`: each job's state, what the last apply planned and the schemer running it."""

    jobs: list[JobStatusJSON]
    last_apply: SchemeRecord | None
    schemer: RunRecord | None
    tilt_series: NotRequired[dict[str, list[dict[str, Any]]]]  # with --tilt-series: observe/quality.by_tilt_series


def print_status(doc: StatusJSON, project: Path, plain: bool = False, terminal: Console | None = None) -> None:
    rows = []
    for j in doc["jobs"]:
        secs = j["seconds"]
        took = f"{secs / 60:.1f} min" if secs and secs >= 60 else (f"{secs:.0f} s" if secs is not None else "")
        slurm = j["slurm"]
        detail = j["detail"] + (f" (SLURM {slurm['id']} {slurm['state']})" if slurm and slurm["id"] not in j["detail"] else "")
        rows.append([j["name"], j["type"], j["state"], j["job_dir"] or "", took, detail])
    print_table(("job", "type", "state", "directory", "time", "detail"), rows, key=(0, 1, 2, 3, 4),
                title=f"Jobs of {project}", plain=plain, terminal=terminal)
    if plain:
        return
    for j in doc["jobs"]:
        if j["log_tail"]:
            print(f"{j['name']} ({j['log']}):")
            for line in j["log_tail"]:
                print(f"  | {line}")
    last = doc["last_apply"]
    if last:
        print(f"Last apply: {scheme_dir(last['name'])}/ with {', '.join(last['jobs'])}")
    s = doc.get("schemer")
    print(f"relion_schemer: running {scheme_dir(s['scheme'])}/ (pid {s['pid']}, since {s['started']})" if s
          else "relion_schemer: not running (cryocc run starts or resumes it)")


def jobs_live_table(states: list[JobState], scheme: str) -> Table:
    """The live view of `cryocc run --wait`: one row per job of the running scheme (a job run as
    SLURM arrays: its tasks' progress)."""
    rows = []
    for st in states:
        slurm = f"{st.slurm['id']} {st.slurm['state']}" if st.slurm else ""
        secs = (st.receipt or {}).get("seconds")
        rows.append([st.name, st.status, st.job_dir or "-", slurm, f"{secs:.0f} s" if secs is not None else "",
                     st.array["line"] if st.array else ""])
    cells = [["job", "state", "directory", "SLURM", "time", "tasks"], *rows]
    return _rich_table(cells, [max(len(row[i]) for row in cells) for i in range(6)], (0, 1, 2, 3, 4), f"{scheme_dir(scheme)}/")


def print_tilt_series(tilt_series: dict[str, list[dict[str, Any]]], plain: bool = False) -> None:
    """`status --tilt-series`: per tilt series, each job's outcome and what its tools measured
    (with --plain, one TSV row per tilt series and job)."""
    from .observe.quality import summary_line

    if plain:
        rows = [[ts, m["job"], m["job_dir"], m["outcome"], m["reason"] or "", summary_line(m["quality"])]
                for ts, measures in tilt_series.items() for m in measures]
        print_table(("tilt_series", "job", "directory", "outcome", "reason", "measured"), rows, plain=True)
        return
    if not tilt_series:
        print("no job has recorded a tilt series yet")
        return
    for ts, measures in tilt_series.items():
        print(ts)
        for m in measures:
            what = summary_line(m["quality"])
            outcome = m["outcome"] + (f": {m['reason']}" if m["reason"] else "")
            print(f"  {m['job']} ({m['job_dir']})  {outcome}" + (f"  {what}" if what else ""))
