"""A fake WarpTools held to warpem/warp v2.0.0dev36 (the facility container's version).

Every option below is transcribed from the real source, with its file and line; docs/tools.md is the
same table for people. Parsing follows CommandLineParser 2.9.1, the library WarpTools uses
(WarpTools/WarpTools.csproj:26): an unknown option, a missing required one or a value of the wrong
type prints the error after the tool's banner and returns normally, so WarpTools exits 0 having
written nothing (WarpLib/Tools/CommandLineParserHelper.cs:21-101). Switches take no value; a stray
value after one (`--deconv 0`) is ignored and the switch is on (CommandLineParser
src/CommandLine/Core/ValueMapper.cs:35-38). An exception while running is unhandled and exits 134.
Per-item failures are caught: the item's XML gets UnselectManual="True" and failed_items.json
lists it, and WarpTools still exits 0 (WarpTools/Commands/BaseCommand.cs, IterateOverItems).
Motion correction averages the frames, the alignment reports what it was given (see aretomo.py), and
ts_reconstruct backprojects in Warp's geometry; CTF fits are stand-ins. The files, their names,
formats and places are the real ones.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import mrc
import numpy as np

BANNER = "WarpTools - a collection of tools for EM data pre-processing\nVersion 2.0.0\n"


class Unhandled(Exception):
    """An exception WarpTools does not catch: .NET prints it and the process aborts."""


@dataclass(frozen=True)
class Opt:
    name: str
    kind: str  # str | int | float | bool | ints | strs
    line: str  # where the real option is declared
    required: bool = False
    default: object = None
    short: str | None = None


def _opts(src: str, *specs: tuple) -> list[Opt]:
    return [Opt(name, kind, f"{src}:{line}", **extra) for name, kind, line, *rest in specs for extra in [rest[0] if rest else {}]]


BASE = _opts("WarpTools/Commands/BaseOptions.cs",
             ("settings", "str", 16, {"required": True}), ("input_data", "strs", 20), ("input_data_recursive", "bool", 23),
             ("input_processing", "str", 26), ("output_processing", "str", 29), ("input_norawdata", "bool", 32),
             ("strict", "bool", 35))
DISTRIBUTED = BASE + _opts("WarpTools/Commands/DistributedOptions.cs",
                           ("device_list", "ints", 15), ("perdevice", "int", 18, {"default": 1}), ("workers", "strs", 22))

VERBS: dict[str, list[Opt]] = {
    "create_settings": _opts(
        "WarpTools/Commands/CreateSettings.cs",
        ("output", "str", 22, {"required": True, "short": "o"}), ("folder_processing", "str", 25),
        ("folder_data", "str", 28, {"required": True}), ("recursive", "bool", 31), ("extension", "str", 34),
        ("angpix", "str", 39, {"required": True}), ("bin", "float", 43), ("bin_angpix", "float", 46),
        ("gain_path", "str", 50), ("defects_path", "str", 53), ("gain_flip_x", "bool", 56), ("gain_flip_y", "bool", 59),
        ("gain_transpose", "bool", 62), ("exposure", "float", 66, {"default": 1.0}), ("eer_ngroups", "int", 69, {"default": 40}),
        ("eer_groupexposure", "float", 72), ("tomo_dimensions", "str", 75)),
    "fs_motion_and_ctf": DISTRIBUTED + _opts(
        "WarpTools/Commands/Frameseries/MotionCTFFrameseries.cs",
        ("m_range_min", "float", 18, {"default": 500.0}), ("m_range_max", "float", 21, {"default": 10.0}),
        ("m_bfac", "float", 24, {"default": -500.0}), ("m_grid", "str", 27), ("c_window", "int", 34, {"default": 512}),
        ("c_range_min", "float", 37, {"default": 30.0}), ("c_range_max", "float", 40, {"default": 4.0}),
        ("c_defocus_min", "float", 43, {"default": 0.5}), ("c_defocus_max", "float", 46, {"default": 5.0}),
        ("c_voltage", "int", 50, {"default": 300}), ("c_cs", "float", 53, {"default": 2.7}),
        ("c_amplitude", "float", 56, {"default": 0.07}), ("c_fit_phase", "bool", 59), ("c_use_sum", "bool", 63),
        ("c_grid", "str", 68), ("out_averages", "bool", 75), ("out_average_halves", "bool", 78),
        ("out_thumbnails", "int", 81), ("out_skip_first", "int", 84, {"default": 0}), ("out_skip_last", "int", 87, {"default": 0})),
    "ts_import": _opts(
        "WarpTools/Commands/Tiltseries/ImportTiltseries.cs",
        ("mdocs", "str", 21, {"required": True}), ("pattern", "str", 24, {"default": "*.mdoc"}),
        ("exclude_pattern", "str", 27, {"default": ""}), ("frameseries", "str", 30, {"required": True}),
        ("tilt_exposure", "float", 33, {"required": True}), ("dont_invert", "bool", 36), ("override_axis", "float", 39),
        ("auto_zero", "bool", 42), ("tilt_offset", "float", 45), ("max_tilt", "int", 48, {"default": 90}),
        ("min_intensity", "float", 51, {"default": 0.0}), ("max_mask", "float", 54, {"default": 1.0}),
        ("min_ntilts", "int", 57, {"default": 1}), ("output", "str", 60, {"required": True, "short": "o"}), ("strict", "bool", 63)),
    "ts_aretomo": DISTRIBUTED + _opts(
        "WarpTools/Commands/Tiltseries/AreTomoTiltseries.cs",
        ("angpix", "float", 18), ("mask", "bool", 21), ("alignz", "int", 24, {"required": True}),
        ("axis_iter", "int", 27, {"default": 0}), ("axis_batch", "int", 30, {"default": 0}), ("min_fov", "float", 33, {"default": 0.0}),
        ("axis", "float", 36), ("patches", "str", 39), ("delete_intermediate", "bool", 42), ("thumbnails", "bool", 45),
        ("exe", "str", 48, {"default": "AreTomo2"})),
    "ts_etomo_patches": DISTRIBUTED + _opts(
        "WarpTools/Commands/Tiltseries/EtomoPatchTrackTiltseries.cs",
        ("angpix", "float", 18), ("mask", "bool", 22), ("min_fov", "float", 25, {"default": 0.0}), ("initial_axis", "float", 29),
        ("do_axis_search", "bool", 32), ("patch_size", "float", 35, {"default": 500.0}), ("delete_intermediate", "bool", 38),
        ("thumbnails", "bool", 41)),
    "ts_defocus_hand": BASE + _opts(
        "WarpTools/Commands/Tiltseries/DefocusHandTiltseries.cs",
        ("check", "bool", 19), ("set_auto", "bool", 22), ("set_flip", "bool", 25), ("set_noflip", "bool", 28),
        ("set_switch", "bool", 31)),
    "ts_ctf": DISTRIBUTED + _opts(
        "WarpTools/Commands/Tiltseries/CTFTiltseries.cs",
        ("window", "int", 18, {"default": 512}), ("range_low", "float", 21, {"default": 30.0}),
        ("range_high", "float", 24, {"default": 4.0}), ("defocus_min", "float", 27, {"default": 0.5}),
        ("defocus_max", "float", 30, {"default": 5.0}), ("voltage", "int", 34, {"default": 300}), ("cs", "float", 37, {"default": 2.7}),
        ("amplitude", "float", 40, {"default": 0.07}), ("fit_phase", "bool", 43), ("auto_hand", "int", 47)),
    "ts_reconstruct": DISTRIBUTED + _opts(
        "WarpTools/Commands/Tiltseries/ReconstructTiltseries.cs",
        ("angpix", "float", 18, {"required": True}), ("halfmap_frames", "bool", 21), ("halfmap_tilts", "bool", 24),
        ("deconv", "bool", 27), ("deconv_strength", "float", 30, {"default": 1.0}), ("deconv_falloff", "float", 33, {"default": 1.0}),
        ("deconv_highpass", "float", 36, {"default": 300.0}), ("keep_full_voxels", "bool", 39), ("dont_invert", "bool", 42),
        ("dont_normalize", "bool", 45), ("dont_mask", "bool", 48), ("dont_overwrite", "bool", 51),
        ("subvolume_size", "int", 54, {"default": 64}), ("subvolume_padding", "int", 57, {"default": 3})),
}


# --- CommandLineParser 2.9.1 ------------------------------------------------------------------------

def _convert(opt: Opt, text: str) -> object:
    if opt.kind in ("int", "ints"):
        return int(text)  # "12.0" is a bad format for an int, as in .NET
    if opt.kind == "float":
        return float(text)
    return text


def parse(verb: str, argv: list[str]) -> dict | None:
    """The parsed options, or None after printing the errors the way WarpTools does."""
    specs = VERBS[verb]
    values, errors = _read_options(specs, argv)
    errors += [f"Required option '{o.name}' is missing." for o in specs if o.required and o.name not in values]
    if errors:
        _print_parse_errors(verb, specs, errors)
        return None
    return {o.name: values.get(o.name, False if o.kind == "bool" else o.default) for o in specs}


def _read_options(specs: list[Opt], argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """The values given and the errors met, in command-line order: the parser reports them all at once."""
    by_name = {o.name: o for o in specs} | {o.short: o for o in specs if o.short}
    values: dict[str, object] = {}
    errors: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("-") or token == "-":
            continue  # a value no option takes: ignored (no [Value] properties)
        name, _, inline = token.lstrip("-").partition("=")
        opt = by_name.get(name)
        if opt is None:
            errors.append(f"Option '{name}' is unknown.")
            continue
        if opt.name in values:
            errors.append(f"Option '{opt.name}' is defined multiple times.")
        i = _read_value(opt, inline, argv, i, values, errors)
    return values, errors


def _read_value(opt: Opt, inline: str, argv: list[str], i: int, values: dict[str, object], errors: list[str]) -> int:
    """Sets opt's value from `--name=inline` or the tokens from argv[i]; the index of the next token."""
    if opt.kind == "bool":
        values[opt.name] = True  # a switch takes no value: what follows it is left for the loop to ignore
        return i
    raw, i = _value_tokens(opt, inline, argv, i)
    if not raw:
        errors.append(f"Option '{opt.name}' has no value.")
        return i
    try:
        converted = [_convert(opt, r) for r in raw]
    except ValueError:
        errors.append(f"Option '{opt.name}' is defined with a bad format.")
        return i
    values[opt.name] = converted if opt.kind in ("ints", "strs") else converted[0]
    return i


