"""SerialEM and Tomo5 .mdoc files, read line by line.

The format (https://bio3d.colorado.edu/SerialEM/hlp/html/about_formats.htm): header `key = value`
lines and `[T = ...]` titles, then sections each opened by `[ZValue = n]` (one image of a tilt
series), `[MontSection = n]` or `[FrameSet = n]`, followed by its `key = value` lines. A title is
also written without brackets (`T = SerialEM: ...`, as SerialEM writes its frame mdocs), and one
may run over two lines (`[T = ...` closed by `]` on the next); a UTF-8 byte-order mark is dropped.
This reader keeps every value's line so an error can point at it, and refuses what would otherwise
be read as something else: a section header cut off, a ZValue given twice, a line that is not
`key = value`, a number that is not one (NaN included).
It replaces teamtomo's mdocfile on cryocc's paths (10x faster, no pandas); tests/test_mdoc.py checks
it against mdocfile on every real mdoc.

Lines end at \\n, \\r\\n or \\r, as Python's universal newlines read them (lines_of).

A cold plan reads 10^3-10^4 mdocs of about 1,000 lines each, so read_mdoc tries `parse_usual` first:
for the shape SerialEM and Tomo5 write (every line `key = value`, a `[...]` header or blank; no `=`
without spaces around it) it finds the keys cryocc reads (HEADER_KEYS, SECTION_KEYS) with regular
expressions over the whole text, about 3x faster. Any other shape, a section given twice or a value
infer refuses sends the file through `parse`, which keeps every key and says what is wrong on
which line. Both give the same MdocInfo on every mdoc the tests have (tests/test_mdoc.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import DataError, Location

SECTION = re.compile(r"^\[(ZValue|MontSection|FrameSet)\s*=\s*(-?\d+)\s*\]$")
TITLE = re.compile(r"^\[T\s*=(.*)\]$")
TITLE_OPENED = re.compile(r"^\[T\s*=")
DAMAGED = "the file may be cut off or damaged (was it still being written?)"
# what infer reads of an mdoc: of the header, and of each section (TiltAngle, SubFramePath; the rest of the first)
HEADER_KEYS = ("Montage", "PixelSpacing", "Voltage", "ImageSize")
SECTION_KEYS = ("TiltAngle", "SubFramePath", "ExposureDose", "RotationAngle", "PixelSpacing", "Voltage", "Binning")
_KIND = r"(?:ZValue|MontSection|FrameSet)"
_END = r"[ \t]*(?=\n|$)"  # the rest of a line, as strip() leaves it
# in one pass, each a group of its own: a section header, a title (bracketed, or bare), a key every section has
_LINES = re.compile(rf"\n(?:\[({_KIND[3:-1]}) = (-?\d+)\]{_END}|\[T = ([^\n]*)\]{_END}|T = ([^\n]*)|(TiltAngle|SubFramePath) = ([^\n]*))")
_SECTION_HEAD = re.compile(rf"\n\[{_KIND} = -?\d+\]{_END}")
_HEADER_VALUES = re.compile(rf"\n({'|'.join(HEADER_KEYS)}) = ([^\n]*)")
_FIRST_VALUES = re.compile(rf"\n({'|'.join(k for k in SECTION_KEYS if k not in ('TiltAngle', 'SubFramePath'))}) = ([^\n]*)")


@dataclass
class Section:
    kind: str  # ZValue | MontSection | FrameSet
    index: int
    line: int  # 1-based, of the [ ... ] header
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (value, line)

    def text(self, key: str) -> str | None:
        return self.values[key][0] if key in self.values else None


@dataclass
class MdocFile:
    path: str
    header: dict[str, tuple[str, int]]
    titles: list[str]
    sections: list[Section]

    def error(self, message: str, line: int | None, *, key: str | None = None, hint: str | None = None) -> DataError:
        return DataError(message, location=Location(self.path, line, 1 if line else None), key=key, hint=hint)

    def number(self, where: Section | None, key: str) -> float | None:
        """The value of key as a number, or None when absent; a located error when it is not one."""
        values = where.values if where is not None else self.header
        if key not in values:
            return None
        text, line = values[key]
        try:
            number = float(text.split()[0])
        except (ValueError, IndexError):
            number = math.nan
        if not math.isfinite(number):  # float() reads "NaN" and "inf" too
            raise self.error(f"{key} = {text!r} is not a number", line, key=key,
                             hint="SerialEM and Tomo5 write numbers here: was the file edited by hand or damaged?")
        return number


def lines_of(text: str) -> str:
    """The text with \\n ending every line, as Python's universal newlines read it (\\r\\n, \\r), and
    without a UTF-8 byte-order mark (which would hide the first key)."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse(text: str, path: str) -> MdocFile:
    """Line by line: every key kept, and every line that is not what it should be refused where it is."""
    return _parse_lines(lines_of(text), path)


