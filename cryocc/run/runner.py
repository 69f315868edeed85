"""`cryocc run` and `cryocc abort`: start relion_schemer detached, follow it, stop it, recover.

relion_schemer's exit code says nothing (0 after a failed job), it never skips a finished job,
and a dead schemer leaves its lock behind. So cryocc judges outcomes from the sentinels and
receipts, and recovers by waiting for jobs still in SLURM, clearing only locks no live schemer
holds, and re-planning what is left: finished work is never submitted again."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..confine import confined
from ..contract import (
    ABORT_NOW,
    ABORTED,
    ARRAY_IDS,
    ARRAY_LOGS,
    ARRAY_MANIFEST,
    ARRAY_TASKS,
    ITEM_LOGS,
    LOG_TAIL_MARK,
    RUN_RECORD,
    SITE_COPY,
    WATCHDOG_NOTE,
    RunRecord,
    ended,
    scheme_dir,
    schemer_lock_dir,
    task_log,
)
from ..errors import Collector, CryoccError, Location, ProjectError, os_failure
from ..fsio import atomic_write, open_append, sha256_bytes, touch
from ..lockfile.lockfile import LOCKFILE, Lockfile, read_lockfile
from ..observe.arrays import Recorded, one_line, read_recorded, scancel
from ..observe.project import JobState, Project, foreign_schemer, is_sbatch, live_schemer, observe, schemer_alive
from ..project_files import open_regular, read_tail
from ..states import Status

if TYPE_CHECKING:  # status, logs and abort import this module: no pydantic, no compiler for them
    from ..schema.models import SiteProfile

__all__ = ["abort", "applied_lock", "follow", "live_schemer", "logs", "run", "schemer_command", "tail"]


def applied_lock(project: Path) -> Lockfile:
    """The project's lockfile; a ProjectError when nothing was applied yet."""
    lock = read_lockfile(project)
    if lock is None or not lock.schemes:
        raise ProjectError(f"{project} has nothing applied yet", hint="run cryocc apply PIPELINE --project DIR first")
    return lock


def _site_file(project: Path, scheme: str) -> Path:
    """The copy of the site profile the scheme was compiled from (older lockfiles name none: their one copy)."""
    i, record = next(((i, s) for i, s in enumerate(applied_lock(project).schemes) if s["name"] == scheme), (0, None))
    site = str((record.get("site") if record else None) or SITE_COPY)  # its shape checked with the lockfile's; no symlink out
    confined(project, site, site, source=str(project / LOCKFILE), key=f"schemes[{i}].site")
    return project / site


def _site(project: Path, scheme: str) -> SiteProfile:
    from ..schema.models import SiteProfile
    from ..schema.yamldoc import load_yaml

    return SiteProfile.model_validate(load_yaml(_site_file(project, scheme)).data)


def schemer_command(site: SiteProfile, scheme: str, project: Path) -> list[str]:
    """relion_schemer as the site profile says: native, or inside the RELION image."""
    args = [site.relion.command, "--scheme", scheme, "--run", "--pipeline_control", f"{scheme_dir(scheme)}/"]
    if not site.relion.image:
        return args
    c = site.container
    binds = [str(project.resolve()), *c.binds]
    return [c.executable, "exec", *c.options, *[a for b in binds for a in ("-B", b)], site.relion.image, *args]


def preflight(project: Path, scheme: str, site: SiteProfile, env: dict[str, str]) -> None:
    """What the site needs before relion_schemer starts, or one error for each thing missing: the
    schemer, the submit command (where it is sbatch: sbatch and squeue answering), the driver, and
    every container image and tool directory the site profile names. A run that cannot submit its
    first job would otherwise wait at it."""
    where = Location(str(_site_file(project, scheme)))
    errors = Collector()

    def refuse(key: str, message: str, hint: str) -> None:  # where: apply's copy of the site profile the pipeline names
        errors.add(ProjectError(message, location=where, key=key,
                                hint=f"{hint} (this is apply's copy of the site profile: change the profile pipeline.yaml "
                                     "names, then cryocc apply again)"))

    _check_commands(project, scheme, site, env, refuse)
    _check_tools(site, env.get("PATH"), refuse)
    errors.raise_if_any()


