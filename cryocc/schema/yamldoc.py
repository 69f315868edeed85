"""Load YAML into plain Python values plus a map from key path to file position."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Location, SpecError, byte_position, decode_text

Key = tuple[str | int, ...]


@dataclass
class Document:
    """A loaded YAML file: plain data and where each key and value sits in the file."""

    path: Path
    data: Any
    keys: dict[Key, tuple[int, int]] = field(default_factory=dict)
    values: dict[Key, tuple[int, int]] = field(default_factory=dict)

    def locate(self, key: Key, *, value: bool = False) -> Location:
        """Position of key (or its value); falls back to the nearest enclosing key."""
        table = self.values if value else self.keys
        for n in range(len(key), -1, -1):
            k = key[:n]
            pos = table.get(k) or self.keys.get(k)
            if pos:
                return Location(str(self.path), pos[0] + 1, pos[1] + 1)
        return Location(str(self.path), 1, 1)


def dotted(key: Key) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


MAX_BYTES = 1 << 20  # a spec or site profile is a few KB
MAX_DEPTH = 32  # nesting levels: a spec has five
MAX_VALUES = 100_000  # keys, items and scalars after aliases are expanded: a spec has a few hundred


def read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing what is not a small text file, with its position."""
    what = "a YAML file"
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SpecError(f"{path.stat().st_size / 1e6:.1f} MB: too large for {what}",
                            location=Location(str(path)), hint="a pipeline or site profile is a few KB; is this the right file?")
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"file not found: {path}", hint="check the path, relative to where you run cryocc") from None
    except IsADirectoryError:
        raise SpecError(f"a directory, not {what}", location=Location(str(path))) from None
    except OSError as exc:
        raise SpecError(f"cannot be read: {exc.strerror}", location=Location(str(path)),
                        hint="check its permissions" if isinstance(exc, PermissionError) else None) from None
    return decode_text(data, str(path), SpecError, "file", "save the file as UTF-8",
                       nul_hint="was the file damaged, or is it another kind of file?")


def _check_depth(text: str, path: Path) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the YAML parser recurses into it."""
    depth = 0
    for m in re.finditer(r"[\[\]{}]|^( *)(?=\S)", text, re.M):
        c = m.group(0)
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(depth - 1, 0)
        levels = depth + (len(m.group(1)) // 2 if m.group(1) is not None else 0)
        if levels > MAX_DEPTH:
            line = text.count("\n", 0, m.start()) + 1
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep", location=Location(str(path), line, m.start() - text.rfind("\n", 0, m.start())),
                            hint="a pipeline or site profile is nested five levels deep")


def load_yaml(path: Path) -> Document:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = read_text(path)
    _check_depth(text, path)
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        name = _duplicate_name(exc)
        raise SpecError(
            f"duplicate key '{name}'" if name else "duplicate key",
            location=Location(str(path), mark.line + 1, mark.column + 1),
            hint="each key, and so each job name, may appear only once in a mapping",
        ) from None
    except MarkedYAMLError as exc:
        from .yaml_syntax import syntax_error

        raise syntax_error(exc, text, str(path)) from None
    except YAMLError as exc:  # e.g. a control character the reader refuses
        offset = getattr(exc, "position", None)
        where = Location(str(path), *byte_position(text.encode(), len(text[:offset].encode()))) if isinstance(offset, int) else Location(str(path))
        raise SpecError(f"YAML error: {getattr(exc, 'reason', None) or exc}", location=where,
                        hint="remove control characters; YAML allows printable text, tabs and newlines") from None
    except ValueError as exc:  # an integer too long for int() (sys.get_int_max_str_digits)
        raise _long_integer(text, path) or SpecError(f"YAML error: {exc}", location=Location(str(path))) from None
    except RecursionError:
        raise SpecError("nested too deeply for the YAML parser", location=Location(str(path)),
                        hint="a pipeline or site profile is nested five levels deep") from None
    doc = Document(path=path, data=None)
    doc.data = _plain(raw, (), doc, [MAX_VALUES])
    return doc


MAX_INT_BITS = 64  # no count, size or seed in a spec needs more


def _long_integer(text: str, path: Path) -> SpecError | None:
    """The first integer too long for int() (4300 digits by default), at its place in the file."""
    m = re.search(r"\d[\d_]{" + str(sys.get_int_max_str_digits() or 4300) + ",}", text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    return SpecError(f"a number of {len(m.group(0))} digits", location=Location(str(path), line, m.start() - text.rfind("\n", 0, m.start())),
                     hint=f"numbers in a spec fit in {MAX_INT_BITS} bits; quote it if it is meant as text")


def _duplicate_name(exc: Exception) -> str | None:
    import re

    m = re.search(r'found duplicate key "([^"]+)"', str(exc))
    return m.group(1) if m else None


def _plain(node: Any, key: Key, doc: Document, budget: list[int]) -> Any:
    """Plain values and the position of every key. budget: values left before aliases are taken to
    expand without bound (a few hundred bytes of nested aliases make 10^9 values)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(f"more than {MAX_VALUES} values once aliases are expanded", location=doc.locate(key), key=dotted(key) or None,
                        hint="a pipeline or site profile holds a few hundred; are aliases (*name) nested in each other?")
    if isinstance(node, CommentedMap):
        return _plain_map(node, key, doc, budget)
    if isinstance(node, CommentedSeq):
        return _plain_seq(node, key, doc, budget)
    return _plain_scalar(node, key, doc)


def _plain_map(node: Any, key: Key, doc: Document, budget: list[int]) -> dict[str, Any]:
    out = {}
    for k, v in node.items():
        sub = key + (str(k),)
        try:
            doc.keys[sub] = tuple(node.lc.key(k))
            doc.values[sub] = tuple(node.lc.value(k))
        except (KeyError, TypeError):
            pass
        out[str(k)] = _plain(v, sub, doc, budget)
    return out


def _plain_seq(node: Any, key: Key, doc: Document, budget: list[int]) -> list[Any]:
    out = []
    for i, v in enumerate(node):
        sub = key + (i,)
        try:
            doc.keys[sub] = doc.values[sub] = tuple(node.lc.item(i))
        except (KeyError, TypeError):
            pass
        out.append(_plain(v, sub, doc, budget))
    return out


def _plain_scalar(node: Any, key: Key, doc: Document) -> Any:
    """A scalar as a plain value; an integer too long for any count, size or seed refused."""
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        if int(node).bit_length() >= MAX_INT_BITS:
            raise SpecError(f"{int(node).bit_length()}-bit integer: too large", location=doc.locate(key, value=True),
                            key=dotted(key) or None, hint=f"numbers in a spec fit in {MAX_INT_BITS} bits; quote it if it is meant as text")
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)  # text; and dates and other YAML scalars: keep the text, the models decide
