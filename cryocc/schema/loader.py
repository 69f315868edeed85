"""Load YAML into plain Python values plus a map from key path to file position."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Location, SpecError

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


def load_yaml(path: Path) -> Document:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"file not found: {path}", hint="check the path, relative to where you run cryocc") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from None
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
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        hint = "check indentation and quoting near this position"
        if "\\t" in problem or "tab" in problem.lower():
            hint = "YAML does not allow tabs for indentation: indent with spaces"
        raise SpecError(
            f"YAML syntax error: {problem}",
            location=Location(str(path), mark.line + 1 if mark else None, mark.column + 1 if mark else None),
            hint=hint,
        ) from None
    doc = Document(path=path, data=None)
    doc.data = _plain(raw, (), doc)
    return doc


def _duplicate_name(exc: Exception) -> str | None:
    import re

    m = re.search(r'found duplicate key "([^"]+)"', str(exc))
    return m.group(1) if m else None


def _plain(node: Any, key: Key, doc: Document) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out = {}
        for k, v in node.items():
            sub = key + (str(k),)
            try:
                doc.keys[sub] = tuple(node.lc.key(k))
                doc.values[sub] = tuple(node.lc.value(k))
            except (KeyError, TypeError):
                pass
            out[str(k)] = _plain(v, sub, doc)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for i, v in enumerate(node):
            sub = key + (i,)
            try:
                doc.keys[sub] = doc.values[sub] = tuple(node.lc.item(i))
            except (KeyError, TypeError):
                pass
            out_list.append(_plain(v, sub, doc))
        return out_list
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return str(node)  # dates and other YAML scalars: keep the text, the models decide