def _value_tokens(opt: Opt, inline: str, argv: list[str], i: int) -> tuple[list[str], int]:
    """The texts of opt's value: one for a scalar, every token up to the next option for a list."""
    raw = [inline] if inline else []
    while i < len(argv) and _is_value(argv[i]) and (opt.kind in ("ints", "strs") or not raw):
        raw.append(argv[i])
        i += 1
    return raw, i


def _is_value(token: str) -> bool:
    # a negative number is a value, not an option
    return not token.startswith("-") or _is_number(token)


def _print_parse_errors(verb: str, specs: list[Opt], errors: list[str]) -> None:
    print(BANNER)
    print("\n".join(errors) + "\n")
    print(f"Showing all available options for command {verb}:\n")
    for o in specs:
        print(f"  --{o.name}")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# --- settings (WarpLib/OptionsWarp.cs:171-201, Param nodes: WarpLib/WarpBase.cs:25-60) ----------------

def _params(parent: ET.Element, values: dict[str, object]) -> None:
    for k, v in values.items():
        ET.SubElement(parent, "Param", Name=k, Value=str(v))


def save_settings(path: Path, imp: dict[str, object], tomo: dict[str, object]) -> None:
    root = ET.Element("Settings")
    _params(ET.SubElement(root, "Import"), imp)
    for section in ("CTF", "Movement", "Grids"):
        ET.SubElement(root, section)
    _params(ET.SubElement(root, "Tomo"), tomo)
    ET.indent(root, "\t")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def load_settings(path: str) -> dict[str, str]:
    root = ET.parse(path).getroot()
    out = {}
    for section in ("Import", "Tomo"):
        node = root.find(section)
        out.update({p.get("Name"): p.get("Value") for p in (node if node is not None else [])})
    return out


