"""The facility-scale benchmark: whole cryocc commands on N = 30, 300, 3000 tilt series of 41 frames.

For each N (bench/generate.py: the full-catalog pipeline, real mdocs renamed, empty frames) it
times, as fresh processes the way users run them: `--help`; cold `validate` and cold `apply` (empty
user cache, new project); the no-op `plan` (every job kept); the first `plan` after one parameter
change, after one new tilt series, after 5 new tilt series, after touching one mdoc; `status` and
`gc`; the peak RSS of each; the stat floor (a Python process listing and stat-ing the same files);
and, in the same run, `snakemake -n` and `dvc status` over the same files when they are installed
(--tools DIR: where their executables are). Each measured command runs right after a floor run of
its own, so its ratio to the floor is taken run for run; medians of --repeat runs. At N=300 it
checks the plan's answers on one new tilt series, one changed parameter and one changed mdoc at
once. Prints a markdown report; --write FILE also writes it. Checks the targets of issues 9 and 21
and exits 1 if one is missed.

    python bench/run.py [--sizes 30,300,3000] [--repeat 5] [--tools /tmp/benchenv/bin] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import add_tilt_series, generate, mark_succeeded  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import os, sys\nfor d in sys.argv[1:]:\n    for e in os.scandir(d):\n        e.stat()\n"
SNAKEFILE = '''import os
FRAMES = {}
for name in os.listdir("data/frames"):
    FRAMES.setdefault(name.rsplit("_", 2)[0], []).append("data/frames/" + name)
TS = sorted(n[:-5] for n in os.listdir("data/mdoc") if n.endswith(".mdoc"))

rule all:
    input: expand("out/{ts}.done", ts=TS)

rule process:
    input: mdoc="data/mdoc/{ts}.mdoc", frames=lambda w: FRAMES[w.ts]
    output: "out/{ts}.done"
    shell: "touch {output}"
'''
ARRAYS_SECTION = "## SLURM arrays"  # written by bench/arrays.py, kept by --write


def cryocc_command() -> list[str]:
    """The installed console script beside this interpreter (not a pyenv shim), as users run it."""
    script = Path(sys.executable).parent / "cryocc"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cryocc"]


def environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # an install has its .pyc files
    return {**env, "CRYOCC_CACHE": str(cache), "NO_COLOR": "1"}


def run(command: list[str], cwd: Path, env: dict[str, str], expect: str | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one process; exits when it fails or its output lacks expect."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if code not in (0, 2) or (expect and expect not in text):
        raise SystemExit(f"{' '.join(map(str, command))} failed ({code}):\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


class Size:
    """One generated project and everything measured on it."""

    def __init__(self, base: Path, n: int, repeat: int, tools: Path | None) -> None:
        self.base, self.n, self.repeat, self.tools = base, n, repeat, tools
        self.cryocc = cryocc_command()
        self.cache = base / "cache"
        self.env = environment(self.cache)
        self.pipeline = generate(base / "p", n)
        self.root = self.pipeline.parent
        self.results: dict[str, tuple[float, float]] = {}  # label -> (median seconds, peak RSS MB)
        self.ratios: dict[str, float] = {}  # label -> median of (seconds / the floor run just before it)
        self.added = n  # the next new tilt series' number
        self.problems: list[str] = []  # what is wrong with the plan's answers (scenario)

    def cmd(self, *args: str) -> list[str]:
        return [*self.cryocc, *args]

    def measure(self, label: str, runs: list[tuple[float, float]]) -> None:
        self.results[label] = (median([s for s, _ in runs]), max(r for _, r in runs))

    def paired(self, label: str, one_run: Callable[[int], tuple[float, float]], before: Callable[[int], None] = lambda i: None) -> None:
        """one_run(i), each time right after a floor run of its own (and after before(i), which sets it up)."""
        runs, ratios = [], []
        for i in range(self.repeat):
            before(i)
            floor = self.floor()[0]
            runs.append(one_run(i))
            ratios.append(runs[-1][0] / floor)
        self.measure(label, runs)
        self.ratios[label] = median(ratios)

    def _empty_cache(self, i: int) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)
        os.sync()  # start clean: the data arrived long before, nothing of it waits for the disk

    def cold(self) -> None:
        self.paired("cold validate", lambda i: run(self.cmd("validate", "pipeline.yaml"), self.root, self.env, "valid"),
                    self._empty_cache)

        def apply(i: int) -> tuple[float, float]:
            result = run(self.cmd("apply", "pipeline.yaml", "--project", f"cold{i}"), self.root, self.env, "14 to run")
            if i:
                shutil.rmtree(self.root / f"cold{i}")
            return result

        self.paired("cold apply", apply, self._empty_cache)
        (self.root / "cold0").rename(self.root / "project")
        mark_succeeded(self.root / "project")

    def plan(self, expect: str) -> tuple[float, float]:
        return run(self.cmd("plan", "pipeline.yaml", "--project", "project"), self.root, self.env, expect)

    def floor(self) -> tuple[float, float]:
        return run([sys.executable, "-c", FLOOR, "data/frames", "data/mdoc"], self.root, self.env)

    def noop_and_others(self) -> None:
        """The no-op plan, paired run for run with the stat floor and the other tools; status and gc."""
        self.plan("14 to keep")  # warm: the recipe cache is written by the first plan after apply
        others = {"snakemake -n": self._snakemake(), "dvc status": self._dvc()}
        runs: dict[str, list[tuple[float, float]]] = {"no-op plan": [], "stat floor": []}
        runs.update({name: [] for name, command in others.items() if command})
        ratios = []
        for _ in range(self.repeat):
            runs["stat floor"].append(self.floor())
            runs["no-op plan"].append(self.plan("14 to keep"))
            ratios.append(runs["no-op plan"][-1][0] / runs["stat floor"][-1][0])
            for name, command in others.items():
                if command:
                    runs[name].append(run(command, self.root, {**self.env, "PATH": f"{self.tools}:{self.env['PATH']}"},
                                                      "Nothing to be done" if name == "snakemake -n" else None))
        for name, values in runs.items():
            self.measure(name, values)
        self.ratios["no-op plan"] = median(ratios)
        self.measure("validate", [run(self.cmd("validate", "pipeline.yaml"), self.root, self.env, "valid")
                                  for _ in range(self.repeat)])
        self.measure("--help", [run(self.cmd("--help"), self.root, self.env, "Usage") for _ in range(self.repeat)])
        self.measure("status", [run(self.cmd("status", "--project", "project"), self.root, self.env, "succeeded")
                                for _ in range(self.repeat)])
        self.measure("gc", [run(self.cmd("gc", "pipeline.yaml", "--project", "project"), self.root, self.env)
                            for _ in range(self.repeat)])

    def _tool(self, name: str) -> str | None:
        path = self.tools / name if self.tools else None
        return str(path) if path and path.is_file() else shutil.which(name)

    def _snakemake(self) -> list[str] | None:
        snakemake = self._tool("snakemake")
        if not snakemake:
            return None
        (self.root / "Snakefile").write_text(SNAKEFILE)
        out = self.root / "out"  # up to date: newer than every input (running 3,000 touch jobs takes snakemake minutes)
        out.mkdir()
        for mdoc in (self.root / "data/mdoc").iterdir():
            (out / f"{mdoc.stem}.done").touch()
        return [snakemake, "-n"]

    def _dvc(self) -> list[str] | None:
        dvc = self._tool("dvc")
        if not dvc:
            return None
        for args in (["init", "--no-scm", "-f"],
                     ["stage", "add", "-n", "process", "-d", "data/frames", "-d", "data/mdoc", "-o", "out_dvc",
                      "mkdir -p out_dvc && touch out_dvc/done"],
                     ["repro", "-q"]):
            subprocess.run([dvc, *args], cwd=self.root, check=True, capture_output=True)
        return [dvc, "status", "-q"]

    def add(self, count: int) -> None:
        add_tilt_series(self.root, self.added, count)
        self.added += count

    def changes(self) -> None:
        text = self.pipeline.read_text()
        self.paired("plan, 1 param changed", lambda i: self.plan("9 to re-run, 5 to keep"),  # filter and everything after it
                    lambda i: self.pipeline.write_text(text.replace("max_abs_tilt: 57", f"max_abs_tilt: {58 + i}")))
        self.pipeline.write_text(text)
        self.plan("14 to keep")
        mdoc = next((self.root / "data/mdoc").iterdir())
        self.paired("plan, 1 mdoc touched", lambda i: self.plan("14 to keep"),
                    lambda i: os.utime(mdoc, ns=(time.time_ns(), time.time_ns())))
        # every per-tilt-series job extends with the new tilt series (alignment refines its axis per tilt series,
        # as arrays do); cryoCARE's model is kept (decided from the others); the average and classification pool
        self.paired("plan, 1 new tilt series", lambda i: self.plan(NEW_SERIES), lambda i: self.add(1))
        self.paired("plan, 5 new tilt series", lambda i: self.plan(NEW_SERIES), lambda i: self.add(5))

    def scenario(self) -> list[str]:
        """One new tilt series, one changed parameter and one changed mdoc at once: the plan's answers."""
        old = self.root / "data/mdoc/Position_0001.mdoc"
        old.write_text(old.read_text().replace("ExposureDose = 0\n", "ExposureDose = 0.1\n", 1))
        self.add(1)
        new = [f"Position_{i:04d}" for i in range(self.n, self.added)]  # this one, and those the other plans saw
        text = self.pipeline.read_text()
        self.pipeline.write_text(text.replace("max_abs_tilt: 57", "max_abs_tilt: 50"))
        out = subprocess.run(self.cmd("plan", "pipeline.yaml", "--project", "project", "--json"), cwd=self.root, env=self.env,
                             capture_output=True, text=True)
        self.pipeline.write_text(text)
        return scenario_problems(json.loads(out.stdout), new, "Position_0001")


