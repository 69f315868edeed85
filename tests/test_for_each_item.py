"""Tilt series in parallel inside a job (drivers._process.for_each_item): bounded by the workers
asked for, each tool's output in the tilt series' own log, and one failure that is not the item's
own (an abort, SIGTERM, a bug) stops the tools of the others."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cryocc.drivers._context import Context, item_log
from cryocc.drivers._errors import JobFailed, Terminated
from cryocc.drivers._process import for_each_item


def _ctx(tmp_path: Path) -> Context:
    return Context(job_dir=tmp_path, project=tmp_path, doc={"params": {}, "tool": None}, inputs={}, threads=2)


def test_at_most_workers_run_at_once_each_with_its_own_log(tmp_path):
    ctx = _ctx(tmp_path)
    names = ["TS_01", "TS_02", "TS_03", "TS_04"]
    start = time.monotonic()
    for_each_item(ctx, names, lambda n: ctx.run("sh", ["-c", f"echo {n} says hello; sleep 0.6"], log=item_log(ctx, n)), 2)
    elapsed = time.monotonic() - start
    assert 1.1 < elapsed < 2.0, elapsed  # two rounds of two, not four at once nor one after another
    assert all(item_log(ctx, n).read_text() == f"{n} says hello\n" for n in names)
    assert len(ctx.tools_run) == 4


def test_a_failure_of_the_job_stops_the_tools_of_the_others(tmp_path):
    ctx = _ctx(tmp_path)

    def work(name: str) -> None:
        if name == "TS_01":
            time.sleep(0.3)
            raise Terminated("SIGTERM")
        ctx.run("sleep", ["30"], log=item_log(ctx, name))

    start = time.monotonic()
    with pytest.raises(Terminated):
        for_each_item(ctx, ["TS_01", "TS_02", "TS_03"], work, 3)
    assert time.monotonic() - start < 10  # the sleeps were stopped, not waited for


def test_a_tool_that_fails_puts_its_last_lines_in_the_job_log(tmp_path, capsys):
    ctx = _ctx(tmp_path)
    with pytest.raises(JobFailed, match="exited with code 3"):
        ctx.run("sh", ["-c", "echo the reason; exit 3"], log=item_log(ctx, "TS_01"))
    out = capsys.readouterr().out
    assert "the reason" in out and "logs/TS_01.log" in out


def test_cryocare_prediction_puts_one_tomogram_on_each_gpu_at_once(tmp_path, monkeypatch):
    import json
    import struct
    import threading

    from cryocc.drivers import denoise_predict
    from cryocc.star import block_loop

    rows = []
    for name in ("TS_01", "TS_02", "TS_03"):
        for half in ("even", "odd"):
            (tmp_path / f"{name}_{half}.mrc").write_bytes(struct.pack("<3i", 64, 64, 32))
        rows.append([name, f"{name}_even.mrc", f"{name}_odd.mrc"])
    (tmp_path / "tomograms.star").write_text(block_loop(
        "global", ["rlnTomoName", "rlnTomoReconstructedTomogramHalf1", "rlnTomoReconstructedTomogramHalf2"], rows))
    ctx = Context(job_dir=tmp_path / "job", project=tmp_path, threads=1,
                  doc={"params": {"denoising_tomo_name": "TS", "ntiles_x": 1, "ntiles_y": 1, "ntiles_z": 1}, "tool": None},
                  inputs={"tomograms": tmp_path / "tomograms.star", "model": tmp_path / "model.tar.gz"})
    ctx.job_dir.mkdir()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")  # the node's devices 4 and 6: TensorFlow's 0 and 1
    busy, seen, lock = set(), [], threading.Lock()

    def fake_run(exe, args, **kw):  # cryoCARE_predict.py, as far as GPUs go
        conf = json.loads(ctx.path(args[1]).read_text())
        with lock:
            assert conf["gpu_id"] not in busy, "two tomograms on one GPU"
            busy.add(conf["gpu_id"])
            seen.append((conf["gpu_id"], len(busy)))
        time.sleep(0.3)
        (ctx.path("denoised") / Path(conf["even"]).name).write_text("x")
        with lock:
            busy.discard(conf["gpu_id"])
        return ""

    monkeypatch.setattr(ctx, "run", fake_run)
    denoise_predict.run(ctx)
    assert sorted({g for g, _ in seen}) == [0, 1] and max(n for _, n in seen) == 2
    assert (ctx.path("tomograms.star").read_text().count("denoised/TS_0")) == 3