def create_settings(o: dict) -> None:
    try:
        pixel = float(o["angpix"])
    except ValueError:
        raise Unhandled(f"No files found matching {o['angpix']}") from None  # the real one reads it from a file then
    if pixel <= 0:
        raise Unhandled(f"Pixel size ({pixel}) must be a positive number")
    if o["gain_path"]:
        full = os.path.join(os.getcwd(), os.path.dirname(o["output"]), o["gain_path"])  # CreateSettings.cs:167
        if not os.path.isfile(full):
            print(f"WARNING: No gain reference found at {full}")
    dims = {}
    if o["tomo_dimensions"]:
        parts = o["tomo_dimensions"].lower().split("x")
        if len(parts) != 3:
            raise Unhandled(f"Invalid number of dimensions specified: {len(parts)}, expected 3")
        dims = dict(zip(("DimensionsX", "DimensionsY", "DimensionsZ"), (int(p) for p in parts)))
    save_settings(Path(o["output"]), {
        "DataFolder": o["folder_data"], "ProcessingFolder": o["folder_processing"] or "", "Extension": o["extension"] or "*.mrc",
        "PixelSize": pixel, "GainPath": o["gain_path"] or "", "GainFlipX": o["gain_flip_x"], "GainFlipY": o["gain_flip_y"],
        "GainTranspose": o["gain_transpose"], "CorrectGain": bool(o["gain_path"]),
        "DosePerAngstromFrame": -o["exposure"], "EERGroupFrames": -o["eer_ngroups"],
    }, dims)
    print(f"Settings saved to {os.path.join(os.getcwd(), o['output'])}")


# --- items, as BaseOptions.Evaluate finds them (WarpTools/Commands/BaseOptions.cs:44-218) ---------

@dataclass
class Run:
    settings: dict[str, str]
    settings_dir: str
    inputs: list[str]  # data files, sorted
    input_processing: str
    output_processing: str
    failed: list[str] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)


def evaluate(o: dict) -> Run:
    s = load_settings(o["settings"])
    sdir = os.path.join(os.getcwd(), os.path.dirname(o["settings"]))
    data_dir = os.path.join(sdir, s["DataFolder"])
    proc = s.get("ProcessingFolder") or s["DataFolder"]
    inp = os.path.join(os.getcwd(), o["input_processing"]) if o["input_processing"] else os.path.join(sdir, proc)
    out_arg = o["output_processing"] or o["input_processing"]
    out = os.path.join(os.getcwd(), out_arg) if out_arg else os.path.join(sdir, proc)
    if o["input_data"]:
        files = _input_data(o["input_data"], o["input_data_recursive"])
    else:
        pattern = s.get("Extension") or "*"
        files = sorted(str(p) for p in Path(data_dir).glob(pattern) if not p.name.startswith("."))
    names = [os.path.basename(f) for f in files]
    if len(set(names)) != len(names):  # BaseOptions.cs:142-145
        raise Unhandled("Duplicate file names found in input data list!")
    for f in files:
        if not os.path.isfile(f):  # BaseOptions.cs:173-174
            raise Unhandled(f"File not found: {f}")
    print(f"{len(files)} files found")
    return Run(s, sdir, files, inp, out)


def _input_data(patterns: list[str], recursive: bool) -> list[str]:
    """--input_data (BaseOptions.cs:106-140): a .txt is read line by line, the paths taken as they are
    (relative to the working directory); a pattern with * or ? is searched in its directory, relative
    to the working directory; anything else is a file relative to it. Sorted, as the tool orders them."""
    out: list[str] = []
    for pattern in patterns:
        if pattern.lower().endswith(".txt"):
            out += Path(pattern).read_text().splitlines()
        elif "*" in pattern or "?" in pattern:
            head, tail = os.path.split(pattern)
            root = Path(os.getcwd(), head)
            out += [str(p) for p in (root.rglob(tail) if recursive else root.glob(tail)) if p.is_file()]
        else:
            out.append(os.path.join(os.getcwd(), pattern))
    return sorted(out)


# FAKE_SECONDS_PER_ITEM (fake.py): (seconds one item takes, workers at once) for this call; set by main
PACE = (0.0, 1)


def pace(verb: str, o: dict) -> tuple[float, int]:
    """This verb's seconds per item from FAKE_SECONDS_PER_ITEM, and WarpTools' workers: one per device
    and --perdevice, the devices --device_list or every visible one (DistributedOptions.cs:41-63), here
    the entries of CUDA_VISIBLE_DEVICES, or one where it is unset (the fake has no GPU to count)."""
    seconds = next((float(p.split("=", 1)[1]) for p in os.environ.get("FAKE_SECONDS_PER_ITEM", "").split(",")
                    if p.startswith(f"{verb}=")), 0.0)
    if "perdevice" not in o:
        return seconds, 1
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
    return seconds, max(1, len(o["device_list"] or visible or [0]) * o["perdevice"])


def iterate(run: Run, body) -> None:
    """IterateOverItems: a failing item is marked and listed, the others go on, and the tool exits 0.
    Items take PACE's time in waves, as many at once as there are workers."""
    os.makedirs(run.output_processing, exist_ok=True)
    seconds, workers = PACE
    for i, path in enumerate(run.inputs):
        if seconds and i % workers == 0:
            time.sleep(seconds)
        name = Path(path).stem
        try:
            body(path)
            run.processed.append(name)
        except Exception as exc:  # noqa: BLE001 (the real tool catches everything here)
            run.failed.append(name)
            xml = Path(run.output_processing) / f"{name}.xml"  # saved before the body ran, so always there
            root = ET.parse(xml).getroot() if xml.exists() else \
                ET.Element("TiltSeries" if path.endswith(".tomostar") else "Movie")
            root.set("UnselectManual", "True")
            ET.ElementTree(root).write(xml, encoding="utf-8", xml_declaration=True)
            print(f"Failed to process {path}, marked as unselected\nException details:\n{exc}\n", file=sys.stderr)
    for fname, items in (("processed_items.json", run.processed), ("failed_items.json", run.failed)):
        if items or fname == "processed_items.json":
            Path(run.output_processing, fname).write_text(json.dumps([{"Path": f"{n}.xml"} for n in items]))


# --- frame series (WarpLib/Movie/Movie.cs:66-136 folder names, 1074-1130 XML) --------------------------

