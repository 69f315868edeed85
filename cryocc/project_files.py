"""The one way cryocc reads a file a project holds (receipts, cryocc.lock, the results index,
run.json, scheme.star, default_pipeline.star, params documents, logs): nothing read from a project
is trusted. A file is opened without blocking and must be a regular file (a FIFO would hang the
command, a link to /dev/zero fill its memory), it is read up to a bound, decoded as UTF-8 and, for
JSON, parsed and checked for its shape, or the command stops with an error naming the file.
Standard library only: plan and status read through it."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from .errors import Location, ProjectError, decode_text, os_failure

DOCUMENT_LIMIT = 256 << 20  # bytes: a lockfile of 10^5 files is ~20 MB, a receipt of a big folder a few MB
SMALL_LIMIT = 1 << 20  # a file cryocc writes a few lines into

MOVE_AWAY = "cryocc reads only the regular files it or RELION wrote here: restore this one from a backup, or move " \
            "it away (a job whose receipt is gone runs again; a lost cryocc.lock is rebuilt from the receipts)"

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class DamagedFile(ProjectError):
    """A project file that cannot be what cryocc or RELION wrote there."""


def damaged(path: Path | str, message: str, *, key: str | None = None, line: int | None = None,
            col: int | None = None, hint: str = MOVE_AWAY) -> DamagedFile:
    return DamagedFile(message, location=Location(str(path), line, col), key=key, hint=hint)


@contextmanager
def open_regular(path: Path | str) -> Iterator[BinaryIO | None]:
    """The file opened for reading, or None when there is none. Opened with O_NONBLOCK (opening a
    FIFO would wait for a writer) and refused unless fstat says it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    except OSError as exc:
        raise os_failure(exc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise damaged(path, f"{kind} where a file belongs", hint=MOVE_AWAY)
    with os.fdopen(fd, "rb") as fh:
        yield fh


def read_bytes(path: Path | str, what: str, limit: int = DOCUMENT_LIMIT) -> bytes | None:
    """The file's bytes (None when there is none), at most limit of them: a bigger file is an error."""
    with open_regular(path) as fh:
        if fh is None:
            return None
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise damaged(path, f"more than {limit} bytes: not a {what} cryocc or RELION wrote")
    return data


def read_text(path: Path | str, what: str, limit: int = DOCUMENT_LIMIT) -> str | None:
    """The file as UTF-8 text (None when there is none); an error at the first byte that is not."""
    data = read_bytes(path, what, limit)
    return None if data is None else decode_text(data, str(path), DamagedFile, what, MOVE_AWAY)


class Absent:
    """No such file (None would be the JSON document null)."""


ABSENT = Absent()


def read_json(path: Path | str, what: str, limit: int = DOCUMENT_LIMIT) -> Any:
    """The file's JSON value, ABSENT when there is no file."""
    data = read_bytes(path, what, limit)
    return ABSENT if data is None else parse_json(data, path, what)


def parse_json(data: bytes, path: Path | str, what: str) -> Any:
    """A JSON value; an error at the line and column of path where it is not JSON."""
    text = decode_text(data, str(path), DamagedFile, what, MOVE_AWAY)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(path, f"not a JSON {what}: {exc.msg}", line=exc.lineno, col=exc.colno) from None
    except (ValueError, RecursionError) as exc:  # an integer of 4,300+ digits; nesting deeper than Python's stack
        raise damaged(path, f"not a JSON {what} cryocc wrote: {exc}") from None


def read_tail(path: Path | str, limit: int) -> bytes:
    """The last limit bytes of a file (a log), b"" when there is none."""
    with open_regular(path) as fh:
        if fh is None:
            return b""
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - limit))
        return fh.read(limit)


# --- shapes: a typed reader per document checks what it uses, with these ----------------------

def _type_name(kinds: tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", bool: "true or false", dict: "an object",
             list: "a list", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def expect(value: Any, kinds: type | tuple[type, ...], path: Path | str, key: str, what: str) -> Any:
    """value, when it is of one of kinds (a bool is not a number), else an error at path and key."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        got = "null" if value is None else type(value).__name__
        raise damaged(path, f"should be {_type_name(kinds)}, not {got}: not a {what} cryocc wrote", key=key)
    return value


def expect_fields(doc: Any, fields: dict[str, type | tuple[type, ...]], path: Path | str, what: str,
                  prefix: str = "", required: tuple[str, ...] = ()) -> dict[str, Any]:
    """doc, when it is an object whose fields (those present; required ones must be) have their types."""
    expect(doc, dict, path, prefix.rstrip(".") or "(top level)", what)
    for key, kinds in fields.items():
        if key in doc:
            expect(doc[key], kinds, path, prefix + key, what)
        elif key in required:
            raise damaged(path, f"missing: not a {what} cryocc wrote", key=prefix + key)
    return dict(doc)
