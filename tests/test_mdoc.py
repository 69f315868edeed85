"""cryocc's mdoc reader against teamtomo's mdocfile on every real mdoc: the same tilt series, the
same values, the same refusals; and what mdocfile lets through that cryocc must not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import EXAMPLES, REAL

from cryocc.acquisition.infer import _SERIALEM_AXIS, MdocInfo, _basename, read_mdoc, series_name
from cryocc.errors import DataError

MDOCS = sorted((REAL / "teamtomo-mdocfile").glob("*.mdoc")) + [
    EXAMPLES / "quickstart/data/mdoc/TS_01.mdoc", Path(__file__).resolve().parent / "fixtures/tomo5/Position_3.mdoc"]


def read_with_mdocfile(path: Path) -> MdocInfo:
    """What cryocc read before it had its own reader, through mdocfile (the reference)."""
    from mdocfile.data_models import Mdoc

    logging.getLogger("mdocfile.data_models").setLevel(logging.ERROR)
    mdoc = Mdoc.from_file(path)
    sections = mdoc.section_data
    if mdoc.global_data.Montage or any(s.MontSection is not None for s in sections):
        raise ValueError("montage")
    if any(s.FrameSet is not None for s in sections):
        raise ValueError("frame set")
    z = sorted((s for s in sections if s.ZValue is not None), key=lambda s: s.ZValue)
    first, g, titles = z[0], mdoc.global_data, " ".join(mdoc.titles)
    axis_match = _SERIALEM_AXIS.search(titles)
    software = "SerialEM" if axis_match or "SerialEM:" in titles else "Tomo5"
    if axis_match:
        axis, source = float(axis_match.group(1)), "mdoc title 'Tilt axis angle'"
    elif first.RotationAngle is not None:
        axis, source = abs(float(first.RotationAngle)), "mdoc |RotationAngle| (Tomo5)"
    else:
        axis, source = None, "missing"
    dose = first.ExposureDose or None
    return MdocInfo(str(path), series_name(path), software, g.PixelSpacing or first.PixelSpacing, g.Voltage or first.Voltage,
                    round(dose, 3) if dose else None, axis, source, tuple(int(v) for v in g.ImageSize) if g.ImageSize else None,
                    first.Binning, tuple(int(s.ZValue) for s in z), tuple(float(s.TiltAngle or 0.0) for s in z),
                    tuple(_basename(s.SubFramePath) for s in z))


@pytest.mark.parametrize("path", MDOCS, ids=lambda p: p.name)
def test_the_same_as_mdocfile(path):
    try:
        expected = read_with_mdocfile(path)
    except ValueError as exc:
        with pytest.raises(DataError, match="montage" if str(exc) == "montage" else "is a frame mdoc"):
            read_mdoc(path)
        return
    assert read_mdoc(path) == expected


def _cut(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "TS_09.mdoc"
    path.write_text(text)
    return path


def test_a_file_cut_off_in_a_section_header_is_refused_at_its_line(tmp_path):
    """mdocfile reads this as a 5-tilt series and the other 36 frames go unused."""
    text = (EXAMPLES / "quickstart/data/mdoc/TS_01.mdoc").read_text()
    cut = text[:text.index("[ZValue = 5]") + len("[ZVal")]
    with pytest.raises(DataError) as info:
        read_mdoc(_cut(tmp_path, cut))
    assert "'[ZVal' is not a section header" in info.value.message
    assert info.value.location.line == cut.count("\n") + 1 and "cut off" in info.value.hint


def test_a_file_cut_off_in_a_value_line_is_refused(tmp_path):
    text = (EXAMPLES / "quickstart/data/mdoc/TS_01.mdoc").read_text()
    cut = text[:text.index("SubFramePath", text.index("[ZValue = 7]")) + 6]
    with pytest.raises(DataError, match="'SubFra' is not a 'key = value' line"):
        read_mdoc(_cut(tmp_path, cut))


def test_a_zvalue_given_twice_is_refused_with_both_lines(tmp_path):
    text = (EXAMPLES / "quickstart/data/mdoc/TS_01.mdoc").read_text()
    twice = text.replace("[ZValue = 8]", "[ZValue = 7]")
    with pytest.raises(DataError) as info:
        read_mdoc(_cut(tmp_path, twice))
    first = text.splitlines().index("[ZValue = 7]") + 1
    assert f"[ZValue = 7] appears twice (first on line {first})" in info.value.message
    assert info.value.location.line == text.splitlines().index("[ZValue = 8]") + 1


def test_a_value_that_is_not_a_number_is_refused_at_its_line(tmp_path):
    text = (EXAMPLES / "quickstart/data/mdoc/TS_01.mdoc").read_text().replace("TiltAngle = 3.00113", "TiltAngle = three", 1)
    with pytest.raises(DataError) as info:
        read_mdoc(_cut(tmp_path, text))
    assert "TiltAngle = 'three' is not a number" in info.value.message
    assert text.splitlines()[info.value.location.line - 1] == "TiltAngle = three"


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "TS_10.mdoc"
    path.write_bytes(b"PixelSpacing = 1\n\xff\xfe binary")
    with pytest.raises(DataError, match="byte 0xff is not UTF-8: not a text mdoc file") as info:
        read_mdoc(path)
    assert info.value.location.line == 2 and info.value.hint
