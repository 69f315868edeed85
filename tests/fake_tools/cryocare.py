"""Fake cryoCARE scripts held to juglab/cryoCARE_pip v0.3.0 (PyPI cryoCARE 0.3.0): `--conf FILE`, a
JSON config read key by key. tests/test_tool_contracts.py checks the driver's configs against the
keys the installed package's scripts really read; these fakes read the same keys and write the same
files (the training and denoising are stand-ins):

  cryoCARE_extract_train_data.py  <path>/train_data.npz, val_data.npz
                                  (cryocare/internals/CryoCAREDataModule.py:221-223)
  cryoCARE_train.py               <path>/<model_name>/ and <path>/<model_name>.tar.gz
                                  (cryocare/scripts/cryoCARE_train.py:42-63)
  cryoCARE_predict.py             <output>/<basename of even>  (cryocare/scripts/cryoCARE_predict.py:116-153)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
from pathlib import Path

import mrc


def _config(prog: str, argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--conf")
    with open(ap.parse_args(argv).conf) as f:
        return json.load(f)


def _makedirs(path: str, config: dict) -> None:
    try:
        os.makedirs(path)
    except OSError:
        if config.get("overwrite"):
            os.makedirs(path, exist_ok=True)
        else:
            print("Output directory already exists. Please choose a new output directory or set 'overwrite' to "
                  "'true' in your configuration file.")
            sys.exit(1)


def extract(argv: list[str]) -> int:
    c = _config("cryoCARE_extract_train_data.py", argv)
    for even, odd in zip(c["even"], c["odd"]):
        for f in (even, odd):
            mrc.read(Path(f))  # the real one loads every half tomogram
    _ = (c["num_slices"], c["split"], c["patch_shape"], c["tilt_axis"], c["n_normalization_samples"])
    _makedirs(c["path"], c)
    for name in ("train_data.npz", "val_data.npz"):
        Path(c["path"], name).write_bytes(b"stand-in patches")
    return 0


def train(argv: list[str]) -> int:
    c = _config("cryoCARE_train.py", argv)
    if not Path(c["train_data"], "train_data.npz").is_file():
        raise FileNotFoundError(Path(c["train_data"], "train_data.npz"))
    _ = (c["epochs"], c["steps_per_epoch"], c["batch_size"], c["unet_kern_size"], c["unet_n_depth"], c["unet_n_first"],
         c["learning_rate"], c.get("gpu_id"))
    model = Path(c["path"], c["model_name"])
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps({"train_epochs": c["epochs"]}))
    (model / "weights_best.h5").write_bytes(b"stand-in weights")
    (model / "history.dat").write_bytes(b"")
    (model / "norm.json").write_text(json.dumps({"mean": 0.0, "std": 1.0}))
    with tarfile.open(Path(c["path"], f"{c['model_name']}.tar.gz"), "w:gz") as tar:
        tar.add(model, arcname=model.name)
    return 0


def predict(argv: list[str]) -> int:
    c = _config("cryoCARE_predict.py", argv)
    _makedirs(c["output"], c)
    if not os.path.isfile(c["path"]):
        print(f"The specified 'path' {c['path']} is not a file.")
        print("Invalid config format.")
        return 1
    with tarfile.open(c["path"], "r:gz") as tar:
        names = tar.getnames()
    if not any(n.endswith("norm.json") for n in names):
        raise KeyError("norm.json")
    gpu = c.get("gpu_id", 0)  # set_gpu_id, cryoCARE_predict.py:20-29 (type(...) is: a bool is neither)
    if type(gpu) is list and not gpu:
        raise RuntimeError("ERROR: List of GPU IDs is empty")
    if type(gpu) not in (list, int):
        raise RuntimeError("gpu_id in json is neither a list nor an integer")
    evens = c["even"] if isinstance(c["even"], list) else [c["even"]]
    odds = c["odd"] if isinstance(c["odd"], list) else [c["odd"]]
    assert len(c["n_tiles"]) == 3, "n_tiles is [z, y, x]"
    for even, odd in zip(evens, odds):
        data, voxel = mrc.read(Path(even))
        mrc.read(Path(odd))
        mrc.write(Path(c["output"], os.path.basename(even)), data, voxel)
    return 0
