"""Find the data a pipeline points at and infer the acquisition from it (stage one)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import Collector, CryoccError, DataError, did_you_mean
from ..schema.pipeline import Pipeline
from .infer import Dataset, MdocInfo, infer, series_name
from .listing import Listing, Stat, absolute, list_data


def frame_index(frames: dict[str, Stat], errors: Collector, pipeline: Pipeline) -> dict[str, str]:
    """Frame file name -> key: mdocs name their movies by file name alone."""
    index: dict[str, str] = {}
    for key in frames:
        name = key.rpartition("/")[2]
        other = index.setdefault(name, key)
        if other != key:
            errors.add(DataError(f"two frames are named {name}: {other} and {key}",
                                 location=pipeline.doc.locate(("data", "frames"), value=True), key="data.frames",
                                 hint="frames are matched to mdocs by file name, which must be unique"))
    return index


def _glob_keys(globs: str | list[str]) -> list[tuple[int, ...]]:
    """Where each glob of data.frames / data.mdocs sits in the spec: (key) for one, (key, i) in a list."""
    return [()] if isinstance(globs, str) else [(i,) for i in range(len(globs))]


def scan(pipeline: Pipeline, read: Callable[[str, str, Stat], MdocInfo], listing: Listing | None = None) -> tuple[Dataset, Listing]:
    """List the frames and mdocs (unless given), read every mdoc not excluded (read(key, path, stat)),
    infer the acquisition. All errors at once."""
    data, doc = pipeline.spec.data, pipeline.doc
    root = str(pipeline.root)
    errors = Collector()
    listing = listing if listing is not None else list_data(root, data.frame_globs, data.mdoc_globs)
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
    mdocs: list[MdocInfo] = []
    names = set()
    for key in sorted(listing.mdocs):
        try:
            name = series_name(Path(listing.path(key)))
            names.add(name)
            if name not in data.exclude:  # left out unread
                mdocs.append(read(key, listing.path(key), listing.mdocs[key]))
        except CryoccError as exc:
            errors.add(exc)
    for name in sorted(set(data.exclude) - names):
        errors.add(DataError(f"data.exclude names {name}, but no mdoc of data.mdocs is {name}.mdoc",
                             location=doc.locate(("data", "exclude", name)), key=f"data.exclude.{name}",
                             hint=did_you_mean(name, names) or "give tilt-series names: the mdocs' names without .mdoc"))
    if names and names <= set(data.exclude):
        errors.add(DataError(f"data.exclude leaves out every tilt series ({len(names)})", location=doc.locate(("data", "exclude")),
                             key="data.exclude", hint="remove a tilt series from data.exclude, or point data.mdocs at the next session"))
    index = frame_index(listing.frames, errors, pipeline)
    if errors and not mdocs:
        errors.raise_if_any()
    dataset = infer(mdocs, index, data.acquisition, errors, doc.locate(("data",)), skip_incomplete=data.incomplete == "skip")
    errors.raise_if_any()
    assert dataset is not None
    return replace(dataset, excluded=dict(sorted(data.exclude.items()))), listing
