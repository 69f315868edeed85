"""The YAML parser's complaints in plain words: what is wrong, at which line and column, and how to fix it.

ruamel says where it gave up (problem_mark) and often where the construct it was reading began
(context_mark); its words (`expected <block end>, but found '<block mapping start>'`) name parser
states. Each common mistake is recognised from those and from the lines themselves; anything else
keeps the parser's own text."""

from __future__ import annotations

import re
from typing import Any

from ..errors import Location, SpecError

CLOSING = {"]": "[", "}": "{"}
OPENING = {"[": "]", "{": "}"}
INDENT_HINT = "indent with spaces; the keys of one mapping line up exactly, and a value's keys sit further right than its key"


def syntax_error(exc: Any, text: str, path: str) -> SpecError:
    """A SpecError for a ruamel MarkedYAMLError raised while reading text (the file at path)."""
    lines = text.splitlines()
    problem, context = exc.problem or "", exc.context or ""
    at, began = _position(exc.problem_mark), _position(exc.context_mark)
    found = _explain(problem, context, at, began, lines)
    if found is not None:
        message, (line, col), hint = found
        return SpecError(message, location=Location(path, line, col), hint=hint)
    detail = f"{context}: {problem}" if context and began else problem or str(exc)
    mark = at or began
    return SpecError(f"YAML syntax error: {detail}", location=Location(path, *mark) if mark else Location(path),
                     hint="check indentation and quoting near this position")


Explained = tuple[str, tuple[int, int], str]


def _position(mark: Any) -> tuple[int, int] | None:
    """1-based (line, column) of a ruamel mark."""
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def _explain(problem: str, context: str, at: tuple[int, int] | None, began: tuple[int, int] | None,
             lines: list[str]) -> Explained | None:
    if at is None:
        return None
    return _explain_characters(problem, at, began, lines) or _explain_structure(problem, context, at, began, lines)


def _explain_characters(problem: str, at: tuple[int, int], began: tuple[int, int] | None, lines: list[str]) -> Explained | None:
    """A tab, a character that cannot start a value, a bracket left open."""
    if "'\\t'" in problem or re.search(r"\btabs?\b", problem):
        return ("YAML syntax error: a tab character", at,
                "YAML does not allow tabs for indentation: indent with spaces (set your editor to insert spaces)")
    if m := re.match(r"found character '(.)' that cannot start any token", problem):
        return (f"YAML syntax error: a value cannot start with '{m.group(1)}'", at,
                f"put the value in quotes: '{m.group(1)}...'")
    if m := re.match(r"expected ',' or '([\]}])', but got '?(.*?)'?$", problem):
        return _unclosed(m.group(1), m.group(2), at, began)
    if "<stream end>" in problem:  # the file ends inside something: most often a '[' or '{' left open
        return _file_ends(at, lines)
    return None


def _explain_structure(problem: str, context: str, at: tuple[int, int], began: tuple[int, int] | None,
                       lines: list[str]) -> Explained | None:
    """A quote, a colon or a list item out of place, a key indented wrong, an alias to no anchor."""
    if "quoted scalar" in context and began is not None:
        return _quote(problem, at, began, lines)
    if problem == "could not find expected ':'" and began is not None:
        return _no_colon(began, lines)
    if problem == "mapping values are not allowed here":
        return _stray_colon(at, lines)
    if problem == "sequence entries are not allowed here":
        return ("YAML syntax error: a list item ('- ') on the same line as its key", at,
                "start the list on the next line, indented below the key ('- item' lines), or write it as [a, b]")
    if problem.startswith("expected <block end>, but found"):
        return _misplaced(problem, at, lines)
    if m := re.match(r"found undefined alias '(.*)'", problem):
        return (f"YAML syntax error: *{m.group(1)} refers to no anchor &{m.group(1)} above it", at,
                f"define &{m.group(1)} earlier in the file, or quote the value if '*' is meant as text")
    return None


def _unclosed(close: str, got: str, at: tuple[int, int], began: tuple[int, int] | None) -> Explained:
    opening = CLOSING[close]
    where = began or at
    token = "text" if got == "<scalar>" else f"'{got}'"
    before = "the file ends" if got == "<stream end>" else f"{token} at line {at[0]}, column {at[1]} comes"
    return (f"YAML syntax error: the '{opening}' at line {where[0]}, column {where[1]} is not closed: "
            f"{before} before its '{close}'", where,
            f"close it with '{close}', and separate its items with commas; quote a value that holds "
            "',', ': ', '[', ']', '{' or '}'")


def _file_ends(at: tuple[int, int], lines: list[str]) -> Explained:
    if opened := _open_bracket(lines):
        bracket, where = opened
        return _unclosed(OPENING[bracket], "<stream end>", at, where)
    return ("YAML syntax error: the file ends where a value is expected", at, "finish the last value, or remove it")