def fs_motion_and_ctf(o: dict) -> None:
    run = evaluate(o)
    proc = Path(run.output_processing)
    gain = _gain(run.settings)

    def one(movie_path: str) -> None:
        frames, _ = _read_movie(movie_path)
        if gain is not None and gain.shape != frames.shape[1:]:
            raise Exception(f"Gain reference dimensions {gain.shape} do not match the movie {frames.shape[1:]}")
        frames = frames[o["out_skip_first"]:frames.shape[0] - o["out_skip_last"]]
        name = Path(movie_path).stem
        pixel = float(run.settings["PixelSize"])
        if o["out_averages"]:
            mrc.write(proc / "average" / f"{name}.mrc", frames.mean(axis=0), pixel)
            if o["out_average_halves"]:
                mrc.write(proc / "average" / "even" / f"{name}.mrc", frames[0::2].mean(axis=0), pixel)
                mrc.write(proc / "average" / "odd" / f"{name}.mrc", frames[1::2].mean(axis=0) if len(frames) > 1 else frames[0], pixel)
        spectrum = np.abs(np.fft.fftshift(np.fft.fft2(frames.mean(axis=0)))).astype(np.float32)
        mrc.write(proc / "powerspectrum" / f"{name}.mrc", spectrum, pixel)
        # a stand-in fit inside the requested range; Warp's DefocusDelta is U - V (CTF.cs:471)
        rng = np.random.default_rng(mrc.seed(name))
        defocus = o["c_defocus_min"] + (o["c_defocus_max"] - o["c_defocus_min"]) * rng.uniform(0.2, 0.8)
        # the fit's resolution (Movie.ProcessCTF.cs:794) and the mean frame movement: stand-ins, worse at high tilt
        # when the movie's name carries its angle (the test data's TS_01_039_-60.0.eer)
        angle = abs(float(name.rsplit("_", 1)[-1])) if _is_number(name.rsplit("_", 1)[-1]) else 0.0
        quality = {"CTFResolutionEstimate": round(4.5 + angle / 6 + rng.uniform(0, 1), 1), "MeanFrameMovement": round(rng.uniform(0.5, 3), 3)}
        _save_movie_xml(proc / f"{name}.xml", {"Defocus": round(defocus, 4), "DefocusDelta": 0.1, "DefocusAngle": 30.0,
                                               "Voltage": o["c_voltage"], "Cs": o["c_cs"], "Amplitude": o["c_amplitude"],
                                               "PixelSize": run.settings["PixelSize"]}, quality)

    iterate(run, one)


def _read_movie(path: str) -> tuple[np.ndarray, float]:
    try:
        data, voxel = mrc.read(Path(path))
    except ValueError as exc:
        raise Exception(f"Could not read {path}: {exc}") from None
    return (data if data.ndim == 3 else data[None]), voxel


def _gain(settings: dict[str, str]) -> np.ndarray | None:
    """Loaded by the workers from the path as stored (DistributedOptions.cs:85): relative paths meet the cwd."""
    path = settings.get("GainPath") or ""
    if not path:
        return None
    if not os.path.isfile(path):
        raise Unhandled(f"Could not find gain reference {path}")
    gain, _ = mrc.read(Path(path))
    if settings.get("GainFlipX") == "True":
        gain = gain[:, ::-1]
    if settings.get("GainFlipY") == "True":
        gain = gain[::-1, :]
    if settings.get("GainTranspose") == "True":
        gain = gain.T
    return gain