NEW_SERIES = "2 to re-run, 11 to extend, 1 to keep"


def scenario_problems(plan: dict[str, Any], new: list[str], changed: str) -> list[str]:
    """What is wrong with the plan of one new tilt series, one changed mdoc and max_abs_tilt changed
    in the tilt filter: the jobs above the filter extend with exactly those two tilt series (each for its
    reason), the filter and every job after it run again on all of them."""
    jobs = {j["name"]: j for j in plan["jobs"]}
    problems = []
    for name in ("import", "motion", "tsimport", "align", "ctf"):
        j = jobs[name]
        items = j.get("items") or {}
        if j["action"] != "extend" or items.get("todo") != sorted([*new, changed]) \
                or sorted(items.get("new", {})) != new or list(items.get("changed", {})) != [changed]:
            problems.append(f"{name}: {j['action']} {items}, not an extension with {', '.join(new)} (new) and {changed} (changed)")
    for name in ("filter", "reconstruct", "train", "denoise", "tm_ribo", "picks", "extract", "average", "classify"):
        if jobs[name]["action"] != "rerun":
            problems.append(f"{name}: {jobs[name]['action']}, not a re-run")
    filter_keys = [r.get("key") for r in jobs["filter"]["reasons"]]
    if "max_abs_tilt" not in filter_keys:
        problems.append(f"filter: its reasons {filter_keys} do not name max_abs_tilt")
    return problems


