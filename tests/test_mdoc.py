"""cryocc's mdoc reader against teamtomo's mdocfile on every real mdoc: the same tilt series, the
same values, the same refusals; and what mdocfile lets through that cryocc must not."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import EXAMPLES, REAL

from cryocc.acquisition.infer import _SERIALEM_AXIS, MdocInfo, _basename, infer, mdoc_info, read_mdoc, series_name
from cryocc.acquisition.mdoc import lines_of, parse, parse_usual
from cryocc.errors import Collector, DataError, Location
from cryocc.schema.models import AcquisitionOverrides

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


# --- as SerialEM and Tomo5 write them (issue 24: read the data as its writers do) ------------

SERIALEM = (REAL / "teamtomo-mdocfile/tilt_series.mdoc").read_text()
TITLE_1 = "[T = SerialEM: Digitized on EMBL Krios                       30-Nov-15  15:14:20    ]"
TITLE_2 = "[T =     Tilt axis angle = 85.3, binning = 4  spot = 8  camera = 2]"
TOMO5 = (Path(__file__).resolve().parent / "fixtures/tomo5/Position_3.mdoc").read_text()


def _write(tmp_path: Path, text: str, name: str = "TS_01.mdoc") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _infer(m: MdocInfo, **overrides):
    errors = Collector()
    ds = infer([m], {f: f"frames/{f}" for f in m.frames}, AcquisitionOverrides(voltage=300, dose_per_tilt=3, **overrides),
               errors, Location("pipeline.yaml", 8, 1))
    return ds, errors


@pytest.mark.parametrize("titles", [
    [TITLE_1[1:-1], TITLE_2[1:-1]],  # both without brackets
    [TITLE_1[1:-1], TITLE_2],  # as SerialEM's frame mdocs write the first
], ids=["both", "first"])
def test_a_serialem_title_without_brackets_is_serialem(tmp_path, titles):
    """Taken for Tomo5 before: the axis became |RotationAngle| = 175.3 (SerialEM's axis + 90) and the
    tilt angles were inverted, and validate passed."""
    text = SERIALEM.replace(TITLE_1, titles[0]).replace(TITLE_2, titles[1])
    m = read_mdoc(_write(tmp_path, text))
    assert (m.software, m.tilt_axis, m.tilt_axis_source) == ("SerialEM", 85.3, "mdoc title 'Tilt axis angle'")
    ds, errors = _infer(m)
    assert not errors
    assert (ds.acquisition.tilt_axis, ds.acquisition.invert_tilt_angles) == (85.3, False)


def test_a_serialem_title_without_brackets_and_no_axis_asks_for_the_axis(tmp_path):
    """As a SerialEM frame mdoc's title: no 'Tilt axis angle', so no axis rather than |RotationAngle|."""
    m = read_mdoc(_write(tmp_path, SERIALEM.replace(TITLE_1, TITLE_1[1:-1]).replace(TITLE_2 + "\n", "")))
    assert (m.software, m.tilt_axis, m.tilt_axis_source) == ("SerialEM", None, "missing")
    ds, errors = _infer(m)
    assert ds is None and [e.key for e in errors.errors] == ["data.acquisition.tilt_axis"]


@pytest.mark.parametrize("title", [
    "[T = Tomography: TITAN52337180 2023-05-04 10:12:03]",
    "[T = Tomography_5.23.0.10273: TITAN 01-Jan-26  00:00:00]",
])
def test_tomo5_is_told_by_its_title(tmp_path, title):
    text = TOMO5.replace("[T = Tomography: TITAN52337180 2023-05-04 10:12:03]", title)
    assert read_mdoc(_write(tmp_path, text, "Position_3.mdoc")).software == "Tomo5"


def test_an_mdoc_whose_titles_name_no_program_needs_the_axis_in_the_spec(tmp_path):
    """Without a title, the old reader called it Tomo5: |RotationAngle| and inverted angles, silently."""
    text = SERIALEM.replace(TITLE_1 + "\n", "").replace(TITLE_2 + "\n", "")
    m = read_mdoc(_write(tmp_path, text))
    assert (m.software, m.tilt_axis) == ("unknown", None)
    ds, errors = _infer(m)
    assert ds is None
    assert any("no title naming SerialEM or Tomography" in e.message and "tilt_axis" in e.hint for e in errors.errors)
    ds, errors = _infer(m, tilt_axis=85.3)
    assert not errors and ds.acquisition.tilt_axis == 85.3 and ds.acquisition.invert_tilt_angles is False


@pytest.mark.parametrize("title_axis, rotation, axis", [
    ("-174.23", "-84.23", 84.23),  # the sign of tests/fixtures/tomo5/Position_3.mdoc
    ("-176.20", "86.20", 86.2),  # the sign of another Tomo5 version (docs/science.md, point 6)
])
def test_tomo5_rotation_angle_of_either_sign_agrees_with_its_title(tmp_path, title_axis, rotation, axis):
    text = TOMO5.replace("TiltAxisAngle = -174.23", f"TiltAxisAngle = {title_axis}").replace("RotationAngle = -84.23", f"RotationAngle = {rotation}")
    assert read_mdoc(_write(tmp_path, text, "Position_3.mdoc")).tilt_axis == axis


def test_a_tomo5_rotation_angle_that_disagrees_with_its_title_needs_the_axis_in_the_spec(tmp_path):
    """abs() accepted any RotationAngle: a convention cryocc has not seen must not pass silently."""
    text = TOMO5.replace("RotationAngle = -84.23", "RotationAngle = -95.77")
    m = read_mdoc(_write(tmp_path, text, "Position_3.mdoc"))
    assert m.tilt_axis is None
    ds, errors = _infer(m)
    assert ds is None
    err = next(e for e in errors.errors if e.key == "RotationAngle")
    assert "RotationAngle = -95.77, TiltAxisAngle = -174.23" in err.message
    assert text.splitlines()[err.location.line - 1] == "RotationAngle = -95.77"
    assert "data.acquisition.tilt_axis" in err.hint
    ds, errors = _infer(m, tilt_axis=95.77)
    assert not errors and ds.acquisition.tilt_axis == 95.77


def test_a_single_frame_tilt_series_flagged_montage_is_read(tmp_path):
    """The pytom tutorial's tilt series: a header `Montage = 1` and no montage pieces. Refused before."""
    text = SERIALEM.replace("DataMode = 1\n", "Montage = 1\nDataMode = 1\n", 1)
    m = read_mdoc(_write(tmp_path, text))
    assert len(m.tilts) == 41 and m.tilt_axis == 85.3


def test_a_montage_flagged_in_the_header_with_pieces_is_refused_at_the_flag(tmp_path):
    text = SERIALEM.replace("DataMode = 1\n", "Montage = 1\nDataMode = 1\n", 1).replace(
        "[ZValue = 3]\n", "[ZValue = 3]\nPieceCoordinates = 0 3400 0\n")
    with pytest.raises(DataError, match=r"is a montage, not a tilt series \(Montage = 1, and \[ZValue = 3\] has montage pieces\)") as info:
        read_mdoc(_write(tmp_path, text))
    assert text.splitlines()[info.value.location.line - 1] == "Montage = 1"


@pytest.mark.parametrize("split", [
    (TITLE_2, "[T =     Tilt axis angle = 85.3,\nbinning = 4  spot = 8  camera = 2]"),
    (TITLE_1, "[T = SerialEM: Digitized on EMBL Krios\n30-Nov-15  15:14:20    ]"),
], ids=["axis title", "first title"])
def test_a_title_over_two_lines_is_one_title(tmp_path, split):
    m = read_mdoc(_write(tmp_path, SERIALEM.replace(*split)))
    assert (m.software, m.tilt_axis) == ("SerialEM", 85.3)


def test_a_title_cut_off_is_refused_at_its_line(tmp_path):
    text = SERIALEM.replace(TITLE_2, "[T =     Tilt axis angle = 85.3,")
    with pytest.raises(DataError, match="its ']' is not on this line or the next") as info:
        read_mdoc(_write(tmp_path, text))
    assert info.value.location.line == SERIALEM.splitlines().index(TITLE_2) + 1


def test_a_frame_mdoc_is_refused_as_a_frame_mdoc(tmp_path):
    """SerialEM writes one beside each movie, named after it (dots and all): the old message blamed the dot."""
    name = "s_mmm_00993_33.0_Oct08_07.39.05.tif.mdoc"
    path = _write(tmp_path, (REAL / "teamtomo-mdocfile/frame_set_single.mdoc").read_text(), name)
    with pytest.raises(DataError) as info:
        read_mdoc(path)
    assert f"{name} is a frame mdoc" in info.value.message and "[ZValue = n]" in info.value.hint
    assert path.read_text().splitlines()[info.value.location.line - 1] == "[FrameSet = 0]"


def test_a_byte_order_mark_keeps_the_first_key(tmp_path):
    path = tmp_path / "TS_01.mdoc"
    path.write_text(SERIALEM, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfPixelSpacing = 5.4")
    assert parse(path.read_text(encoding="utf-8"), str(path)).header["PixelSpacing"] == ("5.4", 1)
    (tmp_path / "plain").mkdir()
    assert read_mdoc(path) == replace(read_mdoc(_write(tmp_path / "plain", SERIALEM)), path=str(path))


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity", ""])
def test_a_tilt_angle_that_is_not_a_number_is_refused_at_its_line(tmp_path, value):
    """float() reads NaN and inf; the old reader let NaN through and took an empty value for 0.0."""
    text = SERIALEM.replace("TiltAngle = 3.00113", f"TiltAngle = {value}", 1)
    with pytest.raises(DataError, match="is not a number") as info:
        read_mdoc(_write(tmp_path, text))
    assert text.splitlines()[info.value.location.line - 1].startswith("TiltAngle =")


def test_a_section_without_a_tilt_angle_is_refused_at_its_section(tmp_path):
    """Taken for 0.0 before."""
    start = SERIALEM.index("[ZValue = 2]")
    line = SERIALEM.index("TiltAngle", start)
    text = SERIALEM[:line] + SERIALEM[SERIALEM.index("\n", line) + 1:]
    with pytest.raises(DataError, match=r"section \[ZValue = 2\] has no TiltAngle") as info:
        read_mdoc(_write(tmp_path, text))
    assert text.splitlines()[info.value.location.line - 1] == "[ZValue = 2]"


# --- the usual shape, read by string searches: the same MdocInfo as the line reader -----------------

def _both(text: str, path: Path) -> tuple[MdocInfo | None, MdocInfo]:
    """What infer makes of the usual-shape reader's result (None when it declines), and of the line reader's."""
    text = lines_of(text)
    usual = parse_usual(text, str(path))
    return (mdoc_info(usual, path, series_name(path)) if usual else None), mdoc_info(parse(text, str(path)), path, series_name(path))


@pytest.mark.parametrize("path", [p for p in MDOCS if "frame_set" not in p.name and "montage" not in p.name], ids=lambda p: p.name)
def test_the_usual_shape_is_read_by_searches_to_the_same_tilt_series(path):
    usual, lines = _both(path.read_text(), path)
    assert usual is not None  # SerialEM's and Tomo5's own files take the quick way
    assert usual == lines


@pytest.mark.parametrize("change", [
    ("\n", "\r\n"),  # Windows line ends: read as lines still
    ("TiltAngle = ", "TiltAngle  = "),  # a key padded: the line reader strips it
    ("ExposureDose = 0\n", "ExposureDose=0\n"),  # '=' without spaces
    (TITLE_2, "[T =     Tilt axis angle = 85.3,\nbinning = 4  spot = 8  camera = 2]"),  # a title over two lines
    ("[ZValue = 3]", "[ZValue =  3]"),  # a header written otherwise
    ("[ZValue = 3]", "[ZValue = 3]  "),  # trailing blanks
    ("\nTiltAngle = ", "\n  TiltAngle = "),  # an indented line
    ("PixelSpacing = 5.4\n", "PixelSpacing = 5.4\nMontage = 0\n"),  # a montage flag, off
], ids=["crlf", "padded key", "bare =", "two-line title", "header spaces", "trailing blanks", "indented", "montage 0"])
def test_other_shapes_read_the_same_either_way(change):
    path = REAL / "teamtomo-mdocfile/tilt_series.mdoc"
    usual, lines = _both(SERIALEM.replace(*change), path)
    assert usual is None or usual == lines
    assert lines == _both(SERIALEM, path)[1]


@pytest.mark.parametrize("change", [
    ("[ZValue = 3]", "[ZValue = 2]"),  # a section given twice
    ("[ZValue = 3]", "[ZVal"),  # a header cut off
    ("TiltAngle = ", "TiltAngl"),  # a line cut off
    ("PixelSpacing = 5.4\n", "PixelSpacing = 5.4\nMontage = 1\n"),  # pieces would tell a montage: the line reader looks
], ids=["twice", "header cut", "line cut", "montage 1"])
def test_the_searches_leave_what_is_not_the_usual_shape_to_the_line_reader(change):
    assert parse_usual(lines_of(SERIALEM.replace(*change, 1)), "TS_01.mdoc") is None