def _save_movie_xml(path: Path, ctf: dict[str, object], quality: dict[str, float]) -> None:
    # root attributes as Movie.SaveMeta writes them (Movie.cs:1076-1083)
    root = ET.Element("Movie", DataDirectory="", UnselectFilter="False", UnselectManual="null",
                      **{k: str(v) for k, v in quality.items()}, MaskPercentage="-1")
    _params(ET.SubElement(root, "OptionsCTF"), {"Voltage": ctf.pop("Voltage"), "Cs": ctf.pop("Cs"),
                                                "Amplitude": ctf.pop("Amplitude"), "PixelSize": ctf["PixelSize"]})
    _params(ET.SubElement(root, "CTF"), ctf)
    grid = ET.SubElement(root, "GridCTF", Width="1", Height="1", Depth="1", MarginX="0", MarginY="0", MarginZ="0")
    ET.SubElement(grid, "Node", X="0", Y="0", Z="0", Value=str(ctf["Defocus"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# --- ts_import (WarpTools/Commands/Tiltseries/ImportTiltseries.cs:69-480) ---------------------------

def _mdoc_entries(path: str) -> list[dict]:
    entries, lines, i = [], Path(path).read_text(errors="replace").splitlines(), 0
    while i < len(lines):
        if len(lines[i]) < 7 or lines[i][1:7] != "ZValue":  # :201
            i += 1
            continue
        entry, i = _mdoc_section(lines, i)
        if "time" not in entry:
            raise Exception(f"No time stamp found: {entry.get('name')}")
        if any(e["z"] == entry["z"] for e in entries):
            raise Exception(f"Duplicate ZValue in MDOC file: {entry['z']}")
        entries.append(entry)
    return entries


def _mdoc_section(lines: list[str], i: int) -> tuple[dict, int]:
    """The tilt of the [ZValue = n] section at lines[i], and the index of the line that ends it."""
    entry = {"z": int(lines[i].split(" = ")[1].replace("]", ""))}
    i += 1
    while i < len(lines):
        parts = [p for p in lines[i].split(" = ") if p]
        if len(parts) < 2:  # :215 a line without " = " ends the section
            break
        _read_mdoc_field(entry, parts[0], parts[1])
        i += 1
    return entry, i


def _read_mdoc_field(entry: dict, key: str, value: str) -> None:
    # the fake needs only these three keys; any other is skipped
    if key == "TiltAngle":
        entry["angle"] = round(float(value), 2)
    elif key == "SubFramePath":
        entry["name"] = value[max(value.rfind("/"), value.rfind("\\")) + 1:]  # a Windows path on the scope's PC
    elif key == "DateTime":
        entry["time"] = _mdoc_time(value)


def _mdoc_time(value: str) -> datetime:
    stamp = " ".join(value.split())
    for fmt in ("%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S"):
        try:
            return datetime.strptime(stamp, fmt)
        except ValueError:
            continue
    raise Exception(f"Incorrect time stamp: {value}")


def ts_import(o: dict) -> None:
    mdoc_dir, frames, output = (os.path.join(os.getcwd(), o[k]) for k in ("mdocs", "frameseries", "output"))
    if not os.path.isdir(mdoc_dir):
        raise Unhandled(f"MDOC folder does not exist: {mdoc_dir}")
    if not os.path.isdir(frames):
        raise Unhandled(f"Frame series folder does not exist: {frames}")
    if o["tilt_exposure"] <= 0:
        raise Unhandled("--tilt_exposure must be higher than 0")
    if o["min_intensity"] < 0:
        raise Unhandled("--min_intensity must be positive or 0")
    mdocs = sorted(str(p) for p in Path(mdoc_dir).glob(o["pattern"]))
    if o["exclude_pattern"]:
        mdocs = [m for m in mdocs if o["exclude_pattern"].lower() not in m.lower()]
    movies = {p.stem for p in Path(frames).glob("*.xml")}
    if not movies:
        raise Unhandled(f"No frame series metadata found at {frames}")
    os.makedirs(output, exist_ok=True)
    done, failed = [], []
    for mdoc in mdocs:
        target = Path(output) / (Path(mdoc.replace(".mrc.mdoc", ".mdoc")).stem + ".tomostar")
        try:
            _import_one(o, mdoc, frames, movies, target)
            done.append(target.name)
        except Exception as exc:  # noqa: BLE001 (:448 catches per mdoc)
            failed.append(target.name)
            print(f"Failed to parse {Path(mdoc).name}: {exc}", file=sys.stderr)
    Path(output, "processed_items.json").write_text(json.dumps(done))
    if failed:
        Path(output, "failed_items.json").write_text(json.dumps(failed))
    print(f"Successfully parsed {len(mdocs)} MDOC files, {len(failed)} failed")


def _import_one(o: dict, mdoc: str, frames: str, movies: set[str], target: Path) -> None:
    entries = _mdoc_entries(mdoc)
    _require_averages(entries, frames, movies)
    for i, e in enumerate(sorted(entries, key=lambda e: e["time"])):  # :279 dose by acquisition order
        e["dose"] = i * o["tilt_exposure"]
    by_angle = sorted(entries, key=lambda e: e["angle"])
    by_angle = [e for e in by_angle if abs(e["angle"]) <= o["max_tilt"] + 0.05]  # :295
    if not by_angle:
        raise Exception("No images left after removing tilts based on selection status, max tilt angle and masked fraction criteria")
    _measure_intensities(by_angle, frames)
    kept = _bright_run_around_zero(by_angle, o["min_intensity"])
    if len(kept) < o["min_ntilts"]:
        raise Exception(f"Too few tilts remain: {len(kept)}")
    write_warp_star(target, ["wrpMovieName", "wrpAngleTilt", "wrpAxisAngle", "wrpDose", "wrpAverageIntensity", "wrpMaskedFraction"],
                    _tomostar_rows(o, kept, frames, target))


def _require_averages(entries: list[dict], frames: str, movies: set[str]) -> None:
    # every tilt must have gone through fs_motion_and_ctf: its XML and its aligned average
    for e in entries:
        stem = Path(e["name"]).stem
        if stem not in movies:
            raise Exception(f"At least one of the referenced frame series could not be found: {e['name']}")
        if not (Path(frames) / "average" / f"{stem}.mrc").is_file():
            raise Exception(f"At least one of the referenced frame series does not have an aligned average result: {e['name']}")


def _measure_intensities(by_angle: list[dict], frames: str) -> None:
    for e in by_angle:  # :315-323 median of every 10th pixel of the average
        data, _ = mrc.read(Path(frames) / "average" / f"{Path(e['name']).stem}.mrc")
        e["intensity"] = float(np.median(data.ravel()[::10][: data.size // 10]))


def _bright_run_around_zero(by_angle: list[dict], min_intensity: float) -> list[dict]:
    """The unbroken run of tilts bright enough for their angle, around the brightest of the ten lowest."""
    by_abs = sorted(by_angle, key=lambda e: abs(e["angle"]))
    best = max(e["intensity"] for e in by_abs[:10])
    zero = by_angle.index(next(e for e in by_abs if e["intensity"] == best))
    passed = [e["intensity"] >= min_intensity * math.cos(math.radians(e["angle"])) * best * 0.999 for e in by_angle]
    lo = zero
    while lo - 1 >= 0 and passed[lo - 1]:
        lo -= 1
    hi = zero
    while hi + 1 < len(by_angle) and passed[hi + 1]:
        hi += 1
    return by_angle[lo:hi + 1]  # :356 everything beyond the first failing tilt on either side goes


def _tomostar_rows(o: dict, kept: list[dict], frames: str, target: Path) -> list[list[str]]:
    axis = o["override_axis"] if o["override_axis"] is not None else 0.0
    rows = []
    for e in kept:  # :407-434
        movie = os.path.join(frames, e["name"])
        rows.append([os.path.relpath(movie, target.parent), f"{e['angle'] * (1 if o['dont_invert'] else -1):.2f}",
                     f"{axis:.3f}", f"{e['dose']:g}", f"{e['intensity']:.3f}", "0.000"])
    return rows


def write_warp_star(path: Path, columns: list[str], rows: list[list[str]]) -> None:
    """Warp's Star.Save (WarpLib/Star.cs:374-420): an unnamed data_ block, two-space padded columns."""
    widths = [max([0] + [len(r[i]) for r in rows]) for i in range(len(columns))]
    text = "\ndata_\n\nloop_\n" + "".join(f"_{c} #{i + 1}\n" for i, c in enumerate(columns))
    text += "".join("".join(" " * (2 + w - len(v)) + v for v, w in zip(r, widths)) + "\n" for r in rows)
    path.write_text(text)


def read_warp_star(path: Path) -> list[dict[str, str]]:
    cols, rows = [], []
    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("_"):
            cols.append(s[1:].split()[0])
        elif s and cols and not s.startswith(("data_", "loop_")):
            rows.append(dict(zip(cols, s.split())))
    return rows


# --- tilt series (WarpLib/TiltSeries/TiltSeries.cs: folders 34-69, XML 2125-2320, load 1880-1960) -----

@dataclass
class TiltSeries:
    name: str
    movies: list[str]  # wrpMovieName, relative to the .tomostar's folder
    angles: list[float]
    axis: list[float]
    dose: list[float]
    data_dir: str
    use: list[bool] = field(default_factory=list)
    offset_x: list[float] = field(default_factory=list)
    offset_y: list[float] = field(default_factory=list)
    inverted: bool = False
    unselected: bool = False
    ctf_resolution: float = 0.0  # CTFResolutionEstimate (TiltSeries.cs:2153), set by ts_ctf
    grids: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def load(cls, tomostar: str, processing: str) -> TiltSeries:
        rows = read_warp_star(Path(tomostar))
        n = len(rows)
        ts = cls(Path(tomostar).stem, [r["wrpMovieName"] for r in rows], [float(r["wrpAngleTilt"]) for r in rows],
                 [float(r["wrpAxisAngle"]) for r in rows], [float(r["wrpDose"]) for r in rows], os.path.dirname(tomostar),
                 [True] * n, [0.0] * n, [0.0] * n)
        xml = Path(processing) / f"{ts.name}.xml"
        if xml.is_file():
            ts._load_xml(xml)
        return ts

    def _load_xml(self, xml: Path) -> None:
        root = ET.parse(xml).getroot()
        self.inverted = root.get("AreAnglesInverted") == "True"
        self.unselected = root.get("UnselectManual") == "True"
        self.ctf_resolution = float(root.get("CTFResolutionEstimate", "0"))

        def lines(tag, conv):
            node = root.find(tag)
            return [conv(v) for v in node.text.split("\n")] if node is not None and node.text else None

        self.angles = lines("Angles", float) or self.angles
        self.use = lines("UseTilt", lambda v: v == "True") or self.use  # TiltSeries.cs:1924-1926
        self.axis = lines("AxisAngle", float) or self.axis
        self.offset_x = lines("AxisOffsetX", float) or self.offset_x
        self.offset_y = lines("AxisOffsetY", float) or self.offset_y
        self.movies = lines("MoviePath", str) or self.movies  # :1956-1958, one text node joined by \n
        for tag in ("GridCTF", "GridCTFDefocusDelta", "GridCTFDefocusAngle"):
            node = root.find(tag)
            if node is not None and len(node):
                self.grids[tag] = [float(n.get("Value")) for n in sorted(node.iter("Node"), key=lambda n: int(n.get("Z")))]

    def average(self, t: int) -> Path:
        """The tilt's aligned average: average/<name>.mrc beside its frame-series XML (Movie.cs:130)."""
        movie = Path(self.data_dir) / self.movies[t]
        return movie.parent / "average" / f"{movie.stem}.mrc"

    def save(self, processing: str) -> None:
        """TiltSeries.SaveMeta (TiltSeries.cs:2124-2323): per-tilt values as newline-joined text nodes."""
        root = ET.Element("TiltSeries", DataDirectory=self.data_dir, AreAnglesInverted=str(self.inverted),
                          UnselectManual=str(self.unselected), CTFResolutionEstimate=f"{self.ctf_resolution:g}")
        for tag, values in (("Angles", self.angles), ("Dose", self.dose), ("UseTilt", self.use), ("AxisAngle", self.axis),
                            ("AxisOffsetX", self.offset_x), ("AxisOffsetY", self.offset_y), ("MoviePath", self.movies)):
            ET.SubElement(root, tag).text = "\n".join(str(v) for v in values)
        ET.SubElement(root, "CTF")
        for tag in ("GridCTF", "GridCTFDefocusDelta", "GridCTFDefocusAngle"):
            values = self.grids.get(tag, [])
            grid = ET.SubElement(root, tag, Width="1", Height="1", Depth=str(max(1, len(values))), MarginX="0", MarginY="0", MarginZ="0")
            for z, v in enumerate(values):  # CubicGrid.Save (WarpLib/CubicGrid.cs:392-413)
                ET.SubElement(grid, "Node", X="0", Y="0", Z=str(z), Value=f"{v:.6g}")
        os.makedirs(processing, exist_ok=True)
        ET.ElementTree(root).write(Path(processing) / f"{self.name}.xml", encoding="utf-8", xml_declaration=True)


def _series(run: Run, path: str) -> TiltSeries:
    ts = TiltSeries.load(path, run.input_processing)
    for t in range(len(ts.movies)):
        if not ts.average(t).is_file():
            raise Exception(f"File not found: {ts.average(t)}")
    return ts


def _stack(run: Run, ts: TiltSeries, angpix: float) -> Path:
    """TiltSeries.StackTilts (TiltSeries.StackTilts.cs:12-41): tiltstack/<ts>/<ts>.st and .rawtlt of the used tilts."""
    d = Path(run.output_processing) / "tiltstack" / ts.name
    d.mkdir(parents=True, exist_ok=True)
    step = max(1, int(round(angpix / float(run.settings["PixelSize"]))))
    used = [t for t in range(len(ts.movies)) if ts.use[t]]
    mrc.write(d / f"{ts.name}.st", np.stack([mrc.read(ts.average(t))[0][::step, ::step] for t in used]), angpix)
    (d / f"{ts.name}.rawtlt").write_text("".join(f"{ts.angles[t]:.2f}\n" for t in used))
    return d


def ts_aretomo(o: dict) -> None:
    run = evaluate(o)
    pixel = float(run.settings["PixelSize"])
    angpix = o["angpix"] if o["angpix"] is not None else pixel
    if angpix < pixel:
        raise Unhandled("--angpix can't be smaller than the binned pixel size of the original data")
    if o["alignz"] < 1:
        raise Unhandled("--alignz can't be lower than 1")
    if shutil.which(o["exe"]) is None:  # AreTomoTiltseries.cs:83
        raise Unhandled(f"Executable '{o['exe']}' not found on PATH")
    patches = (o["patches"] or "0x0").split("x")

    def one(path: str, axis: float, search: bool) -> None:
        ts = _series(run, path)
        d = _stack(run, ts, angpix)
        # WarpWorker/WarpWorker.cs:473, run in the stack folder; its exit code is not looked at
        args = (f"-InMrc {ts.name}.st -AngFile {ts.name}.rawtlt -VolZ 0 -OutBin 0 -TiltAxis {axis:g} {0 if search else -1} "
                f"-AlignZ {round(o['alignz'] / angpix)} -TiltCor 1 -OutImod 1 -DarkTol 0 -OutMrc {ts.name}_aligned.mrc "
                f"-Gpu 0 -Patch {patches[0]} {patches[1]}")
        subprocess.run([o["exe"], *args.split()], cwd=d, check=False)
        _import_alignments(ts, d, angpix, [d / f"{ts.name}_Imod" / f"{ts.name}_st.xf"], [d / f"{ts.name}_Imod" / f"{ts.name}_st.tlt"])
        ts.save(run.output_processing)

    # AreTomoTiltseries.cs:142-186: axis_iter rounds searching the axis on axis_batch series, then all with it fixed
    everything = run.inputs
    axis = o["axis"] if o["axis"] is not None else _mean_axis(run, everything)
    for i in range(o["axis_iter"] + 1):
        last = i == o["axis_iter"]
        run.inputs = everything if last or not o["axis_batch"] else everything[:o["axis_batch"]]
        iterate(run, lambda path, axis=axis, last=last: one(path, axis, search=not last))
        axis = _mean_axis(run, everything)


def _mean_axis(run: Run, paths: list[str]) -> float:
    """The mean over series of each series' mean axis angle (CalculateAverageAxis, AreTomoTiltseries.cs:123-140)."""
    axes = []
    for path in paths:
        ts = TiltSeries.load(path, run.output_processing if Path(run.output_processing, Path(path).stem + ".xml").is_file()
                             else run.input_processing)
        axes.append(sum(ts.axis) / len(ts.axis))
    return sum(axes) / len(axes)


def ts_etomo_patches(o: dict) -> None:
    run = evaluate(o)
    angpix = o["angpix"] if o["angpix"] is not None else float(run.settings["PixelSize"])

    def one(path: str) -> None:
        ts = _series(run, path)
        d = _stack(run, ts, angpix)
        # batchruntomo -RootName <ts> in the stack folder (WarpWorker/WarpWorker.cs:591) leaves <ts>.xf and <ts>.tlt;
        # here: a stand-in alignment in IMOD's .xf format (A11 A12 A21 A22 DX DY, one line per used tilt)
        used = [t for t in range(len(ts.movies)) if ts.use[t]]
        shifts = [(i * 0.5, -i * 0.25) for i in range(len(used))]
        (d / f"{ts.name}.xf").write_text("".join(_xf_line(ts.axis[t], dx, dy) for t, (dx, dy) in zip(used, shifts)))
        (d / f"{ts.name}.tlt").write_text("".join(f"{ts.angles[t] + 0.1:.2f}\n" for t in used))
        # submfg align.com in the stack folder (WarpWorker.cs:626-650) leaves tiltalign's output in align.log
        failed = ts.name in os.environ.get("FAKE_TILTALIGN_FAIL", "").split(",")  # tiltalign stopped: no residual
        (d / "align.log").write_text("ERROR: TILTALIGN - stopped as asked (FAKE_TILTALIGN_FAIL)\n" if failed else
                                     _align_log([math.hypot(dx, dy) for dx, dy in shifts], angpix / 10))
        _import_alignments(ts, d, angpix, [d / f"{ts.name}.xf"], [d / f"{ts.name}.tlt"])
        ts.save(run.output_processing)

    iterate(run, one)


def _align_log(residuals_px: list[float], pixel_nm: float) -> str:
    """tiltalign's residual of the fit as align.log holds it. The stand-in residual of each tilt is the
    length of the shift the fake wrote for it (pixels of the stack); the arithmetic is tiltalign's: the
    mean and sample sd over the points, times UnbinnedPixelSize x ImagesAreBinned (copytomocoms writes
    the setupset.copyarg.pixel WarpTools gives, in nm, WarpWorker.cs:571) and marked nm
    (imod: flib/tiltalign/tiltalign.f90, formats 118 and 1181; RobustFitting is on, WarpWorker.cs:583)."""
    n, total, squares = len(residuals_px), sum(residuals_px), sum(r * r for r in residuals_px)
    mean = total / n if n else 0.0
    sd = math.sqrt(max(0.0, squares - total * total / n) / (n - 1)) if n > 1 else 0.0
    # only the lines of its output cryocc reads (the rest: the solution per view, the surface analysis)
    return (f"\n Residual error mean and sd:  {mean * pixel_nm:8.3f}{sd * pixel_nm:8.3f} nm\n"
            f" Residual error weighted mean:{mean * pixel_nm:8.3f}         nm\n")


def _xf_line(axis_deg: float, dx: float, dy: float) -> str:
    a = math.radians(-axis_deg)  # AreTomo2 ImodUtil/CSaveXF.cpp:93-96 writes the tilt axis this way
    return f"{math.cos(a):9.3f} {-math.sin(a):9.3f} {math.sin(a):9.3f} {math.cos(a):9.3f} {dx:9.2f}  {dy:9.2f}\n"


def _import_alignments(ts: TiltSeries, d: Path, angpix: float, xfs: list[Path], tlts: list[Path]) -> None:
    """TiltSeries.ImportAlignments (TiltSeries.ImportAlignments.cs:13-185): the .xf and .tlt go into the XML."""
    xf = next((p for p in xfs if p.is_file()), None)
    if xf is None:
        raise Exception(f"Could not find {ts.name}.xf")
    lines = [line.split() for line in xf.read_text().splitlines() if line.strip()]
    used = [t for t in range(len(ts.movies)) if ts.use[t]]
    if len(lines) != len(used):
        raise Exception(f"{len(used)} active tilts in series, but {len(lines)} lines in {xf}")
    for t, parts in zip(used, lines):
        a11, a12, a21, a22, dx, dy = (float(v) for v in parts)
        ts.axis[t] = math.degrees(math.atan2(-a21, a11))  # the axis AreTomo2 wrote as rotation by -axis
        ts.offset_x[t] = -(a11 * dx + a21 * dy) * angpix
        ts.offset_y[t] = -(a12 * dx + a22 * dy) * angpix
    tlt = next((p for p in tlts if p.is_file()), None)
    if tlt is not None:
        values = [float(v) for v in tlt.read_text().split()]
        if len(values) == len(used):
            for t, v in zip(used, values):
                ts.angles[t] = v


def ts_defocus_hand(o: dict) -> None:
    run = evaluate(o)
    if [o[k] for k in ("check", "set_auto", "set_flip", "set_noflip", "set_switch")].count(True) != 1:
        raise Unhandled("Exactly one of --check, --set_auto, --set_flip, --set_noflip or --set_switch must be specified")
    series = [_series(run, p) for p in run.inputs]
    correlation = -0.42 if os.environ.get("FAKE_HAND", "flip") == "flip" else 0.37  # the stand-in for the real fit
    if o["check"] or o["set_auto"]:  # DefocusHandTiltseries.cs:100-104
        print(f"Average correlation: {correlation:.3f}")
        verdict = "negative, which means that the defocus handedness should be set to 'flip'" if correlation < 0 else \
            "positive, which means that the defocus handedness should be set to 'no flip'"
        print(f"The average correlation is {verdict}")
        if o["check"]:
            return
    for ts in series:
        if o["set_auto"]:
            ts.inverted = correlation < 0
        elif o["set_flip"] or o["set_noflip"]:
            ts.inverted = bool(o["set_flip"])
        else:
            ts.inverted = not ts.inverted
        ts.save(run.output_processing)


def ts_ctf(o: dict) -> None:
    run = evaluate(o)

    def one(path: str) -> None:
        ts = _series(run, path)
        n = len(ts.movies)
        mid = (o["defocus_min"] + o["defocus_max"]) / 2
        ts.grids["GridCTF"] = [round(mid + 0.01 * z, 4) for z in range(n)]  # one node per tilt, Z = tilt index
        ts.grids["GridCTFDefocusDelta"] = [0.04] * n
        ts.grids["GridCTFDefocusAngle"] = [45.0] * n
        # ProcessCTFSimultaneous.cs:850: pixel size over the last frequency the fit holds to, rounded to 0.1 Å
        ts.ctf_resolution = round(2 * float(run.settings["PixelSize"]) + 0.05 * n, 1)
        ts.save(run.output_processing)

    iterate(run, one)


def ts_reconstruct(o: dict) -> None:
    run = evaluate(o)
    if o["angpix"] <= 0:
        raise Unhandled("--angpix can't be 0 or negative")
    if o["halfmap_frames"] and o["halfmap_tilts"]:
        raise Unhandled("Can't use both --halfmap_frames and --halfmap_tilts")
    dims = [int(float(run.settings.get(k, 0) or 0)) for k in ("DimensionsX", "DimensionsY", "DimensionsZ")]
    pixel = float(run.settings["PixelSize"])

    def one(path: str) -> None:
        ts = _series(run, path)
        if o["halfmap_frames"]:  # ReconstructTiltseries.cs:79-85
            first = ts.average(0)
            if not (first.parent / "even" / first.name).is_file() or not (first.parent / "odd" / first.name).is_file():
                raise Unhandled("Can't find half-averages for --halfmap_frames; run align_frameseries with --average_halves first")
        shape = [max(1, round(d * pixel / o["angpix"])) for d in dims]  # full tomogram at --angpix, float16 (WriteMRC16b)
        name = f"{ts.name}_{o['angpix']:.2f}Apx.mrc"  # TiltSeries.cs:52
        rec = Path(run.output_processing) / "reconstruction"
        used = sum(ts.use)  # tilts with UseTilt False get weight 0.0001 (TiltSeries.cs:937): left out here
        halves = ["even", "odd"] if o["halfmap_frames"] else []
        volumes = backproject(ts, ["", *halves], pixel, [d * pixel for d in dims], shape, o["angpix"])
        mrc.write(rec / name, volumes[""], o["angpix"], float16=True)
        for sub in halves:
            mrc.write(rec / sub / name, volumes[sub], o["angpix"], float16=True)
        if o["deconv"]:  # the deconvolved map is a filtered copy: here the map itself
            mrc.write(rec / "deconv" / name, volumes[""], o["angpix"], float16=True)
        print(f"{ts.name}: reconstructed from {used} of {len(ts.use)} tilts")

    iterate(run, one)


def warp_euler(rot: float, tilt: float, psi: float) -> np.ndarray:
    """Matrix3.Euler (WarpLib/Tools/Matrix3.cs:231-259), angles in radians, rows M1x M2x M3x."""
    ca, cb, cg, sa, sb, sg = math.cos(rot), math.cos(tilt), math.cos(psi), math.sin(rot), math.sin(tilt), math.sin(psi)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


def backproject(ts: TiltSeries, halves: list[str], pixel: float, volume_phys: list[float], shape: list[int],
                angpix: float) -> dict[str, np.ndarray]:
    """Weighted backprojections of the used tilts' averages (average/<half>/ for each half, "" the
    full ones), in Warp's geometry: a point at physical position p (Å) lands in tilt t at
    Euler(0, Angles[t], -TiltAxisAngles[t]) · (p - VolumeDimensionsPhysical/2) + AxisOffset[t] + ImageDimensionsPhysical/2
    (TiltSeries.GetPositionInAllTilts, WarpLib/TiltSeries/TiltSeries.cs:397-470; voxel i at i·angpix).
    Each image is ramp-filtered across the tilt axis first. Volumes (z, y, x) by half."""
    nx, ny, nz = shape
    z, y, x = np.meshgrid(*(np.arange(n) * angpix for n in (nz, ny, nx)), indexing="ij")
    centered = np.stack([x - volume_phys[0] / 2, y - volume_phys[1] / 2, z - volume_phys[2] / 2]).reshape(3, -1)
    volumes = {half: np.zeros(nx * ny * nz) for half in halves}
    for t in (t for t in range(len(ts.movies)) if ts.use[t]):
        avg = ts.average(t)
        images = {half: mrc.read(avg.parent / half / avg.name if half else avg)[0] for half in halves}
        height, width = images[halves[0]].shape
        pos = warp_euler(0.0, math.radians(ts.angles[t]), math.radians(-ts.axis[t]))[:2] @ centered
        sample = _bilinear((pos[0] + ts.offset_x[t] + width * pixel / 2) / pixel, (pos[1] + ts.offset_y[t] + height * pixel / 2) / pixel,
                           width, height)
        for half, image in images.items():
            volumes[half] += sample(_ramp(image - image.mean(), ts.axis[t]))
    return {half: v.reshape(nz, ny, nx).astype(np.float32) for half, v in volumes.items()}


def _ramp(image: np.ndarray, axis_deg: float) -> np.ndarray:
    """|k| across the tilt axis, which Rz(axis) turns from the image's y axis to (-sin, cos)."""
    ky, kx = np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    a = math.radians(axis_deg)
    weight = np.abs(kx * math.cos(a) + ky * math.sin(a)) + 1.0 / max(image.shape)
    return np.real(np.fft.ifft2(np.fft.fft2(image) * weight))


def _bilinear(x: np.ndarray, y: np.ndarray, width: int, height: int):
    """Bilinear interpolation at (x, y) in pixels, zero outside the image: the indices and weights once,
    for any image of that size."""
    x, y = np.clip(x + 2, 0, width + 2.5), np.clip(y + 2, 0, height + 2.5)  # into a border of zeros, 2 wide
    x0, y0 = x.astype(int), y.astype(int)
    fx, fy = x - x0, y - y0
    row = width + 4
    index = y0 * row + x0
    weights = ((index, (1 - fx) * (1 - fy)), (index + 1, fx * (1 - fy)), (index + row, (1 - fx) * fy), (index + row + 1, fx * fy))

    def sample(image: np.ndarray) -> np.ndarray:
        flat = np.pad(image, 2).ravel()
        return sum(flat[i] * w for i, w in weights)

    return sample


COMMANDS = {"create_settings": create_settings, "fs_motion_and_ctf": fs_motion_and_ctf, "ts_import": ts_import,
            "ts_aretomo": ts_aretomo, "ts_etomo_patches": ts_etomo_patches, "ts_defocus_hand": ts_defocus_hand,
            "ts_ctf": ts_ctf, "ts_reconstruct": ts_reconstruct}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(BANNER)
        print("Unknown command, showing all available commands:\n")
        print("\n".join(sorted(COMMANDS)))
        return 0
    options = parse(argv[0], argv[1:])
    if options is None:
        return 0
    global PACE
    PACE = pace(argv[0], options)
    try:
        COMMANDS[argv[0]](options)
    except Unhandled as exc:
        print(f"Unhandled exception. System.Exception: {exc}", file=sys.stderr)
        return 134
    return 0
