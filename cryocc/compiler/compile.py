"""The compile-time front half: spec -> data -> graph -> resolved jobs with fingerprints."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fsio import sha256_file
from ..lockfile.files import FileFingerprints
from ..schema.acquisition import Dataset, MdocInfo, read_mdoc
from ..schema.load import Pipeline, load_pipeline
from .data import scan
from .graph import Wire, order, wire
from .render import STATE_DIR
from .resolve import ResolvedJob, resolve

MDOC_CACHE = f"{STATE_DIR}/mdoc-cache.json"


@dataclass
class Compiled:
    pipeline: Pipeline
    dataset: Dataset
    wires: dict[str, tuple[Wire, ...]]
    order: list[str]
    jobs: dict[str, ResolvedJob]
    files: FileFingerprints
    mdoc_cache: dict[str, Any]


class CachedMdocReader:
    """Re-read an mdoc only when its size or mtime changed since the last apply."""

    def __init__(self, cache: dict[str, Any]) -> None:
        self.old = cache
        self.new: dict[str, Any] = {}

    def __call__(self, path: Path) -> MdocInfo:
        st = os.stat(path)
        key = str(path)
        old = self.old.get(key)
        if old and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            self.new[key] = old
            return MdocInfo.from_json(old["info"])
        info = read_mdoc(path)
        self.new[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path), "info": info.to_json()}
        return info


def load_mdoc_cache(project: Path | None) -> dict[str, Any]:
    if project is None:
        return {}
    try:
        return json.loads((project / MDOC_CACHE).read_text())
    except (OSError, ValueError):
        return {}


def compile_pipeline(path: Path, project: Path | None = None, known_files: dict[str, Any] | None = None) -> Compiled:
    pipeline = load_pipeline(path)
    reader = CachedMdocReader(load_mdoc_cache(project))
    dataset = scan(pipeline, read=reader)
    wires = wire(pipeline)
    run_order = order(pipeline, wires)
    # mdoc content hashes come from the reader's cache, so an unchanged mdoc is never read twice
    known = dict(known_files or {})
    for p, e in reader.new.items():
        known[p] = {"size": e["size"], "mtime_ns": e["mtime_ns"], "sha256": e["sha256"]}
    files = FileFingerprints(pipeline.spec.data.frame_check, known)
    jobs = resolve(pipeline, dataset, wires, run_order, files)
    return Compiled(pipeline, dataset, wires, run_order, jobs, files, reader.new)
