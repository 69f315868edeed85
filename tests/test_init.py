from __future__ import annotations

import os

from conftest import EXAMPLES


def test_init_writes_a_pipeline_that_validates_and_applies(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = EXAMPLES / "quickstart" / "data"
    rel = os.path.relpath(data, tmp_path)
    cli("init", "--frames", f"{rel}/frames/*.mrc", "--mdocs", f"{rel}/mdoc/*.mdoc", "--name", "ribo")
    text = (tmp_path / "pipeline.yaml").read_text()
    assert "name: ribo" in text
    assert "#   pixel_size           5.4" in text and "(mdoc)" in text
    assert "#   tilt_axis            85.3" in text
    # what the mdocs lack is an explicit, visible assumption
    assert "voltage: 300" in text and "CHECK IT" in text and "dose_per_tilt: 3" in text
    cli("validate", "pipeline.yaml")
    cli("apply", "pipeline.yaml", "--project", "proj")
    assert (tmp_path / "proj/Schemes/cryocc_001/scheme.star").exists()


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
