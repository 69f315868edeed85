from __future__ import annotations

import os

from conftest import EXAMPLES


def test_init_writes_a_pipeline_that_validates_and_applies_once_the_missing_values_are_given(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = EXAMPLES / "quickstart" / "data"
    rel = os.path.relpath(data, tmp_path)
    out = cli("init", "--frames", f"{rel}/frames/*.mrc", "--mdocs", f"{rel}/mdoc/*.mdoc", "--name", "ribo").stdout
    text = (tmp_path / "pipeline.yaml").read_text()
    lines = text.splitlines()
    assert "name: ribo" in text
    assert "#   pixel_size           5.4" in text and "(mdoc)" in text
    assert "#   tilt_axis            85.3" in text
    # what the mdocs lack (the quickstart's mdoc has no Voltage and no ExposureDose) is never invented:
    # it is printed, each at its line, and left empty
    voltage, dose = lines.index(next(x for x in lines if x.strip().startswith("voltage:"))) + 1, \
        lines.index(next(x for x in lines if x.strip().startswith("dose_per_tilt:"))) + 1
    assert "2 values not in the mdocs" in out
    assert f"pipeline.yaml:{voltage}: data.acquisition.voltage [kV]" in out
    assert f"pipeline.yaml:{dose}: data.acquisition.dose_per_tilt [e/Å²]" in out
    assert "300" not in text and " 3.0" not in text and "voltage: 3" not in text
    assert lines[voltage - 1].split("#")[0].split() == ["voltage:", "null"]
    # validate refuses the empty values, each at its own line, with a hint
    err = cli("validate", "pipeline.yaml", code=1).stderr
    assert f"pipeline.yaml:{voltage}:5: data.acquisition.voltage: the mdocs give no voltage" in err
    assert f"pipeline.yaml:{dose}:5: data.acquisition.dose_per_tilt: the mdocs give no dose per tilt" in err
    assert "hint: set data.acquisition.voltage in pipeline.yaml [kV]" in err
    (tmp_path / "pipeline.yaml").write_text(text.replace("voltage: null", "voltage: 300").replace("dose_per_tilt: null", "dose_per_tilt: 3"))
    cli("validate", "pipeline.yaml")
    cli("apply", "pipeline.yaml", "--project", "proj")
    assert (tmp_path / "proj/Schemes/cryocc_001/scheme.star").exists()


def test_init_with_complete_mdocs_leaves_nothing_empty(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = EXAMPLES / "quickstart" / "data"
    mdoc = tmp_path / "mdoc" / "TS_01.mdoc"
    mdoc.parent.mkdir()
    source = next((data / "mdoc").glob("*.mdoc")).read_text()
    mdoc.write_text(source.replace("ExposureDose = 0", "ExposureDose = 3\nVoltage = 300"))
    out = cli("init", "--frames", f"{data}/frames/*.mrc", "--mdocs", "mdoc/*.mdoc").stdout
    text = (tmp_path / "pipeline.yaml").read_text()
    assert "null" not in text and "not in the mdocs" not in out and "acquisition: {}" in text
    cli("validate", "pipeline.yaml")


def test_init_refuses_to_overwrite(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.yaml").write_text("keep me\n")
    data = EXAMPLES / "quickstart" / "data"
    result = cli("init", "--frames", f"{data}/frames/*.mrc", "--mdocs", f"{data}/mdoc/*.mdoc", code=1)
    assert "exists" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "pipeline.yaml").read_text() == "keep me\n"


def test_init_refuses_a_site_that_does_not_exist_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = EXAMPLES / "quickstart" / "data"
    err = cli("init", "--frames", f"{data}/frames/*.mrc", "--mdocs", f"{data}/mdoc/*.mdoc", "--site", "nosuchsite", code=1).stderr
    assert "--site nosuchsite: no such site profile" in err and "hint: " in err
    assert not (tmp_path / "pipeline.yaml").exists()


def test_init_refuses_an_unsafe_name(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = EXAMPLES / "quickstart" / "data"
    err = cli("init", "--frames", f"{data}/frames/*.mrc", "--mdocs", f"{data}/mdoc/*.mdoc", "--name", "a\nb", code=1).stderr
    assert "is not a safe name" in err and not (tmp_path / "pipeline.yaml").exists()
