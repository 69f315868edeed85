"""WarpTools' per-item XML and settings files (warpem/warp v2.0.0dev36; docs/tools.md), and Warp's CTF
in RELION's convention."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..fsio import atomic_write
from ._errors import JobFailed
from ._relion_star import frame_id


def _xml_root(xml: Path) -> ET.Element:
    try:
        return ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise JobFailed(f"cannot read {xml.name}: {exc}") from None


def warp_ctf(xml: Path) -> dict[str, float]:
    """Frame-series CTF: the <CTF> element's Param nodes (WarpLib/Movie/Movie.cs:1124-1126), in µm."""
    ctf = _xml_root(xml).find("CTF")
    params = {p.get("Name"): p.get("Value") for p in (ctf if ctf is not None else [])}
    try:
        return {k: float(params[k] or "") for k in ("Defocus", "DefocusDelta", "DefocusAngle")}
    except (KeyError, TypeError, ValueError):
        raise JobFailed(f"{xml.name} has no complete <CTF> (Defocus, DefocusDelta, DefocusAngle)") from None


def relion_defocus(defocus: float, delta: float, angle: float) -> dict[str, float]:
    """Warp's CTF (µm; DefocusDelta is U - V) as RELION columns (Å), the way Warp's own RELION export
    writes them (WarpTools/Commands/Tiltseries/ExportParticlesTiltseries.cs:972-976)."""
    u, v = (defocus + delta / 2) * 1e4, (defocus - delta / 2) * 1e4
    return {"rlnDefocusU": u, "rlnDefocusV": v, "rlnDefocusAngle": angle, "rlnCtfAstigmatism": u - v}


def relion_hand(inverted: bool) -> int:
    """rlnTomoHand for a tilt series WarpTools marked AreAnglesInverted or not: WarpTools then negates
    a particle's depth in its defocus (TiltSeries.cs:583-648), RELION multiplies it by rlnTomoHand
    (relion:src/jaz/tomography/tomogram.cpp:277-290); tests/test_oracles.py holds the two together."""
    return -1 if inverted else 1


@dataclass
class WarpTiltSeries:
    """A tilt-series XML (WarpLib/TiltSeries/TiltSeries.cs:2124-2323): per-tilt values are one text
    node each, joined by newlines, in the order of <MoviePath>; CTF grids are addressed by Z."""

    inverted: bool  # AreAnglesInverted: the defocus handedness is flipped
    unselected: bool  # UnselectManual: WarpTools failed this tilt series
    movies: list[str]  # frame ids in the XML's tilt order
    use: list[bool]  # UseTilt
    defocus: dict[int, float]  # by Z
    delta: dict[int, float]
    angle: dict[int, float]


def _lines(root: ET.Element, tag: str) -> list[str]:
    """TiltSeries.LoadMeta reads these as InnerXml.Split('\\n') (TiltSeries.cs:1924-1958)."""
    node = root.find(tag)
    text = node.text if node is not None else None
    return [v.replace(" ", "").replace("\r", "").replace("\t", "") for v in text.split("\n")] if text else []


def warp_tilt_series(xml: Path) -> WarpTiltSeries:
    root = _xml_root(xml)

    def grid(tag: str) -> dict[int, float]:
        node = root.find(tag)
        return {int(n.get("Z", "")): float(n.get("Value", "")) for n in node.iter("Node")} if node is not None else {}

    movies = [frame_id(m) for m in _lines(root, "MoviePath")]
    use = [v == "True" for v in _lines(root, "UseTilt")] or [True] * len(movies)
    return WarpTiltSeries(root.get("AreAnglesInverted", "False") == "True", root.get("UnselectManual") == "True",
                          movies, use, grid("GridCTF"), grid("GridCTFDefocusDelta"), grid("GridCTFDefocusAngle"))


def warp_settings(path: Path) -> dict[str, str]:
    """A .settings file's Import and Tomo parameters (WarpLib/OptionsWarp.cs:171-201)."""
    root = _xml_root(path)
    sections = [root.find(name) for name in ("Import", "Tomo")]
    return {p.get("Name", ""): p.get("Value", "") for section in sections if section is not None for p in section}


def set_use_tilt(xml: Path, use: list[bool]) -> None:
    """Rewrite <UseTilt>: WarpTools weights a tilt with False by 0.0001, i.e. leaves it out (TiltSeries.cs:937)."""
    tree = ET.parse(xml)
    node = tree.getroot().find("UseTilt")
    if node is None:
        node = ET.SubElement(tree.getroot(), "UseTilt")
    node.text = "\n".join(str(u) for u in use)
    atomic_write(xml, ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True))
