"""The facility-scale benchmark: whole cryocc commands on N = 30, 300, 3000 tilt series of 41 frames.

For each N (bench/generate.py: the full-catalog pipeline, real mdocs renamed, empty frames) it
times, as fresh processes the way users run them: `--help`; cold `apply` (empty caches, new
project); `validate` and the no-op `plan` (every job kept) once the caches are warm; `plan` after
one parameter change, after touching one mdoc, after 5 new tilt series; the peak RSS of each; the
stat floor (a Python process listing and stat-ing the same files); and, in the same run, `snakemake
-n` and `dvc status` over the same files when they are installed (--tools DIR: where their
executables are). Medians of --repeat runs, the no-op plan paired with the floor and the other
tools run for run. Prints a markdown report; --write FILE also writes it. Checks the targets of
issue 9 and exits 1 if one is missed.

    python bench/run.py [--sizes 30,300,3000] [--repeat 5] [--tools /tmp/benchenv/bin] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
        self.results: dict[str, tuple[float, float]] = {}

    def cmd(self, *args: str) -> list[str]:
        return [*self.cryocc, *args]

    def measure(self, label: str, runs: list[tuple[float, float]]) -> None:
        self.results[label] = (median([s for s, _ in runs]), max(r for _, r in runs))

    def cold_apply(self) -> None:
        runs = []
        for i in range(self.repeat):
            shutil.rmtree(self.cache, ignore_errors=True)
            os.sync()  # start clean: the data arrived long before, nothing of it waits for the disk
            project = self.root / f"cold{i}"
            runs.append(run(self.cmd("apply", "pipeline.yaml", "--project", project.name), self.root, self.env,
                                        "14 to run"))
            if i:
                shutil.rmtree(project)
        self.measure("cold apply", runs)
        (self.root / "cold0").rename(self.root / "project")
        mark_succeeded(self.root / "project")

    def plan(self, expect: str) -> tuple[float, float]:
        return run(self.cmd("plan", "pipeline.yaml", "--project", "project"), self.root, self.env, expect)

    def floor(self) -> tuple[float, float]:
        return run([sys.executable, "-c", FLOOR, "data/frames", "data/mdoc"], self.root, self.env)

    def noop_and_others(self) -> None:
        """The no-op plan, paired run for run with the stat floor and the other tools."""
        self.plan("14 to keep")  # warm: the recipe cache is written by the first plan after apply
        others = {"snakemake -n": self._snakemake(), "dvc status": self._dvc()}
        runs: dict[str, list[tuple[float, float]]] = {"no-op plan": [], "stat floor": []}
        runs.update({name: [] for name, command in others.items() if command})
        for _ in range(self.repeat):
            runs["stat floor"].append(self.floor())
            runs["no-op plan"].append(self.plan("14 to keep"))
            for name, command in others.items():
                if command:
                    runs[name].append(run(command, self.root, {**self.env, "PATH": f"{self.tools}:{self.env['PATH']}"},
                                                      "Nothing to be done" if name == "snakemake -n" else None))
        for name, values in runs.items():
            self.measure(name, values)
        self.measure("validate", [run(self.cmd("validate", "pipeline.yaml"), self.root, self.env, "valid")
                                  for _ in range(self.repeat)])
        self.measure("--help", [run(self.cmd("--help"), self.root, self.env, "Usage") for _ in range(self.repeat)])

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

    def changes(self) -> None:
        text = self.pipeline.read_text()
        runs = []
        for i in range(self.repeat):
            self.pipeline.write_text(text.replace("max_abs_tilt: 57", f"max_abs_tilt: {58 + i}"))
            runs.append(self.plan("9 to re-run, 5 to keep"))  # filter and everything after it
        self.pipeline.write_text(text)
        self.measure("plan, 1 param changed", runs)
        self.plan("14 to keep")
        mdoc = next((self.root / "data/mdoc").iterdir())
        runs = []
        for _ in range(self.repeat):
            os.utime(mdoc, ns=(time.time_ns(), time.time_ns()))
            runs.append(self.plan("14 to keep"))
        self.measure("plan, 1 mdoc touched", runs)
        runs = []
        for i in range(self.repeat):
            add_tilt_series(self.root, self.n + 5 * i, 5)
            # the first three extend with the 5; alignment pools tilt series (axis_iter 3), so it and all after it re-run
            runs.append(self.plan("11 to re-run, 3 to extend"))
        self.measure("plan, 5 new tilt series", runs)


HEADER = """# Benchmarks

Written by `bench/run.py`. Each N is a generated project (`bench/generate.py`): N copies of the
quickstart's real SerialEM mdoc (41 tilts) with names rewritten, 41 empty frames each, the
full-catalog pipeline (14 jobs). Every figure is a whole command in a fresh process, as users run
it (the console script, installed with its .pyc files). Cold apply: empty user cache, new project,
after a `sync`.
The no-op plan: every job kept (the project marked as a successful run leaves it). The stat floor:
a Python process that lists and stats the same files, and nothing else. `snakemake -n`: one rule
per tilt series over the same mdoc and frames, outputs touched after them (so without provenance
records, which makes snakemake's check lighter). `dvc status`: one stage over the frame and mdoc
directories, reproduced once. The plan, the floor and the other tools run in turn,
run for run; trust the ratios more than the seconds on a busy machine.
"""

COLUMNS = ["--help", "validate", "cold apply", "no-op plan", "plan, 1 param changed", "plan, 1 mdoc touched",
           "plan, 5 new tilt series"]


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
    return "\n".join(lines), failures


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
            s.cold_apply()
            s.noop_and_others()
            s.changes()
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