Refuse = Callable[[str, str, str], None]  # (key, message, hint)


def _check_commands(project: Path, scheme: str, site: SiteProfile, env: dict[str, str], refuse: Refuse) -> None:
    """The schemer, the submit command (sbatch: sbatch and squeue answering) and the driver."""
    path = env.get("PATH")
    schemer = schemer_command(site, scheme, project)[0]
    if not shutil.which(schemer, path=path):
        refuse("container.executable" if site.relion.image else "relion.command", f"{schemer}: command not found",
               "install it or put it on PATH, or name it in the site profile")
    submit = site.submit.split()[0]
    if not shutil.which(submit, path=path):
        refuse("submit", f"{submit}: command not found", "the site profile's submit command must run on this machine")
    elif is_sbatch(site.submit):
        for argv in ([submit, "--version"], ["squeue", "-h", "--me", "-o", "%i"]):
            problem = _answers(argv, env)
            if problem:
                refuse("submit", f"`{' '.join(argv)}` does not answer: {problem}",
                       "SLURM must answer from this machine (try sinfo and squeue); or use a site profile "
                       "that runs jobs without it (submit: bash)")
    driver = site.driver.split()[0]
    if not shutil.which(driver, path=path):
        refuse("driver", f"{driver}: command not found", "install cryocc where the jobs run, and name its "
               "cryocc_relion_driver in the site profile (driver:)")


def _check_tools(site: SiteProfile, path: str | None, refuse: Refuse) -> None:
    """Every container image and tool directory the site profile names, and the container runtime."""
    images = [("relion.image", site.relion.image)] + [(f"tools.{n}.image", t.image) for n, t in site.tools.items()]
    for key, image in images:
        if image and not os.path.isfile(image):
            refuse(key, f"{image}: no such container image", "build or copy the image there, or fix the path")
    if any(image for _, image in images) and not site.relion.image and not shutil.which(site.container.executable, path=path):
        refuse("container.executable", f"{site.container.executable}: command not found", "the site's images need it")
    for name, tool in site.tools.items():
        if tool.bin_dir and not tool.image and not os.path.isdir(tool.bin_dir):
            refuse(f"tools.{name}.bin_dir", f"{tool.bin_dir}: no such directory", "fix the path, or leave bin_dir out to use PATH")


def _answers(argv: list[str], env: dict[str, str]) -> str:
    """What is wrong when argv does not answer ("" when it does): its own last words, or its exit code."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=30, env=env,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "no answer within 30 s"
    except OSError as exc:
        return exc.strerror or str(exc)
    if out.returncode == 0:
        return ""
    said = (out.stderr.strip() or out.stdout.strip()).splitlines()
    return said[-1] if said else f"exit {out.returncode}"


def start(project: Path, scheme: str, site: SiteProfile, env: dict[str, str]) -> RunRecord:
    """relion_schemer under its watchdog, detached; the record of both (.cryocc/run.json)."""
    cmd = schemer_command(site, scheme, project)
    log = project / scheme_dir(scheme)
    told, tell = os.pipe()  # the watchdog tells the schemer's pid through it
    supervised = [sys.executable, "-m", "cryocc.run.watchdog", "--project", str(project.resolve()), "--scheme", scheme,
                  "--tell-pid", str(tell), "--", *cmd]
    try:
        with open_append(log / "run.out") as out, open_append(log / "run.err") as err:
            # its own session: the schemer outlives the terminal and the user logging out of the head node
            proc = subprocess.Popen(supervised, cwd=project, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True, pass_fds=(tell,))
    finally:
        os.close(tell)
    with os.fdopen(told, "rb") as fh:
        ready, _, _ = select.select([fh], [], [], 60)
        said = fh.readline(64).decode(errors="replace").strip() if ready else ""
    if not said.isdigit():
        last = tail(log / "run.err", 1)
        raise ProjectError("relion_schemer did not start" + (f": {last[0]}" if last else ""),
                           location=Location(f"{log}/run.err"), hint="its log says why")
    _until_it_shows(int(said), scheme)
    record: RunRecord = {"scheme": scheme, "pid": int(said), "watchdog": proc.pid, "host": socket.gethostname(), "command": cmd,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "log": f"{scheme_dir(scheme)}/run.out"}
    atomic_write(project / RUN_RECORD, json.dumps(record, indent=1) + "\n")
    return record


def _until_it_shows(pid: int, scheme: str, seconds: float = 30.0) -> None:
    """Right after the schemer was started its /proc cmdline can still be empty (its exec under way:
    seen in 17 of 300 starts here), and `run --wait` would take it for ended: wait until it shows as
    the schemer, or has gone."""
    deadline = time.monotonic() + seconds
    while not schemer_alive(pid, scheme) and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)


def _wait_for_slurm(project: Path, lock: Lockfile, say: Callable[[str], None], poll: float) -> None:
    """Jobs still queued or running (in SLURM, or their process) with no schemer watching: wait for
    their sentinels rather than submit a second copy into the same directory. A job whose supervisor
    is gone (killed with its node while the head node was down) leaves array tasks nobody merges: they
    are cancelled, as the watchdog does, so that the job's next run is the only one."""
    from .watchdog import cancel_arrays

    while True:
        states = observe(project, lock).values()
        for s in states:
            if s.status != Status.RUNNING and s.job_dir and (ids := cancel_arrays(project, s.job_dir)):
                say(f"{s.name}: its supervisor is gone; cancelled its array {', '.join(ids)}, which nothing would merge")
        running = [s for s in states if s.status == Status.RUNNING]
        if not running:
            return
        say("waiting for " + ", ".join(f"{s.name} ({s.detail})" for s in running))
        time.sleep(poll)