def parse_usual(text: str, path: str) -> MdocFile | None:  # text: as lines_of leaves it
    """The keys infer reads of an mdoc of the usual shape (every line `key = value`, a `[...]` header
    or blank), found by C string searches over the whole text, with no line numbers (0). None for any
    other shape, a montage flag or a section given twice: `parse` reads those, and a reader that
    finds a value wrong reads the file again with it to say where."""
    t = "\n" + text  # every line starts after a \n
    if (t.count("=") != t.count(" = ") or "\n " in t or "\n\t" in t  # '=' only in ' = '
            or "  = " in t or "\t = " in t):  # keys as they are written
        return None
    if any(line.strip() and line[0] != "[" for line in t.split("\n") if " = " not in line):
        return None  # a line cut off
    found = _LINES.findall(t)
    if t.count("\n[") != sum(1 for f in found if f[0] or f[2]):
        return None  # a title over two lines, a header cut off
    mdoc = MdocFile(path, {}, [], [])
    values: dict[str, tuple[str, int]] = mdoc.header
    seen: set[tuple[str, int]] = set()
    for kind, index, bracketed, bare, key, value in found:
        if kind:
            if (kind, int(index)) in seen:
                return None
            seen.add((kind, int(index)))
            mdoc.sections.append(Section(kind, int(index), 0))
            values = mdoc.sections[-1].values
        elif key:
            values[key] = (value.strip(), 0)
        else:
            mdoc.titles.append((bracketed or bare).strip())
    places = [m.start() for m in _SECTION_HEAD.finditer(t)] + [len(t)]  # of each section, in mdoc.sections' order
    mdoc.header.update((k, (v.strip(), 0)) for k, v in _HEADER_VALUES.findall(t, 0, places[0]))
    if mdoc.header.get("Montage", ("0",))[0] != "0":
        return None  # a montage, or a tilt series flagged as one: its sections' piece keys tell
    zvalues = [i for i, s in enumerate(mdoc.sections) if s.kind == "ZValue"]
    if zvalues:  # the first tilt's other keys, from its lines alone
        i = min(zvalues, key=lambda i: mdoc.sections[i].index)
        mdoc.sections[i].values.update((k, (v.strip(), 0)) for k, v in _FIRST_VALUES.findall(t, places[i], places[i + 1]))
    return mdoc


def _parse_lines(text: str, path: str) -> MdocFile:
    """Line by line: every key kept, and every line that is not what it should be refused where it is."""
    header: dict[str, tuple[str, int]] = {}
    titles: list[str] = []
    sections: list[Section] = []
    seen: dict[tuple[str, int], int] = {}
    mdoc = MdocFile(path, header, titles, sections)
    values = header
    lines = enumerate(text.split("\n"), 1)
    for n, raw in lines:
        key, eq, value = raw.partition(" = ")  # most lines, as SerialEM and Tomo5 write them: one split
        if eq and key and key[0] not in "[ \t" and key[-1] != " " and "=" not in key:
            if key == "T":  # a title without brackets (SerialEM's frame mdocs)
                titles.append(value.strip())
            else:
                values[key] = (value.strip(), n)
            continue
        line = raw.strip()
        if not line:
            continue
        if line.startswith("["):
            if (section := _bracket_line(mdoc, line, n, lines, seen)) is not None:
                values = section
            continue
        key, eq, value = line.partition("=")
        if not eq or not key.strip():
            raise mdoc.error(f"{line!r} is not a 'key = value' line", n, hint=DAMAGED)
        key = key.strip()
        if key == "T":
            titles.append(value.strip())
        else:
            values[key] = (value.strip(), n)
    return mdoc


def _bracket_line(mdoc: MdocFile, line: str, n: int, lines: Iterator[tuple[int, str]],
                  seen: dict[tuple[str, int], int]) -> dict[str, tuple[str, int]] | None:
    """A `[...]` line: a section header (its values, where the lines after it go) or a title (None).
    seen: each section's line, to refuse one given twice."""
    if m := SECTION.match(line):
        kind, index = m.group(1), int(m.group(2))
        if (kind, index) in seen:
            raise mdoc.error(f"[{kind} = {index}] appears twice (first on line {seen[kind, index]})", n,
                             hint="the file was written twice into, or edited by hand: keep one of the sections")
        seen[kind, index] = n
        mdoc.sections.append(Section(kind, index, n))
        return mdoc.sections[-1].values
    if m := TITLE.match(line):
        mdoc.titles.append(m.group(1).strip())
    elif TITLE_OPENED.match(line):
        mdoc.titles.append(_rest_of_title(mdoc, line, n, lines))
    else:
        raise mdoc.error(f"{line!r} is not a section header", n, hint=DAMAGED)
    return None


def _rest_of_title(mdoc: MdocFile, opened: str, n: int, lines: Iterator[tuple[int, str]]) -> str:
    """A title whose `]` is on the next line: the two lines as one title."""
    _, following = next(lines, (n + 1, ""))
    following = following.strip()
    if not following.endswith("]") or following.startswith("["):
        raise mdoc.error(f"{opened!r} is not a section header: its ']' is not on this line or the next", n, hint=DAMAGED)
    return (opened.partition("=")[2] + " " + following[:-1]).strip()
