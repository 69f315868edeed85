"""denoise_predict: cryoCARE prediction, one tomogram at a time; tomograms STAR of the results."""

import json
import os
import queue
from typing import Any

from ..contract import Outcome
from ._context import Context, item_log
from ._errors import JobFailed, Terminated
from ._mrc import mrc_shape
from ._process import for_each_item, gpu_ordinals
from ._relion_star import TomogramRow, read_global, write_global
from .denoise_train import halves


def _tiles(ctx: Context, even: str) -> list[int]:
    """n_tiles [z, y, x]: the user's, doubled past 1000 voxels, tripled past 2000, at most 8."""
    nx, ny, nz = mrc_shape(ctx.project / even)
    p = ctx.params

    def scale(n: int, dim: int) -> int:
        return min(8, n * (3 if dim > 2000 else 2 if dim > 1000 else 1))

    return [scale(p["ntiles_z"], nz), scale(p["ntiles_y"], ny), scale(p["ntiles_x"], nx)]


def predict_config(model: str, even: str, odd: str, tiles: list[int], gpu: int = 0) -> dict[str, Any]:
    """cryoCARE_predict.py's config for one tomogram (cryoCARE 0.3.0): the denoised volume goes to
    denoised/<file name of the even half>; gpu_id is an index into TensorFlow's visible GPUs
    (scripts/cryoCARE_predict.py:20-47)."""
    return {"path": model, "even": even, "odd": odd, "n_tiles": tiles, "output": "denoised", "overwrite": True, "gpu_id": gpu}


def run(ctx: Context) -> None:
    p = ctx.params
    rows = [t.row for t in ctx.to_process([TomogramRow(r) for r in read_global(ctx.input("tomograms"))])]
    chosen = {r["rlnTomoName"] for r in halves(ctx, rows, p["denoising_tomo_name"])} if rows else set()
    model = str(ctx.input("model"))
    out_dir = ctx.path("denoised")
    out_dir.mkdir(exist_ok=True)
    for row in rows:
        if row["rlnTomoName"] not in chosen:
            ctx.item(row["rlnTomoName"], Outcome.FILTERED, f"its name does not contain '{p['denoising_tomo_name']}' (denoising_tomo_name)")
    free: queue.Queue[int] = queue.Queue()
    for gpu in range(len(gpu_ordinals())):
        free.put(gpu)
    done: dict[str, str] = {}

    def predict(row: dict[str, Any]) -> None:
        """One tomogram on one GPU: cryoCARE predicts on one, so the job's GPUs take one each."""
        name, even, odd = row["rlnTomoName"], row["rlnTomoReconstructedTomogramHalf1"], row["rlnTomoReconstructedTomogramHalf2"]
        denoised = out_dir / os.path.basename(even)
        denoised.unlink(missing_ok=True)  # an earlier run's, which would pass for this run's
        gpu = free.get()
        try:
            conf = predict_config(model, str(ctx.project / even), str(ctx.project / odd), _tiles(ctx, even), gpu)
            ctx.path(f"predict_{name}.json").write_text(json.dumps(conf, indent=1) + "\n")
            ctx.run("cryoCARE_predict.py", ["--conf", f"predict_{name}.json"], log=item_log(ctx, name),
                    env={"TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_GPU_ALLOCATOR": "cuda_malloc_async"})
            if not denoised.is_file():
                raise JobFailed(f"cryoCARE_predict.py wrote no {ctx.rel(denoised)}")
            done[name] = ctx.rel(denoised)
        except Terminated:
            raise
        except JobFailed as exc:  # this tomogram fails, the others go on
            ctx.item(name, Outcome.FAILED, str(exc))
        finally:
            free.put(gpu)

    for_each_item(ctx, [r for r in rows if r["rlnTomoName"] in chosen], predict, free.qsize())
    write_global(ctx, "tomograms.star", [{**r, "rlnTomoReconstructedTomogram": done[r["rlnTomoName"]]}
                                         for r in rows if r["rlnTomoName"] in done])
