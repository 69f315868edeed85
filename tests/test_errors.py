"""Every kind of bad input: a message naming file:line and key, with a hint; exit 1; nothing written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import REAL, edit, tree

MDOC = "data/mdoc/TS_01.mdoc"


def _second_mdoc(pipeline: Path, old: str | None = None, new: str | None = None, name: str = "TS_02") -> Path:
    """A second tilt series: a copy of the real mdoc with its own frames, optionally edited."""
    root = pipeline.parent
    text = (root / MDOC).read_text().replace("TS_01_", f"{name}_")
    if old is not None:
        assert old in text
        text = text.replace(old, new)
    (root / f"data/mdoc/{name}.mdoc").write_text(text)
    for f in (root / "data/frames").glob("TS_01_*"):
        (root / "data/frames" / f.name.replace("TS_01_", f"{name}_")).write_bytes(f.read_bytes())
    return root / f"data/mdoc/{name}.mdoc"


CASES = {
    # name: (edit(pipeline) -> file with the error, line, key, message pattern, hint pattern)
    "yaml_syntax": (lambda p: edit(p, "name: quickstart", "name: [quickstart"), "pipeline.yaml", 5, None,
                    r"YAML syntax error: the '\[' at line 5, column 7 is not closed", r"close it with '\]'"),
    "tab_indent": (lambda p: edit(p, "  frames: data", "\tframes: data"), "pipeline.yaml", 9, None,
                   r"YAML syntax error", r"tabs"),
    "unknown_job_type": (lambda p: edit(p, "{type: ts_ctf}", "{type: tsCTF}"), "pipeline.yaml", 23, "jobs.ctf.type",
                         r"unknown job type 'tsCTF'", r"did you mean 'tsCtf'"),
    "unknown_param": (lambda p: edit(p, "sample_thickness_nm: 150", "sample_thicknes_nm: 150"), "pipeline.yaml", 22,
                      "jobs.align.params.sample_thicknes_nm", r"unknown parameter 'sample_thicknes_nm'",
                      r"did you mean 'sample_thickness_nm'"),
    "wrong_type": (lambda p: edit(p, "{rescale_angpixs: 10}", "{rescale_angpixs: two}"), "pipeline.yaml", 24,
                   "jobs.reconstruct.params.rescale_angpixs", r"expected a valid number.*found 'two'", None),
    "out_of_range": (lambda p: edit(p, "sample_thickness_nm: 150", "sample_thickness_nm: 5000"), "pipeline.yaml", 22,
                     "jobs.align.params.sample_thickness_nm", r"less than or equal to 1000.*found 5000", None),
    "unknown_upstream": (lambda p: edit(p, "ctf:         {type: ts_ctf}", "ctf:         {type: ts_ctf, inputs: {tilt_series: alignn}}"),
                         "pipeline.yaml", 23, "jobs.ctf.inputs.tilt_series", r"no job named 'alignn'", r"did you mean 'align'"),
    "duplicate_job": (lambda p: edit(p, "  ctf:         {type: ts_ctf}", "  ctf:         {type: ts_ctf}\n  ctf:         {type: ts_ctf}"),
                      "pipeline.yaml", 24, None, r"duplicate key 'ctf'", r"only once"),
    "unsafe_name_dots": (lambda p: edit(p, "  ctf:  ", "  ../x:  "), "pipeline.yaml", 23, "jobs.../x",
                         r"job name '\.\./x' is not a safe name", r"letters, digits"),
    "unsafe_name_space": (lambda p: edit(p, "  ctf:  ", "  my ctf:  "), "pipeline.yaml", 23, "jobs.my ctf",
                          r"job name 'my ctf' is not a safe name", r"letters, digits"),
    "unsafe_name_slash": (lambda p: edit(p, "  ctf:  ", "  a/b:  "), "pipeline.yaml", 23, "jobs.a/b",
                          r"job name 'a/b' is not a safe name", r"letters, digits"),
    "glob_matches_nothing": (lambda p: edit(p, "data/frames/*.mrc", "data/frames/*.eer"), "pipeline.yaml", 9, "data.frames",
                             r"matches no file", r"relative to"),
    "montage": (lambda p: shutil.copy(REAL / "teamtomo-mdocfile/montage_section.mdoc", p.parent / "data/mdoc/grid.mdoc"),
                "grid.mdoc", 5, None, r"montage, not a tilt series", r"leave montage mdocs out"),
    "pixel_size_disagree": (lambda p: _second_mdoc(p, "PixelSpacing = 5.4", "PixelSpacing = 2.7"), "pipeline.yaml", 8, "data.mdocs",
                            r"disagree on pixel size: 2\.7 Å/px in 1 file \(e\.g\. TS_02\); 5\.4 Å/px in 1 file", r"own pipeline"),
    "voltage_disagree": (lambda p: (edit(p, "    voltage: 300                  # this mdoc has no Voltage line\n", ""),
                                    edit(p.parent / MDOC, "PixelSpacing = 5.4\n", "PixelSpacing = 5.4\nVoltage = 300\n"),
                                    _second_mdoc(p, "Voltage = 300", "Voltage = 200")),
                         "pipeline.yaml", 8, "data.mdocs", r"disagree on voltage: 200 kV .*300 kV", r"data\.acquisition\.voltage"),
    "missing_frame": (lambda p: ((p.parent / "data/frames/TS_01_007_-12.0.mrc").unlink(),  # refused, not waited for
                                 edit(p, "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  incomplete: error\n")),
                      "TS_01.mdoc", 190, "SubFramePath",
                      r"frame 'TS_01_007_-12\.0\.mrc' of \[ZValue = 7\] is not among the frames", r"data\.frames"),
    "missing_dose": (lambda p: edit(p, "    dose_per_tilt: 3.0            # and ExposureDose = 0 in every section\n", ""),
                     "pipeline.yaml", 11, "data.acquisition.dose_per_tilt", r"no dose per tilt", r"set data\.acquisition\.dose_per_tilt"),
    "site_missing": (lambda p: edit(p, "site: local", "site: locall"), "pipeline.yaml", 6, "site",
                     r"site profile 'locall' does not exist", r"did you mean 'local'"),
    "unknown_top_key": (lambda p: edit(p, "name: quickstart", "name: quickstart\nnmae: x"), "pipeline.yaml", 6, "nmae",
                        r"unknown key 'nmae'", r"did you mean 'name'"),
    "input_not_produced": (lambda p: edit(p, "ctf:         {type: ts_ctf}", "ctf:         {type: ts_ctf, inputs: {tilt_series: import}}"),
                           "pipeline.yaml", 23, "jobs.ctf.inputs.tilt_series", r"produces nothing that input 'tilt_series' consumes",
                           r"made by: ts_alignment"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_located_and_writes_nothing(case, example, cli, tmp_path):
    change, file, line, key, message, hint = CASES[case]
    pipeline = example()
    change(pipeline)
    project = tmp_path / "project"
    for command in (["validate", pipeline], ["apply", pipeline, "--project", project]):
        result = cli(*command, code=1)
        err = result.stderr
        assert "Traceback" not in err
        first = err.splitlines()[0]
        assert first.startswith("error: "), err
        m = re.match(r"error: (\S+?):(\d+)(?::(\d+))?: ", first)
        assert m, f"no file:line in {first!r}"
        assert m.group(1).endswith(file), err
        if line is not None:
            assert int(m.group(2)) == line, err
        if key is not None:
            assert f": {key}: " in first, err
        if message is not None:
            assert re.search(message, err), err
        if hint is not None:
            assert re.search(r"hint: .*" + hint, err), err
        assert "nothing was written" in err
    assert tree(project) == {}


def test_cycle_names_its_jobs(example, cli, tmp_path):
    pipeline = example()
    # dt trains on dp's denoised tomograms while dp needs dt's model
    pipeline.write_text(pipeline.read_text()
                        + "  dt: {type: denoisetrain, inputs: {tomograms: dp}}\n"
                        + "  dp: {type: denoisepredict, inputs: {tomograms: reconstruct, model: dt}}\n")
    result = cli("apply", pipeline, "--project", tmp_path / "p", code=1)
    assert re.search(r"pipeline\.yaml:25:\d+: jobs\.dt\.inputs: dependency cycle: dt -> dp -> dt", result.stderr), result.stderr
    assert tree(tmp_path / "p") == {}


def test_all_errors_of_a_file_in_one_pass(example, cli):
    pipeline = example()
    edit(pipeline, "sample_thickness_nm: 150", "sample_thicknes_nm: 150")
    edit(pipeline, "{rescale_angpixs: 10}", "{rescale_angpixs: two}")
    edit(pipeline, "{type: ts_ctf}", "{type: tsCTF}")
    edit(pipeline, "  ctf: ", "  my ctf: ")
    result = cli("validate", pipeline, code=1)
    err = result.stderr
    for needle in ("pipeline.yaml:22:", "sample_thicknes_nm", "pipeline.yaml:24:", "found 'two'",
                   "unknown job type 'tsCTF'", "job name 'my ctf'"):
        assert needle in err, err
    assert "4 errors; nothing was written." in err


def test_error_in_site_profile_names_the_site_file(example, cli):
    pipeline = example()
    site = pipeline.parent / "mysite.yaml"
    site.write_text("name: mysite\nresources:\n  default: {cpus: many}\nparams:\n  tsCtf: {windw: 512}\n")
    edit(pipeline, "site: local", "site: mysite.yaml")
    err = cli("validate", pipeline, code=1).stderr
    assert re.search(r"mysite\.yaml:3:\d+: resources\.default\.cpus: expected a valid integer.*found 'many'", err), err
    assert re.search(r"mysite\.yaml:5:\d+: params\.tsCtf\.windw: unknown parameter 'windw'", err), err
    assert "did you mean 'window'" in err


def test_wrong_type_in_the_full_catalog(example, cli, tmp_path):
    pipeline = example("full-catalog")
    edit(pipeline, "{binning: 1, box_size: 32", "{binning: two, box_size: 32")
    err = cli("apply", pipeline, "--project", tmp_path / "p", code=1).stderr
    assert re.match(r"error: \S+full-catalog/pipeline\.yaml:29:61: jobs\.extract\.params\.binning: expected a valid integer.*found 'two'", err), err
    assert tree(tmp_path / "p") == {}