def run(project: Path, *, say: Callable[[str], None], poll: float = 5.0) -> RunRecord | None:
    """Start (or resume) the project's work. Returns the started schemer's record, or None when all is done."""
    project = Path(project)
    lock = applied_lock(project)
    alive = live_schemer(project)
    if alive:
        say(f"relion_schemer already runs {scheme_dir(alive['scheme'])}/ (pid {alive['pid']}); not starting another")
        return alive
    _wait_for_slurm(project, lock, say, poll)
    scheme = lock.schemes[-1]["name"]
    site, env = _checked_site(project, scheme)  # before anything is written: a refusal leaves the project as it was
    for s in lock.schemes:  # RELION leaves its lock behind when it dies; a stale one blocks the next run
        stale = project / schemer_lock_dir(s['name'])
        if stale.exists() and not foreign_schemer(project, s["name"]):
            shutil.rmtree(stale)
            say(f"removed the stale lock {stale.name}/ (no relion_schemer of {scheme_dir(s['name'])}/ is alive)")
    checked = _site_file(project, scheme)
    replanned = Project(project).scheme_started(scheme)
    if replanned:
        applied = _replan(project, lock, say)
        if applied is None:
            return None
        scheme = applied
    elif changed := _spec_changed(lock):
        say(f"warning: {changed} changed since {scheme_dir(scheme)}/ was applied from it; running what was applied "
            "(cryocc plan shows what the change would do, cryocc apply writes it)")
    try:
        if _site_file(project, scheme) != checked:  # apply copied a changed site profile
            site, env = _checked_site(project, scheme)
        record = start(project, scheme, site, env)
    except CryoccError as exc:
        if replanned:
            exc.written = f"cryocc apply wrote {scheme_dir(scheme)}/ and cryocc.lock (what is left to run); nothing was started."
        raise
    say(f"started relion_schemer for {scheme_dir(scheme)}/ (pid {record['pid']}), log {record['log']}")
    return record


def _checked_site(project: Path, scheme: str) -> tuple[SiteProfile, dict[str, str]]:
    """The site profile the scheme was compiled from and the environment it runs in, once preflight passes."""
    site = _site(project, scheme)
    env = {**os.environ, **site.relion.env}
    preflight(project, scheme, site, env)
    return site, env


