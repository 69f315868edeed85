"""The SLURM-arrays benchmark: makespan of array against node execution, and the SLURM controller load.

Runs on the one-node test cluster (tests/slurm/start.sh, already running) with the real relion_schemer
and the fake tools (tests/fake_tools), the whole `cryocc run --wait` timed as users run it.

  makespan  the quickstart chain (import, motion, tsimport, align, ctf, reconstruct) over --series
            tilt series, each WarpTools step taking --seconds per tilt series
            (FAKE_SECONDS_PER_ITEM; motion's items are the 41 movies, each 1/41 of it): once with
            execution: array (a task per tilt series of 1 CPU, max_parallel = the node's CPU slots)
            and once with execution: node (each job the whole node: every CPU and GPU, and
            WarpTools' --perdevice so that it runs as many tilt series at once as there are slots).
  load      array runs over --load-sizes tilt series, --load-jobs of the chain, tools taking no time:
            every sbatch, squeue, scancel and scontrol call, counted by shims first on PATH (the
            environment `cryocc run` hands to the schemer, the supervisors and their tasks).

Prints a markdown report; --write FILE puts it into FILE as its section "## SLURM arrays" (with
--skip-makespan, only the new rows: they replace the table's rows of the same N, the rest stays).

    python bench/arrays.py [--series 48] [--seconds 4] [--load-sizes 300,1000] [--load-jobs import,motion]
                           [--skip-makespan] [--skip-load] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import cryocc_command, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FAKE_BIN = ROOT / "tests/fake_tools/bin"
SHIMMED = ("sbatch", "squeue", "scancel", "scontrol")
MOVIES = 41  # per tilt series of the quickstart's mdoc
WARP_VERBS = {"motion": "fs_motion_and_ctf", "align": "ts_aretomo", "ctf": "ts_ctf", "reconstruct": "ts_reconstruct"}
JOBS = {  # the quickstart's chain; the per-tilt-series ones get perdevice
    "import": "{type: import_movies}",
    "motion": "{type: fs_motion_ctf, params: {m_grid: 1x1x3, c_defocus_min_max: \"1.1:8\", perdevice: %d}}",
    "tsimport": "{type: ts_import, params: {tomo_dimensions: 64x64x32}}",
    "align": "{type: ts_alignment, params: {method: aretomo, sample_thickness_nm: 150, perdevice: %d}}",
    "ctf": "{type: ts_ctf, params: {perdevice: %d}}",
    "reconstruct": "{type: ts_reconstruct, params: {rescale_angpixs: 10, perdevice: %d}}",
}
PIPELINE = """cryocc: 1
name: bench
site: local
data:
  frames: data/frames/*.mrc
  mdocs: data/mdoc/*.mdoc
  acquisition: {{voltage: 300, dose_per_tilt: 3.0}}
defaults:
  execution: {execution}
  max_parallel: {max_parallel}
  resources: {{partition: main, cpus: 1, mem: 1G, time: "02:00:00"}}
jobs:
{jobs}
"""


def node_slots() -> tuple[int, int]:
    """(CPU slots, GPUs) the test cluster's one node offers."""
    out = subprocess.run(["scontrol", "show", "node"], capture_output=True, text=True, check=True).stdout
    fields = dict(tok.split("=", 1) for tok in out.split() if "=" in tok)
    gres = fields.get("Gres", "")
    return int(fields["CPUTot"]), int(gres.rsplit(":", 1)[1]) if gres.startswith("gpu:") else 0


def relion_bin() -> str:
    out = subprocess.run(["bash", str(ROOT / "tests/relion/build.sh"), "--check"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"no real RELION (tests/relion/build.sh): {out.stdout or out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def write_shims(folder: Path) -> None:
    """sbatch, squeue, scancel, scontrol: each appends `time name job args` to $CRYOCC_BENCH_SLURM_LOG
    (job: the SLURM job it runs in, or head) and execs the real one."""
    folder.mkdir(parents=True)
    for name in SHIMMED:
        real = shutil.which(name)
        if real is None:
            raise SystemExit(f"{name} is not on PATH: is the test cluster installed (tests/slurm/start.sh)?")
        shim = folder / name
        shim.write_text("#!/bin/sh\n"
                        f"printf '%s {name} %s %s\\n' \"$(date +%s.%N)\" \"${{SLURM_JOB_ID:-head}}\" \"$*\""
                        " >> \"$CRYOCC_BENCH_SLURM_LOG\"\n"
                        f"exec {shlex.quote(real)} \"$@\"\n")
        shim.chmod(0o755)


def make_project(base: Path, n: int, execution: str, jobs: list[str], slots: int, gpus: int) -> Path:
    """The quickstart's data with n tilt series (the real mdoc renamed, its movies hard-linked) and a
    pipeline of jobs; returns its directory."""
    shutil.copytree(ROOT / "examples", base / "examples")
    root = base / "examples/quickstart"
    text = (root / "data/mdoc/TS_01.mdoc").read_text()
    movies = sorted((root / "data/frames").glob("TS_01_*"))
    for i in range(2, n + 1):
        name = f"TS_{i:02d}"
        (root / "data/mdoc" / f"{name}.mdoc").write_text(text.replace("TS_01_", f"{name}_"))
        for f in movies:
            os.link(f, root / "data/frames" / f.name.replace("TS_01_", f"{name}_"))
    # node: each per-tilt-series job has the whole node, and WarpTools as many workers as it has slots
    perdevice = max(1, slots // max(1, gpus)) if execution == "node" else 1
    whole = f", resources: {{cpus: {slots}, gpus: {gpus}, mem: 8G}}}}" if execution == "node" and gpus else "}"
    lines = []
    for job in jobs:
        spec = JOBS[job] % perdevice if "%d" in JOBS[job] else JOBS[job]
        lines.append(f"  {job}: {spec[:-1] + whole if job in WARP_VERBS else spec}")
    (root / "pipeline.yaml").write_text(PIPELINE.format(execution=execution, max_parallel=slots, jobs="\n".join(lines)))
    return root


class Sampler(threading.Thread):
    """From squeue once a second: the most array tasks of this project running at once, by job, and
    the most jobs of other projects seen (this cluster is shared with test runs)."""

    def __init__(self, project: Path) -> None:
        super().__init__(daemon=True)
        self.project, self.stop = str(project), threading.Event()
        self.most: Counter[str] = Counter()
        self.others = 0

    def run(self) -> None:
        while not self.stop.wait(1.0):
            out = subprocess.run(["squeue", "-h", "-r", "-o", "%j|%T|%Z"], capture_output=True, text=True, errors="replace").stdout
            rows = [line.split("|", 2) for line in out.splitlines() if line.count("|") == 2]
            running = Counter(name for name, state, cwd in rows if cwd == self.project and state == "RUNNING" and name.endswith(".tasks"))
            for name, count in running.items():
                self.most[name] = max(self.most[name], count)
            self.others = max(self.others, sum(1 for _, _, cwd in rows if cwd != self.project))


class Run:
    """One project run to its end by `cryocc run --wait`, timed, its SLURM calls logged."""

    def __init__(self, base: Path, n: int, execution: str, jobs: list[str], seconds: float, slots: int, gpus: int) -> None:
        self.n, self.execution, self.jobs = n, execution, jobs
        self.root = make_project(base, n, execution, jobs, slots, gpus)
        write_shims(base / "shims")
        self.log = base / "slurm_calls.log"
        self.log.touch()
        pace = ",".join(f"{v}={seconds / MOVIES if k == 'motion' else seconds:g}" for k, v in WARP_VERBS.items())
        path = [str(base / "shims"), str(FAKE_BIN), relion_bin(), sysconfig.get_path("scripts"), os.environ.get("PATH", "")]
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("FAKE_")}, "PATH": os.pathsep.join(path),
                    "CRYOCC_CACHE": str(base / "cache"), "NO_COLOR": "1", "CRYOCC_BENCH_SLURM_LOG": str(self.log),
                    "FAKE_SECONDS_PER_ITEM": pace}
        self.wall = 0.0
        self.sampler = Sampler(self.root / "project")

    def cryocc(self, *args: str) -> str:
        out = subprocess.run([*cryocc_command(), *args], cwd=self.root, env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"cryocc {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
        return out.stdout

    def go(self) -> Run:
        self.cryocc("apply", "pipeline.yaml", "--project", "project")
        self.log.write_text("")  # apply's own checks are not the run's
        self.sampler.start()
        start = time.perf_counter()
        try:
            out = self.cryocc("run", "--project", "project", "--wait")
        finally:
            self.wall = time.perf_counter() - start
            self.sampler.stop.set()
            self.sampler.join()
        if f"{len(self.jobs)} jobs succeeded" not in out:
            raise SystemExit(f"the run did not succeed:\n{out[-3000:]}")
        print(f"{self.execution} N={self.n}: {self.wall:.1f} s", file=sys.stderr)
        return self

    def receipts(self) -> dict[str, dict]:
        found = (json.loads(p.read_text()) for p in (self.root / "project").glob("External/job*/cryocc_receipt.json"))
        return {r["job"]: r for r in found}

    def calls(self) -> list[tuple[float, str, str, str]]:
        """(time, command, where: head or the SLURM job id, arguments) of every call."""
        out = []
        for line in self.log.read_text().splitlines():
            stamp, name, where, *args = line.split(" ", 3)
            out.append((float(stamp), name, where, args[0] if args else ""))
        return out


