"""`cryocc run` and `cryocc abort`: start relion_schemer detached, follow it, stop it, recover.

relion_schemer's exit code says nothing (0 after a failed job), it never skips a finished job,
and a dead schemer leaves its lock behind. So cryocc judges outcomes from the sentinels and
receipts, and recovers by waiting for jobs still in SLURM, clearing only locks no live schemer
holds, and re-planning what is left: finished work is never submitted again."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .compiler import apply_pipeline
from .contract import ABORT_NOW, ITEM_LOGS, RUN_RECORD, ended, scheme_dir, scheme_lock
from .errors import ProjectError
from .fsio import atomic_write, sha256_bytes
from .lockfile.lockfile import Lockfile, read_lockfile
from .project import JobState, Project, observe
from .schema.models import SiteProfile
from .states import Status


def applied_lock(project: Path) -> Lockfile:
    """The project's lockfile; a ProjectError when nothing was applied yet."""
    lock = read_lockfile(project)
    if lock is None or not lock.schemes:
        raise ProjectError(f"{project} has nothing applied yet", hint="run cryocc apply PIPELINE --project DIR first")
    return lock


def _site(project: Path, scheme: str) -> SiteProfile:
    """The site profile the scheme was compiled from (older lockfiles name none: their one copy, .cryocc/site.yaml)."""
    from .schema.yamldoc import load_yaml

    record = next((s for s in applied_lock(project).schemes if s["name"] == scheme), {})
    return SiteProfile.model_validate(load_yaml(project / record.get("site", ".cryocc/site.yaml")).data)


def schemer_command(site: SiteProfile, scheme: str, project: Path) -> list[str]:
    """relion_schemer as the site profile says: native, or inside the RELION image."""
    args = [site.relion.command, "--scheme", scheme, "--run", "--pipeline_control", f"Schemes/{scheme}/"]
    if not site.relion.image:
        return args
    c = site.container
    binds = [str(project.resolve()), *c.binds]
    return [c.executable, "exec", *c.options, *[a for b in binds for a in ("-B", b)], site.relion.image, *args]


