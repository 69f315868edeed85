"""The tools of the tests' PATH (tests/fake_tools/bin): fakes for what cannot run here, held to the
real tools' source (docs/tools.md), and a fault-injection shim in front of the real RELION programs.

  WarpTools, AreTomo2         fakes: warptools.py, aretomo.py
  pytom_*.py                  the real pytom-match-pick, GPU search replaced: pytom.py
  cryoCARE_*.py               fakes: cryocare.py
  relion_* (the shim)         the real RELION program further down PATH, unless a switch says otherwise

Switches, each a comma-separated list of command names (a WarpTools verb such as ts_ctf, or an
executable name such as relion_refine):
  FAKE_FAIL    exit 1 after printing an error
  FAKE_EMPTY   exit 0 without doing anything (as WarpTools does on a parse error)
  FAKE_HANG    sleep until killed
  FAKE_KILL    die by SIGKILL
  FAKE_SLEEP   name=seconds pairs: take that long before working
  FAKE_LOG     file that gets one JSON line {name, argv, cwd} per call
  FAKE_SECONDS_PER_ITEM  WarpTools verb=seconds pairs: each item (a movie, a tilt series) takes that
               long, as many at once as the real tool has workers (devices x --perdevice): bench/arrays.py
and, read by the fakes themselves: FAKE_ALIGN_FAIL (tilt-series names AreTomo2 fails on),
FAKE_TILTALIGN_FAIL (tilt-series names whose align.log from ts_etomo_patches holds no residual),
FAKE_HAND (ts_defocus_hand finds 'flip' or 'noflip').
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = ("relion_python_tomo_import", "relion_tomo_subtomo", "relion_tomo_reconstruct_particle", "relion_refine")


def _switch(var: str, name: str) -> bool:
    return name in os.environ.get(var, "").split(",")


def _tools():
    import aretomo
    import cryocare
    import pytom
    import warptools

    return {"WarpTools": warptools.main, "AreTomo2": aretomo.main, "pytom_match_template.py": pytom.match,
            "pytom_extract_candidates.py": pytom.extract, "cryoCARE_extract_train_data.py": cryocare.extract,
            "cryoCARE_train.py": cryocare.train, "cryoCARE_predict.py": cryocare.predict}


def _exec_real(tool: str, argv: list[str]) -> None:
    """Run the real program of that name, the first on PATH that is not this shim."""
    shim = str(HERE / "bin")
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and os.path.realpath(d) != os.path.realpath(shim)]
    for d in path:
        exe = os.path.join(d, tool)
        if os.access(exe, os.X_OK):
            os.environ["PATH"] = os.pathsep.join(path)
            os.execv(exe, [exe, *argv])
    print(f"{tool}: command not found (no real RELION on PATH behind the test shim)", file=sys.stderr)
    sys.exit(127)


def main(tool: str, argv: list[str]) -> int:
    name = argv[0] if tool == "WarpTools" and argv else tool
    if log := os.environ.get("FAKE_LOG"):
        with open(log, "a") as fh:
            fh.write(json.dumps({"name": name, "argv": [tool, *argv], "cwd": os.getcwd()}) + "\n")
    for pair in os.environ.get("FAKE_SLEEP", "").split(","):
        if pair.startswith(f"{name}="):
            time.sleep(float(pair.split("=", 1)[1]))
    if _switch("FAKE_KILL", name):
        os.kill(os.getpid(), signal.SIGKILL)
    if _switch("FAKE_HANG", name):
        print(f"fake {name}: hanging as asked", flush=True)
        while True:
            time.sleep(1)
    if _switch("FAKE_FAIL", name):
        print(f"ERROR: {name} failed as asked (FAKE_FAIL)", flush=True)
        return 1
    if _switch("FAKE_EMPTY", name):
        print(f"{name}: exiting 0 without outputs as asked (FAKE_EMPTY)", flush=True)
        return 0
    if tool in REAL:
        _exec_real(tool, argv)
    return _tools()[tool](argv) or 0
