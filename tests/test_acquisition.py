"""Acquisition inference on real mdocs (teamtomo/mdocfile test data) and variants of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REAL
from cryocc.errors import Collector, DataError, Location
from cryocc.schema.acquisition import infer, read_mdoc
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
    ("frame_set_single.mdoc", "is a frame-set mdoc"),
    ("frame_set_multiple.mdoc", "is a frame-set mdoc"),
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


def _tomo5(tmp_path: Path) -> Path:
    """The real SerialEM file with its title lines removed: what a Tomo5 export looks like to cryocc."""
    text = (MDOCS / "tilt_series.mdoc").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("[T ="))
    path = tmp_path / "Position_1.mdoc"
    path.write_text(text.replace("RotationAngle = 175.3", "RotationAngle = -95.4"))
    return path


def test_tomo5_axis_is_abs_rotation_angle(tmp_path):
    m = read_mdoc(_tomo5(tmp_path))
    assert m.software == "Tomo5"
    assert m.tilt_axis == 95.4
    assert "RotationAngle" in m.tilt_axis_source


def _frames(m):
    return {t.frame: Path("/frames") / t.frame for t in m.tilts}


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
    assert ds.tilt_series[0].frames[0] == "/frames/TS_01_000_0.0.mrc"


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
