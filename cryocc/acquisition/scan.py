"""Find the data a pipeline points at and infer the acquisition from it (stage one)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import Collector, CryoccError, DataError, Location, did_you_mean
from ..schema.pipeline import Pipeline
from .infer import Dataset, MdocInfo, infer, series_name
from .listing import Listing, Stat, absolute, bound_dir, list_data


def frame_index(frames: dict[str, Stat], errors: Collector, pipeline: Pipeline) -> dict[str, str]:
    """Frame file name -> key: mdocs name their movies by file name alone."""
    index = dict(zip([key.rpartition("/")[2] for key in frames], frames))  # 10^5 frames: in C, unless two share a name
    if len(index) == len(frames):
        return index
    index = {}
    for key in frames:
        name = key.rpartition("/")[2]
        other = index.setdefault(name, key)
        if other != key:
            errors.add(DataError(f"two frames are named {name}: {other} and {key}",
                                 location=pipeline.doc.locate(("data", "frames"), value=True), key="data.frames",
                                 hint="frames are matched to mdocs by file name, which must be unique"))
    return index


SERIES_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*")


def check_series_name(name: str, path: str) -> None:
    """A tilt series' name becomes file names, STAR values and tools' arguments: a safe set of characters only."""
    if not SERIES_NAME.fullmatch(name):
        bad = next((c for c in name if not re.fullmatch(r"[A-Za-z0-9_+-]", c)), name[:1])
        raise DataError(f"tilt-series name {name!r} holds {bad!r}: names may hold only letters, digits, _, - and + "
                        "(and start with a letter or digit)", location=Location(path), key="data.mdocs",
                        hint="the name (the mdoc's, without .mdoc) becomes file names, STAR-file values and the tools' "
                             "command-line arguments, which split or stop at spaces, quotes, ;, \\ and control characters: "
                             "rename the mdoc (keep its movies' names), or leave it out with data.exclude")


SHOWN = 10  # errors of one kind shown one by one; the rest are counted


def _unknown_exclusions(unknown: list[str], names: set[str], pipeline: Pipeline, errors: Collector) -> None:
    """data.exclude names no mdoc: each located, the first few with a guess; linear in their number."""
    doc = pipeline.doc
    for name in unknown[:SHOWN]:
        errors.add(DataError(f"data.exclude names {name}, but no mdoc of data.mdocs is {name}.mdoc",
                             location=doc.locate(("data", "exclude", name)), key=f"data.exclude.{name}",
                             hint=did_you_mean(name, names) or "give tilt-series names: the mdocs' names without .mdoc"))
    if len(unknown) > SHOWN:
        errors.add(DataError(f"... and {len(unknown) - SHOWN} more names in data.exclude that no mdoc of data.mdocs has",
                             location=doc.locate(("data", "exclude")), key="data.exclude",
                             hint="give tilt-series names: the mdocs' names without .mdoc"))


ANGLE_TOLERANCE = 0.5  # degrees: a given angle names the one tilt within this of it (tilt steps are 1° or more)
MIN_TILTS_LEFT = 3  # fewer cannot be aligned or reconstructed


def exclude_tilts(pipeline: Pipeline, mdocs: dict[str, MdocInfo], names: set[str], errors: Collector) -> dict[str, dict[str, Any]]:
    """data.exclude_tilts checked against the mdocs: name -> {zvalues, frames, why}, the tilts in ZValue order.
    A tilt is named by the n of its mdoc section [ZValue = n] (SerialEM numbers them from 0 in acquisition
    order, the order RELION's import keeps) or by its TiltAngle within ANGLE_TOLERANCE."""
    doc, data = pipeline.doc, pipeline.spec.data
    out: dict[str, dict[str, Any]] = {}
    for name, spec in sorted(data.exclude_tilts.items()):
        where: tuple[str | int, ...] = ("data", "exclude_tilts", name)
        key = f"data.exclude_tilts.{name}"
        mdoc = mdocs.get(name)
        if mdoc is None and name in names and name not in data.exclude:
            continue  # its mdoc could not be read: said already
        if mdoc is None:
            left_out = name in data.exclude
            errors.add(DataError(f"data.exclude_tilts names {name}, " + ("which data.exclude leaves out whole" if left_out else
                                 f"but no mdoc of data.mdocs is {name}.mdoc"), location=doc.locate(where), key=key,
                                 hint="remove it from one of the two" if left_out else
                                 did_you_mean(name, names) or "give tilt-series names: the mdocs' names without .mdoc"))
            continue
        if not spec.zvalues and not spec.angles:
            errors.add(DataError(f"data.exclude_tilts.{name} names no tilt", location=doc.locate(where), key=key,
                                 hint="give zvalues: [n, ...] (the n of [ZValue = n] in the mdoc) or angles: [degrees, ...]"))
            continue
        chosen = {z for z in spec.zvalues if z in mdoc.z}
        for i, z in enumerate(spec.zvalues):
            if z not in mdoc.z:
                errors.add(DataError(f"{name}.mdoc has no section [ZValue = {z}]", location=doc.locate((*where, "zvalues", i), value=True),
                                     key=f"{key}.zvalues[{i}]", hint=f"its ZValues run {min(mdoc.z)} .. {max(mdoc.z)} ({len(mdoc.z)} tilts)"))
        for i, angle in enumerate(spec.angles):
            chosen |= _tilt_at(mdoc, angle, doc.locate((*where, "angles", i), value=True), f"{key}.angles[{i}]", errors)
        if len(mdoc.z) - len(chosen) < MIN_TILTS_LEFT:
            errors.add(DataError(f"data.exclude_tilts.{name} leaves {len(mdoc.z) - len(chosen)} of its {len(mdoc.z)} tilts, "
                                 f"fewer than {MIN_TILTS_LEFT}", location=doc.locate(where), key=key,
                                 hint="exclude the whole tilt series with data.exclude instead"))
        tilts = [t for t in mdoc.tilts if t.z in chosen]
        out[name] = {"zvalues": [t.z for t in tilts], "frames": [t.frame for t in tilts], "why": spec.why}
    return out


def _tilt_at(mdoc: MdocInfo, angle: float, location: Location, key: str, errors: Collector) -> set[int]:
    """The ZValue of the one tilt at this angle; an error when none or several are."""
    near = [t for t in mdoc.tilts if abs(t.angle - angle) <= ANGLE_TOLERANCE]
    if len(near) == 1:
        return {near[0].z}
    if near:
        errors.add(DataError(f"{angle:g}° matches {len(near)} tilts of {mdoc.name} (ZValue {', '.join(str(t.z) for t in near)})",
                             location=location, key=key, hint="name them by zvalues instead"))
    else:
        closest = min(mdoc.tilts, key=lambda t: abs(t.angle - angle))
        errors.add(DataError(f"no tilt of {mdoc.name} is within {ANGLE_TOLERANCE:g}° of {angle:g}°", location=location, key=key,
                             hint=f"the closest is {closest.angle:g}° ([ZValue = {closest.z}]); its tilts run "
                                  f"{min(mdoc.angles):g}° .. {max(mdoc.angles):g}°"))
    return set()


def _refuse_empty(listing: Listing, mdocs: list[MdocInfo], errors: Collector) -> dict[str, str]:
    """data.incomplete: error: the empty (0-byte) frames the mdocs name are refused, each at its file
    (the rest counted); returned as a frame index, so they are not also called missing."""
    named = {frame for m in mdocs for frame in m.frames}
    empty = {key.rpartition("/")[2]: key for key in listing.empty if key.rpartition("/")[2] in named}
    for key in list(empty.values())[:SHOWN]:
        errors.add(DataError("frame is empty (0 bytes)", location=Location(listing.path(key)), key="data.frames",
                             hint="is it still being copied? wait for the copy to finish, or set data.incomplete: skip "
                                  "to leave its tilt series out (listed as waiting) until it is there"))
    if len(empty) > SHOWN:
        errors.add(DataError(f"... and {len(empty) - SHOWN} more empty frames", location=Location(listing.root), key="data.frames",
                             hint="wait for the copy to finish, or set data.incomplete: skip"))
    return empty


def _refuse_unbindable(pipeline: Pipeline, errors: Collector) -> None:
    """Tools run in containers see the data through apptainer -B, which splits its value at , and :
    (src:dest:options, one bind after another)."""
    data, doc, root = pipeline.spec.data, pipeline.doc, str(pipeline.root)
    places: list[tuple[tuple[str | int, ...], str]] = []
    for what, globs in (("frames", data.frames), ("mdocs", data.mdocs)):
        for sub, pattern in zip(_glob_keys(globs), getattr(data, f"{what[:-1]}_globs")):
            places.append((("data", what, *sub), bound_dir(pattern, root)))
    if data.gain:
        places.append((("data", "gain"), os.path.dirname(absolute(data.gain, root))))
    for where, directory in places:
        if "," in directory or ":" in directory:
            errors.add(DataError(f"{directory} holds {',' if ',' in directory else ':'}, which apptainer's -B would split",
                                 location=doc.locate(where, value=True), key=".".join(map(str, where)),
                                 hint="the site runs tools in containers, with the data's directories bound in: "
                                      "rename the directory, or reach it through a symlink whose path has no , or :"))


def _glob_keys(globs: str | list[str]) -> list[tuple[int, ...]]:
    """Where each glob of data.frames / data.mdocs sits in the spec: (key) for one, (key, i) in a list."""
    return [()] if isinstance(globs, str) else [(i,) for i in range(len(globs))]


def _refuse_missing_paths(pipeline: Pipeline, listing: Listing, errors: Collector) -> None:
    """Each glob of data.frames / data.mdocs that matched no file, and a gain reference not there."""
    data, doc, root = pipeline.spec.data, pipeline.doc, str(pipeline.root)
    unmatched = {absolute(u, root) for u in listing.unmatched}  # listed as written here, or absolute by the cache
    for what, globs in (("frames", data.frames), ("mdocs", data.mdocs)):
        for sub, pattern in zip(_glob_keys(globs), getattr(data, f"{what[:-1]}_globs")):
            if absolute(pattern, root) in unmatched:
                where: tuple[str | int, ...] = ("data", what, *sub)
                errors.add(DataError(f"data.{what} matches no file: {pattern}", location=doc.locate(where, value=True),
                                     key=".".join(map(str, where)), hint=f"globs are relative to {root}"))
    if data.gain and not os.path.isfile(absolute(data.gain, root)):
        errors.add(DataError(f"gain reference not found: {data.gain}", location=doc.locate(("data", "gain"), value=True),
                             key="data.gain", hint=f"paths are relative to {root}"))


def _read_mdocs(pipeline: Pipeline, listing: Listing, read: Callable[[str, str, Stat], MdocInfo],
                errors: Collector) -> tuple[list[MdocInfo], set[str]]:
    """Every mdoc data.exclude does not leave out, read; and the names of all of them (excluded too)."""
    exclude = pipeline.spec.data.exclude
    mdocs: list[MdocInfo] = []
    names = set()
    for key in sorted(listing.mdocs):
        try:
            path = listing.path(key)
            name = series_name(path)
            names.add(name)
            if name not in exclude:  # left out unread
                check_series_name(name, path)
                mdocs.append(read(key, path, listing.mdocs[key]))
        except CryoccError as exc:
            errors.add(exc)
    return mdocs, names


def scan(pipeline: Pipeline, read: Callable[[str, str, Stat], MdocInfo], listing: Listing | None = None) -> tuple[Dataset, Listing]:
    """List the frames and mdocs (unless given), read every mdoc not excluded (read(key, path, stat)),
    infer the acquisition. All errors at once."""
    data, doc = pipeline.spec.data, pipeline.doc
    errors = Collector()
    listing = listing if listing is not None else list_data(str(pipeline.root), data.frame_globs, data.mdoc_globs)
    _refuse_missing_paths(pipeline, listing, errors)
    mdocs, names = _read_mdocs(pipeline, listing, read, errors)
    _unknown_exclusions(sorted(set(data.exclude) - names), names, pipeline, errors)
    excluded_tilts = exclude_tilts(pipeline, {m.name: m for m in mdocs}, names, errors)
    if names and names <= set(data.exclude):
        errors.add(DataError(f"data.exclude leaves out every tilt series ({len(names)})", location=doc.locate(("data", "exclude")),
                             key="data.exclude", hint="remove a tilt series from data.exclude, or point data.mdocs at the next session"))
    if any(tool.image for tool in pipeline.site.profile.tools.values()):
        _refuse_unbindable(pipeline, errors)
    index = frame_index(listing.frames, errors, pipeline)
    if data.incomplete == "error":
        index.update(_refuse_empty(listing, mdocs, errors))
    if errors and not mdocs:
        errors.raise_if_any()
    dataset = infer(mdocs, index, data.acquisition, errors, doc.locate(("data",)), skip_incomplete=data.incomplete == "skip",
                    at_key=lambda key: doc.locate(("data", "acquisition", key)))
    errors.raise_if_any()
    assert dataset is not None
    return replace(dataset, excluded=dict(sorted(data.exclude.items())), excluded_tilts=excluded_tilts), listing
