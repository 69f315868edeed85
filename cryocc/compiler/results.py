"""Every result the project holds, by fingerprint: each job directory whose driver left a receipt.

A job directory with RELION_JOB_EXIT_SUCCESS and a receipt is a cache entry keyed by its
fingerprint, wherever the lockfile points: a reverted parameter, a renamed job or a lost lockfile
then find their earlier results again. apply keeps an index in .cryocc/results.json; plan reads it,
lists External/ once and reads only the receipts of job directories the index does not know as
finished, or whose receipt's mtime moved (an extension rewrites it): a stat each, so a plan never
reads every receipt of a project.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Required, TypedDict, cast

from ..confine import JOB_DIR, confined
from ..contract import FAILURE, RECEIPT, RESULTS_INDEX, SUCCESS, ReceiptStatus, external_job_dir
from ..errors import ProjectError
from ..fsio import atomic_write
from ..observe.receipts import read_receipt
from ..project_files import ABSENT, expect_fields, read_json

FORMAT = 3  # 2: seconds; 3: each receipt's mtime (an extension rewrites the receipt of a finished job)


class Entry(TypedDict, total=False):
    """What the index keeps of one job directory's receipt, and the receipt's mtime that vouches for it."""

    job: str | None
    type: str | None
    fingerprint: str | None
    status: str | None
    ended: str | None
    params_file: str | None
    seconds: int | float | None
    mtime_ns: Required[int]


class Results:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.entries: dict[str, Entry] = {}  # job_dir -> what its receipt says (only finished ones are final)
        self.read = 0  # receipts read by this look (the index vouched for the rest)
        self._indexed: dict[str, Entry] | None = None  # None: not looked yet (a plan that keeps all never looks)

    def _look(self) -> None:
        if self._indexed is not None:
            return
        self.entries = read_index(self.root / RESULTS_INDEX)
        self._indexed = dict(self.entries)
        self._refresh()

    def _refresh(self) -> None:
        try:  # a symlink (External/ itself, or a job directory) is no result of the project: it leads elsewhere
            with os.scandir(confined(self.root, "External", "External", source=str(self.root))) as it:
                dirs = sorted(external_job_dir(e.name) for e in it
                              if JOB_DIR.fullmatch(external_job_dir(e.name)) and e.is_dir(follow_symlinks=False))
        except (OSError, ProjectError):
            dirs = []
        for job_dir in dirs:
            known = self.entries.get(job_dir)
            try:
                mtime = os.stat(self.root / job_dir / RECEIPT).st_mtime_ns
            except OSError:
                continue
            if known and known.get("status") == ReceiptStatus.SUCCEEDED and known.get("mtime_ns") == mtime:
                continue  # the stat vouches for it
            receipt = read_receipt(self.root, job_dir)
            if receipt is None:
                continue
            self.read += 1
            self.entries[job_dir] = Entry(job=receipt.get("job"), type=receipt.get("type"), fingerprint=receipt.get("fingerprint"),
                                          status=receipt.get("status"), ended=receipt.get("ended"),
                                          params_file=receipt.get("params_file"), seconds=receipt.get("seconds"), mtime_ns=mtime)
        for gone in set(self.entries) - set(dirs):
            del self.entries[gone]

    def find(self, fingerprint: str) -> list[tuple[str, Entry]]:
        """Job directories that succeeded with this fingerprint and still say so (their sentinel is
        there), newest first. Whether their outputs are intact is the caller's check."""
        self._look()
        hits = [(d, e) for d, e in self.entries.items() if e.get("fingerprint") == fingerprint and e.get("status") == ReceiptStatus.SUCCEEDED]
        return sorted((h for h in hits if (self.root / h[0] / SUCCESS).exists()), key=lambda h: h[1].get("ended") or "", reverse=True)

    def of_type(self, names: tuple[str, ...]) -> list[str]:
        """Job directories of a job type (by its name or an alias: receipts before a rename name that)
        that ended (succeeded, or failed on some tilt series), newest first."""
        self._look()
        hits = [(d, e) for d, e in self.entries.items() if e.get("type") in names
                and e.get("status") in (ReceiptStatus.SUCCEEDED, ReceiptStatus.FAILED_PARTIAL)
                and (self.root / d / (SUCCESS if e["status"] == ReceiptStatus.SUCCEEDED else FAILURE)).exists()]
        return [d for d, _ in sorted(hits, key=lambda h: h[1].get("ended") or "", reverse=True)]

    def seconds_by_type(self) -> dict[str, list[float]]:
        """How long each job type took in this project, every successful run of it."""
        self._look()
        out: dict[str, list[float]] = {}
        for entry in self.entries.values():
            job_type, seconds = entry.get("type"), entry.get("seconds")
            if entry.get("status") == ReceiptStatus.SUCCEEDED and job_type is not None and seconds is not None:
                out.setdefault(job_type, []).append(seconds)
        return out

    def save(self) -> None:
        """Write the index where it changed (apply only: plan writes nothing)."""
        self._look()
        if self.entries != self._indexed:
            atomic_write(self.root / RESULTS_INDEX, json.dumps({"format": FORMAT, "jobs": self.entries}, indent=0, sort_keys=True) + "\n")
            self._indexed = dict(self.entries)


_WHAT = "results index"
_ENTRY: dict[str, type | tuple[type, ...]] = {
    "job": (str, type(None)), "type": (str, type(None)), "fingerprint": (str, type(None)), "status": (str, type(None)),
    "ended": (str, type(None)), "params_file": (str, type(None)), "seconds": (int, float, type(None)), "mtime_ns": int}


def read_index(path: Path) -> dict[str, Entry]:
    """.cryocc/results.json's entries ({} when there is none, or of an older format: the receipts are
    read again); an index of another shape is an error at its key."""
    doc = read_json(path, _WHAT)
    if doc is ABSENT:
        return {}
    doc = expect_fields(doc, {"format": int, "jobs": dict}, path, _WHAT, required=("format", "jobs"))
    if doc["format"] != FORMAT:
        return {}
    for job_dir, entry in doc["jobs"].items():
        expect_fields(entry, _ENTRY, path, _WHAT, f"jobs.{job_dir}.", required=("mtime_ns",))
    return cast(dict[str, Entry], dict(doc["jobs"]))
