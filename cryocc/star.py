"""STAR files as RELION 5 reads them.

cryocc writes STAR itself rather than through starfile.write: output must be byte-identical
across runs (starfile adds a clock-time header) and follow RELION's reader, which is stricter
than the format (no empty loops, quoting rules, 0/1 booleans). The small reader serves `plan`,
which must not pay for pandas; tests cross-check everything against starfile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .errors import Location, ProjectError

VERSION_LINE = "# version 50001"
Value = str | int | float | bool
Blocks = dict[str, dict[str, str] | list[dict[str, str]]]  # data_<name> -> its pairs or its loop's rows

_NEEDS_QUOTES = re.compile(r"[\s]|^[#_;'\"]|^$")


class StarValueError(ValueError):
    pass


def format_value(value: Value) -> str:
    """One value as RELION reads it back unchanged."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    text = str(value)
    if "\n" in text or "\r" in text:
        raise StarValueError(f"a STAR value cannot contain a line break: {text!r}")
    if '"' in text:
        raise StarValueError(f"a STAR value cannot contain a double quote: {text!r}")
    if "  " in text or "\t" in text:
        raise StarValueError(f"RELION collapses runs of spaces and tabs in STAR values: {text!r}")
    if _NEEDS_QUOTES.search(text) or "data_" in text or "loop_" in text:
        return f'"{text}"'
    return text


def block_pairs(name: str, pairs: Mapping[str, Value]) -> str:
    width = max(len(k) for k in pairs) + 1
    lines = [VERSION_LINE, "", f"data_{name}", ""]
    lines += [f"_{k.ljust(width)} {format_value(v)}" for k, v in pairs.items()]
    return "\n".join(lines) + "\n\n"


def block_loop(name: str, labels: Sequence[str], rows: Iterable[Sequence[Value]]) -> str:
    text = [[format_value(v) for v in row] for row in rows]
    if not text:
        raise StarValueError(f"refusing to write the empty loop data_{name}: RELION cannot read it")
    for row in text:
        if len(row) != len(labels):
            raise StarValueError(f"data_{name}: row {row} does not have {len(labels)} values")
    widths = [max(len(r[i]) for r in text) for i in range(len(labels))]
    lines = [VERSION_LINE, "", f"data_{name}", "", "loop_"]
    lines += [f"_{label} #{i + 1}" for i, label in enumerate(labels)]
    lines += [" ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in text]
    return "\n".join(lines) + "\n\n"


# --- reading -------------------------------------------------------------------------------
# RELION's rules (src/metadata_table.cpp, readStarLoop and readStarList; nextTokenInSTAR in
# src/strings.cpp): among a loop's labels, blank lines and lines starting with '#' or ';' are
# skipped; the first other line is the first row; a blank line ends the loop; an unquoted token
# starting with '#' ends a row's values; a row with more values than labels is an error, and so is
# one with fewer when the loop has more than two labels; a label-value pair without its value is an
# error. cryocc stops where RELION stops, at the line, rather than read a shorter table.

def _tokens(line: str) -> list[str]:
    out, i, n = [], 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            end = i + 1
            while end < n and not (line[end] == c and (end + 1 == n or line[end + 1].isspace())):
                end += 1
            out.append(line[i + 1 : end])
            i = end + 1
            continue
        if c == "#":  # a comment: the rest of the line
            break
        end = i
        while end < n and not line[end].isspace():
            end += 1
        out.append(line[i:end])
        i = end
    return out


def read_star(path: Path | str) -> Blocks:
    """Blocks by name: a dict for key-value blocks, a list of row dicts for loops (values as text)."""
    return parse_star(Path(path).read_text(encoding="utf-8"), str(path))


def parse_star(text: str, path: str | None = None) -> Blocks:
    """text's blocks; a ProjectError at the line where RELION would stop reading (path names the file)."""
    blocks: Blocks = {}
    lines = text.removeprefix("\ufeff").splitlines()  # a BOM would hide the first data_ line
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line.startswith("data_"):
            continue
        name = line[5:]
        while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
            i += 1
        if i < len(lines) and lines[i].strip().startswith("loop_"):
            blocks[name], i = _loop(lines, i + 1, name, path)
        else:
            blocks[name], i = _pairs(lines, i, name, path)
    return blocks


def _loop(lines: list[str], i: int, name: str, path: str | None) -> tuple[list[dict[str, str]], int]:
    labels = []
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("_"):
            labels.append(line.split()[0][1:])
        elif line and line[0] not in "#;":  # the first row
            break
        i += 1
    rows = []
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith("data_"):
            break
        values = _tokens(line)
        if len(values) != len(labels):
            if len(values) > len(labels) or len(labels) > 2:
                raise _star_error(path, i, name, f"a row of {len(values)} values in a loop of {len(labels)} labels",
                                  "more" if len(values) > len(labels) else "fewer")
            values += [""] * (len(labels) - len(values))  # RELION leaves them empty in a loop of two labels
        rows.append(dict(zip(labels, values)))
        i += 1
    return rows, i


def _pairs(lines: list[str], i: int, name: str, path: str | None) -> tuple[dict[str, str], int]:
    pairs: dict[str, str] = {}
    while i < len(lines) and not lines[i].strip().startswith(("data_", "loop_")):
        toks = _tokens(lines[i])
        if toks and toks[0].startswith("_"):
            if len(toks) < 2:
                raise _star_error(path, i, name, f"{toks[0]} has no value", None)
            pairs[toks[0][1:]] = toks[1]
        i += 1
    return pairs, i


def _star_error(path: str | None, index: int, name: str, message: str, columns: str | None) -> ProjectError:
    relion = (f"RELION stops here too ('A line in the STAR file contains {columns} columns than the number of labels')"
              if columns else "RELION stops here too (readStarList: 'did not encounter a single word after' the label)")
    return ProjectError(f"data_{name}: {message}", location=Location(path, index + 1, 1),
                        hint=f"{relion}: was the file cut off, or edited by hand? a value with spaces needs quotes")


def rows_of(blocks: Blocks, name: str) -> list[dict[str, str]]:
    """A block's loop rows; [] when there is no such block or it is not a loop."""
    block = blocks.get(name)
    return block if isinstance(block, list) else []


def pairs_of(blocks: Blocks, name: str) -> dict[str, str]:
    """A block's label-value pairs; {} when there is no such block or it is a loop."""
    block = blocks.get(name)
    return block if isinstance(block, dict) else {}
