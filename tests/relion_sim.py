"""Plays relion_schemer 5.0.1 for tests, following relion-schemes.md and relion-observed.md.

It walks a scheme from its current node, allocates External/jobNNN/ from default_pipeline.star's
counter, substitutes Schemes/<scheme>/<job>/ references by the jobs' current names, builds the
external command exactly as RELION does (fn_exe --o DIR --in_* F ... --j N other_args, plus
--pipeline_control DIR when the command contains relion_), fills the job script's XXX...XXX
placeholders (the XXXcommandXXX rule included), deletes old sentinels, submits with bash (local)
or sbatch, polls the sentinels, and rewrites scheme.star and default_pipeline.star. Everything
it runs is the product's own: job scripts, drivers, receipts, sentinels.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryocc.star import block_loop, block_pairs, read_star

INPUTS = [("in_mov", "--in_movies"), ("in_mic", "--in_mics"), ("in_part", "--in_parts"),
          ("in_coords", "--in_coords"), ("in_3dref", "--in_3dref"), ("in_mask", "--in_mask")]
SENTINELS = {"RELION_JOB_EXIT_SUCCESS": "Succeeded", "RELION_JOB_EXIT_FAILURE": "Failed", "RELION_JOB_EXIT_ABORTED": "Aborted"}


class SchemerHung(Exception):
    """A job never wrote a sentinel: the real schemer would wait forever."""


@dataclass
class Run:
    scheme: str
    jobs: list[tuple[str, str, str]] = field(default_factory=list)  # (node, job dir, status)
    submitted: int = 0
    ended_at: str = ""
    aborted: bool = False

    @property
    def statuses(self) -> dict[str, str]:
        return {n: s for n, _, s in self.jobs}


class Pipeline:
    """default_pipeline.star: the job counter and process statuses."""

    def __init__(self, project: Path) -> None:
        self.path = project / "default_pipeline.star"
        self.counter, self.processes = 1, {}
        if self.path.exists():
            blocks = read_star(self.path)
            self.counter = int(blocks["pipeline_general"]["rlnPipeLineJobCounter"])
            for r in blocks.get("pipeline_processes") or []:
                self.processes[r["rlnPipeLineProcessName"]] = r["rlnPipeLineProcessStatusLabel"]

    def new_job(self) -> str:
        name = f"External/job{self.counter:03d}/"
        self.counter += 1
        self.processes[name] = "Scheduled"
        return name

    def write(self) -> None:
        text = block_pairs("pipeline_general", {"rlnPipeLineJobCounter": self.counter})
        if self.processes:
            text += block_loop("pipeline_processes", ["rlnPipeLineProcessName", "rlnPipeLineProcessAlias",
                                                      "rlnPipeLineProcessTypeLabel", "rlnPipeLineProcessStatusLabel"],
                               [[n, "None", "relion.external", s] for n, s in self.processes.items()])
        self.path.write_text(text)


class Schemer:
    def __init__(self, project: Path, *, submit: str = "local", poll: float = 0.2, timeout: float = 120.0,
                 env: dict[str, str] | None = None, abort_file: Path | None = None) -> None:
        self.project, self.submit, self.poll, self.timeout, self.env = project, submit, poll, timeout, env
        self.abort_file = abort_file  # Schemes/<s>/RELION_JOB_ABORT_NOW: checked between jobs, as RELION does
        self.sbatch_ids: list[str] = []

    # --- scheme.star --------------------------------------------------------------------------
    def _read(self, scheme: str) -> dict:
        return read_star(self.project / "Schemes" / scheme / "scheme.star")

    def _write(self, scheme: str, blocks: dict) -> None:
        g = blocks["scheme_general"]
        text = block_pairs("scheme_general", {"rlnSchemeName": g["rlnSchemeName"], "rlnSchemeCurrentNodeName": g["rlnSchemeCurrentNodeName"]})
        for name in ("scheme_operators", "scheme_jobs", "scheme_edges"):
            rows = blocks.get(name) or []
            if rows:
                labels = list(rows[0])
                if name != "scheme_edges":  # RELION writes maps sorted by name; edges keep their order
                    rows = sorted(rows, key=lambda r: r[labels[0]])
                text += block_loop(name, labels, [[r[k] for k in labels] for r in rows])
        (self.project / "Schemes" / scheme / "scheme.star").write_text(text)

    # --- one job ------------------------------------------------------------------------------
    def _substitute(self, scheme: str, value: str, names: dict[str, str]) -> str:
        prefix = f"Schemes/{scheme}/"
        if prefix not in value:
            return value
        before, after = value.split(prefix, 1)
        job, _, rest = after.rpartition("/")
        return before + names.get(job, job) + rest

    def _command(self, jobdir: str, opts: dict[str, str]) -> str:
        parts = [opts["fn_exe"], "--o", jobdir]
        for key, flag in INPUTS:
            if opts.get(key):
                parts += [flag, opts[key]]
        for i in range(1, 11):
            if opts.get(f"param{i}_label"):
                parts += [f"--{opts[f'param{i}_label']}", opts.get(f"param{i}_value", "")]
        parts += ["--j", opts.get("nr_threads", "1"), opts.get("other_args", "")]
        cmd = " ".join(parts)
        if "relion_" in cmd:
            cmd += f" --pipeline_control {jobdir}"
        return cmd

    def _script(self, jobdir: str, opts: dict[str, str], command: str) -> Path:
        threads = opts.get("nr_threads", "1")
        fill = {"XXXmpinodesXXX": "1", "XXXthreadsXXX": threads, "XXXcoresXXX": threads,
                "XXXdedicatedXXX": opts.get("min_dedicated", "1"), "XXXnodesXXX": "1", "XXXnameXXX": jobdir,
                "XXXerrfileXXX": f"{jobdir}run.err", "XXXoutfileXXX": f"{jobdir}run.out", "XXXqueueXXX": opts.get("queuename", "")}
        out = []
        for line in (self.project / opts["qsubscript"]).read_text().splitlines():
            for k, v in fill.items():
                line = line.replace(k, v)
            if "XXXcommandXXX" in line:
                line = line.replace("XXXcommandXXX", command) if "relion_" in command else command
            out.append(line)
        script = self.project / jobdir / "run_submit.script"
        script.write_text("\n".join(out) + "\n\n")
        return script

    def _launch(self, jobdir: str, script: Path) -> subprocess.Popen | None:
        if self.submit == "sbatch":
            res = subprocess.run(["sbatch", str(script.relative_to(self.project))], cwd=self.project,
                                 capture_output=True, text=True, check=True, env=self.env)
            self.sbatch_ids.append(res.stdout.split()[-1])
            return None
        out = open(self.project / jobdir / "run.out", "w")
        err = open(self.project / jobdir / "run.err", "w")
        return subprocess.Popen(["bash", str(script.relative_to(self.project))], cwd=self.project, stdout=out, stderr=err, start_new_session=True,
                                env=self.env)

    def _wait(self, jobdir: str, proc: subprocess.Popen | None) -> str:
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            for sentinel, status in SENTINELS.items():  # SUCCESS wins over FAILURE, as in RELION
                if (self.project / jobdir / sentinel).exists():
                    if proc is not None:
                        proc.wait(timeout=30)
                    return status
            time.sleep(self.poll)
        raise SchemerHung(f"{jobdir} wrote no sentinel in {self.timeout} s")

    # --- the main loop ------------------------------------------------------------------------
    def run(self, scheme: str, *, on_submit=None) -> Run:
        blocks = self._read(scheme)
        jobs = {r["rlnSchemeJobNameOriginal"]: r for r in blocks.get("scheme_jobs") or []}
        operators = {r["rlnSchemeOperatorName"]: r for r in blocks.get("scheme_operators") or []}
        edges = blocks.get("scheme_edges") or []
        node = blocks["scheme_general"]["rlnSchemeCurrentNodeName"]
        if node in ("undefined", ""):
            node = edges[0]["rlnSchemeEdgeInputNodeName"]
        if node in operators:
            raise RuntimeError("something went wrong with execution of the initial operator")
        pipeline = Pipeline(self.project)
        result = Run(scheme)
        while node in jobs:
            if self.abort_file is not None and self.abort_file.exists():
                result.aborted, result.ended_at = True, node
                self._write(scheme, blocks)
                return result
            row = jobs[node]
            names = {k: r["rlnSchemeJobName"] for k, r in jobs.items()}
            star = read_star(self.project / "Schemes" / scheme / node / "job.star")
            opts = {r["rlnJobOptionVariable"]: self._substitute(scheme, r.get("rlnJobOptionValue", ""), names)
                    for r in star["joboptions_values"]}
            if row["rlnSchemeJobHasStarted"] == "0" or row["rlnSchemeJobMode"] == "new":
                jobdir = pipeline.new_job()
            else:
                jobdir = row["rlnSchemeJobName"]
            (self.project / jobdir).mkdir(parents=True, exist_ok=True)
            for key, _ in INPUTS:
                if opts.get(key) and not (self.project / opts[key]).exists():
                    pipeline.write()
                    raise RuntimeError(f"Gave up on waiting for {opts[key]}. Aborting ...")  # exit code 2 in RELION
            row["rlnSchemeJobHasStarted"], row["rlnSchemeJobName"] = "1", jobdir
            for sentinel in [*SENTINELS, "RELION_JOB_ABORT_NOW"]:
                (self.project / jobdir / sentinel).unlink(missing_ok=True)
            pipeline.processes[jobdir] = "Running"
            pipeline.write()
            command = self._command(jobdir, opts)
            with open(self.project / jobdir / "note.txt", "a") as fh:
                fh.write(f" ++++ Executing new job with the following command(s): \n{command}\n ++++\n")
            proc = self._launch(jobdir, self._script(jobdir, opts, command))
            result.submitted += 1
            blocks["scheme_general"]["rlnSchemeCurrentNodeName"] = node
            self._write(scheme, blocks)
            if on_submit:
                on_submit(node, jobdir)
            status = self._wait(jobdir, proc)
            pipeline = Pipeline(self.project)
            pipeline.processes[jobdir] = status
            pipeline.write()
            result.jobs.append((node, jobdir, status))
            if status != "Succeeded":
                result.ended_at, result.aborted = node, status == "Aborted"
                self._write(scheme, blocks)
                return result
            node = next((e["rlnSchemeEdgeOutputNodeName"] for e in reversed(edges) if e["rlnSchemeEdgeInputNodeName"] == node),
                        "undefined")
        if node in operators and operators[node]["rlnSchemeOperatorType"] == "exit":
            blocks["scheme_general"]["rlnSchemeCurrentNodeName"] = node
        result.ended_at = node
        self._write(scheme, blocks)
        return result
