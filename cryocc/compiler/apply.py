"""Write the project: atomic writes under a project lock, scheme.star next to last, lockfile last."""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import ProjectError
from ..fsio import atomic_write, inside, sha256_bytes
from ..lockfile.lockfile import JobLock, Lockfile, read_lockfile, write_lockfile
from ..star import parse_star
from .compile import MDOC_CACHE, Compiled
from .plan import Plan
from .render import STATE_DIR, check_scheme_refs, render_job, render_scheme, scheme_ref

SCHEME_PREFIX = "cryocc_"
APPLY_LOCK = f"{STATE_DIR}/apply.lock"


@dataclass
class ApplyResult:
    scheme: str | None  # None: nothing to run
    written: list[str]
    noop: bool


def _before_write(path: str) -> None:
    """Test hook: tests replace it to simulate a crash between two writes."""


@contextmanager
def project_lock(project: Path) -> Iterator[None]:
    """One apply at a time; the second is told who holds the lock."""
    from filelock import FileLock, Timeout

    (project / STATE_DIR).mkdir(parents=True, exist_ok=True)
    owner = project / STATE_DIR / "apply.owner"
    lock = FileLock(str(project / APPLY_LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        who = owner.read_text().strip() if owner.exists() else "another cryocc process"
        raise ProjectError(f"project {project} is locked by {who}",
                           hint="wait for that apply to finish; the lock is released when its process ends") from None
    try:
        atomic_write(owner, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def scheme_started(project: Path, scheme: str) -> bool:
    """True once relion_schemer has touched the scheme (lock dir, a started job, or a moved current node)."""
    if (project / f".relion_lock_scheme_{scheme}").exists():
        return True
    path = project / "Schemes" / scheme / "scheme.star"
    if not path.exists():
        return False
    blocks = parse_star(path.read_text())
    jobs = blocks.get("scheme_jobs") or []
    first = jobs[0]["rlnSchemeJobNameOriginal"] if jobs else None
    general = blocks.get("scheme_general") or {}
    return any(r.get("rlnSchemeJobHasStarted") == "1" for r in jobs) or general.get("rlnSchemeCurrentNodeName") != first


def existing_schemes(project: Path) -> list[str]:
    d = project / "Schemes"
    return sorted(p.name for p in d.glob(f"{SCHEME_PREFIX}[0-9]*") if p.is_dir()) if d.is_dir() else []


def render_files(compiled: Compiled, plan: Plan, scheme: str) -> dict[str, str]:
    """Project-relative path -> content, in the order they must be written (scheme.star last)."""
    site = compiled.pipeline.site.profile
    run = plan.to_run
    kept = plan.kept
    files: dict[str, str] = {}
    stars: dict[str, str] = {}
    for name in run:
        job = compiled.jobs[name]
        values = {}
        for w in job.wires:
            if w.upstream in run:
                values[w.option] = scheme_ref(scheme, w.upstream, w.path)
            else:
                values[w.option] = f"{kept[w.upstream].rstrip('/')}/{w.path}"
        rendered = render_job(job, site, values)
        files[rendered.params_path] = rendered.params_text
        files[rendered.script_path] = rendered.script_text
        stars[name] = files[f"Schemes/{scheme}/{name}/job.star"] = rendered.job_star
    check_scheme_refs(scheme, run, stars)
    files[f"Schemes/{scheme}/scheme.star"] = render_scheme(scheme, run)
    return files


def _identical(project: Path, files: dict[str, str]) -> bool:
    for rel, text in files.items():
        p = project / rel
        try:
            if p.read_bytes() != text.encode():
                return False
        except OSError:
            return False
    return True


def new_lockfile(compiled: Compiled, plan: Plan, old: Lockfile | None, scheme: str | None, files: dict[str, str]) -> Lockfile:
    spec = compiled.pipeline
    lock = Lockfile(
        pipeline={"name": spec.spec.name, "spec_sha256": sha256_bytes(spec.path.read_bytes()), "site": spec.site.profile.name},
        frame_check=spec.spec.data.frame_check,
        files=dict(compiled.files.seen),
        schemes=list(old.schemes) if old else [],
    )
    old_jobs = old.jobs if old else {}
    params_files = {p.split("/")[2]: p for p in files if p.startswith(f"{STATE_DIR}/jobs/")}
    for jp in plan.jobs:
        if jp.action == "orphan":
            if jp.name in old_jobs:
                lock.jobs[jp.name] = old_jobs[jp.name]
            continue
        job = compiled.jobs[jp.name]
        if jp.action == "keep":
            lock.jobs[jp.name] = old_jobs[jp.name]
            continue
        lock.jobs[jp.name] = JobLock(type=job.type.name, fingerprint=job.fingerprint, parts=job.parts, scheme=scheme,
                                     job_dir=None, state="scheduled", params_file=params_files.get(jp.name))
    if scheme and not any(s["name"] == scheme for s in lock.schemes):
        lock.schemes.append({"name": scheme, "jobs": plan.to_run})
    return lock


def apply(compiled: Compiled, project: Path, plan: Plan) -> ApplyResult:
    project = Path(project)
    project.mkdir(parents=True, exist_ok=True)
    with project_lock(project):
        old = read_lockfile(project)
        if not plan.to_run:
            return ApplyResult(None, [], noop=True)
        schemes = existing_schemes(project)
        if schemes and not scheme_started(project, schemes[-1]):
            files = render_files(compiled, plan, schemes[-1])
            if _identical(project, files):
                return ApplyResult(schemes[-1], [], noop=True)
        number = int(schemes[-1][len(SCHEME_PREFIX):]) + 1 if schemes else 1
        scheme = f"{SCHEME_PREFIX}{number:03d}"
        files = {  # scheme.star comes last in render_files: a scheme is only runnable once complete
            f"{STATE_DIR}/pipeline.yaml": compiled.pipeline.path.read_text(),
            f"{STATE_DIR}/site.yaml": compiled.pipeline.site.doc.path.read_text(),
            MDOC_CACHE: _json(compiled.mdoc_cache),
            **render_files(compiled, plan, scheme),
        }
        lock = new_lockfile(compiled, plan, old, scheme, files)
        written = []
        for rel, text in files.items():
            _before_write(rel)
            atomic_write(inside(project, rel), text)
            written.append(rel)
        _before_write("cryocc.lock")
        write_lockfile(project, lock)
        written.append("cryocc.lock")
        return ApplyResult(scheme, written, noop=False)


def _json(value) -> str:
    import json

    return json.dumps(value, indent=1, sort_keys=True) + "\n"
