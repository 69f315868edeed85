"""What the tools measured, per tilt series and per tilt, read back from the files they wrote
(each layout and its place in the tool's source: docs/tools.md, "Quality"). The driver records it in
the receipt's item records (`items.<tilt series>.quality`); `cryocc status --tilt-series` and
`cryocc report` show it. Reading it never fails a job: a file that cannot be read is said in run.out
and its numbers are left out."""

from __future__ import annotations

import math
import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..star import read_star
from ._alignment import read_aretomo_aln
from ._context import Context
from ._relion_star import frame_id, read_global
from ._warp_xml import warp_tilt_series

Quality = dict[str, Any]


def ctf_resolution(xml: Path) -> float | None:
    """A frame series' CTF fit resolution in Å: the <Movie> root's CTFResolutionEstimate
    (warp:WarpLib/Movie/Movie.cs:1081, set in Movie.ProcessCTF.cs:794); 0 means not estimated."""
    value = float(ET.parse(xml).getroot().get("CTFResolutionEstimate", "0"))
    return value if value > 0 else None


def collect(ctx: Context) -> None:
    """Record the quality of the tilt series this run processed."""
    reader = READERS.get(ctx.doc["type"])
    names = sorted(ctx.seen)
    if reader is None or not names:
        return
    try:
        found = reader(ctx, names)
    except Exception as exc:  # the tool's results stand: numbers that cannot be read are only left out
        ctx.say(f"note: quality not recorded ({type(exc).__name__}: {exc})")
        return
    ctx.quality.update({n: q for n, q in found.items() if q})


def _tilts(ctx: Context, name: str, job_dir: Path | None = None) -> list[dict[str, str]]:
    """The tilts of one tilt series as a driver wrote them: <job>/tilt_series/<ts>.star."""
    path = (job_dir or ctx.job_dir) / "tilt_series" / f"{name}.star"
    if not path.is_file():
        return []
    blocks = read_star(path)
    rows = blocks.get(name)
    return rows if isinstance(rows, list) else next((b for b in blocks.values() if isinstance(b, list)), [])


def _angle(row: dict[str, str]) -> float | None:
    value = row.get("rlnTomoNominalStageTiltAngle")
    return round(float(value), 2) if value not in (None, "") else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _summary(tilts: list[dict[str, Any]], *keys: str) -> Quality:
    """Per tilt series: the mean of each per-tilt value (the median for the CTF fit resolution)."""
    out: Quality = {}
    for key in keys:
        values = [t[key] for t in tilts if t.get(key) is not None]
        if values:
            out[key] = round(statistics.median(values), 2) if key == "ctf_resolution_a" else _mean(values)
    return out


def motion_ctf(ctx: Context, names: list[str]) -> dict[str, Quality]:
    """WarpTools fs_motion_and_ctf: each movie's warp_frameseries/<movie>.xml (Movie.cs:1074-1126): defocus
    and DefocusDelta (U - V) in µm from <CTF>, CTFResolutionEstimate (Å) and MeanFrameMovement (Å)."""
    out = {}
    for name in names:
        tilts = []
        for row in _tilts(ctx, name):
            movie = frame_id(row["rlnMicrographMovieName"])
            root = ET.parse(ctx.path(f"warp_frameseries/{movie}.xml")).getroot()
            node = root.find("CTF")
            ctf = {p.get("Name"): p.get("Value") for p in (node if node is not None else [])}
            res, moved = float(root.get("CTFResolutionEstimate", "0")), float(root.get("MeanFrameMovement", "-1"))
            tilts.append({"movie": movie, "angle": _angle(row), "defocus_um": float(ctf["Defocus"] or "nan"),
                          "astigmatism_a": round(float(ctf["DefocusDelta"] or "nan") * 1e4, 1),
                          "ctf_resolution_a": res if res > 0 else None, "motion_a": moved if moved >= 0 else None})
        if tilts:
            out[name] = {**_summary(tilts, "defocus_um", "astigmatism_a", "ctf_resolution_a", "motion_a"),
                         "tilts": len(tilts), "per_tilt": tilts, "source": "warp_frameseries/<movie>.xml"}
    return out


