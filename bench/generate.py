"""A facility-scale project for the benchmarks: N tilt series of 41 tilts, the full-catalog pipeline.

Each tilt series is the real SerialEM mdoc of the examples with its name rewritten (Position_0000 ...),
and its 41 frames are empty files: the benchmarks measure what cryocc does, which never reads a frame.
`mark_succeeded` makes the applied project look as if every job had run, the way RELION and the
drivers leave it (scheme.star job names, sentinels, receipts), so that the next plan is a no-op.

    python bench/generate.py N DIR      # writes DIR/pipeline.yaml, DIR/data/, DIR/refs/
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MDOC = ROOT / "examples/quickstart/data/mdoc/TS_01.mdoc"


def add_tilt_series(base: Path, first: int, count: int) -> None:
    """Tilt series first .. first+count-1: an mdoc each, and its 41 one-byte frames (an empty one is not there yet)."""
    text = MDOC.read_text()
    frames = [line.rsplit("\\", 1)[-1].strip() for line in text.splitlines() if line.startswith("SubFramePath")]
    for i in range(first, first + count):
        name = f"Position_{i:04d}"
        (base / "data/mdoc" / f"{name}.mdoc").write_text(text.replace("TS_01_", f"{name}_"))
        for frame in frames:
            (base / "data/frames" / frame.replace("TS_01_", f"{name}_")).write_bytes(b"\0")


def generate(base: Path, n: int) -> Path:
    (base / "data/frames").mkdir(parents=True)
    (base / "data/mdoc").mkdir(parents=True)
    add_tilt_series(base, 0, n)
    shutil.copytree(ROOT / "examples/full-catalog/refs", base / "refs")
    text = (ROOT / "examples/full-catalog/pipeline.yaml").read_text()
    text = text.replace("../quickstart/data/", "data/")
    pipeline = base / "pipeline.yaml"
    pipeline.write_text(text)
    return pipeline


def mark_succeeded(project: Path) -> None:
    """Every job of the last scheme as RELION and the drivers leave a successful run."""
    sys.path.insert(0, str(ROOT))
    from cryocc.star import block_loop, block_pairs, read_star

    lock = json.loads((project / "cryocc.lock").read_text())
    scheme = lock["schemes"][-1]["name"]
    path = project / "Schemes" / scheme / "scheme.star"
    blocks = read_star(path)
    counter = len(list((project / "External").glob("job*"))) if (project / "External").is_dir() else 0
    tilt_series = next(j["items"] for j in lock["jobs"].values() if j.get("items"))
    for row in blocks["scheme_jobs"]:
        counter += 1
        job_dir = f"External/job{counter:03d}/"
        row["rlnSchemeJobName"], row["rlnSchemeJobHasStarted"] = job_dir, "1"
        d = project / job_dir
        d.mkdir(parents=True)
        outputs = []
        params = json.loads((project / lock["jobs"][row["rlnSchemeJobNameOriginal"]]["params_file"]).read_text())
        items = {t: {"outcome": "succeeded", "reason": "", "fingerprint": fp}
                 for t, fp in ((params.get("items") or {}).get("fingerprints") or {}).items()}
        for out in params["outputs"]:
            target = d / out["path"]
            if out["is_dir"]:
                target.mkdir(parents=True, exist_ok=True)
                (target / "x").write_text("x")
            else:
                target.write_text("data_\n")
            outputs.append({"path": out["path"], "size": 1, "is_dir": True, "files": {"x": 1}} if out["is_dir"]
                           else {"path": out["path"], "size": 6, "is_dir": False})
        job = lock["jobs"][row["rlnSchemeJobNameOriginal"]]
        # a model is decided from the tilt series it was trained on (drivers/denoise_train.py), and kept for new ones
        decisions = {"model": {"value": "denoising_model.tar.gz", "from": sorted(tilt_series)}} \
            if job["type"] == "denoise_train" else {}
        (d / "cryocc_receipt.json").write_text(json.dumps({
            "job": row["rlnSchemeJobNameOriginal"], "type": job["type"], "fingerprint": job["fingerprint"], "status": "succeeded",
            "params_file": job["params_file"], "outputs": outputs, "items": items, "decisions": decisions,
            "ended": "2026-01-01T00:00:00", "seconds": 60}, indent=1, sort_keys=True))
        (d / "RELION_JOB_EXIT_SUCCESS").touch()
    g = blocks["scheme_general"]
    text = block_pairs("scheme_general", {"rlnSchemeName": g["rlnSchemeName"], "rlnSchemeCurrentNodeName": "EXIT"})
    for name in ("scheme_operators", "scheme_jobs", "scheme_edges"):
        rows = blocks[name]
        text += block_loop(name, list(rows[0]), [list(r.values()) for r in rows])
    path.write_text(text)


if __name__ == "__main__":
    print(generate(Path(sys.argv[2]), int(sys.argv[1])))
