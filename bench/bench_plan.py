"""No-op `cryocc plan` on a facility-scale project: 300 tilt series, 12,300 frames.

Builds the project once under a temp dir (mdocs from the real SerialEM test file, zero-byte
frames), applies it, marks every job succeeded the way a run would (scheme.star job names,
sentinels, receipts), then times plan in-process and as a fresh CLI process. Target: well
under a second for the no-op plan. Run: python bench/bench_plan.py [N_TILT_SERIES]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MDOC = ROOT / "examples/quickstart/data/mdoc/TS_01.mdoc"


def build(base: Path, n: int) -> tuple[Path, Path]:
    data = base / "data"
    (data / "frames").mkdir(parents=True)
    (data / "mdoc").mkdir()
    text = MDOC.read_text()
    for i in range(n):
        name = f"Position_{i:04d}"
        (data / "mdoc" / f"{name}.mdoc").write_text(text.replace("TS_01_", f"{name}_"))
        for line in text.splitlines():
            if line.startswith("SubFramePath"):
                (data / "frames" / line.rsplit("\\", 1)[-1].replace("TS_01_", f"{name}_")).touch()
    pipeline = base / "pipeline.yaml"
    pipeline.write_text((ROOT / "examples/quickstart/pipeline.yaml").read_text())
    project = base / "project"
    subprocess.run([sys.executable, "-m", "cryocc", "apply", str(pipeline), "--project", str(project)], check=True,
                   stdout=subprocess.DEVNULL)
    mark_succeeded(project)
    return pipeline, project


def mark_succeeded(project: Path) -> None:
    from cryocc.star import block_loop, block_pairs, read_star

    lock = json.loads((project / "cryocc.lock").read_text())
    scheme = lock["schemes"][-1]["name"]
    path = project / "Schemes" / scheme / "scheme.star"
    blocks = read_star(path)
    for i, row in enumerate(blocks["scheme_jobs"], 1):
        job_dir = f"External/job{i:03d}/"
        row["rlnSchemeJobName"], row["rlnSchemeJobHasStarted"] = job_dir, "1"
        d = project / job_dir
        d.mkdir(parents=True)
        (d / "out.star").write_text("data_\n")
        (d / "cryocc_receipt.json").write_text(json.dumps({
            "fingerprint": lock["jobs"][row["rlnSchemeJobNameOriginal"]]["fingerprint"], "status": "succeeded",
            "outputs": [{"path": "out.star", "size": 6, "is_dir": False}]}))
        (d / "RELION_JOB_EXIT_SUCCESS").touch()
    g = blocks["scheme_general"]
    text = block_pairs("scheme_general", {"rlnSchemeName": g["rlnSchemeName"], "rlnSchemeCurrentNodeName": "EXIT"})
    for name in ("scheme_operators", "scheme_jobs", "scheme_edges"):
        rows = blocks[name]
        text += block_loop(name, list(rows[0]), [list(r.values()) for r in rows])
    path.write_text(text)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pipeline, project = build(Path(tmp), n)
        print(f"built {n} tilt series, {n * 41} frames in {time.perf_counter() - t0:.1f} s")
        from cryocc.compiler.apply import plan_pipeline

        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            plan, _ = plan_pipeline(pipeline, project)
            times.append(time.perf_counter() - t0)
        assert plan.summary()["keep"] == 6 and not plan.to_run, plan.summary()
        print(f"plan in-process: best {min(times):.3f} s, median {sorted(times)[2]:.3f} s (no-op: {plan.summary()})")
        cli = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cryocc", "plan", str(pipeline), "--project", str(project),
                            "--detailed-exitcode"], check=True, stdout=subprocess.DEVNULL)
            cli.append(time.perf_counter() - t0)
        print(f"plan as a CLI process (interpreter and imports included): best {min(cli):.3f} s")
        heavy = subprocess.run([sys.executable, "-X", "importtime", "-m", "cryocc", "plan", str(pipeline), "--project",
                                str(project)], capture_output=True, text=True).stderr
        for mod in ("pandas", "starfile", "mdocfile", "jinja2", "numpy"):
            print(f"  imports {mod}: {'YES' if f' {mod}' in heavy.replace('|', ' ') else 'no'}")


if __name__ == "__main__":
    main()