def _open_bracket(lines: list[str]) -> tuple[str, tuple[int, int]] | None:
    """The innermost '[' or '{' the text leaves open, and where: quoted text and comments skipped."""
    stack: list[tuple[str, tuple[int, int]]] = []
    for n, line in enumerate(lines, 1):
        quote, i = "", 0
        while i < len(line):
            c = line[i]
            if quote:  # an escape (\" inside "...", '' inside '...') is two characters that do not end it
                escape = c == "\\" if quote == '"' else line[i:i + 2] == "''"
                quote = "" if c == quote and not escape else quote
                i += 2 if escape else 1
                continue
            if c in "'\"" and (i == 0 or line[i - 1] in " [{,:"):
                quote = c
            elif c == "#" and (i == 0 or line[i - 1] == " "):
                break
            elif c in "[{":
                stack.append((c, (n, i + 1)))
            elif c in "]}" and stack:
                stack.pop()
            i += 1
    return stack[-1] if stack else None


def _quote(problem: str, at: tuple[int, int], began: tuple[int, int], lines: list[str]) -> Explained:
    quote = _char(lines, began) or '"'
    if m := re.match(r"found unknown escape character '(.)'", problem):
        return (f"YAML syntax error: \\{m.group(1)} is not an escape YAML knows, in a \"...\" value", at,
                "inside \"...\" a backslash starts an escape: use '...' for paths with backslashes (C:\\data)")
    inside = "write a ' inside '...' as ''" if quote == "'" else 'write a " inside "..." as \\"'
    return (f"YAML syntax error: the quote ({quote}) at line {began[0]}, column {began[1]} is never closed", began,
            f"end the value with a matching {quote} on the same line; {inside}")


def _no_colon(began: tuple[int, int], lines: list[str]) -> Explained:
    text = _line(lines, began[0]).strip()
    return (f"YAML syntax error: no ':' after the key in '{text}'", began,
            "write key: value, with a space after the ':'")


def _stray_colon(at: tuple[int, int], lines: list[str]) -> Explained:
    """A ': ' the parser did not expect: a value holding ': ', a key line missing its ':' above, or a line
    indented further than the key-value line above it."""
    line = _line(lines, at[0])
    if re.search(r":(\s|$)", line[: at[1] - 1]):
        return ("YAML syntax error: a second ': ' on one line (the value holds ': ')", at,
                "put the value in quotes (key: 'a: b'), or write the nested mapping on lines of its own")
    above = _line_above(lines, at[0])
    if above is None:
        return ("YAML syntax error: a ':' where a value is expected", at, INDENT_HINT)
    n, text = above
    content = text.split(" #")[0].strip()
    if ":" not in content and not content.startswith("-"):
        return (f"YAML syntax error: no ':' after the key in '{content}' (line {n})", (n, _indent(text) + 1),
                "write key: value, with a space after the ':'")
    return (f"YAML syntax error: line {at[0]} is indented further than line {n}, as if it went on with line {n}'s value",
            (at[0], _indent(line) + 1),
            f"indent it with {_spaces(_indent(text))} like line {n} to make it a key beside it; "
            f"or, to nest it below line {n}'s key, end line {n} at its ':'")


def _misplaced(problem: str, at: tuple[int, int], lines: list[str]) -> Explained:
    """`expected <block end>, but found X`: something where the parser wanted the mapping or list to go on or end."""
    line = _line(lines, at[0])
    if at[1] - 1 > _indent(line):  # not the first thing on its line: text after a finished value
        return (f"YAML syntax error: more text after the value ends, at column {at[1]}", at,
                "put the whole value in quotes, with nothing after the closing quote but a # comment")
    if "'-'" in problem:
        return ("YAML syntax error: a list item ('- ') among the keys of a mapping", at,
                "a key holds either a mapping or a list: put the list under a key of its own "
                "(key: on one line, then indented '- item' lines), or remove the '- '")
    if "'?'" in problem:
        return ("YAML syntax error: a key among the items of a list", at,
                "each item of a list starts with '- ' (- key: value); or indent the key less, out of the list")
    choices = " or ".join(f"{_spaces(indent)} (beside line {n})" for n, indent in _open_keys(lines, at[0]))
    return (f"YAML syntax error: line {at[0]} is indented {_spaces(_indent(line))}, which lines up with no key above it",
            at, "the keys of one mapping line up exactly" + (f": indent it with {choices}" if choices else ""))


def _open_keys(lines: list[str], n: int) -> list[tuple[int, int]]:
    """The keys a line at n could stand beside: the nearest line above at each smaller indentation."""
    out: list[tuple[int, int]] = []
    while (above := _line_above(lines, n)) is not None:
        n, text = above
        if not out or _indent(text) < out[-1][1]:
            out.append((n, _indent(text)))
        if out[-1][1] == 0:
            break
    return out


def _line(lines: list[str], n: int) -> str:
    return lines[n - 1] if 0 < n <= len(lines) else ""


def _line_above(lines: list[str], n: int) -> tuple[int, str] | None:
    """The nearest line above line n that holds more than a comment: (its number, its text)."""
    for k in range(n - 1, 0, -1):
        text = lines[k - 1]
        if text.strip() and not text.lstrip().startswith("#"):
            return k, text
    return None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _spaces(n: int) -> str:
    return f"{n} space" if n == 1 else f"{n} spaces"


def _char(lines: list[str], at: tuple[int, int]) -> str:
    line = _line(lines, at[0])
    return line[at[1] - 1] if at[1] - 1 < len(line) else ""
