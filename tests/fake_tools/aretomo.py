"""A fake AreTomo2 held to czimaginginstitute/AreTomo2 v1.0.0 (the facility container's version), as
WarpTools ts_aretomo runs it: in the tilt-stack folder, with the argument string of
WarpWorker/WarpWorker.cs:473 (warpem/warp v2.0.0dev36).

Arguments are tag/value pairs (tags: CInput.cpp:26-59); tags it does not know are ignored, as the real
one searches argv for the tags it knows. The alignment is the true one for the data the tests give
it: their tilt images are exact projections at the angles and about the axis that WarpTools hands on
(-AngFile, -TiltAxis), so AreTomo2 has nothing to correct and reports those, with no shifts and no
tilt offset (tests/test_phantom.py makes such data and reconstructs from what is reported). Outputs:
  <InMrc name, ".mrc" -> ".aln" or ".aln" appended>   beside -OutMrc   (MrcUtil/CSaveAlignFile.cpp:29-44)
      rows "SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT", SEC 0-based (:93-106; MrcUtil/CAlignParam.cpp:59)
  <InMrc stem>_Imod/<stem>_st.xf, <stem>_st.tlt        with -OutImod 1 (ImodUtil/CImodUtil.cpp:40-93,
      ImodUtil/CSaveXF.cpp mSaveForRelion, ImodUtil/CSaveTilts.cpp mSaveForRelion)
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import mrc

TAGS = {"-InMrc": 1, "-OutMrc": 1, "-AlnFile": 1, "-AngFile": 1, "-RoiFile": 1, "-TmpFile": 1, "-LogFile": 1,
        "-TiltRange": 2, "-TiltAxis": 2, "-AlignZ": 1, "-VolZ": 1, "-OutBin": 1, "-TiltCor": 1, "-Gpu": 1,
        "-ReconRange": 2, "-PixSize": 1, "-Kv": 1, "-ImgDose": 1, "-Cs": 1, "-AmpContrast": 1, "-ExtPhase": 2,
        "-FlipVol": 1, "-FlipInt": 1, "-Sart": 2, "-Wbp": 1, "-Patch": 2, "-TiltScheme": 3, "-OutXF": 1, "-Align": 1,
        "-CropVol": 2, "-OutImod": 1, "-DarkTol": 1, "-Bft": 2, "-IntpCor": 1}


def main(argv: list[str]) -> int:
    args: dict[str, list[str]] = {}
    for i, token in enumerate(argv):
        if token in TAGS:
            args[token] = argv[i + 1:i + 1 + TAGS[token]]
    if "-InMrc" not in args or "-OutMrc" not in args:
        print("Usage: AreTomo2 Tags")  # the real one prints its help and quits
        return 1
    stack_path = Path(args["-InMrc"][0])
    stack, _ = mrc.read(stack_path)
    angles = [float(v) for v in Path(args["-AngFile"][0]).read_text().split()]
    if len(angles) != stack.shape[0]:
        print(f"Error: {len(angles)} tilt angles for {stack.shape[0]} images")
        return 1
    name = os.environ.get("FAKE_ALIGN_FAIL", "")
    stem = stack_path.name.split(".")[0]
    if stem in name.split(","):
        print(f"AreTomo2: alignment of {stem} failed (FAKE_ALIGN_FAIL)")
        return 1
    axis = float(args.get("-TiltAxis", ["0"])[0])
    rows = [(i, axis, 0.0, 0.0, a) for i, a in enumerate(angles)]  # SEC ROT TX TY TILT of exact data
    out_dir = Path(args["-OutMrc"][0]).parent
    aln = stack_path.name.replace(".mrc", ".aln") if ".mrc" in stack_path.name else stack_path.name + ".aln"
    lines = ["# AreTomo Alignment / Priims bprmMn ", f"# RawSize = {stack.shape[2]} {stack.shape[1]} {stack.shape[0]}",
             f"# NumPatches = {0}",
             "# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT"]
    lines += [f"{sec:5d}  {rot:9.4f}  {1.0:9.5f}  {tx:9.3f}  {ty:9.3f}  {1.0:7.2f}  {1.0:7.2f}  {1.0:7.2f}  {0.0:7.2f}  {tilt:8.2f}"
              for sec, rot, tx, ty, tilt in rows]
    (out_dir / aln).write_text("\n".join(lines) + "\n")
    if args.get("-OutImod", ["0"])[0] == "1":
        imod = out_dir / f"{stem}_Imod"
        imod.mkdir(exist_ok=True)
        xf = []
        for _, rot, tx, ty, _ in rows:
            a = math.radians(-rot)
            a11, a12, a21, a22 = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
            xf.append(f"{a11:9.3f} {a12:9.3f} {a21:9.3f} {a22:9.3f} {a11 * -tx + a12 * -ty:9.2f} {a21 * -tx + a22 * -ty:9.2f}")
        (imod / f"{stem}_st.xf").write_text("\n".join(xf) + "\n\n")
        (imod / f"{stem}_st.tlt").write_text("".join(f"{t:8.2f}\n" for *_, t in rows))
    print(f"AreTomo2: aligned {stem}, {len(rows)} tilts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