def alignment(ctx: Context, names: list[str]) -> dict[str, Quality]:
    """ts_aretomo / ts_etomo_patches: the refined tilt axis (AreTomo2's ROT column, per tilt, in its
    .aln: aretomo2:MrcUtil/CSaveAlignFile.cpp:89-106), the shift of each tilt, the tilts left out
    (excluded_tilts.tsv, with the reason: dark for AreTomo2's DarkFrame lines, or WarpTools' selection),
    and for IMOD the residual tiltalign wrote to align.log in the stack folder, where WarpTools runs
    `submfg align.com` (warp:WarpWorker/WarpWorker.cs:626-650; submfg names the log after the .com,
    imod:pysrc/submfg:107,124)."""
    dropped = _tsv(ctx.job_file("excluded_tilts.tsv"))
    out = {}
    for name in names:
        tilts = [{"movie": frame_id(r["rlnMicrographMovieName"]), "angle": _angle(r), "axis_deg": round(float(r["rlnTomoZRot"]), 3),
                  "shift_a": round(math.hypot(float(r["rlnTomoXShiftAngst"]), float(r["rlnTomoYShiftAngst"])), 2)}
                 for r in _tilts(ctx, name)]
        if not tilts:
            continue
        q: Quality = {**_summary(tilts, "axis_deg", "shift_a"), "tilts": len(tilts), "per_tilt": tilts,
                      "dropped": [{"movie": frame_id(d[1]), "why": d[2]} for d in dropped if d[0] == name],
                      "source": "aligned tilt_series/<ts>.star, excluded_tilts.tsv"}
        aln = ctx.path(f"warp_tiltseries/tiltstack/{name}/{name}.st.aln")
        if aln.is_file():
            rows = read_aretomo_aln(aln)
            q["axis_deg"] = _mean([a.rot for a in rows.values()])
            q["source"] = f"warp_tiltseries/tiltstack/{name}/{name}.st.aln, excluded_tilts.tsv"
        if ctx.params.get("method") == "imod":
            q.update(_residual(ctx, name))
        out[name] = q
    return out


def _residual(ctx: Context, name: str) -> Quality:
    """IMOD's residual for one tilt series, or nothing (said in run.out) when its align.log cannot be read:
    the alignment and its other numbers stand."""
    log = ctx.path(f"warp_tiltseries/tiltstack/{name}/align.log")
    try:
        found = imod_residual(log, float(ctx.params["rescale_angpixs"]))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        ctx.say(f"note: {name}: alignment residual not recorded ({type(exc).__name__}: {exc})")
        return {}
    if found is None:
        ctx.say(f"note: {name}: alignment residual not recorded ({log.name} has no global residual line)")
        return {}
    mean, sd = found
    return {"residual_a": mean, "residual_sd_a": sd}


RESIDUAL = "Residual error mean and sd:"


def imod_residual(log: Path, stack_angpix: float) -> tuple[float, float] | None:
    """The mean and sd of the global residual tiltalign wrote to align.log, in Å. Format 118 of
    imod:flib/tiltalign/tiltalign.f90 (`Residual error mean and sd:  ` 2f8.3, then the unit, then
    `(Global)` or `(Local area i j)` when it also aligns locally): in nm when align.com gives
    UnbinnedPixelSize (the value is then pixels x UnbinnedPixelSize x ImagesAreBinned), else in
    pixels of the stack it aligned, with no unit or `pixels`; those are converted here the same way,
    with the stack's pixel size and ImagesAreBinned from align.com (1 when it does not say)."""
    for line in log.read_text().splitlines():
        head, _, rest = line.partition(RESIDUAL)
        if not rest or head.strip() or "Local area" in rest:
            continue
        mean, sd, *unit = rest.split()
        if unit and unit[0] == "nm":
            return round(float(mean) * 10, 2), round(float(sd) * 10, 2)
        scale = stack_angpix * _images_binned(log.with_name("align.com"))
        return round(float(mean) * scale, 2), round(float(sd) * scale, 2)
    return None


def _images_binned(com: Path) -> int:
    """tiltalign's ImagesAreBinned in the command file submfg ran (its lines are `Option<tab>value`)."""
    if not com.is_file():
        return 1
    found = re.search(r"^ImagesAreBinned\s+(\d+)\s*$", com.read_text(), re.MULTILINE)
    return max(1, int(found.group(1))) if found else 1


def tilt_series_ctf(ctx: Context, names: list[str]) -> dict[str, Quality]:
    """ts_ctf: warp_tiltseries/<ts>.xml (TiltSeries.cs:2124-2323): per tilt the defocus and DefocusDelta
    grids by Z, per tilt series CTFResolutionEstimate (:2153, set in ProcessCTFSimultaneous.cs:850) and
    the handedness (AreAnglesInverted); per tilt the frame-series fit resolution the tilt carries."""
    out = {}
    for name in names:
        xml = ctx.path(f"warp_tiltseries/{name}.xml")
        if not xml.is_file():
            continue
        warp = warp_tilt_series(xml)
        z_of = {m: z for z, m in enumerate(warp.movies)}
        tilts = []
        for row in _tilts(ctx, name):
            movie = frame_id(row["rlnMicrographMovieName"])
            z = z_of.get(movie)
            if z is None or z not in warp.defocus:
                continue
            res = row.get("rlnCtfMaxResolution")
            tilts.append({"movie": movie, "angle": _angle(row), "defocus_um": warp.defocus[z],
                          "astigmatism_a": round(warp.delta.get(z, 0.0) * 1e4, 1),
                          "ctf_resolution_a": float(res) if res not in (None, "") else None})
        series_res = float(ET.parse(xml).getroot().get("CTFResolutionEstimate", "0"))
        q: Quality = {**_summary(tilts, "defocus_um", "astigmatism_a", "ctf_resolution_a"), "tilts": len(tilts), "per_tilt": tilts,
                      "hand": "flip" if warp.inverted else "no flip", "source": f"warp_tiltseries/{name}.xml"}
        if series_res > 0:
            q["ctf_resolution_a"] = series_res
        out[name] = q
    return out


def tilt_filter(ctx: Context, names: list[str]) -> dict[str, Quality]:
    """cryocc's own rules: tilt_filter_report.tsv, one verdict and reason per tilt."""
    rows = _tsv(ctx.path("tilt_filter_report.tsv"))
    out = {}
    for name in names:
        mine = [r for r in rows if r[0] == name]
        if mine:
            out[name] = {"tilts": sum(r[2] == "keep" for r in mine), "source": "tilt_filter_report.tsv",
                         "dropped": [{"movie": frame_id(r[1]), "why": r[3]} for r in mine if r[2] == "drop"]}
    return out


def tomograms(ctx: Context, names: list[str]) -> dict[str, Quality]:
    """ts_reconstruct, denoise_predict: the tomogram each tilt series gave (tomograms.star), for thumbnails."""
    path = ctx.job_file("tomograms.star")
    rows = read_global(path) if path.is_file() else []
    return {r["rlnTomoName"]: {"tomogram": r["rlnTomoReconstructedTomogram"], "source": "tomograms.star"}
            for r in rows if r["rlnTomoName"] in names and r.get("rlnTomoReconstructedTomogram")}


def _counter(filename: str, block: str, key: str) -> Callable[[Context, list[str]], dict[str, Quality]]:
    def count(ctx: Context, names: list[str]) -> dict[str, Quality]:
        path = ctx.job_file(filename)
        rows = read_star(path).get(block) if path.is_file() else None
        tomos = [r.get("rlnTomoName") for r in rows] if isinstance(rows, list) else []
        return {n: {key: tomos.count(n), "source": filename} for n in names}
    return count


def _tsv(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    return [line.split("\t") + [""] * 3 for line in path.read_text().splitlines()[1:] if line]


READERS: dict[str, Callable[[Context, list[str]], dict[str, Quality]]] = {
    "fs_motion_ctf": motion_ctf,
    "ts_alignment": alignment,
    "ts_ctf": tilt_series_ctf,
    "tilt_filter": tilt_filter,
    "ts_reconstruct": tomograms,
    "denoise_predict": tomograms,
    # pytom's <tomogram>_particles.star rows, gathered in candidates.star (pytom:src/pytom_tm/extract.py:382-398)
    "candidate_extract": _counter("candidates.star", "particles", "picks"),
    # relion_tomo_subtomo's particles.star (relion:src/jaz/tomography/programs/subtomo.cpp:442)
    "subtomo_extraction": _counter("particles.star", "particles", "particles"),
}
