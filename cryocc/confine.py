"""One confinement rule for every path a project file names (default_pipeline.star, scheme.star,
cryocc.lock, receipts, the results index, logs): resolved, symlinks included, it must stay in the
project and in the folder it belongs to, before anything is read, written, moved or deleted there.
Otherwise the command stops with a ProjectError naming the file and key that named the path.

A project's files are claims, not facts: a bad merge, a hand edit or a colleague's link can name
`../elsewhere/External/job001/` or make `External/job004` a symlink, and a prefix check on the
text passes `External/../..`. Standard library only.

    confined(root, rel, folder, source=, key=)   root/rel resolved, which must be in root/folder
    job_dir(root, name, source=, key=)           External/jobNNN/: exactly that, a real directory
    scheme_dir(root, name, source=, key=)        Schemes/<name>: a plain name, a real directory
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import contract
from .errors import Location, ProjectError

JOB_DIR = re.compile(r"External/job[0-9]{3,}/")  # how RELION names an external job's directory
RELION_JOB_DIR = re.compile(r"[A-Za-z][A-Za-z0-9]*/job[0-9]{3,}/")  # any RELION job's (Import/job001/, ...)
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")  # one path component: no "/", never "." or ".."

HINT = ("cryocc acts only inside the project: correct that entry (a bad merge or an edit?), "
        "or replace the symlink by a directory of the project")


def confined(root: Path, rel: str, folder: str, *, source: str, key: str | None = None, hint: str = HINT) -> Path:
    """The real path of root/rel, symlinks resolved, which must be root/folder or lie below it.

    rel is a path as a project file (source, under key) names it; folder is where it belongs, a
    plain relative path cryocc knows (e.g. "External/job004", "Trash/External"), taken as is:
    a symlink anywhere on the way, even one that stays in the project, leads elsewhere and is
    refused. Otherwise a ProjectError located at source and key."""
    if "\0" in rel:  # no file system path holds one (and realpath would raise)
        raise ProjectError(f"{shown(rel)} is not a path", location=Location(source), key=key, hint=hint)
    base = os.path.join(os.path.realpath(root), folder.rstrip("/"))
    real = os.path.realpath(os.path.join(root, rel))
    if real != base and not real.startswith(base + os.sep):
        inside = real.startswith(os.path.realpath(root) + os.sep)
        raise ProjectError(f"{shown(rel)} leads to {real}, " + (f"not in {folder.rstrip('/')}/" if inside else "outside the project"),
                           location=Location(source), key=key, hint=hint)
    return Path(real)


def job_dir(root: Path, name: str, *, source: str, key: str | None = None) -> Path:
    """The real path of the job directory a project file names: External/jobNNN/ exactly (no
    other spelling), and no symlink on the way (it may not exist yet)."""
    if not JOB_DIR.fullmatch(name):
        raise ProjectError(f"{shown(name)} is not a job directory of the project (External/jobNNN/)",
                           location=Location(source), key=key, hint=HINT)
    return confined(root, name, name, source=source, key=key)


def scheme_dir(root: Path, name: str, *, source: str, key: str | None = None) -> Path:
    """The real path of Schemes/<name> for a scheme name a project file gives: one plain path
    component, and no symlink on the way."""
    if not PLAIN_NAME.fullmatch(name):
        raise ProjectError(f"{shown(name)} is not a scheme name (letters, digits, _ . + -)",
                           location=Location(source), key=key, hint=HINT)
    return confined(root, contract.scheme_dir(name), contract.scheme_dir(name), source=source, key=key)


def shown(text: str) -> str:
    """A name from a file, safe to print: quoted when it holds control characters."""
    return text if text.isprintable() else repr(text)
