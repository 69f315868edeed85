"""Find the data a pipeline points at and infer the acquisition from it (stage one)."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import Collector, CryoccError, DataError
from ..schema.acquisition import Dataset, MdocInfo, infer
from ..schema.load import Pipeline
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


def scan(pipeline: Pipeline, read: Callable[[str, str, Stat], MdocInfo], listing: Listing | None = None) -> tuple[Dataset, Listing]:
    """List the frames and mdocs (unless given), read every mdoc (read(key, path, stat)), infer the
    acquisition. All errors at once."""
    data, doc = pipeline.spec.data, pipeline.doc
    root = str(pipeline.root)
    errors = Collector()
    listing = listing if listing is not None else list_data(root, data.frames, data.mdocs)
    if not listing.mdocs:
        errors.add(DataError(f"data.mdocs matches no file: {data.mdocs}", location=doc.locate(("data", "mdocs"), value=True),
                             key="data.mdocs", hint=f"globs are relative to {root}"))
    if not listing.frames:
        errors.add(DataError(f"data.frames matches no file: {data.frames}", location=doc.locate(("data", "frames"), value=True),
                             key="data.frames", hint=f"globs are relative to {root}"))
    if data.gain and not os.path.isfile(absolute(data.gain, root)):
        errors.add(DataError(f"gain reference not found: {data.gain}", location=doc.locate(("data", "gain"), value=True),
                             key="data.gain", hint=f"paths are relative to {root}"))
    mdocs: list[MdocInfo] = []
    for key in sorted(listing.mdocs):
        try:
            mdocs.append(read(key, listing.path(key), listing.mdocs[key]))
        except CryoccError as exc:
            errors.add(exc)
    index = frame_index(listing.frames, errors, pipeline)
    if errors and not mdocs:
        errors.raise_if_any()
    dataset = infer(mdocs, index, data.acquisition, errors, doc.locate(("data",)))
    errors.raise_if_any()
    assert dataset is not None
    return dataset, listing
