"""Acquisition inference on real mdocs (teamtomo/mdocfile test data) and variants of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REAL

from cryocc.acquisition.infer import infer, read_mdoc
from cryocc.errors import Collector, DataError, Location
from cryocc.schema.models import AcquisitionOverrides

MDOCS = REAL / "teamtomo-mdocfile"


def test_serialem_tilt_series_is_read_right():
    m = read_mdoc(MDOCS / "tilt_series.mdoc")
    assert m.software == "SerialEM"
    assert m.pixel_size == 5.4
    assert m.voltage is None  # the file has no Voltage line
    assert m.dose_per_tilt is None  # ExposureDose = 0 in every section
    # SerialEM's title line, not RotationAngle (175.3): the bug of the system cryocc replaces
    assert m.tilt_axis == 85.3
    assert m.tilt_axis_source == "mdoc title 'Tilt axis angle'"
    assert m.image_size == (924, 958)
    assert m.binning == 4
    assert len(m.tilts) == 41
    assert [t.z for t in m.tilts] == list(range(41))
    # Windows SubFramePath D:\DATA\...\frames\TS_01_000_0.0.mrc -> basename, dots inside kept
    assert m.tilts[0].frame == "TS_01_000_0.0.mrc"
    assert m.tilts[7].frame == "TS_01_007_-12.0.mrc"
    assert min(t.angle for t in m.tilts) == pytest.approx(-60, abs=0.1)
    assert max(t.angle for t in m.tilts) == pytest.approx(60, abs=0.1)


@pytest.mark.parametrize("name, message", [
    ("montage_section.mdoc", "is a montage, not a tilt series"),
    ("montage_section_multiple.mdoc", "is a montage, not a tilt series"),
    ("frame_set_single.mdoc", "is a frame mdoc"),
    ("frame_set_multiple.mdoc", "is a frame mdoc"),
])
def test_real_mdocs_that_are_not_tilt_series_are_refused_with_their_line(name, message):
    with pytest.raises(DataError) as info:
        read_mdoc(MDOCS / name)
    err = info.value
    assert message in err.message
    assert err.location.file.endswith(name)
    line = (MDOCS / name).read_text().splitlines()[err.location.line - 1]
    assert re.match(r"(Montage\s*=|\[MontSection|\[FrameSet)", line), line
    assert err.hint


TOMO5 = Path(__file__).resolve().parent / "fixtures" / "tomo5" / "Position_3.mdoc"


def test_tomo5_axis_is_abs_rotation_angle_not_its_title_line():
    """Tomo5 writes '[T =   TiltAxisAngle = -174.23 ...]', which is not the axis; |RotationAngle| is (item 4)."""
    m = read_mdoc(TOMO5)
    assert m.software == "Tomo5"
    assert m.tilt_axis == 84.23
    assert "RotationAngle" in m.tilt_axis_source
    assert m.name == "Position_3" and m.dose_per_tilt == 3.4 and m.image_size == (4096, 4096)
    assert m.tilts[1].frame == "Position_3_001[3.00]_fractions.tiff"


def test_tomo5_tilt_angles_are_not_inverted_by_default():
    """As the validated chain imports every mdoc (ts_import --dont_invert; docs/science.md, point 1)."""
    m = read_mdoc(TOMO5)
    errors = Collector()
    ds = infer([m], _frames(m), AcquisitionOverrides(), errors, Location("p.yaml"))
    assert not errors
    assert not ds.acquisition.invert_tilt_angles and ds.acquisition.sources["invert_tilt_angles"] == "default for Tomo5"


@pytest.mark.parametrize("name, series", [("TS_01.mdoc", "TS_01"), ("TS_01.mrc.mdoc", "TS_01"), ("Position_10_2.mdoc", "Position_10_2")])
def test_tilt_series_are_named_as_relion_and_warptools_both_name_them(tmp_path, name, series):
    path = tmp_path / name
    path.write_text((MDOCS / "tilt_series.mdoc").read_text())
    assert read_mdoc(path).name == series


def test_a_dot_in_an_mdoc_name_is_refused_with_the_two_names(tmp_path):
    path = tmp_path / "Pos_1.5.mdoc"
    path.write_text((MDOCS / "tilt_series.mdoc").read_text())
    with pytest.raises(DataError) as info:
        read_mdoc(path)
    assert "RELION would call the tilt series 'Pos_1' and WarpTools 'Pos_1.5'" in info.value.message
    assert info.value.hint


def _frames(m):
    return {t.frame: f"frames/{t.frame}" for t in m.tilts}


def test_overrides_win_and_are_reported():
    m = read_mdoc(MDOCS / "tilt_series.mdoc")
    errors = Collector()
    ds = infer([m], _frames(m), AcquisitionOverrides(voltage=300, dose_per_tilt=2.5, pixel_size=1.35), errors, Location("p.yaml"))
    assert not errors
    acq = ds.acquisition
    assert (acq.pixel_size, acq.voltage, acq.dose_per_tilt, acq.tilt_axis) == (1.35, 300, 2.5, 85.3)
    assert acq.sources["pixel_size"] == "override" and acq.sources["tilt_axis"] == "mdoc"
    assert acq.cs == 2.7 and acq.sources["cs"] == "default"
    assert any("pixel size: data.acquisition says 1.35" in n for n in ds.notes)
    assert ds.tilt_series[0].frames[0] == "frames/TS_01_000_0.0.mrc"


def test_missing_dose_and_voltage_require_overrides():
    m = read_mdoc(MDOCS / "tilt_series.mdoc")
    errors = Collector()
    assert infer([m], _frames(m), AcquisitionOverrides(), errors, Location("p.yaml", 8, 1)) is None
    keys = sorted(e.key for e in errors.errors)
    assert keys == ["data.acquisition.dose_per_tilt", "data.acquisition.voltage"]
    assert all(e.hint.startswith("set data.acquisition.") for e in errors.errors)


def test_eer_frames_default_to_grouping_32(tmp_path):
    text = (MDOCS / "tilt_series.mdoc").read_text().replace(".mrc", ".eer")
    (tmp_path / "ts.mdoc").write_text(text)
    m = read_mdoc(tmp_path / "ts.mdoc")
    ds = infer([m], _frames(m), AcquisitionOverrides(voltage=300, dose_per_tilt=3), Collector(), Location("p"))
    assert ds.acquisition.eer_grouping == 32
    assert ds.acquisition.frame_extension == ".eer"


def test_frame_set_mdoc_dose_would_have_been_read(tmp_path):
    """ExposureDose is read when present (frame_set_single has 7.65892 e/Å²)."""
    text = (MDOCS / "frame_set_single.mdoc").read_text().replace("[FrameSet = 0]", "[ZValue = 0]")
    (tmp_path / "one.mdoc").write_text(text)
    m = read_mdoc(tmp_path / "one.mdoc")
    assert m.dose_per_tilt == pytest.approx(7.659, abs=1e-3)
    assert m.voltage == 300 and m.pixel_size == 1.2827
    assert m.tilts[0].frame == "s_mmm_00993_33.0_Oct08_07.39.05.tif"


def test_the_tomogram_covers_the_detector_by_default(example):
    """tomo_dimensions comes from the mdocs' ImageSize, so a K3's 5760x4092 is not cropped to 4096 (item 9)."""
    from cryocc.compiler.compile import compile_pipeline

    pipeline = example("quickstart")
    pipeline.write_text(pipeline.read_text().replace(", params: {tomo_dimensions: 64x64x32}", ""))
    assert compile_pipeline(pipeline).jobs["tsimport"].params["tomo_dimensions"] == "924x958x2048"


def test_without_a_single_image_size_the_dimensions_must_be_given(example, cli):
    pipeline = example("quickstart")
    text = pipeline.read_text().replace(", params: {tomo_dimensions: 64x64x32}", "")
    pipeline.write_text(text)
    mdoc = pipeline.parent / "data/mdoc/TS_01.mdoc"
    mdoc.write_text(mdoc.read_text().replace("ImageSize = 924 958\n", "", 1))
    err = cli("validate", pipeline, code=1).stderr
    assert re.search(r"pipeline\.yaml:\d+:\d+: jobs\.tsimport\.params: job tsimport: the mdocs give no single ImageSize", err), err
    assert "tomo_dimensions" in err