HEADER = """# Benchmarks

Written by `bench/run.py`. Each N is a generated project (`bench/generate.py`): N copies of the
quickstart's real SerialEM mdoc (41 tilts) with names rewritten, 41 empty frames each, the
full-catalog pipeline (14 jobs). Every figure is a whole command in a fresh process, as users run
it (the console script, installed with its .pyc files). Cold apply: empty user cache, new project,
after a `sync`.
The no-op plan: every job kept (the project marked as a successful run leaves it, with the cryoCARE
model decided from every tilt series). The first plan after a change is timed (each run makes a new
change: another value, another tilt series). The stat floor:
a Python process that lists and stats the same files, and nothing else. `snakemake -n`: one rule
per tilt series over the same mdoc and frames, outputs touched after them (so without provenance
records, which makes snakemake's check lighter). `dvc status`: one stage over the frame and mdoc
directories, reproduced once. The plan, the floor and the other tools run in turn,
run for run; trust the ratios more than the seconds on a busy machine.
"""

COLUMNS = ["--help", "cold validate", "validate", "cold apply", "no-op plan", "plan, 1 param changed", "plan, 1 mdoc touched",
           "plan, 1 new tilt series", "plan, 5 new tilt series", "status", "gc"]
RATIOS = ["cold validate", "cold apply", "no-op plan", "plan, 1 param changed", "plan, 1 new tilt series"]