def _pid_alive(pid: int, scheme: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return f"--scheme {scheme}" in cmdline


def live_schemer(project: Path) -> dict[str, Any] | None:
    """The schemer cryocc started for this project (its supervisor's pid), if it still runs."""
    try:
        record = json.loads((project / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("host") == socket.gethostname() and _pid_alive(record["pid"], record["scheme"]) else None


def _other_schemers(scheme: str) -> bool:
    """A relion_schemer of this scheme started outside cryocc."""
    if not shutil.which("pgrep"):
        return False
    return subprocess.run(["pgrep", "-f", f"relion_schemer.*--scheme {scheme}( |$)"], capture_output=True).returncode == 0


def start(project: Path, scheme: str) -> dict[str, Any]:
    site = _site(project, scheme)
    cmd = schemer_command(site, scheme, project)
    if not shutil.which(cmd[0]):
        raise ProjectError(f"{cmd[0]}: command not found", hint="check relion.command (and image) in the site profile, and PATH")
    log = project / scheme_dir(scheme)
    env = {**os.environ, **site.relion.env}
    # only jobs submitted to SLURM can vanish from it: a workstation's jobs are not in squeue at all
    watch = ["--slurm"] if os.path.basename(shlex.split(site.submit)[0]) == "sbatch" else []
    supervised = [sys.executable, "-m", "cryocc.supervisor", "--project", str(project.resolve()), "--scheme", scheme,
                  *watch, "--", *cmd]
    with open(log / "run.out", "ab") as out, open(log / "run.err", "ab") as err:
        # its own session: the schemer outlives the terminal and the user logging out of the head node
        proc = subprocess.Popen(supervised, cwd=project, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    record = {"scheme": scheme, "pid": proc.pid, "host": socket.gethostname(), "command": cmd,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "log": f"Schemes/{scheme}/run.out"}
    atomic_write(project / RUN_RECORD, json.dumps(record, indent=1) + "\n")
    return record


def _wait_for_slurm(project: Path, lock: Lockfile, say: Callable[[str], None], poll: float) -> None:
    """Jobs still queued or running in SLURM with no schemer watching: wait for their sentinels
    rather than submit a second copy into the same directory."""
    while True:
        running = [s for s in observe(project, lock).values() if s.status == Status.RUNNING and s.slurm]
        if not running:
            return
        say("waiting for " + ", ".join(f"{s.name} (SLURM job {s.slurm['id']} {s.slurm['state']})" for s in running))
        time.sleep(poll)


def run(project: Path, *, say: Callable[[str], None], poll: float = 5.0) -> dict[str, Any] | None:
    """Start (or resume) the project's work. Returns the started schemer's record, or None when all is done."""
    project = Path(project)
    lock = applied_lock(project)
    alive = live_schemer(project)
    if alive:
        say(f"relion_schemer already runs Schemes/{alive['scheme']}/ (pid {alive['pid']}); not starting another")
        return alive
    _wait_for_slurm(project, lock, say, poll)
    for s in lock.schemes:  # RELION leaves its lock behind when it dies; a stale one blocks the next run
        stale = project / scheme_lock(s['name'])
        if stale.exists() and not _other_schemers(s["name"]):
            shutil.rmtree(stale)
            say(f"removed the stale lock {stale.name}/ (no relion_schemer of Schemes/{s['name']}/ is alive)")
    scheme = lock.schemes[-1]["name"]
    if Project(project).scheme_started(scheme):
        scheme = _replan(project, lock, say)
        if scheme is None:
            return None
    record = start(project, scheme)
    say(f"started relion_schemer for Schemes/{scheme}/ (pid {record['pid']}), log {record['log']}")
    return record


def _replan(project: Path, lock: Lockfile, say: Callable[[str], None]) -> str | None:
    """The last scheme ran (to the end or not): apply again, which plans only what is left."""
    spec = Path(lock.pipeline.get("path", ""))
    if not spec.is_file():
        raise ProjectError(f"the pipeline last applied ({spec}) is gone", hint="run cryocc apply PIPELINE --project DIR")
    if sha256_bytes(spec.read_bytes()) != lock.pipeline.get("spec_sha256"):
        raise ProjectError(f"{spec} changed since the last apply",
                           hint="review the changes with cryocc plan, then cryocc apply, then cryocc run")
    result = apply_pipeline(spec, project)
    if not result.plan.to_run:
        say("nothing to run: every job has succeeded")
        return None
    say(f"continuing with {', '.join(result.plan.to_run)} (kept: {', '.join(result.plan.kept) or 'none'})")
    return result.scheme


def abort(project: Path, *, say: Callable[[str], None]) -> None:
    """Ask the scheme and its running job to stop (what relion_schemer --abort does, plus every running job).
    Each RELION_JOB_ABORT_NOW goes only into a directory of the project (confine.py), all checked
    before any is written; none is written when nothing runs (a stale one would stop the next run)."""
    project = Path(project)
    lock = applied_lock(project)
    record = live_schemer(project)
    scheme = record["scheme"] if record else lock.schemes[-1]["name"]
    # one started outside cryocc holds the scheme's lock in this project (pgrep alone sees every project's)
    schemer = record is not None or (Project(project).scheme_locked(scheme) and _other_schemers(scheme))
    jobs = _abort_files(project, lock, scheme, schemer)
    if schemer:
        from .confine import confined
        from .confine import scheme_dir as confined_scheme

        confined_scheme(project, scheme, source=str(project / (RUN_RECORD if record else "cryocc.lock")), key="scheme")
        rel = f"{scheme_dir(scheme)}/{ABORT_NOW}"
        jobs = {"": confined(project, rel, scheme_dir(scheme), source=str(project / rel)), **jobs}
    elif not jobs:
        raise ProjectError(f"nothing runs in {project}: no relion_schemer and no running job, so nothing to abort",
                           hint="cryocc status shows each job's state")
    for path in jobs.values():
        path.touch()
    asked = ", ".join(j for j in jobs if j)
    if not schemer:
        say(f"no relion_schemer runs; asked the running job {asked} to stop")
    else:
        say(f"asked Schemes/{scheme}/ to stop" + (f" and its running job {asked}" if asked else "; no job was running"))


def _abort_files(project: Path, lock: Lockfile, scheme: str, schemer: bool) -> dict[str, Path]:
    """The RELION_JOB_ABORT_NOW of each running job (a job that started and has no sentinel, while
    a schemer runs; the scheme's current job), confined to its job directory."""
    from .confine import confined, job_dir

    found = {s.job_dir: (s.name, "cryocc.lock" if lock.jobs[s.name].job_dir == s.job_dir else f"{scheme_dir(s.scheme or '')}/scheme.star")
             for s in observe(project, lock).values()
             if s.job_dir and (s.status == Status.RUNNING or (schemer and s.status == Status.INCOMPLETE))}
    current = Project(project).current_job_dir(scheme) if schemer else None
    if current and current not in found:
        found[current] = ("", f"{scheme_dir(scheme)}/scheme.star")
    out = {}
    for d, (name, source) in found.items():
        job_dir(project, d, source=str(project / source), key="rlnSchemeJobName")
        out[f"{name} ({d})" if name else d] = confined(project, d + ABORT_NOW, d, source=str(project / d / ABORT_NOW))
    return out


def follow(project: Path, record: dict[str, Any], *, say: Callable[[str], None], poll: float = 2.0,
           show: Callable[[list[JobState]], None] | None = None) -> int:
    """Report each job of the running scheme as its state changes, until the schemer ends; show()
    gets every job's state at each poll (for a live view). 0 when every job of the scheme succeeded,
    1 otherwise (relion_schemer's own exit code says 0 either way)."""
    project = Path(project)
    scheme = record["scheme"]
    seen: dict[str, str] = {}
    while True:
        alive = _pid_alive(record["pid"], scheme)
        lock = applied_lock(project)
        jobs: list[str] = next((s["jobs"] for s in lock.schemes if s["name"] == scheme), [])
        states = observe(project, lock)
        if show:
            show([states[n] for n in jobs if n in states])
        for name in jobs:
            st = states.get(name)
            if st is None or st.scheme != scheme or st.status == Status.SCHEDULED or seen.get(name) == st.status + st.detail:
                continue
            seen[name] = st.status + st.detail
            say(_describe(st))
        if not alive:
            break
        time.sleep(poll)
    final = {n: states[n].status for n in jobs if n in states}
    bad = {n: s for n, s in final.items() if s != Status.SUCCEEDED}
    if not bad:
        partial = [states[n] for n in final if states[n].failed_items]
        say(f"Schemes/{scheme}/ finished: {len(final)} jobs succeeded"
            + "".join(f"; {st.name} {st.detail}" for st in partial))
        return 0
    name, status = next(iter(bad.items()))
    st = states[name]
    say(f"Schemes/{scheme}/ stopped at {name}: {status}" + (f" ({st.detail})" if st.detail else ""))
    if st.job_dir:
        for line in tail(project / st.job_dir / "run.out", 10):
            say(f"  | {line}")
    return 1


def _describe(st: JobState) -> str:
    where = f" in {st.job_dir}" if st.job_dir else ""
    if st.status == Status.SUCCEEDED:
        return f"{st.name}: succeeded{where} ({(st.receipt or {}).get('seconds', 0):.0f} s)" + (f", {st.detail}" if st.detail else "")
    if st.status == Status.RUNNING:
        return f"{st.name}: running{where}" + (f", SLURM job {st.slurm['id']} {st.slurm['state']}" if st.slurm else "")
    return f"{st.name}: {st.status}{where}" + (f": {st.detail}" if st.detail else "")


def logs(project: Path, job: str, *, follow: bool, write: Callable[[str], None], poll: float = 0.5,
         item: str | None = None, attempt: int | None = None) -> None:
    """A job's run.out (and then its run.err, if not empty), found through the lockfile; with follow,
    what the job writes until it ends (a sentinel appears). item: that tilt series' own log instead,
    written where a job runs tilt series side by side (drivers._process.for_each_item). attempt: the
    log of that run of the job (an extension or a re-run runs again in its directory; the job script
    keeps each earlier attempt's logs as run.N.out and run.N.err), the latest when not given."""
    from .errors import did_you_mean
    from .project import observe_job

    lock = applied_lock(project)
    if job not in lock.jobs:
        raise ProjectError(f"no job '{job}' in {project}/cryocc.lock", hint=did_you_mean(job, lock.jobs) or "cryocc status lists the jobs")
    st = observe_job(Project(project), job, lock.jobs[job])
    if not st.job_dir:
        raise ProjectError(f"{job} has no job directory yet ({st.detail})", hint="it gets one when relion_schemer starts it: cryocc run")
    from .confine import confined, job_dir

    jd = st.job_dir
    source = "cryocc.lock" if lock.jobs[job].job_dir == jd else f"{scheme_dir(st.scheme or '')}/scheme.star"
    d = job_dir(project, jd, source=str(project / source), key="rlnSchemeJobName")

    def own(rel: str) -> Path:  # a log of the job: never followed out of its directory
        return confined(project, jd + rel, jd, source=str(project / jd / rel))

    earlier = _earlier_attempts(d)
    latest = len(earlier) + 1
    if attempt is not None and attempt != latest:
        if item is not None:
            raise ProjectError("--item with --attempt: per-tilt-series logs are kept per tilt series, not per attempt",
                               hint=f"cryocc logs {job} --item {item} prints the latest attempt's")
        _print_attempt(job, jd, attempt, latest, own, write)
        return
    per_item = sorted(p.stem for p in (d / ITEM_LOGS).glob("*.log")) if own(ITEM_LOGS).is_dir() else []
    if item is not None:
        if item not in per_item:
            raise ProjectError(f"{st.job_dir} has no log of tilt series {item}",
                               hint=("it has logs of " + ", ".join(per_item)) if per_item else "this job wrote no per-tilt-series logs")
        write(own(f"{ITEM_LOGS}/{item}.log").read_text(errors="replace"))
        return
    pos = 0
    while True:
        done = ended(d)
        try:
            with open(own("run.out"), "rb") as fh:  # confined each time: it may appear (as a link) while followed
                fh.seek(pos)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            write(chunk.decode(errors="replace"))
            pos += len(chunk)
        if done or not follow:
            break
        time.sleep(poll)
    err = own("run.err")
    if err.is_file() and err.stat().st_size:
        write(f"--- {st.job_dir}run.err ---\n" + err.read_text(errors="replace"))
    if per_item:
        write(f"--- {len(per_item)} tilt series have their own log in {st.job_dir}{ITEM_LOGS}/ "
              f"(cryocc logs {job} --item NAME): {', '.join(per_item)}\n")
    if earlier:
        write(f"--- this is attempt {latest} of {job}; the logs of earlier attempts are kept: {_attempts(earlier)} "
              f"(cryocc logs {job} --attempt N) ---\n")


def _earlier_attempts(d: Path) -> list[int]:
    """The attempts whose logs the job script kept (run.N.out, run.N.err): 1, 2, ... in order."""
    found = {int(p.name.split(".")[1]) for p in d.glob("run.*.*")
             if p.name.split(".")[1].isdigit() and p.name.split(".")[2:] in (["out"], ["err"])}
    return sorted(n for n in found if n > 0)


def _attempts(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + (" and " if len(numbers) > 1 else "") + str(numbers[-1])


def _print_attempt(job: str, jd: str, attempt: int, latest: int, own: Callable[[str], Path], write: Callable[[str], None]) -> None:
    """An earlier attempt's run.N.out, then its run.N.err if not empty."""
    out, err = own(f"run.{attempt}.out"), own(f"run.{attempt}.err")
    if not (1 <= attempt < latest) or not (out.is_file() or err.is_file()):
        raise ProjectError(f"{job} has no attempt {attempt}: {jd} holds the logs of attempt{'s 1 to' if latest > 1 else ''} {latest}",
                           hint=f"cryocc logs {job} prints the latest (attempt {latest})" +
                                (f"; --attempt 1 to {latest - 1} the earlier ones" if latest > 1 else ""))
    if out.is_file():
        write(out.read_text(errors="replace"))
    if err.is_file() and err.stat().st_size:
        write(f"--- {jd}run.{attempt}.err ---\n" + err.read_text(errors="replace"))
    write(f"--- attempt {attempt} of {latest} of {job} ---\n")


def tail(path: Path, n: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []
