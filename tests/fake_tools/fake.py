"""Fake cryo-ET tools for tests: each honours its real tool's command line (argparse rejects
unknown flags, inputs must exist) and writes the output layout the real tool writes.

Switches, each a comma-separated list of command names (a WarpTools subcommand such as ts_ctf,
or an executable name such as relion_refine):
  FAKE_FAIL    exit 1 after printing an error
  FAKE_EMPTY   exit 0 without writing outputs (as WarpTools does when AreTomo fails)
  FAKE_HANG    sleep until killed
  FAKE_KILL    die by SIGKILL
  FAKE_ALIGN_FAIL  tilt-series names whose alignment "fails" (XML written, no .aln/.xf)
  FAKE_HAND    'noflip' makes ts_defocus_hand --check recommend no flip
  FAKE_NO_PARTICLES  pytom_extract_candidates finds nothing
  FAKE_SLEEP   name=seconds pairs: take that long before working
  FAKE_LOG     file that gets one JSON line {name, argv, cwd} per call
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import signal
import struct
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path


def _switch(var: str, name: str) -> bool:
    return name in os.environ.get(var, "").split(",")


def mrc(path: Path, shape=(64, 64, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = struct.pack("<3i", *shape) + struct.pack("<i", 2) + bytes(1024 - 16)
    path.write_bytes(head + bytes(64))


def need(path, what: str = "input") -> Path:
    p = Path(path)
    if not p.exists():
        sys.exit(f"ERROR: {what} does not exist: {path}")
    return p


def parser(prog: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, allow_abbrev=False)


def star_loop(path: Path, block: str, rows: list[dict]) -> None:
    import pandas as pd
    import starfile

    path.parent.mkdir(parents=True, exist_ok=True)
    starfile.write({block: pd.DataFrame(rows)}, path, overwrite=True)


def read_star_block(path: Path):
    import starfile

    return starfile.read(path, always_dict=True)


# --- mdoc, settings -------------------------------------------------------------------------------

def mdoc_tilts(path: Path) -> list[tuple[int, float, str]]:
    tilts, z, angle = [], None, None
    for line in path.read_text().splitlines():
        if m := re.match(r"\[ZValue\s*=\s*(\d+)\]", line.strip()):
            z = int(m.group(1))
        elif line.startswith("TiltAngle") and z is not None:
            angle = float(line.split("=")[1])
        elif line.startswith("SubFramePath") and z is not None:
            tilts.append((z, angle, line.split("=", 1)[1].strip().replace("\\", "/").rsplit("/", 1)[-1]))
    return tilts


def settings(path) -> dict[str, str]:
    root = ET.parse(need(path, "settings")).getroot()
    return {p.get("Name"): p.get("Value") for p in root.iter("Param")}


# --- WarpTools ------------------------------------------------------------------------------------

def warp_create_settings(argv):
    ap = parser("WarpTools create_settings")
    for a in ("--folder_data", "--extension", "--folder_processing", "--output", "--angpix"):
        ap.add_argument(a, required=True)
    for a in ("--eer_ngroups", "--gain_reference", "--gain_operations", "--exposure", "--tomo_dimensions"):
        ap.add_argument(a)
    a = ap.parse_args(argv)
    files = glob.glob(os.path.join(need(a.folder_data, "--folder_data"), a.extension))
    if not files:
        sys.exit(f"ERROR: no {a.extension} files in {a.folder_data}")
    if a.extension == "*.eer" and (a.eer_ngroups is None or int(a.eer_ngroups) >= 0):
        sys.exit("ERROR: fake WarpTools wants a negative --eer_ngroups (frames per group) for EER data")
    if a.gain_reference:
        need(a.gain_reference, "--gain_reference")
    root = ET.Element("Settings")
    for k, v in (("DataFolder", a.folder_data), ("Extension", a.extension), ("ProcessingFolder", a.folder_processing),
                 ("PixelSize", a.angpix), ("Exposure", a.exposure or ""), ("TomoDimensions", a.tomo_dimensions or "")):
        ET.SubElement(root, "Param", Name=k, Value=str(v))
    ET.ElementTree(root).write(a.output)


def warp_fs_motion_and_ctf(argv):
    ap = parser("WarpTools fs_motion_and_ctf")
    ap.add_argument("--settings", required=True)
    for a in ("--m_grid", "--m_range_min", "--m_range_max", "--m_bfac", "--c_grid", "--c_window", "--c_range_min",
              "--c_range_max", "--c_defocus_min", "--c_defocus_max", "--c_voltage", "--c_cs", "--c_amplitude",
              "--perdevice", "--out_skip_first", "--out_skip_last"):
        ap.add_argument(a, required=True)
    for a in ("--out_averages", "--out_average_halves", "--c_use_sum", "--c_fit_phase"):
        ap.add_argument(a, action="store_true")
    a = ap.parse_args(argv)
    s = settings(a.settings)
    proc = Path(s["ProcessingFolder"])
    for i, movie in enumerate(sorted(glob.glob(os.path.join(s["DataFolder"], s["Extension"])))):
        fid = os.path.splitext(os.path.basename(movie))[0]
        root = ET.Element("Movie")
        ctf = ET.SubElement(root, "CTF")
        for k, v in (("Defocus", 2.0 + 0.1 * (i % 10)), ("DefocusDelta", 0.05), ("DefocusAngle", 30.0)):
            ET.SubElement(ctf, "Param", Name=k, Value=str(v))
        proc.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(proc / f"{fid}.xml")
        mrc(proc / "average" / f"{fid}.mrc", (96, 96, 1))
        mrc(proc / "powerspectrum" / f"{fid}.mrc", (32, 32, 1))
        if a.out_average_halves:
            mrc(proc / "average" / "even" / f"{fid}.mrc", (96, 96, 1))
            mrc(proc / "average" / "odd" / f"{fid}.mrc", (96, 96, 1))


def warp_ts_import(argv):
    ap = parser("WarpTools ts_import")
    for a in ("--mdocs", "--pattern", "--frameseries", "--output", "--tilt_exposure", "--override_axis", "--min_intensity"):
        ap.add_argument(a, required=True)
    ap.add_argument("--dont_invert", action="store_true")
    a = ap.parse_args(argv)
    frames = need(a.frameseries, "--frameseries")
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    mdocs = sorted(glob.glob(os.path.join(need(a.mdocs, "--mdocs"), a.pattern)))
    if not mdocs:
        sys.exit("ERROR: no mdocs")
    for m in mdocs:
        rows = []
        for z, angle, frame in sorted(mdoc_tilts(Path(m)), key=lambda t: t[1]):
            fid = os.path.splitext(frame)[0]
            if (frames / "average" / f"{fid}.mrc").exists():
                rows.append({"wrpMovieName": os.path.relpath(frames / "average" / f"{fid}.mrc", out),
                             "wrpAngleTilt": angle, "wrpDose": z * float(a.tilt_exposure)})
        star_loop(out / f"{Path(m).stem}.tomostar", "", rows)


def _tomostars(settings_path):
    s = settings(settings_path)
    stars = sorted(glob.glob(os.path.join(need(s["DataFolder"], "DataFolder"), "*.tomostar")))
    if not stars:
        sys.exit("ERROR: no .tomostar files")
    return stars


def _tomostar_movies(path):
    df = next(iter(read_star_block(Path(path)).values()))
    return list(df["wrpMovieName"])


def warp_align(argv, imod: bool):
    ap = parser("WarpTools ts_etomo_patches" if imod else "WarpTools ts_aretomo")
    for a in ("--settings", "--output_processing", "--angpix"):
        ap.add_argument(a, required=True)
    if imod:
        ap.add_argument("--patch_size", required=True, type=int)
    else:
        ap.add_argument("--alignz", required=True, type=int)
        ap.add_argument("--perdevice", required=True)
        for f in ("--patches", "--axis_iter", "--axis_batch"):
            ap.add_argument(f)
    a = ap.parse_args(argv)
    out = Path(a.output_processing)
    failing = os.environ.get("FAKE_ALIGN_FAIL", "").split(",")
    for star in _tomostars(a.settings):
        ts = Path(star).stem
        movies = _tomostar_movies(star)
        root = ET.Element("TiltSeries", AreAnglesInverted="False")
        mp = ET.SubElement(root, "MoviePath")
        for m in movies:
            ET.SubElement(mp, "string").text = m
        out.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(out / f"{ts}.xml")  # written even when the aligner fails
        if ts in failing:
            continue
        stack = out / "tiltstack" / ts
        stack.mkdir(parents=True, exist_ok=True)
        angles = list(next(iter(read_star_block(Path(star)).values()))["wrpAngleTilt"])
        if imod:
            (stack / f"{ts}.xf").write_text("".join(f"1.0 0.0 0.0 1.0 {i * 0.5:.2f} {-i * 0.25:.2f}\n" for i in range(len(angles))))
            (stack / f"{ts}.tlt").write_text("".join(f"{t + 0.1:.2f}\n" for t in angles))
        else:
            lines = ["# AreTomo Alignment / Priism axis angle", "# SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT"]
            lines += [f"{i:5d} {85.0 + 0.01 * i:9.4f} 1.00000 {i * 1.5:9.3f} {-i * 0.5:9.3f} 1.00 1.00 1.00 0.00 {t + 0.2:8.2f}"
                      for i, t in enumerate(angles)]
            lines += ["# Local Alignment", "    0    0  10.0  10.0  0.1  0.1  1.0"]
            (stack / f"{ts}.st.aln").write_text("\n".join(lines) + "\n")


def _xmls(folder, tomostars):
    return [Path(folder) / f"{Path(s).stem}.xml" for s in tomostars]


def warp_ts_defocus_hand(argv):
    ap = parser("WarpTools ts_defocus_hand")
    for a in ("--settings", "--input_processing", "--output_processing"):
        ap.add_argument(a, required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    for f in ("--check", "--set_flip", "--set_noflip", "--set_switch"):
        g.add_argument(f, action="store_true")
    a = ap.parse_args(argv)
    xmls = _xmls(a.output_processing, _tomostars(a.settings))
    for x in xmls:
        need(x, "tilt-series XML")
    if a.check:
        verdict = "'no flip'" if os.environ.get("FAKE_HAND") == "noflip" else "'flip'"
        print(f"Average correlation: 0.42 vs 0.17. Defocus handedness should be set to {verdict}")
        return
    for x in xmls:
        tree = ET.parse(x)
        tree.getroot().set("AreAnglesInverted", "True" if a.set_flip else "False")
        tree.write(x)


def warp_ts_ctf(argv):
    ap = parser("WarpTools ts_ctf")
    for a in ("--settings", "--input_processing", "--output_processing", "--window", "--range_low", "--range_high",
              "--defocus_min", "--defocus_max", "--voltage", "--cs", "--amplitude", "--perdevice"):
        ap.add_argument(a, required=True)
    ap.add_argument("--fit_phase", action="store_true")
    a = ap.parse_args(argv)
    for x in _xmls(a.output_processing, _tomostars(a.settings)):
        tree = ET.parse(need(x, "tilt-series XML"))
        root = tree.getroot()
        n = len(list(root.find("MoviePath")))
        for tag, f in (("GridCTF", lambda z: 2.5 + 0.01 * z), ("GridCTFDefocusDelta", lambda z: 0.02),
                       ("GridCTFDefocusAngle", lambda z: 45.0)):
            old = root.find(tag)
            if old is not None:
                root.remove(old)
            grid = ET.SubElement(root, tag, Width="1", Height="1", Depth=str(n))
            for z in range(n):
                ET.SubElement(grid, "Node", X="0", Y="0", Z=str(z), Value=f"{f(z):.4f}")
        tree.write(x)


def warp_ts_reconstruct(argv):
    ap = parser("WarpTools ts_reconstruct")
    for a in ("--settings", "--input_processing", "--output_processing", "--angpix", "--halfmap_frames", "--deconv", "--perdevice"):
        ap.add_argument(a, required=True)
    ap.add_argument("--dont_invert", action="store_true")
    a = ap.parse_args(argv)
    need(a.input_processing, "--input_processing")
    rec = Path(a.output_processing) / "reconstruction"
    for star in _tomostars(a.settings):
        name = f"{Path(star).stem}_{float(a.angpix):.2f}Apx.mrc"
        need(Path(a.input_processing) / f"{Path(star).stem}.xml", "tilt-series XML")
        mrc(rec / name, (1100, 1100, 300))
        if a.halfmap_frames == "1":
            mrc(rec / "even" / name, (1100, 1100, 300))
            mrc(rec / "odd" / name, (1100, 1100, 300))


WARP = {"create_settings": warp_create_settings, "fs_motion_and_ctf": warp_fs_motion_and_ctf, "ts_import": warp_ts_import,
        "ts_aretomo": lambda v: warp_align(v, imod=False), "ts_etomo_patches": lambda v: warp_align(v, imod=True),
        "ts_defocus_hand": warp_ts_defocus_hand, "ts_ctf": warp_ts_ctf, "ts_reconstruct": warp_ts_reconstruct}


# --- RELION ---------------------------------------------------------------------------------------

def relion_tomo_import(argv):
    if not argv or argv[0] != "SerialEM":
        sys.exit("ERROR: expected the SerialEM subcommand")
    ap = parser("relion_python_tomo_import SerialEM")
    for a in ("--tilt-image-movie-pattern", "--mdoc-file-pattern", "--output-directory", "--nominal-tilt-axis-angle",
              "--nominal-pixel-size", "--voltage", "--spherical-aberration", "--amplitude-contrast", "--optics-group-name"):
        ap.add_argument(a, required=True)
    ap.add_argument("--invert-defocus-handedness", dest="hand", action="store_true", default=None)
    ap.add_argument("--no-invert-defocus-handedness", dest="hand", action="store_false")
    for a in ("--dose-per-tilt-image", "--dose-per-movie-frame", "--prefix", "--mtf-file"):
        ap.add_argument(a)
    ap.add_argument("--images-are-motion-corrected", action="store_true")
    a = ap.parse_args(argv[1:])
    movies = {os.path.basename(m): m for m in glob.glob(a.tilt_image_movie_pattern)}
    mdocs = sorted(glob.glob(a.mdoc_file_pattern))
    if not movies or not mdocs:
        sys.exit("ERROR: no movies or no mdocs")
    out = Path(a.output_directory)
    rows = []
    for m in mdocs:
        ts = Path(m).stem
        tilts = [{"rlnMicrographMovieName": movies[frame], "rlnTomoTiltMovieFrameCount": 8,
                  "rlnTomoNominalStageTiltAngle": angle, "rlnTomoNominalTiltAxisAngle": float(a.nominal_tilt_axis_angle),
                  "rlnMicrographPreExposure": z * float(a.dose_per_tilt_image or 0), "rlnTomoNominalDefocus": -4.0}
                 for z, angle, frame in mdoc_tilts(Path(m))]
        star_loop(out / "tilt_series" / f"{ts}.star", ts, tilts)
        rows.append({"rlnTomoName": ts, "rlnTomoTiltSeriesStarFile": str(out / "tilt_series" / f"{ts}.star"),
                     "rlnVoltage": float(a.voltage), "rlnSphericalAberration": float(a.spherical_aberration),
                     "rlnAmplitudeContrast": float(a.amplitude_contrast),
                     "rlnMicrographOriginalPixelSize": float(a.nominal_pixel_size),
                     "rlnTomoHand": -1 if a.hand else 1, "rlnOpticsGroupName": a.optics_group_name})
    star_loop(out / "tilt_series.star", "global", rows)


def _optimisation_set(path) -> dict:
    blocks = read_star_block(need(path, "--i"))
    block = next(iter(blocks.values()))
    return dict(block) if isinstance(block, dict) else block.iloc[0].to_dict()


def relion_tomo_subtomo(argv):
    ap = parser("relion_tomo_subtomo")
    for a in ("--i", "--o", "--b", "--bin", "--j"):
        ap.add_argument(a, required=True)
    for a in ("--crop", "--max_dose", "--min_frames"):
        ap.add_argument(a)
    ap.add_argument("--stack2d", action="store_true")
    ap.add_argument("--float16", action="store_true")
    a = ap.parse_args(argv)
    opt = _optimisation_set(a.i)
    particles = next(iter(read_star_block(need(opt["rlnTomoParticlesFile"], "particles")).values()))
    out = Path(a.o)
    rows = []
    for i, r in enumerate(particles.to_dict("records")):
        img = out / "Subtomograms" / r["rlnTomoName"] / f"{i + 1}_stack2d.mrcs"
        mrc(img, (int(a.b), int(a.b), 10))
        rows.append({**r, "rlnImageName": str(img)})
    star_loop(out / "particles.star", "particles", rows)
    star_loop(out / "optimisation_set.star", "optimisation_set",
              [{"rlnTomoParticlesFile": str(out / "particles.star"), "rlnTomoTomogramsFile": opt["rlnTomoTomogramsFile"]}])


def relion_tomo_reconstruct_particle(argv):
    ap = parser("relion_tomo_reconstruct_particle")
    for a in ("--i", "--o", "--b", "--sym", "--j"):
        ap.add_argument(a, required=True)
    for a in ("--crop", "--bin", "--snr"):
        ap.add_argument(a)
    ap.add_argument("--whiten", action="store_true")
    ap.add_argument("--no_ctf", action="store_true")
    a = ap.parse_args(argv)
    need(_optimisation_set(a.i)["rlnTomoParticlesFile"], "particles")
    for name in ("merged.mrc", "half1.mrc", "half2.mrc"):
        mrc(Path(a.o) / name, (int(a.b),) * 3)


def relion_refine(argv):
    ap = parser("relion_refine")
    for a in ("--ios", "--ref", "--o", "--K", "--iter", "--tau2_fudge", "--healpix_order", "--offset_range",
              "--offset_step", "--sym", "--ini_high", "--j", "--pool", "--pad"):
        ap.add_argument(a, required=True)
    ap.add_argument("--particle_diameter")
    for f in ("--trust_ref_size", "--ctf", "--norm", "--scale", "--dont_combine_weights_via_disc", "--preread_images",
              "--zero_mask", "--flatten_solvent", "--firstiter_cc"):
        ap.add_argument(f, action="store_true")
    ap.add_argument("--gpu", nargs="?", const="")
    a = ap.parse_args(argv)
    opt = _optimisation_set(a.ios)
    need(a.ref, "--ref")
    for it in range(int(a.iter) + 1):
        star_loop(Path(f"{a.o}_it{it:03d}_optimisation_set.star"), "optimisation_set", [opt])
    for k in range(1, int(a.K) + 1):
        mrc(Path(f"{a.o}_it{int(a.iter):03d}_class{k:03d}.mrc"))


# --- cryoCARE, pytom --------------------------------------------------------------------------------

def _conf(prog, argv) -> dict:
    ap = parser(prog)
    ap.add_argument("--conf", required=True)
    return json.loads(need(ap.parse_args(argv).conf, "--conf").read_text())


def cryocare_extract(argv):
    c = _conf("cryoCARE_extract_train_data.py", argv)
    for f in c["even"] + c["odd"]:
        need(f, "half tomogram")
    Path(c["path"]).mkdir(parents=True, exist_ok=True)
    (Path(c["path"]) / "train_data.npz").write_bytes(b"fake patches")


def cryocare_train(argv):
    c = _conf("cryoCARE_train.py", argv)
    need(Path(c["train_data"]) / "train_data.npz", "training data")
    model = Path(c["path"]) / c["model_name"]
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps({"epochs": c["epochs"]}))
    (model / "weights_best.h5").write_bytes(b"fake weights")


def cryocare_predict(argv):
    c = _conf("cryoCARE_predict.py", argv)
    need(c["path"], "model")
    need(c["even"], "even half")
    need(c["odd"], "odd half")
    assert len(c["n_tiles"]) == 3
    mrc(Path(c["output"]) / os.path.basename(c["even"]))


def pytom_match(argv):
    ap = parser("pytom_match_template.py")
    for a in ("-t", "-d", "-m", "--voltage", "--spherical-aberration", "--amplitude-contrast", "--angular-search", "-v",
              "--tilt-angles", "--defocus", "--dose-accumulation", "--log"):
        ap.add_argument(a, required=True)
    ap.add_argument("-g", nargs="+", required=True)
    ap.add_argument("-s", nargs=3)
    for a in ("--z-axis-rotational-symmetry", "--low-pass", "--high-pass"):
        ap.add_argument(a)
    for f in ("--per-tilt-weighting", "--spectral-whitening", "--random-phase-correction", "--non-spherical-mask"):
        ap.add_argument(f, action="store_true")
    a = ap.parse_args(argv)
    for f in (a.t, a.m, a.v, a.tilt_angles, a.defocus, a.dose_accumulation):
        need(f)
    counts = {len(Path(f).read_text().split()) for f in (a.tilt_angles, a.defocus, a.dose_accumulation)}
    if len(counts) != 1:
        sys.exit("ERROR: tilt-angle, defocus and dose files differ in length")
    stem = Path(a.v).stem
    out = Path(a.d)
    mrc(out / f"{stem}_scores.mrc")
    mrc(out / f"{stem}_angles.mrc")
    (out / f"{stem}_job.json").write_text(json.dumps({"tomogram": a.v, "output_dir": str(out), "voxel_size": 10.0}))


def pytom_extract(argv):
    ap = parser("pytom_extract_candidates.py")
    for a in ("-j", "-n", "--particle-diameter", "--log"):
        ap.add_argument(a, required=True)
    cut = ap.add_mutually_exclusive_group(required=True)
    cut.add_argument("--number-of-false-positives")
    cut.add_argument("-c")
    ap.add_argument("--relion5-compat", action="store_true")
    ap.add_argument("--tophat-filter", action="store_true")
    a = ap.parse_args(argv)
    job = json.loads(need(a.j, "-j").read_text())
    need(Path(job["output_dir"]) / f"{Path(job['tomogram']).stem}_scores.mrc", "scores")
    if os.environ.get("FAKE_NO_PARTICLES"):
        return
    stem = Path(job["tomogram"]).stem
    rows = [{"rlnCenteredCoordinateXAngst": 10.0 * i, "rlnCenteredCoordinateYAngst": 5.0 * i, "rlnCenteredCoordinateZAngst": 0.0,
             "rlnAngleRot": 0.0, "rlnAngleTilt": 90.0, "rlnAnglePsi": 0.0, "rlnLCCmax": 0.5 - 0.01 * i,
             "rlnTomoName": f"{stem}_10.00Apx"} for i in range(min(int(a.n), 3))]
    star_loop(Path(job["output_dir"]) / f"{stem}_particles.star", "particles", rows)


TOOLS = {"relion_python_tomo_import": relion_tomo_import, "relion_tomo_subtomo": relion_tomo_subtomo,
         "relion_tomo_reconstruct_particle": relion_tomo_reconstruct_particle, "relion_refine": relion_refine,
         "cryoCARE_extract_train_data.py": cryocare_extract, "cryoCARE_train.py": cryocare_train,
         "cryoCARE_predict.py": cryocare_predict, "pytom_match_template.py": pytom_match,
         "pytom_extract_candidates.py": pytom_extract}


def main(tool: str, argv: list[str]) -> None:
    name = tool
    if tool == "WarpTools":
        if not argv or argv[0] not in WARP:
            sys.exit(f"ERROR: unknown WarpTools command {argv[:1]}")
        name, run, argv = argv[0], WARP[argv[0]], argv[1:]
    else:
        run = TOOLS[tool]
    if log := os.environ.get("FAKE_LOG"):
        with open(log, "a") as fh:
            fh.write(json.dumps({"name": name, "argv": [tool, *([name] if tool == "WarpTools" else []), *argv],
                                 "cwd": os.getcwd()}) + "\n")
    print(f"fake {tool} {name}: starting", flush=True)
    for pair in os.environ.get("FAKE_SLEEP", "").split(","):
        if pair.startswith(f"{name}="):
            time.sleep(float(pair.split("=", 1)[1]))
    if _switch("FAKE_KILL", name):
        os.kill(os.getpid(), signal.SIGKILL)
    if _switch("FAKE_HANG", name):
        while True:
            time.sleep(1)
    if _switch("FAKE_FAIL", name):
        print(f"ERROR: fake {name} failed as asked", flush=True)
        sys.exit(1)
    if _switch("FAKE_EMPTY", name):
        print(f"fake {name}: exiting 0 without outputs", flush=True)
        return
    run(argv)
    print(f"fake {tool} {name}: done", flush=True)
