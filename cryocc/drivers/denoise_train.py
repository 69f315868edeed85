"""denoise_train: cryoCARE training on even/odd half tomograms."""

import json
import os
from typing import Any

from ._context import Context
from ._errors import JobFailed
from ._relion_star import read_global


def halves(ctx: Context, rows: list[dict[str, Any]], select: str) -> list[dict[str, Any]]:
    chosen = [r for r in rows if select in r["rlnTomoName"]]
    if not chosen:
        raise JobFailed(f"no tomogram name contains '{select}'")
    missing = [r["rlnTomoName"] for r in chosen if not r.get("rlnTomoReconstructedTomogramHalf1")]
    if missing:
        raise JobFailed(f"tomograms without even/odd halves: {', '.join(missing)} (reconstruct with halfmap_frames: true)")
    return chosen


def train_config(p: dict[str, Any], even: list[str], odd: list[str]) -> dict[str, Any]:
    """One config for cryoCARE_extract_train_data.py and cryoCARE_train.py (cryoCARE 0.3.0 reads both from it)."""
    n, d = p["number_training_subvolumes"], p["subvolume_dimensions"]
    return {
        "even": even, "odd": odd, "patch_shape": [d, d, d], "num_slices": n, "split": 0.9, "tilt_axis": "Y",
        "n_normalization_samples": min(2000, int(len(even) * n * 0.9)), "path": "train_data",
        "train_data": "train_data", "model_name": "denoising_model", "epochs": p["epochs"], "steps_per_epoch": 200,
        "batch_size": 16, "unet_kern_size": 3, "unet_n_depth": 3, "unet_n_first": 16, "learning_rate": p["learning_rate"],
        "gpu_id": 0, "overwrite": True,
    }


def run(ctx: Context) -> None:
    p = ctx.params
    rows = halves(ctx, read_global(ctx.input("tomograms")), p["tomograms_for_training"])
    even = [str(ctx.project / r["rlnTomoReconstructedTomogramHalf1"]) for r in rows]
    odd = [str(ctx.project / r["rlnTomoReconstructedTomogramHalf2"]) for r in rows]
    config = train_config(p, even, odd)
    ctx.path("train_config.json").write_text(json.dumps(config, indent=1) + "\n")
    ctx.run("cryoCARE_extract_train_data.py", ["--conf", "train_config.json"])
    ctx.run("cryoCARE_train.py", ["--conf", "train_config.json"])
    # cryoCARE_train.py packs the model itself into <path>/<model_name>.tar.gz (scripts/cryoCARE_train.py:62-63)
    archive = ctx.path("train_data/denoising_model.tar.gz")
    if not archive.is_file():
        raise JobFailed("cryoCARE_train.py wrote no train_data/denoising_model.tar.gz")
    os.replace(archive, ctx.path("denoising_model.tar.gz"))
    # the model is a decision: tilt series that arrive later are denoised with it, not trained on (plan: decides)
    ctx.decisions["model"] = {"value": "denoising_model.tar.gz", "from": sorted(r["rlnTomoName"] for r in rows)}
