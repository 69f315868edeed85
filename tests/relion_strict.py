"""A STAR reader that applies RELION 5's parsing rules (relion-schemes.md §1), strictly.

It reports what RELION would silently get wrong or reject: CRLF, text after data_, a label
whose '#' has no space before it, an empty loop, a loop not ended by a blank line before the
next block, rows lost after a blank line inside a loop, column-count mismatches, runs of spaces
inside quoted loop values, and booleans that are not 0/1 in scheme tables or Yes/No in job options.
"""

from __future__ import annotations

SCHEME_BOOL_LABELS = {"rlnSchemeJobHasStarted", "rlnSchemeEdgeIsFork", "rlnSchemeBooleanVariableValue",
                      "rlnSchemeBooleanVariableResetValue", "rlnJobIsContinue", "rlnJobIsTomo"}
JOB_BOOL_OPTIONS = {"do_queue", "images_are_motion_corrected", "dose_is_per_movie_frame", "flip_tiltseries_hand"}


class StrictError(ValueError):
    pass


def tokens(line: str, lineno: int) -> list[str]:
    out, i, n = [], 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] in "\"'":
            q = line[i]
            end = i + 1
            while end < n and not (line[end] == q and (end + 1 == n or line[end + 1].isspace())):
                end += 1
            if end >= n:
                raise StrictError(f"line {lineno}: unterminated quote")
            value = line[i + 1:end]
            if "  " in value:
                raise StrictError(f"line {lineno}: RELION collapses the run of spaces in {value!r}")
            out.append(value)
            i = end + 1
        elif line[i] == "#":
            break
        else:
            end = i
            while end < n and not line[end].isspace():
                end += 1
            out.append(line[i:end])
            i = end
    return out


def read_strict(text: str, *, exact_headers: bool = True) -> dict:
    """Each block by name: a list of rows for a loop, a dict for label-value pairs; StrictError otherwise."""
    if "\r" in text:
        raise StrictError("CR line ending: RELION's reader fails on CRLF files")
    lines = text.split("\n")
    blocks: dict = {}
    i = 0
    while i < len(lines):
        if "data_" not in lines[i]:
            i += 1
            continue
        name = _block_name(lines[i], i + 1, exact_headers)
        i = _first_content_line(lines, i + 1, name)
        if "loop_" in lines[i]:
            blocks[name], i = _read_loop(lines, i + 1, name)
        else:
            blocks[name], i = _read_pairs(lines, i)
    _check_booleans(blocks)
    return blocks


def _block_name(raw: str, lineno: int, exact_headers: bool) -> str:
    # RELION finds "data_" anywhere on the line and takes all that follows as the name
    # (relion:src/metadata_table.cpp:1237-1239)
    stripped = raw.strip()
    name = stripped[stripped.index("data_") + 5:]
    if exact_headers and (not stripped.startswith("data_") or " " in name or "#" in name):
        raise StrictError(f"line {lineno}: text around the block header {raw!r}")
    return name


def _first_content_line(lines: list[str], i: int, name: str) -> int:
    """The index of the block's loop_ or first label line."""
    while i < len(lines) and "loop_" not in lines[i] and not lines[i].startswith("_"):
        if "data_" in lines[i]:
            raise StrictError(f"line {i + 1}: block data_{name} is empty; RELION would read the next block into it")
        i += 1
    if i == len(lines):
        raise StrictError(f"block data_{name} has no content")
    return i


def _read_loop(lines: list[str], i: int, name: str) -> tuple[list[dict], int]:
    """The rows of the loop whose labels start at line index i, and the index just after its last row."""
    labels, i = _read_labels(lines, i)
    rows, i = _read_rows(lines, i, labels, name)
    if not rows:
        raise StrictError(f"data_{name}: empty loop (RELION: fewer columns than labels)")
    _check_nothing_after_blank(lines, i, name)
    return rows, i


def _read_labels(lines: list[str], i: int) -> tuple[list[str], int]:
    labels = []
    while i < len(lines):
        s = lines[i].strip()
        if not s or s[0] in "#;":
            i += 1
            continue
        if not s.startswith("_"):
            break
        head = s.split()[0]
        # RELION drops the character before the '#', expecting a space, so "_rlnX#3" would lose its X
        # (relion:src/metadata_table.cpp:1055-1058)
        if "#" in head:
            raise StrictError(f"line {i + 1}: label {head!r} needs a space before '#'")
        labels.append(head[1:])
        i += 1
    return labels, i


def _read_rows(lines: list[str], i: int, labels: list[str], name: str) -> tuple[list[dict], int]:
    """The rows up to the first blank line, where RELION ends a loop (relion:src/metadata_table.cpp:1086-1088)."""
    rows = []
    while i < len(lines) and lines[i].strip():
        if "data_" in lines[i]:
            raise StrictError(f"line {i + 1}: loop data_{name} is not ended by a blank line")
        vals = tokens(lines[i], i + 1)
        # RELION rejects a long row, and a short one unless the loop has two labels or fewer (:1104-1125)
        if len(vals) > len(labels) or (len(vals) < len(labels) and len(labels) > 2):
            raise StrictError(f"line {i + 1}: {len(vals)} values for {len(labels)} labels in data_{name}")
        rows.append(dict(zip(labels, vals)))
        i += 1
    return rows, i


def _check_nothing_after_blank(lines: list[str], j: int, name: str) -> None:
    # RELION stops reading the loop at the blank line and looks only for the next data_: rows are dropped
    while j < len(lines) and "data_" not in lines[j]:
        s = lines[j].strip()
        if s and not s.startswith("#"):
            raise StrictError(f"line {j + 1}: row after a blank line inside data_{name} would be lost")
        j += 1


def _read_pairs(lines: list[str], i: int) -> tuple[dict, int]:
    """The label-value pairs of a block without a loop, up to the next data_ or loop_ line."""
    pairs = {}
    while i < len(lines) and "data_" not in lines[i] and "loop_" not in lines[i]:
        vals = tokens(lines[i], i + 1)
        if vals and vals[0].startswith("_"):
            if len(vals) < 2:
                raise StrictError(f"line {i + 1}: label {vals[0]} has no value")
            pairs[vals[0][1:]] = vals[1]
        i += 1
    return pairs, i


def _check_booleans(blocks: dict) -> None:
    for name, block in blocks.items():
        rows = block if isinstance(block, list) else [block]
        for row in rows:
            for label, value in row.items():
                if label in SCHEME_BOOL_LABELS and value not in ("0", "1"):
                    raise StrictError(f"data_{name}: {label} = {value!r} must be 0 or 1")
            if row.get("rlnJobOptionVariable") in JOB_BOOL_OPTIONS and row.get("rlnJobOptionValue") not in ("Yes", "No"):
                raise StrictError(f"job option {row['rlnJobOptionVariable']} = {row.get('rlnJobOptionValue')!r} must be Yes or No")
