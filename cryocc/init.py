"""`cryocc init`: a starter pipeline.yaml for the standard chain, from the data globs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .acquisition.infer import Acquisition, Dataset, MdocInfo, infer, read_mdoc
from .acquisition.listing import list_files
from .errors import Collector, CryoccError, Location, SpecError, did_you_mean
from .fsio import atomic_write
from .schema.models import SAFE_NAME, AcquisitionOverrides
from .schema.site import find_site, known_sites

STANDARD_CHAIN = [
    ("import", "import_movies"),
    ("motion", "fs_motion_ctf"),
    ("tsimport", "ts_import"),
    ("align", "ts_alignment"),
    ("ctf", "ts_ctf"),
    ("reconstruct", "ts_reconstruct"),
]
# Stand-ins for values the mdocs lack, used only to learn what else they lack: never written. A value
# init cannot infer is left empty (null) in data.acquisition, which validate refuses at its line.
STAND_INS = {"pixel_size": 1.35, "voltage": 300.0, "dose_per_tilt": 3.0, "tilt_axis": -95.0}
UNITS = {"pixel_size": "Å/px", "voltage": "kV", "dose_per_tilt": "e/Å²", "tilt_axis": "°"}
MDOC_KEYS = {"pixel_size": "PixelSpacing", "voltage": "Voltage", "dose_per_tilt": "ExposureDose",
             "tilt_axis": "SerialEM's 'Tilt axis angle' title, Tomo5's RotationAngle"}


@dataclass(frozen=True)
class Missing:
    """A value init could not infer: where pipeline.yaml leaves it empty."""

    key: str
    line: int

    def describe(self, output: Path) -> str:
        return (f"{output}:{self.line}: data.acquisition.{self.key} [{UNITS[self.key]}]: "
                f"not in the mdocs ({MDOC_KEYS[self.key]} missing or 0)")


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar: a quote inside is doubled."""
    return "'" + text.replace("'", "''") + "'"


def _relative(pattern: str, base: Path) -> str:
    if os.path.isabs(pattern):
        return pattern
    return os.path.relpath(os.path.join(os.getcwd(), pattern), base.resolve())


def write_starter(output: Path, *, frames: str, mdocs: str, name: str, site: str, force: bool) -> tuple[str, list[Missing]]:
    """Write the starter and return its text and the values it could not infer (left empty in it)."""
    _check_options(output, frames=frames, mdocs=mdocs, name=name, site=site, force=force)
    mdoc_paths, frame_paths = _list_data(frames, mdocs)
    infos = _read_mdocs(mdoc_paths)
    ds, notes = _infer_with_stand_ins(infos, frame_paths, output)
    lines = _inferred_comment(ds.acquisition, notes, len(infos), len(frame_paths))
    base = output.parent
    lines += [
        "cryocc: 1",
        f"name: {name}",
        f"site: {site}",
        "",
        "data:",
        f"  frames: {_quoted(_relative(frames, base))}",
        f"  mdocs: {_quoted(_relative(mdocs, base))}",
    ]
    left_empty = _acquisition_lines(lines, notes)
    lines += ["", "jobs:"]
    lines += [f"  {n}: {{type: {t}}}" for n, t in STANDARD_CHAIN]
    text = "\n".join(lines) + "\n"
    atomic_write(output, text)
    return text, left_empty


def _check_options(output: Path, *, frames: str, mdocs: str, name: str, site: str, force: bool) -> None:
    if output.exists() and not force:
        raise SpecError(f"{output} exists", hint="pass --force to overwrite it, or --output another file")
    if not re.fullmatch(SAFE_NAME, name):
        raise SpecError(f"--name {name!r} is not a safe name", hint="start with a letter; use only letters, digits, _ and - (at most 64)")
    if find_site(site, output.parent) is None:
        raise SpecError(f"--site {site}: no such site profile", hint=did_you_mean(site, known_sites(output.parent)))
    for option, glob in (("--frames", frames), ("--mdocs", mdocs)):
        if any(ord(c) < 32 for c in glob):
            raise SpecError(f"{option} holds a control character: {glob!r}", hint="give the glob on one line, in quotes")


def _list_data(frames: str, mdocs: str) -> tuple[list[Path], list[str]]:
    """The mdocs' and frames' paths the globs match, relative to where cryocc runs; an error when either matches none."""
    cwd = str(Path.cwd())
    mdoc_paths = [Path(cwd, k) for k in sorted(list_files(mdocs, cwd))]
    frame_paths = sorted(list_files(frames, cwd))
    if not mdoc_paths:
        raise SpecError(f"--mdocs matches no file: {mdocs}", hint="globs are relative to where you run cryocc; quote them")
    if not frame_paths:
        raise SpecError(f"--frames matches no file: {frames}", hint="globs are relative to where you run cryocc; quote them")
    return mdoc_paths, frame_paths


def _read_mdocs(paths: list[Path]) -> list[MdocInfo]:
    """Every mdoc, or every error at once."""
    errors = Collector()
    infos = []
    for p in paths:
        try:
            infos.append(read_mdoc(p))
        except CryoccError as exc:
            errors.add(exc)
    errors.raise_if_any()
    return infos


def _infer_with_stand_ins(infos: list[MdocInfo], frame_paths: list[str], output: Path) -> tuple[Dataset, list[str]]:
    """The data set, inferred again with a stand-in for each value the mdocs lack until none is missing
    (to learn everything they lack, not just the first); and those values' keys."""
    overrides: dict[str, float] = {}
    notes: list[str] = []
    for _ in range(len(STAND_INS) + 1):
        probe = Collector()
        ds = infer(infos, {os.path.basename(f): f for f in frame_paths}, AcquisitionOverrides(**overrides), probe,
                   Location(str(output)))
        missing = [e.key.split(".")[-1] for e in probe.errors if e.key and e.key.startswith("data.acquisition.")]
        if ds is not None or not missing:
            break
        for key in missing:
            overrides[key] = STAND_INS[key]
            notes.append(key)
    probe.raise_if_any()
    assert ds is not None
    return ds, notes


def _inferred_comment(acq: Acquisition, notes: list[str], mdocs: int, frames: int) -> list[str]:
    """The starter's first lines: what was inferred and from where (notes: the values the mdocs lack)."""
    lines = [
        "# yaml-language-server: $schema=cryocc.schema.json   (write it with: cryocc schema -o cryocc.schema.json)",
        f"# Written by `cryocc init` from {mdocs} mdoc(s) and {frames} frame(s). Inferred:",
    ]
    for key in ("pixel_size", "voltage", "dose_per_tilt", "tilt_axis", "cs", "amplitude_contrast", "eer_grouping"):
        value = None if key in notes else getattr(acq, key)
        source = "not in the mdocs: give it below" if key in notes else acq.sources[key]
        lines.append(f"#   {key:<20} {value if value is not None else '-'!s:<8} {UNITS.get(key, ''):<5} ({source})")
    return lines


def _acquisition_lines(lines: list[str], notes: list[str]) -> list[Missing]:
    """data.acquisition, appended to lines: the values the mdocs lack (notes) left empty; and where each is."""
    left_empty: list[Missing] = []
    if notes:
        lines.append("  acquisition:                # values here win over the mdocs")
        for key in notes:
            left_empty.append(Missing(key, len(lines) + 1))
            lines.append(f"    {f'{key}: null':<26}# TODO: not in the mdocs; give it [{UNITS[key]}] (validate refuses null)")
    else:
        lines.append("  acquisition: {}             # add values here to override the mdocs")
    return left_empty
