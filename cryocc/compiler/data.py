"""Find the data a pipeline points at and infer the acquisition from it."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..errors import Collector, CryoccError, DataError
from ..schema.acquisition import Dataset, MdocInfo, infer, read_mdoc
from ..schema.load import Pipeline


def absolute(pattern: str, root: Path) -> str:
    """A glob or path relative to the pipeline's directory, made absolute and normalised."""
    return os.path.normpath(pattern if os.path.isabs(pattern) else os.path.join(root, pattern))


def expand(pattern: str, root: Path) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(absolute(pattern, root), recursive=True) if Path(p).is_file())


def frame_index(frames: list[Path], errors: Collector, pipeline: Pipeline) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for f in frames:
        other = index.setdefault(f.name, f)
        if other != f:
            errors.add(DataError(f"two frames are named {f.name}: {other} and {f}",
                                 location=pipeline.doc.locate(("data", "frames"), value=True), key="data.frames",
                                 hint="frames are matched to mdocs by file name, which must be unique"))
    return index


def scan(pipeline: Pipeline, read=read_mdoc) -> Dataset:
    """Glob the frames and mdocs, read every mdoc, infer the acquisition. All errors at once."""
    data, doc, root = pipeline.spec.data, pipeline.doc, pipeline.root
    errors = Collector()
    mdoc_paths = expand(data.mdocs, root)
    frames = expand(data.frames, root)
    if not mdoc_paths:
        errors.add(DataError(f"data.mdocs matches no file: {data.mdocs}", location=doc.locate(("data", "mdocs"), value=True),
                             key="data.mdocs", hint=f"globs are relative to {root}"))
    if not frames:
        errors.add(DataError(f"data.frames matches no file: {data.frames}", location=doc.locate(("data", "frames"), value=True),
                             key="data.frames", hint=f"globs are relative to {root}"))
    if data.gain and not (root / data.gain).is_file():
        errors.add(DataError(f"gain reference not found: {data.gain}", location=doc.locate(("data", "gain"), value=True),
                             key="data.gain"))
    mdocs: list[MdocInfo] = []
    for p in mdoc_paths:
        try:
            mdocs.append(read(p))
        except CryoccError as exc:
            errors.add(exc)
    index = frame_index(frames, errors, pipeline)
    if errors and not mdocs:
        errors.raise_if_any()
    dataset = infer(mdocs, index, data.acquisition, errors, doc.locate(("data",)))
    errors.raise_if_any()
    assert dataset is not None
    return dataset