def _spec_changed(lock: Lockfile) -> str | None:
    """The pipeline the lockfile was applied from, if its content is not what was applied."""
    spec = Path(lock.pipeline.get("path", ""))
    try:
        same = spec.is_file() and sha256_bytes(spec.read_bytes()) == lock.pipeline.get("spec_sha256")
    except OSError:
        return None
    return None if same or not spec.is_file() else str(spec)


def _replan(project: Path, lock: Lockfile, say: Callable[[str], None]) -> str | None:
    """The last scheme ran (to the end or not): apply again, which plans only what is left."""
    spec = Path(lock.pipeline.get("path", ""))
    if not spec.is_file():
        raise ProjectError(f"the pipeline last applied ({spec}) is gone", hint="run cryocc apply PIPELINE --project DIR")
    if _spec_changed(lock):
        raise ProjectError(f"{spec} changed since the last apply",
                           hint="review the changes with cryocc plan, then cryocc apply, then cryocc run")
    from ..compiler import apply_pipeline

    result = apply_pipeline(spec, project)
    if not result.plan.to_run:
        say("nothing to run: every job has succeeded")
        return None
    say(f"continuing with {', '.join(result.plan.to_run)} (kept: {', '.join(result.plan.kept) or 'none'})")
    return result.scheme


def abort(project: Path, *, say: Callable[[str], None], grace: float = 30.0, poll: float = 0.5) -> None:
    """Stop the scheme and its running job, and wait until they have: the job by RELION_JOB_ABORT_NOW
    (its driver stops the tool and ends RELION_JOB_EXIT_ABORTED), a job still queued in SLURM by
    scancel, and a job the schemer waits for that nothing runs (its submission failed) by writing
    its RELION_JOB_EXIT_ABORTED for it. A schemer still alive after grace seconds is terminated. A
    ProjectError when nothing was running, or something is still running after all."""
    project = Path(project)
    lock = applied_lock(project)
    p = Project(project)
    states = observe(project, lock)
    schemers = [s["name"] for s in lock.schemes if p.schemer_runs(s["name"])]
    running = [st for st in states.values() if st.job_dir and st.status == Status.RUNNING]
    arrays = Arrays(p, [st for st in states.values() if st.job_dir and st.status in (Status.RUNNING, Status.INCOMPLETE)], say)
    if not schemers and not running and not arrays.live():
        raise ProjectError(f"nothing to abort: no relion_schemer runs for {project} and none of its jobs runs",
                           hint="cryocc status shows what became of each job")
    _ask_to_stop(project, lock, schemers, running)
    try:
        for st in running:
            if st.slurm.get("state") == "PENDING":  # no driver runs yet to see the request: it never would
                subprocess.run(["scancel", st.slurm["id"]], capture_output=True, timeout=30, check=False)
        stuck = [st for st in states.values() if st.job_dir and st.status == Status.INCOMPLETE and st.scheme in schemers
                 and p.current_job_dir(st.scheme or "") == st.job_dir]
        jobs = [f"{st.name} ({st.job_dir})" for st in running + stuck]
        what = [f"{scheme_dir(s)}/" for s in schemers] + ([("its running job " if schemers else "") + ", ".join(jobs)] if jobs else [])
        say("asked " + " and ".join(what) + " to stop" if what else "no relion_schemer and no job of the project runs")
        arrays.cancel()  # after RELION_JOB_ABORT_NOW: a supervisor that finds its array gone then ends aborted
        _wait_stopped(project, lock, schemers, [st.name for st in running + stuck], say, grace, poll, arrays)
    except (CryoccError, OSError) as exc:  # the request is out: the error says so
        failure = os_failure(exc) if isinstance(exc, OSError) else exc
        failure.written = f"{ABORT_NOW} was written: a job that sees it later still stops."
        raise failure from None


