"""One user-facing error hierarchy: shown without a traceback, with file:line:col, key and hint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based

    def __str__(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


class CryoccError(Exception):
    """An error the user can act on. The CLI prints it and exits 1, without a traceback, and says
    that nothing was written, unless the error says what was (`written`)."""

    written: str | None = None  # what the command had already done when it failed

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.key = key
        self.hint = hint

    def render(self) -> str:
        head = []
        if self.location is not None:
            head.append(str(self.location))
        if self.key:
            head.append(self.key)
        text = ": ".join(head + [self.message])
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    @property
    def errors(self) -> list[CryoccError]:
        return [self]


class SpecError(CryoccError):
    """pipeline.yaml or a site profile is wrong."""


class DataError(CryoccError):
    """The data the spec points at (frames, mdocs, gain) is missing or inconsistent."""


class ProjectError(CryoccError):
    """The project directory is in a state cryocc cannot work with (locked, running, foreign)."""


class SystemFailure(CryoccError):
    """The file system refused (disk full, permissions, a directory where a file belongs). Writes are
    atomic and the lockfile comes last, so the project is still as the last complete apply left it."""


_OS_HINTS = {
    "ENOSPC": "the disk or its inode table is full: free space (df -h; df -i) and run the command again",
    "EDQUOT": "your disk quota is used up: free space and run the command again",
    "EACCES": "check the permissions of the file and its directory (ls -ld); in a shared project, ask its owner to make it group-writable",
    "EPERM": "check the permissions of the file and its directory (ls -ld)",
    "EROFS": "that file system is mounted read-only: put the project on a writable one",
    "EISDIR": "a directory is where a file belongs: move it away",
    "ENOTDIR": "a file is where a directory belongs: move it away",
    "ENAMETOOLONG": "shorten the path",
    "ELOOP": "a symlink loop: fix or remove the link",
}


def os_failure(exc: OSError) -> SystemFailure:
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    where = Location(exc.filename) if exc.filename else None
    return SystemFailure(exc.strerror or str(exc), location=where,
                         hint=_OS_HINTS.get(name, "check the path, its permissions and the file system (df -h)"))


class ErrorGroup(CryoccError):
    """Several errors found in one pass, reported together."""

    def __init__(self, errors: Iterable[CryoccError]) -> None:
        self._errors = [e for err in errors for e in err.errors]
        n = len(self._errors)
        super().__init__(f"{n} error{'s' if n != 1 else ''}")

    @property
    def errors(self) -> list[CryoccError]:
        return self._errors

    def render(self) -> str:
        return "\n".join(f"error: {e.render()}" for e in self._errors)


class Collector:
    """Gathers errors so that one run reports all of them, then raises them together."""

    def __init__(self) -> None:
        self.errors: list[CryoccError] = []
        self._seen: set[str] = set()  # rendered once each: collecting n errors takes time linear in n

    def add(self, error: CryoccError) -> None:
        """Each distinct error once (a shared layer, e.g. defaults.params, is checked for every job)."""
        for e in error.errors:
            text = e.render()
            if text not in self._seen:
                self._seen.add(text)
                self.errors.append(e)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ErrorGroup(self.errors) if len(self.errors) > 1 else self.errors[0]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest valid choice, or listing the valid ones when none is close."""
    choices = sorted(choices)
    import difflib  # only when there is an error to explain

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if choices and len(choices) <= 12:
        return "valid choices: " + ", ".join(choices)
    return None


def decode_text(data: bytes, path: str, error: type[CryoccError], what: str, hint: str, nul_hint: str | None = None) -> str:
    """data as UTF-8 text; else an error (of class error) at the NUL byte or the first byte that is
    not UTF-8, which says the file is not a text `what`."""
    if b"\0" in data:
        raise error(f"a NUL byte: not a text {what}", location=Location(path, *byte_position(data, data.index(b"\0"))),
                    hint=nul_hint or hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"byte 0x{data[exc.start]:02x} is not UTF-8" + (f": not a text {what}" if what != "file" else ""),
                    location=Location(path, *byte_position(data, exc.start)), hint=hint) from None


def byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1