# --- the report ----------------------------------------------------------------------------------

def makespan_section(array: Run, node: Run, seconds: float, slots: int, gpus: int) -> str:
    per_job = ["| job | array: tasks, most running at once | array job | node job |", "|---|---|---|---|"]
    ra, rn = array.receipts(), node.receipts()
    for job in array.jobs:
        tasks = (ra[job].get("array") or {}).get("tasks")
        most = array.sampler.most.get(f"{job}.tasks", 0)
        per_job.append(f"| {job} | {f'{tasks}, {most}' if tasks else 'one job'} | {ra[job]['seconds']:.1f} s | {rn[job]['seconds']:.1f} s |")
    ideal = len(WARP_VERBS) * -(-array.n // slots) * seconds
    return (f"S = {slots} CPU slots ({gpus} fake GPUs), N = {array.n} tilt series, T = {seconds:g} s per tilt series in each of the "
            f"{len(WARP_VERBS)} WarpTools steps (motion: T/{MOVIES} per movie). Array: tasks of 1 CPU, no GPU, max_parallel {slots}. "
            f"Node: each per-tilt-series job asks for {slots} CPUs and {gpus} GPUs, WarpTools --perdevice {max(1, slots // max(1, gpus))}, "
            f"so its {slots} workers run {slots} tilt series at once. Other projects' SLURM jobs seen meanwhile: "
            f"{array.sampler.others} (array run), {node.sampler.others} (node run).\n\n"
            f"| `cryocc run --wait` | makespan |\n|---|---|\n"
            f"| execution: array | {array.wall:.1f} s |\n| execution: node | {node.wall:.1f} s |\n"
            f"| array / node | {array.wall / node.wall:.2f} |\n"
            f"| the tools' own time at {slots} at once, {len(WARP_VERBS)} x ceil(N/S) x T | {ideal:.0f} s |\n\n"
            "Each job (its receipt's seconds: the driver from start to end, the supervisor's for an array):\n\n"
            + "\n".join(per_job) + "\n")


def by_supervisor(name: str, args: str) -> bool:
    """A supervisor's call (drivers/_array.py), told by its arguments: it submits without its own SLURM_*."""
    return (name, "--array" in args) in (("sbatch", True), ("squeue", True)) or name in ("scancel", "scontrol")


def load_row(run: Run) -> str:
    receipts = run.receipts()
    arrays = [r for r in receipts.values() if r.get("array")]
    tasks = sum(r["array"]["tasks"] for r in arrays)
    lives = sum(r["seconds"] for r in arrays) / 60  # each supervisor polls while its array lives
    return _row(run.n, f"{len(receipts)} ({len(arrays)} arrays)", str(tasks), run.wall / 60,
                [(name, args) for _, name, _, args in run.calls()], lives, tasks)


def sampled_row(base: Path, n: int) -> str:
    """The controller load of a load run kept in base (--keep) and stopped before its end (cryocc abort):
    every call its shims logged, over the minutes from the first call to the last; the tasks done by
    their records; the supervisors' squeue over the time from their first array's sbatch on."""
    calls = [(float(stamp), name, args[0] if args else "") for stamp, name, _, *args in
             (line.split(" ", 3) for line in (base / "slurm_calls.log").read_text().splitlines())]
    end = calls[-1][0]
    first_array = min(t for t, name, args in calls if name == "sbatch" and "--array" in args)
    project = base / "examples/quickstart/project"
    tasks = sum(1 for _ in project.glob("External/job*/cryocc_array/tasks/*.json"))
    arrays = sum(1 for _, name, args in calls if name == "sbatch" and by_supervisor(name, args))
    return _row(n, f"{sum(1 for _ in project.glob('External/job*'))} ({arrays} arrays), stopped", f"{tasks} of {n} done",
                (end - calls[0][0]) / 60, [(name, args) for _, name, args in calls], (end - first_array) / 60, tasks)


def _row(n: int, jobs: str, tasks_cell: str, minutes: float, calls: list[tuple[str, str]], lives: float, tasks: int) -> str:
    """One row of the controller-load table: calls (command, arguments) in minutes, the supervisors'
    squeue over lives minutes."""
    mine = Counter(name for name, args in calls if by_supervisor(name, args))
    head = Counter(name for name, args in calls if not by_supervisor(name, args))

    def rate(count: int) -> str:
        return f"{count} ({count / minutes:.1f}/min)"

    return (f"| {n} | {jobs} | {tasks_cell} | {minutes:.1f} min | "
            f"{rate(head['sbatch'])} | {rate(head['squeue'])} | {mine['sbatch']} | {mine['scontrol']} | "
            f"{mine['squeue']} in {lives:.1f} min ({mine['squeue'] / max(lives, 1e-9):.1f}/min) | {mine['scancel']} | "
            f"{len(calls) / minutes:.1f} | {len(calls) / max(1, tasks):.2f} |")


LOAD_HEADER = ["| N | jobs (arrays) | array tasks | `run --wait` | head: sbatch | head: squeue | supervisors: sbatch | "
               "scontrol | supervisors: squeue, in their lives | scancel | all calls per minute | all calls per task |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]


def write_section(path: Path, text: str) -> None:
    """Replace (or append) the file's '## SLURM arrays' section, up to the next '## ' heading."""
    old = path.read_text() if path.exists() else ""
    start = old.find("\n## SLURM arrays")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start].rstrip("\n") + "\n\n" + text + (old[end:] if end >= 0 else "")
    path.write_text(new.rstrip("\n") + "\n")


def old_section(path: Path) -> str:
    """The file's '## SLURM arrays' section as it stands ('' when it has none)."""
    old = path.read_text() if path.exists() else ""
    start = old.find("\n## SLURM arrays")
    if start < 0:
        return ""
    end = old.find("\n## ", start + 1)
    return old[start + 1:end if end >= 0 else None]


def load_only(old: str, rows: list[str], measured: str) -> str:
    """A load-only run written into the section as it stands: its rows replace those of the same N,
    the other rows and the makespan stay, and a line below the table says how the new rows were measured."""
    sizes = {row.split("|")[1].strip() for row in rows}
    lines = old.rstrip("\n").splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("| ") and line[2:3].isdigit()]
    if not table:
        raise SystemExit("--write with --skip-makespan adds rows to the section's Controller load table, and it has none")
    kept = [lines[i] for i in table if lines[i].split("|")[1].strip() not in sizes]
    merged = sorted(kept + rows, key=lambda row: int(row.split("|")[1]))
    after = [line for line in lines[table[-1] + 1:] if not line.startswith(f"Rows N = {', '.join(sorted(sizes))}:")]
    return "\n".join([*lines[:table[0]], *merged, "", f"Rows N = {', '.join(sorted(sizes))}: {measured}", *after]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per tilt series in each WarpTools step")
    ap.add_argument("--load-sizes", default="300,1000")
    ap.add_argument("--load-jobs", default="import,motion")
    ap.add_argument("--skip-makespan", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--keep", type=Path, help="run in this directory and keep it (default: a temporary one)")
    ap.add_argument("--write", type=Path, help="put the report into this markdown file as '## SLURM arrays'")
    ap.add_argument("--sampled", type=Path, help="only report the controller load of the load run of --load-sizes kept in "
                                                 "this directory (--keep) and stopped before its end, over the minutes it ran")
    args = ap.parse_args()
    slots, gpus = node_slots()
    if args.sampled:
        n = int(args.load_sizes)
        row = sampled_row(args.sampled / f"load{n}", n)
        print("\n".join([*LOAD_HEADER, row]))
        if args.write:
            measured = f"a load run of `python bench/arrays.py --skip-makespan --load-sizes {n} --keep {args.sampled}` stopped " \
                       f"(cryocc abort) before its end, reported by `python {shlex.join(['bench/arrays.py', *sys.argv[1:]])}` " \
                       f"on {time.strftime('%Y-%m-%d')}, {machine()}: its calls over the minutes it ran."
            write_section(args.write, load_only(old_section(args.write), [row], measured[0].upper() + measured[1:]))
        return
    parts = []
    with tempfile.TemporaryDirectory(prefix="cryocc-arrays-") as tmp:
        base = args.keep or Path(tmp)
        rows = list(LOAD_HEADER)
        if not args.skip_makespan:
            every = list(JOBS)
            array = Run(base / f"array{args.series}", args.series, "array", every, args.seconds, slots, gpus).go()
            node = Run(base / f"node{args.series}", args.series, "node", every, args.seconds, slots, gpus).go()
            parts.append("### Makespan\n\n" + makespan_section(array, node, args.seconds, slots, gpus))
            rows.append(load_row(array))
        if not args.skip_load:
            jobs = args.load_jobs.split(",")
            rows += [load_row(Run(base / f"load{n}", n, "array", jobs, 0.0, slots, gpus).go()) for n in map(int, args.load_sizes.split(","))]
        if len(rows) > len(LOAD_HEADER):
            parts.append("### Controller load\n\n" + "\n".join(rows) + "\n")
    command = "python " + shlex.join(["bench/arrays.py", *sys.argv[1:]])
    measured = f"measured {time.strftime('%Y-%m-%d')} on {machine()}, the one-node test cluster " \
               f"(tests/slurm/start.sh: {slots} CPU slots, {gpus} fake GPUs); `{command}`."
    if args.write and args.skip_makespan and not args.skip_load:
        text = load_only(old_section(args.write), rows[len(LOAD_HEADER):], measured[0].upper() + measured[1:])
    else:
        text = f"## SLURM arrays\n\nM{measured[1:]}\n\n" + "\n".join(parts)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