def _ask_to_stop(project: Path, lock: Lockfile, schemers: list[str], running: list[JobState]) -> None:
    """RELION's request to stop (relion_schemer --abort): RELION_JOB_ABORT_NOW in each scheme and job
    directory, each only in a directory of the project (confine.py), all checked before any is written."""
    from ..confine import confined
    from ..confine import job_dir as confined_job
    from ..confine import scheme_dir as confined_scheme

    targets = [(scheme_dir(s), confined_scheme(project, s, source=str(project / "cryocc.lock"), key="schemes")) for s in schemers]
    for st in running:
        rel = st.job_dir or ""
        targets.append((rel, confined_job(project, rel, source=str(project / _named_in(lock, st)), key="rlnSchemeJobName")))
    files = [confined(project, f"{rel.rstrip('/')}/{ABORT_NOW}", rel, source=str(project / rel / ABORT_NOW)) for rel, _ in targets]
    for path in files:
        touch(path)


def _named_in(lock: Lockfile, st: JobState) -> str:
    """The project file that named a job's directory: the lockfile, or the scheme.star that ran it."""
    return "cryocc.lock" if lock.jobs[st.name].job_dir == st.job_dir else f"{scheme_dir(st.scheme or '')}/scheme.star"


class Arrays:
    """The SLURM arrays of the jobs abort stops (those its supervisors recorded in arrays.json): each
    one squeue lists as an array of ours working in this project is cancelled, once, and looked for
    until SLURM has none of its tasks left. A damaged arrays.json is said, not raised: the supervisor
    that reads RELION_JOB_ABORT_NOW cancels its own arrays."""

    def __init__(self, project: Project, jobs: list[JobState], say: Callable[[str], None]) -> None:
        self.project, self.jobs, self.say = project, [(st.name, st.job_dir or "") for st in jobs], say
        self.cancelled: set[str] = set()
        self.said: set[str] = set()

    def live(self) -> dict[str, list[str]]:
        """job name -> the ids of its arrays SLURM still has (a supervisor may submit one more as it stops)."""
        out = {}
        for name, job_dir in self.jobs:
            try:
                recorded = self.project.recorded_arrays(job_dir)
            except ProjectError as exc:
                if exc.message not in self.said:
                    self.said.add(exc.message)
                    self.say(f"cannot cancel the arrays of {name}: {one_line(exc)}")
                continue
            if recorded is not None and (ids := self.project.live_arrays(recorded)):
                out[name] = ids
        return out

    def cancel(self) -> dict[str, list[str]]:
        """scancel the live arrays not cancelled yet; returns what is live."""
        live = self.live()
        for name, ids in live.items():
            new = [i for i in ids if i not in self.cancelled]
            if new:
                self.cancelled.update(new)
                problem = scancel(new)
                self.say(f"cancelled {name}'s array {', '.join(new)}" + (f" ({problem})" if problem else ""))
        return live

    def again(self, project: Project) -> dict[str, list[str]]:
        """A new look (the project's squeue call), cancelling what appeared since."""
        self.project = project
        return self.cancel()


def _wait_stopped(project: Path, lock: Lockfile, schemers: list[str], jobs: list[str], say: Callable[[str], None],
                  grace: float, poll: float, arrays: Arrays | None = None) -> None:
    """Until the schemers have ended, each job has a sentinel and SLURM has no task of their arrays: a
    job that nothing runs any more (cancelled while queued, never submitted) gets RELION_JOB_EXIT_ABORTED
    from here, as its driver would have written. After grace seconds, the schemer cryocc started is ended."""
    t0 = time.time()
    while True:
        p = Project(project)
        states = observe(project, lock)
        for st in (states[n] for n in jobs):
            if st.status == Status.INCOMPLETE and p.liveness(st.job_dir or "")[0] is False:
                _mark_aborted(project, st)
        alive = [s for s in schemers if p.schemer_runs(s)]
        left = [states[n] for n in jobs if states[n].status in (Status.RUNNING, Status.INCOMPLETE)]
        tasks = arrays.again(p) if arrays else {}
        if not alive and not left and not tasks:
            states = observe(project, lock)
            ended_as = [f"{n} {states[n].status}" for n in jobs] + (["relion_schemer has ended"] if schemers else []) \
                + (["SLURM has no task of their arrays left"] if arrays and arrays.cancelled else [])
            say(f"stopped in {time.time() - t0:.0f} s: " + ", ".join(ended_as))
            return
        if time.time() > t0 + grace:
            break
        time.sleep(poll)
    record = p.schemer()
    if record and record["scheme"] in alive:
        _end_schemer(record["pid"], record["scheme"])  # its lock stays behind: the next cryocc run clears it
        say(f"relion_schemer (pid {record['pid']}) did not stop within {grace:.0f} s: ended it")
        alive = [s for s in schemers if Project(project).schemer_runs(s)]
    problems = [f"a relion_schemer of {scheme_dir(s)}/ still runs" for s in alive]
    problems += [f"{st.name} ({st.job_dir}) has not ended: {st.detail}" for st in left]
    problems += [f"SLURM still has tasks of {name}'s array {', '.join(ids)}" for name, ids in tasks.items()]
    if problems:
        raise ProjectError(f"not everything stopped within {grace:.0f} s: " + "; ".join(problems),
                           hint="cryocc status shows what still runs; scancel or kill it by the id it names")