def report(sizes: list[Size]) -> tuple[str, list[str]]:
    lines = ["| N tilt series (frames) | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for s in sizes:
        cells = [f"{s.results[c][0]:.2f} s / {s.results[c][1]:.0f} MB" for c in COLUMNS]
        lines.append(f"| {s.n} ({s.n * 41:,}) | " + " | ".join(cells) + " |")
    lines += ["", "| N | no-op plan | stat floor | x floor | snakemake -n | plan / snakemake | dvc status | plan / dvc |",
              "|---|---|---|---|---|---|---|---|"]
    failures = []
    for s in sizes:
        r = {k: v[0] for k, v in s.results.items()}
        plan, floor = r["no-op plan"], r["stat floor"]
        snake, dvc = r.get("snakemake -n"), r.get("dvc status")
        lines.append(f"| {s.n} | {plan:.2f} s | {floor:.2f} s | {plan / floor:.1f}x | "
                     + (f"{snake:.2f} s | {plan / snake:.2f}x | " if snake else "not installed | - | ")
                     + (f"{dvc:.2f} s | {plan / dvc:.2f}x |" if dvc else "not installed | - |"))
        failures += check(s, r)
    lines += ["", "Each to the floor run just before it (median of the runs' ratios):", "",
              "| N | " + " | ".join(RATIOS) + " | status, gc / no-op plan | peak RSS of a plan |", "|---" * (len(RATIOS) + 3) + "|"]
    for s in sizes:
        plan = s.results["no-op plan"][0]
        rss = max(v[1] for k, v in s.results.items() if k.startswith("plan") or k == "no-op plan")
        lines.append(f"| {s.n} | " + " | ".join(f"{s.ratios[c]:.1f}x" for c in RATIOS)
                     + f" | {s.results['status'][0] / plan:.2f}, {s.results['gc'][0] / plan:.2f} | {rss:.0f} MB |")
        failures += check_21(s, rss)
    return "\n".join(lines), failures


def check_21(s: Size, rss: float) -> list[str]:
    """The targets of issue 21 that apply to this N."""
    limits = {3000: {"plan, 1 new tilt series": 2.5, "cold apply": 3.0, "cold validate": 2.5, "plan, 1 param changed": 2.0},
              300: {"no-op plan": 2.0}, 30: {"no-op plan": 4.0}}.get(s.n, {})
    out = [f"N={s.n}: {label} {s.ratios[label]:.1f}x the floor > {limit}x" for label, limit in limits.items() if s.ratios[label] > limit]
    plan = s.results["no-op plan"][0]
    if s.n == 300:
        out += [f"N=300: {c} {s.results[c][0]:.2f} s > the no-op plan {plan:.2f} s" for c in ("status", "gc") if s.results[c][0] > plan]
    if s.n == 3000 and rss > 120:
        out.append(f"N=3000: a plan's peak RSS {rss:.0f} MB > 120 MB")
    out += [f"N={s.n}: the plan of one new tilt series, one changed parameter and one changed mdoc: {p}" for p in s.problems]
    return out


def check(s: Size, r: dict[str, float]) -> list[str]:
    """The targets of issue 9 that apply to this N."""
    out = []

    def target(ok: bool, what: str) -> None:
        if not ok:
            out.append(f"N={s.n}: {what}")

    plan = r["no-op plan"]
    if s.n >= 300:
        target(plan <= 3 * r["stat floor"], f"no-op plan {plan:.2f} s > 3x the stat floor {r['stat floor']:.2f} s")
    limits = {300: (0.3, 1.5), 3000: (2.0, 10.0)}
    if s.n in limits:
        target(plan <= limits[s.n][0], f"no-op plan {plan:.2f} s > {limits[s.n][0]} s")
        target(r["cold apply"] <= limits[s.n][1], f"cold apply {r['cold apply']:.2f} s > {limits[s.n][1]} s")
    if "snakemake -n" in r:
        target(plan <= 0.25 * r["snakemake -n"], f"no-op plan {plan:.2f} s > 0.25x snakemake -n {r['snakemake -n']:.2f} s")
    if "dvc status" in r:
        target(plan <= 0.5 * r["dvc status"], f"no-op plan {plan:.2f} s > 0.5x dvc status {r['dvc status']:.2f} s")
    target(r["validate"] <= 1.5 * plan, f"validate {r['validate']:.2f} s > 1.5x the no-op plan")
    target(r["--help"] < 0.25, f"--help {r['--help']:.2f} s >= 0.25 s")
    if s.n >= 3000:
        heavy = {k: v[1] for k, v in s.results.items() if k not in ("stat floor", "snakemake -n", "dvc status") and v[1] >= 300}
        target(not heavy, f"peak RSS >= 300 MB: {heavy}")
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    fs = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"{fs} file system under {tempfile.gettempdir()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="30,300,3000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tools", type=Path, help="directory of the snakemake and dvc executables (default: PATH)")
    ap.add_argument("--write", type=Path, help="also write the report to this markdown file")
    args = ap.parse_args()
    sizes = []
    with tempfile.TemporaryDirectory(prefix="cryocc-bench-") as tmp:
        for n in map(int, args.sizes.split(",")):
            s = Size(Path(tmp) / str(n), n, args.repeat, args.tools)
            s.cold()
            s.noop_and_others()
            s.changes()
            s.problems = s.scenario() if n == 300 else []
            sizes.append(s)
            print(f"N={n} done", file=sys.stderr)
    table, failures = report(sizes)
    tools = f" --tools {args.tools}" if args.tools else ""
    text = (f"{HEADER}\nMeasured {time.strftime('%Y-%m-%d')} on {machine()}; `python bench/run.py --sizes {args.sizes} "
            f"--repeat {args.repeat}{tools}`: medians of {args.repeat} runs, seconds / peak RSS.\n\n{table}\n\n"
            + ("Every target met.\n" if not failures else "Targets missed:\n" + "".join(f"- {f}\n" for f in failures)))
    print(text)
    if args.write:  # bench/arrays.py's section of the file is its own
        old = args.write.read_text() if args.write.is_file() else ""
        kept = old[old.index(ARRAYS_SECTION):] if ARRAYS_SECTION in old else ""
        args.write.write_text(text.rstrip("\n") + ("\n\n" + kept if kept else "\n"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
