"""Acquisition parameters and tilt series, inferred from SerialEM/Tomo5 mdoc files.

One mdoc is one tilt series. Frames are matched through each section's SubFramePath basename
(Windows paths included). The program that wrote the mdoc is told by what its titles say, with or
without brackets: SerialEM writes "SerialEM: ..." and "Tilt axis angle = 85.3, binning = 4 ...",
Tomo5 "Tomography..." and "TiltAxisAngle = -174.23 ...". SerialEM's tilt axis is its "Tilt axis
angle"; RotationAngle there is the axis + 90 deg (the system cryocc replaces read it for SerialEM
files too, and so got the axis wrong). Tomo5's title TiltAxisAngle is not the axis; |RotationAngle|
is, and it must agree with the title: |RotationAngle| = -(TiltAxisAngle + 90) in every Tomo5 file
seen, whichever sign RotationAngle has (docs/science.md, point 6). WarpTools ts_import tells the two
title lines apart the same way (ImportTiltseries.cs:182-199).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import Collector, DataError, Location, decode_text
from ..schema.models import AcquisitionOverrides
from .mdoc import MdocFile, Section, lines_of, parse, parse_usual

_SERIALEM_AXIS = re.compile(r"Tilt axis angle\s*=\s*(-?\d+(?:\.\d+)?)")  # case and spaces as SerialEM writes them
_TOMO5_TITLE_AXIS = re.compile(r"TiltAxisAngle\s*=\s*(-?\d+(?:\.\d+)?)")
_MONTAGE_PIECE_KEYS = frozenset({"PieceCoordinates", "AlignedPieceCoords", "AlignedPieceCoordsVS", "SuperMontCoords",
                                 "XedgeDxy", "YedgeDxy", "XedgeDxyVS", "YedgeDxyVS"})
UNKNOWN = "unknown"  # software, when no title names SerialEM or Tomography
AXIS_DISAGREES = "Tomo5 RotationAngle disagrees with the title"  # |RotationAngle| != -(TiltAxisAngle + 90)
DEFAULTS = {"cs": 2.7, "amplitude_contrast": 0.1, "invert_defocus_hand": False}
EER_DEFAULT_GROUPING = 32


class Tilt(NamedTuple):
    z: int
    angle: float
    frame: str  # basename of SubFramePath


@dataclass(frozen=True)
class MdocInfo:
    """What one mdoc says, in plain values; its tilts in ZValue order, as columns (10^5 tilts a project)."""

    path: str  # absolute, for messages and the drivers
    name: str
    software: str  # SerialEM | Tomo5
    pixel_size: float | None
    voltage: float | None
    dose_per_tilt: float | None
    tilt_axis: float | None
    tilt_axis_source: str
    image_size: tuple[int, int] | None
    binning: float | None
    z: tuple[int, ...]
    angles: tuple[float, ...]
    frames: tuple[str, ...]  # basenames of SubFramePath
    key: str = field(default="", compare=False)  # as the data listing names it (relative to the pipeline)

    @property
    def tilts(self) -> tuple[Tilt, ...]:
        return tuple(map(Tilt, self.z, self.angles, self.frames))

    def to_cache(self) -> list[Any]:
        """Compact: the values that do not follow from the file's name and place."""
        return [self.software, self.pixel_size, self.voltage, self.dose_per_tilt, self.tilt_axis, self.tilt_axis_source,
                self.image_size, self.binning, self.z, self.angles, self.frames]

    @classmethod
    def from_cache(cls, values: list[Any], path: str, name: str, key: str) -> MdocInfo:
        software, px, kv, dose, axis, source, size, binning, z, angles, frames = values
        return cls(path, name, software, px, kv, dose, axis, source, tuple(size) if size else None, binning,
                   tuple(z), tuple(angles), tuple(frames), key)


@dataclass(frozen=True)
class TiltSeries:
    name: str
    mdoc: str  # the mdoc's listing key
    frames: tuple[str, ...]  # the frames' listing keys, in ZValue order
    angles: tuple[float, ...]