def _end_schemer(pid: int, scheme: str) -> None:
    """Terminate, then kill, the relion_schemer pid: only while pid is still that schemer (a pid is reused)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not schemer_alive(pid, scheme):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(20):
            if not schemer_alive(pid, scheme):
                return
            time.sleep(0.25)


def _mark_aborted(project: Path, st: JobState) -> None:
    """A job the schemer waits for that nothing runs (its submission failed, or it was cancelled
    while queued) would never see RELION_JOB_ABORT_NOW: end it as its driver would have."""
    from ..confine import job_dir as confined_job

    d = confined_job(project, st.job_dir or "", source=str(project / f"{scheme_dir(st.scheme or '')}/scheme.star"), key="rlnSchemeJobName")
    if ended(d):
        return
    atomic_write(d / WATCHDOG_NOTE, f"aborted by cryocc abort while not running ({st.detail}); cryocc wrote "
                                    f"{ABORTED} so that relion_schemer stops waiting\n")
    touch(d / ABORTED)


def follow(project: Path, record: RunRecord, *, say: Callable[[str], None], poll: float = 2.0,
           show: Callable[[list[JobState]], None] | None = None) -> int:
    """Report each job of the running scheme as its state changes, until the schemer ends; show()
    gets every job's state at each poll (for a live view). 0 when every job of the scheme succeeded,
    1 otherwise (relion_schemer's own exit code says 0 either way)."""
    project = Path(project)
    scheme = record["scheme"]
    seen: dict[str, str] = {}
    while True:
        alive = schemer_alive(record["pid"], scheme)
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
        say(f"{scheme_dir(scheme)}/ finished: {len(final)} jobs succeeded"
            + "".join(f"; {st.name} {st.detail}" for st in partial))
        return 0
    name, status = next(iter(bad.items()))
    st = states[name]
    say(f"{scheme_dir(scheme)}/ stopped at {name}: {status}" + (f" ({st.detail})" if st.detail else ""))
    if st.job_dir:
        for line in job_log_tail(project, st.job_dir, "run.out", 10):
            say(f"  | {line}")
    return 1


def _describe(st: JobState) -> str:
    where = f" in {st.job_dir}" if st.job_dir else ""
    if st.status == Status.SUCCEEDED:
        return f"{st.name}: succeeded{where} ({(st.receipt or {}).get('seconds', 0):.0f} s)" + (f", {st.detail}" if st.detail else "")
    if st.status == Status.RUNNING:
        return f"{st.name}: running{where}" + (f", SLURM job {st.slurm['id']} {st.slurm['state']}" if st.slurm else "") \
            + (f"; {st.array['line']}" if st.array else "")
    return f"{st.name}: {st.status}{where}" + (f": {st.detail}" if st.detail else "")


def logs(project: Path, job: str, *, follow: bool, write: Callable[[str], None], poll: float = 0.5,
         item: str | None = None, attempt: int | None = None) -> None:
    """A job's run.out (and then its run.err, if not empty), found through the lockfile; with follow,
    what the job writes until it ends (a sentinel appears). item: that tilt series' own log instead,
    written where a job runs tilt series side by side (drivers._process.for_each_item). attempt: the
    log of that run of the job (an extension or a re-run runs again in its directory; the job script
    keeps each earlier attempt's logs as run.N.out and run.N.err), the latest when not given."""
    from ..errors import did_you_mean
    from ..observe.project import observe_job

    lock = applied_lock(project)
    if job not in lock.jobs:
        raise ProjectError(f"no job '{job}' in {project}/cryocc.lock", hint=did_you_mean(job, lock.jobs) or "cryocc status lists the jobs")
    st = observe_job(Project(project), job, lock.jobs[job])
    if not st.job_dir:
        raise ProjectError(f"{job} has no job directory yet ({st.detail})", hint="it gets one when relion_schemer starts it: cryocc run")
    from ..confine import confined, job_dir

    jd = st.job_dir
    d = job_dir(project, jd, source=str(project / _named_in(lock, st)), key="rlnSchemeJobName")

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
    recorded = read_recorded(project, jd)  # a job run as SLURM arrays: each tilt series' task has its log
    if item is not None:
        _print_item_log(project, job, jd, item, per_item, recorded, own, write, follow=follow, poll=poll)
        return
    pos = 0
    while True:
        done = ended(d)
        pos = _print_log(own("run.out"), pos, write)  # confined each time: it may appear (as a link) while followed
        if done or not follow:
            break
        time.sleep(poll)
    err = read_tail(own("run.err"), LOG_LIMIT)
    if err:
        write(f"--- {jd}run.err ---\n" + err.decode(errors="replace"))
    _print_other_logs(job, jd, per_item, recorded, earlier, write)


def _print_item_log(project: Path, job: str, jd: str, item: str, per_item: list[str], recorded: Recorded | None,
                    own: Callable[[str], Path], write: Callable[[str], None], *, follow: bool, poll: float) -> None:
    """One tilt series' log: its array task's, or its own where tilt series ran side by side."""
    in_tasks = [name for names in recorded.tasks for name in names] if recorded else []
    if recorded is not None and item in in_tasks:
        _print_task_log(project, job, recorded, item, own, write, follow=follow, poll=poll)
        return
    if item not in per_item:
        listed = per_item or in_tasks
        raise ProjectError(f"{jd} has no log of tilt series {item}",
                           hint=("it has logs of " + ", ".join(listed[:20]) + (", ..." if len(listed) > 20 else ""))
                           if listed else "this job wrote no per-tilt-series logs")
    _print_log(own(f"{ITEM_LOGS}/{item}.log"), 0, write)


def _print_other_logs(job: str, jd: str, per_item: list[str], recorded: Recorded | None, earlier: list[int],
                      write: Callable[[str], None]) -> None:
    """Where the job's other logs are: per tilt series, per array task, of earlier attempts."""
    if per_item:
        write(f"--- {len(per_item)} tilt series have their own log in {jd}{ITEM_LOGS}/ "
              f"(cryocc logs {job} --item NAME): {', '.join(per_item)}\n")
    if recorded is not None and recorded.arrays:
        write(f"--- {len(recorded.tasks)} array tasks ({', '.join(recorded.ids())}) have their own log in {jd}{ARRAY_LOGS}/ "
              f"(cryocc logs {job} --item NAME, for the task of that tilt series) ---\n")
    if earlier:
        write(f"--- this is attempt {len(earlier) + 1} of {job}; the logs of earlier attempts are kept: {_attempts(earlier)} "
              f"(cryocc logs {job} --attempt N) ---\n")


def _print_task_log(project: Path, job: str, recorded: Recorded, item: str, own: Callable[[str], Path],
                    write: Callable[[str], None], *, follow: bool, poll: float) -> None:
    """The log of the array task that ran the tilt series (manifest -> task -> arrays.json -> its sbatch
    --output, then --error): with follow, until the task has its record or the job has ended."""
    jd = recorded.job_dir
    task = next(t for t, names in enumerate(recorded.tasks) if item in names)
    slurm = recorded.slurm_of(task)
    if slurm is None:
        raise ProjectError(f"{item} is in task {task} of {jd}{ARRAY_MANIFEST}, which no array in {jd}{ARRAY_IDS} has submitted",
                           hint="its supervisor submits it: cryocc status shows the job's arrays")
    array_id, index = slurm
    out, err = own(task_log(array_id, index, "out")), own(task_log(array_id, index, "err"))
    if not follow and not (os.path.lexists(out) or os.path.lexists(err)):
        raise ProjectError(f"task {task} of {job} ({item}), SLURM {array_id}_{index}, has no log yet: it has not started",
                           hint=f"cryocc status shows the array's progress; cryocc logs {job} --item {item} --follow waits for it")
    pos = 0
    while True:
        done = ended(project / jd) or os.path.lexists(own(f"{ARRAY_TASKS}/{task}.json"))
        pos = _print_log(out, pos, write)
        if done or not follow:
            break
        time.sleep(poll)
    if said := read_tail(err, LOG_LIMIT):
        write(f"--- {jd}{task_log(array_id, index, 'err')} ---\n" + said.decode(errors="replace"))
    others = [n for n in recorded.tasks[task] if n != item]
    write(f"--- {item}: task {task} of {job}, SLURM {array_id}_{index}" + (f", with {', '.join(others)}" if others else "") + " ---\n")


def _earlier_attempts(d: Path) -> list[int]:
    """The attempts whose logs the job script kept (run.N.out, run.N.err): 1, 2, ... in order."""
    found = {int(p.name.split(".")[1]) for p in d.glob("run.*.*")
             if p.name.split(".")[1].isdigit() and p.name.split(".")[2:] in (["out"], ["err"])}
    return sorted(n for n in found if n > 0)


def _attempts(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + (" and " if len(numbers) > 1 else "") + str(numbers[-1])


def _print_attempt(job: str, jd: str, attempt: int, latest: int, own: Callable[[str], Path], write: Callable[[str], None]) -> None:
    """An earlier attempt's run.N.out, then (its end) its run.N.err if not empty, read as the latest's are."""
    out, err = own(f"run.{attempt}.out"), own(f"run.{attempt}.err")
    if not (1 <= attempt < latest) or not (os.path.lexists(out) or os.path.lexists(err)):
        raise ProjectError(f"{job} has no attempt {attempt}: {jd} holds the logs of attempt{'s 1 to' if latest > 1 else ''} {latest}",
                           hint=f"cryocc logs {job} prints the latest (attempt {latest})" +
                                (f"; --attempt 1 to {latest - 1} the earlier ones" if latest > 1 else ""))
    _print_log(out, 0, write)
    if said := read_tail(err, LOG_LIMIT):
        write(f"--- {jd}run.{attempt}.err ---\n" + said.decode(errors="replace"))
    write(f"--- attempt {attempt} of {latest} of {job} ---\n")


LOG_LIMIT = 64 << 20  # bytes of run.err printed (its end)


def _print_log(path: Path, pos: int, write: Callable[[str], None]) -> int:
    """Write a log from byte pos on, a chunk at a time (a log of any size, never all of it in
    memory); returns where it ended. Not a regular file (a FIFO, a device): an error naming it."""
    with open_regular(path) as fh:
        if fh is not None:
            fh.seek(pos)
            while chunk := fh.read(1 << 20):
                write(chunk.decode(errors="replace"))
                pos += len(chunk)
    return pos


def tail(path: Path, n: int) -> list[str]:
    return read_tail(path, 1 << 20).decode(errors="replace").splitlines()[-n:]


def job_log_tail(project: Path, job_dir: str, log: str, n: int) -> list[str]:
    """failure_tail of a job's log, never followed out of its job directory: where it leads out, a
    note saying so instead of its lines."""
    try:
        path = confined(project, job_dir + log, job_dir, source=str(project / job_dir / log))
    except ProjectError as exc:
        return [f"(not shown: {exc.message})"]
    return failure_tail(path, n)


def failure_tail(path: Path, n: int) -> list[str]:
    """The last lines of a failed job's log, each once: a driver that failed repeats its output's
    last lines below LOG_TAIL_MARK, so those are shown, not the same lines again above them."""
    lines = tail(path, 400)
    marks = [i for i, line in enumerate(lines) if line == LOG_TAIL_MARK]
    return lines[marks[-1] + 1:][-n:] if marks else lines[-n:]
