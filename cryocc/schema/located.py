"""pydantic's validation errors as cryocc errors at their place in the YAML file, with a hint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from ..errors import CryoccError, SpecError, did_you_mean
from .yamldoc import Document, Key, dotted


def pydantic_errors(errors: Sequence[ErrorDetails], doc: Document, prefix: Key = (), model: type[BaseModel] | None = None,
                    label: str = "key") -> list[CryoccError]:
    """Turn pydantic's errors (ValidationError.errors()) into located SpecErrors."""
    out: list[CryoccError] = []
    for err in errors:
        loc = prefix + tuple(part for part in err["loc"] if part != "[key]")  # a dict key's own error: at the key
        kind = err["type"]
        if kind == "extra_forbidden":
            fields = _fields_at(model, err["loc"][:-1]) if model else []
            out.append(SpecError(f"unknown {label} '{loc[-1]}'", location=doc.locate(loc), key=dotted(loc),
                                 hint=did_you_mean(str(loc[-1]), fields) or "cryocc schema lists the valid keys"))
        elif kind == "missing":
            out.append(SpecError(f"required {label} is missing", location=doc.locate(loc[:-1]), key=dotted(loc),
                                 hint=f"add {loc[-1]}: " + (_description(model, err["loc"]) or "see cryocc schema")))
        elif kind in MAPPINGS and (err.get("input") is None or isinstance(err.get("input"), list)):
            out.append(_not_a_mapping(loc, err, doc, model))
        elif err.get("input") is None and kind.endswith("_type"):  # `key:` with nothing after it
            loc = tuple(p for p in loc if not _union_member(p))
            described = _description(model, tuple(p for p in err["loc"] if not _union_member(p)))
            out.append(SpecError("empty: nothing follows the ':'", location=doc.locate(loc), key=dotted(loc),
                                 hint=f"write the value after '{loc[-1]}: '" + (f" ({described})" if described else "")))
        else:
            found = err.get("input")
            msg = err["msg"].removeprefix("Value error, ")
            if msg.startswith("Input should"):
                msg = "expected" + msg[len("Input should"):].replace(" be ", " ", 1) if msg.startswith("Input should be") else msg
            if isinstance(found, (str, int, float, bool)) or found is None:
                msg += f", found {found!r}"
            described = _description(model, err["loc"])
            out.append(SpecError(msg, location=doc.locate(loc, value=True), key=dotted(loc),
                                 hint=f"{loc[-1]}: {described}" if described else "see cryocc schema for what this key takes"))
    return out


MAPPINGS = ("dict_type", "model_type", "model_attributes_type")


def _not_a_mapping(loc: Key, err: ErrorDetails, doc: Document, model: type[BaseModel] | None) -> CryoccError:
    """A section that takes a mapping, left empty (`data:` with nothing below) or written as a list."""
    _, below = _walk(model, err["loc"])
    if below is not None and err["type"] != "dict_type":
        required = [k for k, f in below.model_fields.items() if f.is_required()]
        keys = f"its keys ({', '.join(required)} required; cryocc schema lists all)" if required else "its keys"
    else:
        keys = f"its entries ({_description(model, err['loc'])})" if _description(model, err["loc"]) else "its entries"
    if err.get("input") is None:
        return SpecError("empty, but it takes a mapping", location=doc.locate(loc), key=dotted(loc),
                         hint=f"write {keys} on the lines below '{loc[-1]}:', indented further, as key: value")
    return SpecError("a list ('- ' items) where a mapping is expected", location=doc.locate(loc, value=True), key=dotted(loc),
                     hint=f"write {keys} as key: value lines, without the '- '")


def _union_member(part: object) -> bool:
    """pydantic names each member of a union it tried in the error's loc: function-after[...], list[str]."""
    return isinstance(part, str) and "[" in part and part.endswith("]")


def _walk(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> tuple[Any, type[BaseModel] | None]:
    """(the field at loc, or None; the model below it): dict keys and list indices are passed over."""
    field = None
    for part in loc:
        if model is None:
            return None, None
        field = model.model_fields.get(str(part))
        if field is None:  # a dict's key (resources.<type>) or a list index: the model goes on below it
            continue
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else _inner_model(ann)
    return field, model


def _description(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str | None:
    """The description of the field at loc (the text editors show on hover), as a hint."""
    field, _ = _walk(model, loc)
    return field.description if field is not None else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside Optional[...] / dict[str, ...], if any."""
    from typing import get_args

    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if (inner := _inner_model(arg)) is not None:
            return inner
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    _, below = _walk(model, loc)
    return list(below.model_fields) if below else []