@dataclass(frozen=True)
class Acquisition:
    pixel_size: float
    voltage: float
    cs: float
    amplitude_contrast: float
    dose_per_tilt: float
    tilt_axis: float
    eer_grouping: int | None
    image_size: list[int] | None  # [W, H] in pixels of pixel_size: the default tomogram X and Y
    invert_defocus_hand: bool
    invert_tilt_angles: bool
    software: str
    frame_extension: str
    sources: dict[str, str] = field(compare=False, hash=False)

    def values(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("sources")
        return d


@dataclass(frozen=True)
class Dataset:
    acquisition: Acquisition
    tilt_series: tuple[TiltSeries, ...]
    # (tilts, angle range, pixel size, voltage, dose, tilt axis, how many mdocs): the mdocs that agree on
    # these, grouped for validate's summary; what the scan keeps of them (10^3 mdocs' tilts are in the mdoc cache)
    groups: tuple[tuple[Any, ...], ...]
    notes: tuple[str, ...] = ()  # things the user should know (shown by validate)
    waiting: tuple[tuple[str, int, int], ...] = ()  # (name, frames there, frames in its mdoc): still being collected
    excluded: dict[str, str] = field(default_factory=dict)  # name -> why (data.exclude)
    # name -> {zvalues, frames, why}: the tilts data.exclude_tilts leaves out, as validated (scan.excluded_tilts)
    excluded_tilts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain values, for the scan cache (compiler/recipe_cache.ScanCache)."""
        return {"acquisition": asdict(self.acquisition), "tilt_series": [[t.name, t.mdoc, t.frames, t.angles] for t in self.tilt_series],
                "groups": [list(g) for g in self.groups], "notes": self.notes,
                "waiting": self.waiting, "excluded": self.excluded, "excluded_tilts": self.excluded_tilts}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Dataset:
        return cls(Acquisition(**doc["acquisition"]),
                   tuple(TiltSeries(n, mdoc, tuple(frames), tuple(angles)) for n, mdoc, frames, angles in doc["tilt_series"]),
                   tuple(tuple(g) for g in doc["groups"]),
                   tuple(doc["notes"]), tuple((n, there, total) for n, there, total in doc["waiting"]),
                   dict(doc["excluded"]), dict(doc["excluded_tilts"]))


# --- one mdoc --------------------------------------------------------------------------------

def _line_of(path: Path, pattern: str) -> int | None:
    try:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.match(pattern, line.strip()):
                return n
    except OSError:
        pass
    return None


def _err(path: Path, message: str, *, pattern: str | None = None, key: str | None = None, hint: str | None = None) -> DataError:
    line = _line_of(path, pattern) if pattern else None
    return DataError(message, location=Location(str(path), line, 1 if line else None), key=key, hint=hint)


def _basename(sub_frame_path: Any) -> str:
    return str(sub_frame_path).replace("\\", "/").rsplit("/", 1)[-1]


def series_name(path: Path | str) -> str:
    """The tilt series' name as both tools name it: RELION's import strips every suffix
    (tomography_python_programs/_utils/file.py:7-10), WarpTools ts_import maps .mrc.mdoc to .mdoc
    and strips one (ImportTiltseries.cs:165). They agree unless the rest of the name has a dot.
    A path as a string costs no pathlib parse (10^3-10^4 mdocs a plan)."""
    base = os.path.basename(path)
    name = base[:-len(".mdoc")] if base.endswith(".mdoc") else os.path.splitext(base)[0]
    name = name[:-len(".mrc")] if name.endswith(".mrc") else name
    if "." in name:
        raise DataError(f"mdoc name {base!r} has a dot before .mdoc: RELION would call the tilt series "
                        f"{name.split('.')[0]!r} and WarpTools {name!r}", location=Location(str(path)), key="data.mdocs",
                        hint="rename the mdoc (and keep its movies' names), e.g. replace the dot by an underscore")
    return name


def read_mdoc(path: Path, key: str = "", data: bytes | None = None) -> MdocInfo:
    """Parse one mdoc (data: its bytes, if already read); DataError when it is not a tilt series
    with one movie per tilt."""
    damaged = "was it damaged in a copy, or is it another kind of file? leave it out of data.mdocs until it is mended"
    try:
        raw = path.read_bytes() if data is None else data
    except OSError as exc:
        raise _err(path, f"cannot be read: {exc.strerror}", hint="check its permissions (ls -l)") from None
    text = lines_of(decode_text(raw, str(path), DataError, "mdoc file", damaged))
    usual = parse_usual(text, str(path))
    if usual is not None:
        try:
            return _info(usual, path, key)
        except DataError:
            pass  # said again below, by the reader that counts lines
    return _info(parse(text, str(path)), path, key)


def _info(mdoc: MdocFile, path: Path, key: str) -> MdocInfo:
    _refuse_other_kinds(mdoc, path)  # before the name: a frame mdoc's name (movie.tif.mdoc) has a dot
    return mdoc_info(mdoc, path, series_name(path), key)


def _refuse_other_kinds(mdoc: MdocFile, path: Path) -> None:
    """A montage or a frame mdoc is refused, saying which it is. A header `Montage = 1` alone is not a
    montage: SerialEM writes it for a single-frame tilt series too (the pytom tutorial's data)."""
    montage = next((s for s in mdoc.sections if s.kind == "MontSection"), None)
    flagged = bool(mdoc.number(None, "Montage"))
    pieces = next((s for s in mdoc.sections if not _MONTAGE_PIECE_KEYS.isdisjoint(s.values)), None) if flagged else None
    if montage or pieces:
        why = f" (Montage = 1, and [ZValue = {pieces.index}] has montage pieces)" if pieces and not montage else ""
        line = mdoc.header["Montage"][1] if flagged else montage.line if montage else None
        raise mdoc.error(f"{path.name} is a montage, not a tilt series{why}", line,
                         hint="leave montage mdocs out of data.mdocs (tighten the glob or move them aside)")
    frame_set = next((s for s in mdoc.sections if s.kind == "FrameSet"), None)
    if frame_set:
        raise mdoc.error(f"{path.name} is a frame mdoc ([FrameSet] sections: the frames of one movie), not the "
                         "mdoc of a tilt series", frame_set.line,
                         hint="SerialEM writes one beside each movie it saves; the tilt series' mdoc is the one with "
                              "[ZValue = n] sections: narrow data.mdocs to it (e.g. exclude '*.tif.mdoc')")


def _software(titles: str) -> str:
    if "SerialEM:" in titles or _SERIALEM_AXIS.search(titles):
        return "SerialEM"
    if "Tomography" in titles or "TiltAxisAngle" in titles:
        return "Tomo5"
    return UNKNOWN


def _tilt_axis(mdoc: MdocFile, software: str, titles: str, first: Section) -> tuple[float | None, str]:
    """The tilt axis and where it came from (None when the mdoc does not say it)."""
    if software == "SerialEM":
        match = _SERIALEM_AXIS.search(titles)
        return (float(match.group(1)), "mdoc title 'Tilt axis angle'") if match else (None, "missing")
    rotation = mdoc.number(first, "RotationAngle")
    if software != "Tomo5" or rotation is None:
        return None, "missing" if software == "Tomo5" else "missing: no mdoc title names SerialEM or Tomography"
    title = _TOMO5_TITLE_AXIS.search(titles)
    if title and abs(abs(rotation) + float(title.group(1)) + 90) > 0.05:  # a convention not seen: no axis
        return None, f"{AXIS_DISAGREES} (RotationAngle = {rotation:g}, TiltAxisAngle = {title.group(1)})"
    return abs(rotation), "mdoc |RotationAngle| (Tomo5)"


def mdoc_info(mdoc: MdocFile, path: Path, name: str, key: str = "") -> MdocInfo:
    sections = sorted((s for s in mdoc.sections if s.kind == "ZValue"), key=lambda s: s.index)
    if not sections:
        raise _err(path, f"{path.name} has no [ZValue = n] sections: not a tilt series",
                   hint="an mdoc of a tilt series has one [ZValue = n] section per tilt; is the file cut off, or another kind of mdoc?")
    first = sections[0]
    titles = " ".join(mdoc.titles)
    software = _software(titles)
    axis, axis_source = _tilt_axis(mdoc, software, titles, first)
    tilts = []
    for s in sections:
        frame = s.text("SubFramePath")
        if not frame:
            raise mdoc.error(f"section [ZValue = {s.index}] has no SubFramePath: cannot find its movie", s.line,
                             key="SubFramePath", hint="cryocc needs the movie frames; was frame saving on?")
        angle = mdoc.number(s, "TiltAngle")
        if angle is None:
            raise mdoc.error(f"section [ZValue = {s.index}] has no TiltAngle", s.line, key="TiltAngle",
                             hint="SerialEM and Tomo5 write one in every section: was the file edited by hand or cut?")
        tilts.append(Tilt(s.index, angle, _basename(frame)))
    dose = mdoc.number(first, "ExposureDose")
    size = (mdoc.header.get("ImageSize") or ("", 0))[0].split()
    return MdocInfo(
        path=str(path),
        name=name,
        software=software,
        pixel_size=mdoc.number(None, "PixelSpacing") or mdoc.number(first, "PixelSpacing"),
        voltage=mdoc.number(None, "Voltage") or mdoc.number(first, "Voltage"),
        dose_per_tilt=round(dose, 3) if dose else None,
        tilt_axis=axis,
        tilt_axis_source=axis_source,
        image_size=(int(size[0]), int(size[1])) if len(size) == 2 and all(v.isdigit() for v in size) else None,
        binning=mdoc.number(first, "Binning"),
        z=tuple(t.z for t in tilts),
        angles=tuple(t.angle for t in tilts),
        frames=tuple(t.frame for t in tilts),
        key=key,
    )


# --- a whole data set ------------------------------------------------------------------------

def _agree(values: Iterable[tuple[float | None, str]], digits: int) -> dict[float, list[str]]:
    groups: dict[float, list[str]] = {}
    for v, name in values:
        if v is not None:
            groups.setdefault(round(v, digits), []).append(name)
    return groups


def _describe(groups: dict[float, list[str]], unit: str) -> str:
    parts = []
    for v, names in sorted(groups.items()):
        parts.append(f"{v:g} {unit} in {len(names)} file{'s' if len(names) > 1 else ''} (e.g. {names[0]})")
    return "; ".join(parts)


def _check_tomo5_axes(mdocs: list[MdocInfo], errors: Collector) -> None:
    """Tomo5 mdocs whose RotationAngle fits neither known convention: one error, at the first one's line."""
    odd = [m for m in mdocs if m.tilt_axis_source.startswith(AXIS_DISAGREES)]
    if odd:
        more = f" (and {len(odd) - 1} more mdocs)" if len(odd) > 1 else ""
        errors.add(DataError(
            f"{odd[0].tilt_axis_source}{more}: every Tomo5 mdoc cryocc knows has |RotationAngle| = -(TiltAxisAngle + 90)",
            location=Location(odd[0].path, _line_of(Path(odd[0].path), r"RotationAngle\s*="), 1), key="RotationAngle",
            hint="this Tomo5 version writes the axis another way: set data.acquisition.tilt_axis, "
                 "and check the hand of a first tomogram"))


def _check_software(mdocs: list[MdocInfo], softwares: Counter[str], o: AcquisitionOverrides, errors: Collector,
                    spec_location: Location) -> None:
    """Where the tilt axis is found follows the program that wrote the mdocs: one no title names must
    have its axis in the spec. (The tilt-angle sign does not: every program's angles are taken as they
    are, as the validated chain does, docs/science.md point 1.)"""
    if o.tilt_axis is not None or not softwares[UNKNOWN]:
        return
    example = next(m.name for m in mdocs if m.software == UNKNOWN)
    errors.add(DataError(
        f"{softwares[UNKNOWN]} mdoc{'s' if softwares[UNKNOWN] > 1 else ''} (e.g. {example}.mdoc) have no title "
        "naming SerialEM or Tomography: cryocc cannot tell where their tilt axis is",
        location=spec_location, key="data.acquisition.tilt_axis",
        hint="set data.acquisition.tilt_axis [°], and check the hand of a first tomogram"))


@dataclass
class _Inference:
    """What infer has worked out so far (each value with where it came from, and the notes), and where
    its errors go."""

    overrides: AcquisitionOverrides
    errors: Collector
    spec_location: Location
    at_key: Callable[[str], Location] | None
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any, source: str) -> None:
        self.values[key], self.sources[key] = value, source

    def missing_at(self, key: str) -> Location:
        """Where a value the mdocs lack is an error: at data.acquisition.<key> when it is written."""
        return self.at_key(key) if self.at_key else self.spec_location


def _pick_agreed(inf: _Inference, key: str, label: str, unit: str, digits: int,
                 per_file: Iterable[tuple[float | None, str]], mdoc_key: str) -> None:
    """A value every mdoc must agree on, unless the spec gives it (then a disagreement is only a note)."""
    given = getattr(inf.overrides, key)
    groups = _agree(per_file, digits)
    if given is not None:
        inf.set(key, given, "override")
        if groups and set(groups) != {round(given, digits)}:
            inf.notes.append(f"{label}: data.acquisition says {given:g} {unit}, the mdocs say {_describe(groups, unit)}")
        return
    if len(groups) > 1:
        inf.errors.add(DataError(
            f"mdocs disagree on {label}: {_describe(groups, unit)}", location=inf.spec_location, key="data.mdocs",
            hint=f"process each group in its own pipeline, or set data.acquisition.{key} if the mdocs are wrong",
        ))
    elif not groups:
        inf.errors.add(DataError(
            f"the mdocs give no {label} ({mdoc_key} is missing or 0)", location=inf.missing_at(key),
            key=f"data.acquisition.{key}", hint=f"set data.acquisition.{key} in pipeline.yaml [{unit}]",
        ))
    else:
        inf.set(key, next(iter(groups)), "mdoc")


def _pick_dose(inf: _Inference, mdocs: list[MdocInfo]) -> None:
    """Dose varies a little between positions: the first tilt's dose of each series, median over series."""
    doses = sorted(m.dose_per_tilt for m in mdocs if m.dose_per_tilt)
    if inf.overrides.dose_per_tilt is not None:
        inf.set("dose_per_tilt", inf.overrides.dose_per_tilt, "override")
    elif doses:
        inf.set("dose_per_tilt", round(doses[len(doses) // 2], 2), "mdoc")
    else:
        inf.errors.add(DataError(
            "the mdocs give no dose per tilt (ExposureDose is missing or 0)", location=inf.missing_at("dose_per_tilt"),
            key="data.acquisition.dose_per_tilt", hint="set data.acquisition.dose_per_tilt in pipeline.yaml [e/Å²]",
        ))


def _pick_defaults(inf: _Inference) -> None:
    """The values no mdoc records."""
    for key in ("cs", "amplitude_contrast", "invert_defocus_hand"):
        given = getattr(inf.overrides, key)
        if given is not None:
            inf.set(key, given, "override")
        else:
            inf.set(key, DEFAULTS[key], "default")


def _pick_software(inf: _Inference, mdocs: list[MdocInfo]) -> str:
    """The program that wrote most mdocs, and the tilt-angle sign (taken as it is for every program)."""
    softwares = Counter(m.software for m in mdocs)
    software = softwares.most_common(1)[0][0] if softwares else "SerialEM"
    _check_software(mdocs, softwares, inf.overrides, inf.errors, inf.missing_at("tilt_axis"))
    if inf.overrides.invert_tilt_angles is not None:
        inf.set("invert_tilt_angles", inf.overrides.invert_tilt_angles, "override")
    else:
        # no for every mdoc: the validated chain's ts_import --dont_invert (docs/science.md, point 1)
        inf.set("invert_tilt_angles", False, f"default for {software}")
    return software


def _pick_image_size(inf: _Inference, mdocs: list[MdocInfo]) -> None:
    """The default tomogram X and Y, when every mdoc that says it says the same."""
    sizes = {m.image_size for m in mdocs if m.image_size}
    inf.values["image_size"] = list(next(iter(sizes))) if len(sizes) == 1 else None
    inf.sources["image_size"] = "mdoc" if len(sizes) == 1 else "missing"
    if len(sizes) > 1:
        inf.notes.append("mdocs disagree on ImageSize (" + ", ".join(f"{w}x{h}" for w, h in sorted(sizes)) +
                         "): give ts_import's tomo_dimensions explicitly")


def _note_binning(inf: _Inference, mdocs: list[MdocInfo]) -> None:
    """PixelSpacing taken from binned images would be wrong for unbinned frames."""
    binned = sorted({m.binning for m in mdocs if m.binning and m.binning > 1})
    if binned and inf.overrides.pixel_size is None:
        inf.notes.append(f"mdocs record camera binning {binned[0]:g}: PixelSpacing is the binned image's; "
                         "if the frames are saved unbinned, set data.acquisition.pixel_size")


def _check_shared_frames(m: MdocInfo, keys: list[str | None], claimed: dict[str, str], errors: Collector) -> None:
    """The first of m's frames another mdoc named before it (claimed: frame key -> the series that uses it)."""
    for frame in keys:
        if frame is None:
            continue
        other = claimed.setdefault(frame, m.name)
        if other != m.name:
            errors.add(DataError(
                f"{m.name}.mdoc names frame {frame.rpartition('/')[2]} that {other}.mdoc names too: two tilt series "
                f"cannot share a movie", location=Location(m.path, _line_of(Path(m.path), rf"SubFramePath\s*=.*{re.escape(frame.rpartition('/')[2])}$"), 1),
                key="SubFramePath", hint="is one mdoc a copy of the other? keep one of them in data.mdocs"))
            break


def _report_missing_frames(m: MdocInfo, keys: list[str | None], missing: int, errors: Collector) -> int:
    """An error for each of m's frames not listed, the first 10 of the data set only (missing: counted
    so far); the new count."""
    for z, name, found in zip(m.z, m.frames, keys):
        if found is None:
            missing += 1
            if missing <= 10:
                errors.add(DataError(
                    f"frame '{name}' of [ZValue = {z}] is not among the frames matched by data.frames",
                    location=Location(m.path, _line_of(Path(m.path), rf"SubFramePath\s*=.*{re.escape(name)}$"), 1),
                    key="SubFramePath", hint="check data.frames, or whether this movie was copied",
                ))
    return missing


def _report_incomplete(inf: _Inference, missing: int, waiting: list[tuple[str, int, int]], series: list[TiltSeries]) -> None:
    """What the per-frame errors left unsaid: how many more are missing, and a data set with nothing complete."""
    if missing > 10:
        inf.errors.add(DataError(f"... and {missing - 10} more frames referenced by mdocs are missing", location=inf.spec_location,
                                 key="data.frames", hint="are the movies still being copied, or does data.frames point at another session?"))
    if waiting and not series:
        shown = ", ".join(f"{name} ({there} of {total} frames)" for name, there, total in waiting[:5])
        inf.errors.add(DataError(f"no tilt series has all its frames yet: {shown}{' ...' if len(waiting) > 5 else ''}",
                                 location=inf.spec_location, key="data.frames",
                                 hint="wait for the frames to be copied, or check that data.frames matches them"))


def _match_frames(inf: _Inference, mdocs: list[MdocInfo], frames: dict[str, str],
                  skip_incomplete: bool) -> tuple[list[TiltSeries], list[tuple[str, int, int]]]:
    """Each mdoc's tilt series with its frames' listing keys, and the series still waiting for frames
    (skip_incomplete), or an error for each frame missing."""
    series = []
    waiting: list[tuple[str, int, int]] = []
    missing = 0
    claimed: dict[str, str] = {}
    keys_of = [[frames.get(name) for name in m.frames] for m in mdocs]  # each mdoc's frame keys, None where missing
    listed = sum(len(keys) - keys.count(None) for keys in keys_of)
    shared = len(set().union(*keys_of) - {None}) != listed  # 10^5 frames: looked at one by one only when mdocs share one
    for m, keys in zip(mdocs, keys_of):
        if shared:
            _check_shared_frames(m, keys, claimed, inf.errors)
        if None in keys:
            if skip_incomplete:  # frames still being copied: wait for them
                waiting.append((m.name, len(keys) - keys.count(None), len(keys)))
                continue
            missing = _report_missing_frames(m, keys, missing, inf.errors)
        series.append(TiltSeries(m.name, m.key or m.path, tuple(k for k in keys if k is not None), m.angles))
    _report_incomplete(inf, missing, waiting, series)
    return series, waiting


def _frame_extension(frames: dict[str, str]) -> str:
    """The extension most frames have, in lower case ("" when none has one)."""
    exts: Counter[str] = Counter()
    for ext, n in Counter(name[name.rfind("."):] for name in frames).items():  # a name without a dot gives no ".": left out
        if ext.startswith("."):
            exts[ext.lower()] += n
    return exts.most_common(1)[0][0] if exts else ""


def _pick_eer_grouping(inf: _Inference, ext: str) -> None:
    if inf.overrides.eer_grouping is not None:
        inf.set("eer_grouping", inf.overrides.eer_grouping, "override")
    elif ext == ".eer":
        inf.set("eer_grouping", EER_DEFAULT_GROUPING, "default for EER")
    else:
        inf.set("eer_grouping", None, "not EER")


def _check_unique_names(mdocs: list[MdocInfo], errors: Collector, spec_location: Location) -> None:
    for name, n in Counter(m.name for m in mdocs).items():
        if n > 1:
            errors.add(DataError(f"{n} mdocs are named {name}.mdoc: tilt-series names must be unique",
                                 location=spec_location, key="data.mdocs", hint="narrow the glob to one session"))


def infer(
    mdocs: list[MdocInfo],
    frames: dict[str, str],
    overrides: AcquisitionOverrides,
    errors: Collector,
    spec_location: Location,
    skip_incomplete: bool = False,
    at_key: Callable[[str], Location] | None = None,
) -> Dataset | None:
    """Combine all mdocs with the overrides. Reports every problem to errors; None if any.
    skip_incomplete: a tilt series with frames missing is left out and listed as waiting, not an error.
    at_key: where data.acquisition.<key> is written (a value the mdocs lack is an error there, e.g. at
    the empty `voltage:` cryocc init leaves), else spec_location."""
    inf = _Inference(overrides, errors, spec_location, at_key)
    _pick_agreed(inf, "pixel_size", "pixel size", "Å/px", 4, ((m.pixel_size, m.name) for m in mdocs), "PixelSpacing")
    _pick_agreed(inf, "voltage", "voltage", "kV", 1, ((m.voltage, m.name) for m in mdocs), "Voltage")
    _pick_agreed(inf, "tilt_axis", "tilt axis", "°", 1, ((m.tilt_axis, m.name) for m in mdocs), "Tilt axis angle / RotationAngle")
    if overrides.tilt_axis is None:
        _check_tomo5_axes(mdocs, errors)
    _pick_dose(inf, mdocs)
    _pick_defaults(inf)
    software = _pick_software(inf, mdocs)
    _pick_image_size(inf, mdocs)
    _note_binning(inf, mdocs)
    series, waiting = _match_frames(inf, mdocs, frames, skip_incomplete)
    ext = _frame_extension(frames)
    _pick_eer_grouping(inf, ext)
    _check_unique_names(mdocs, errors, spec_location)
    if errors:
        return None
    acq = Acquisition(software=software, frame_extension=ext, sources=inf.sources, **inf.values)
    return Dataset(acq, tuple(sorted(series, key=lambda s: s.name)), mdoc_groups(mdocs), tuple(inf.notes), tuple(sorted(waiting)))


def mdoc_groups(mdocs: list[MdocInfo]) -> tuple[tuple[Any, ...], ...]:
    """The mdocs grouped by what validate's summary shows of them (Dataset.groups), in a stable order."""
    groups: Counter[tuple[Any, ...]] = Counter()
    for m in mdocs:
        groups[(len(m.angles), f"{min(m.angles):.1f} .. {max(m.angles):.1f}" if m.angles else "-",
                m.pixel_size, m.voltage, m.dose_per_tilt, m.tilt_axis)] += 1
    return tuple((*key, n) for key, n in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))))
