"""A corpus of bad inputs, one per line of CASES: each must give exit 1, no traceback, a message
naming the file and line (where the file has lines) with a hint, and leave an applied project byte
for byte as it was. A property test mutates a valid spec and site profile at random and checks that
no mutation ever produces a traceback."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import REAL, ROOT, copy_examples, tree

MDOC = "data/mdoc/TS_01.mdoc"
SITE = "mysite.yaml"


# the first line of a block appended to the site profile (config/sites/local.yaml)
APPENDED = len((ROOT / "config/sites/local.yaml").read_text().splitlines()) + 1


class Case(NamedTuple):
    target: str  # pipeline | site | mdoc: the file edited (and expected in the message)
    old: str  # text replaced; "" appends new
    new: str | bytes | Callable[[Path], None]  # or a function of the pipeline's directory
    fragment: str  # a regex the message must match
    line: int | None = -1  # the line the message names; -1: the line the edit landed on; None: any line or none
    file: str | None = None  # the file the message names, when not the one edited


# nine levels of ten aliases each: under a KB of YAML, 10^9 values once expanded
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))


def _copy_mdoc(name: str, old: str = "", new: str = "") -> Callable[[Path], None]:
    """A second tilt series: the real mdoc under another name (frames renamed unless same=True), edited."""
    def make(root: Path) -> None:
        text = (root / MDOC).read_text().replace("TS_01_", f"{name}_")
        (root / f"data/mdoc/{name}.mdoc").write_text(text.replace(old, new) if old else text)
        for f in (root / "data/frames").glob("TS_01_*"):
            (root / "data/frames" / f.name.replace("TS_01_", f"{name}_")).write_bytes(f.read_bytes())
    return make


def _edit(path: Path, old: str, new: str) -> None:
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))


def _glob_loop(root: Path) -> None:
    """A ** glob over a directory holding two links to itself: glob.glob would walk 2^n paths."""
    _edit(root / "pipeline.yaml", "frames: data/frames/*.mrc", "frames: data/**/*.mrc")
    (root / "data/frames/loop_a").symlink_to(".")
    (root / "data/frames/loop_b").symlink_to(".")


def _same_frames(root: Path) -> None:
    shutil.copy(root / MDOC, root / "data/mdoc/TS_01_copy.mdoc")


def _montage(root: Path) -> None:
    shutil.copy(REAL / "teamtomo-mdocfile/montage_section.mdoc", root / "data/mdoc/grid.mdoc")


CASES: dict[str, Case] = {
    # --- pipeline.yaml as YAML ---
    "yaml_syntax": Case("pipeline", "name: quickstart", "name: [quickstart", r"YAML syntax error", None),
    "tab_indent": Case("pipeline", "  frames: data", "\tframes: data", r"YAML syntax error", 9),
    "duplicate_job": Case("pipeline", "  ctf:         {type: ts_ctf}\n", "  ctf:         {type: ts_ctf}\n  ctf:         {type: ts_ctf}\n",
                          r"duplicate key 'ctf'", 24),
    "duplicate_top_key": Case("pipeline", "name: quickstart\n", "name: quickstart\nname: again\n", r"duplicate key 'name'", 6),
    "nul_byte": Case("pipeline", "name: quickstart", b"name: quick\0start", r"a NUL byte: not a text file", 5),
    "not_utf8": Case("pipeline", "name: quickstart", b"name: quick\xffstart", r"byte 0xff is not UTF-8", 5),
    "control_char": Case("pipeline", "name: quickstart", "name: quick\x07start", r"control character|YAML error", None),
    "deep_nesting": Case("pipeline", "", "x: " + "[" * 60 + "]" * 60 + "\n", r"nested more than 32 levels", 25),
    "deep_block_nesting": Case("pipeline", "", "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n",
                               r"nested more than 32 levels", None),
    "alias_bomb": Case("pipeline", "", ALIAS_BOMB,
        r"more than 100000 values once aliases are expanded", None),
    "too_large": Case("pipeline", "", "#" + "x" * 10_000_000 + "\n", r"MB: too large for a YAML file", None),
    "top_level_list": Case("pipeline", "cryocc: 1\n", "- cryocc: 1\n", r"YAML syntax error|mapping|expected", None),
    "unknown_top_key": Case("pipeline", "name: quickstart\n", "name: quickstart\nnmae: x\n", r"unknown key 'nmae'", 6),
    "spec_version": Case("pipeline", "cryocc: 1", "cryocc: 2", r"cryocc", 4),
    "spec_version_true": Case("pipeline", "cryocc: 1", "cryocc: true", r"cryocc: expected 1, found True", 4),
    "name_unsafe": Case("pipeline", "name: quickstart", 'name: "quick start"', r"name", 5),
    "name_newline": Case("pipeline", "name: quickstart", 'name: "quick\\nstart"', r"name", 5),
    "no_data": Case("pipeline", "data:\n  frames: data/frames/*.mrc\n  mdocs: data/mdoc/*.mdoc\n",
                    "dat:\n  frames: data/frames/*.mrc\n  mdocs: data/mdoc/*.mdoc\n",
                    r"unknown key 'dat'|required", None),
    "no_jobs": Case("pipeline", "jobs:\n", "jobs: {}\nunused:\n", r"jobs|unknown key", None),
    # --- jobs ---
    "unknown_job_type": Case("pipeline", "{type: ts_ctf}", "{type: tsCTF}", r"unknown job type 'tsCTF'", 23),
    "unknown_param": Case("pipeline", "sample_thickness_nm: 150", "sample_thicknes_nm: 150", r"unknown parameter 'sample_thicknes_nm'", 22),
    "wrong_type": Case("pipeline", "{rescale_angpixs: 10}", "{rescale_angpixs: two}", r"found 'two'", 24),
    "param_true": Case("pipeline", "sample_thickness_nm: 150", "sample_thickness_nm: true", r"sample_thickness_nm: expected a valid number, found True", 22),
    "out_of_range": Case("pipeline", "sample_thickness_nm: 150", "sample_thickness_nm: 5000", r"less than or equal to 1000", 22),
    "unknown_upstream": Case("pipeline", "{type: ts_ctf}", "{type: ts_ctf, inputs: {tilt_series: alignn}}", r"no job named 'alignn'", 23),
    "input_not_produced": Case("pipeline", "{type: ts_ctf}", "{type: ts_ctf, inputs: {tilt_series: import}}",
                               r"produces nothing that input 'tilt_series' consumes", 23),
    "unknown_input_slot": Case("pipeline", "{type: ts_ctf}", "{type: ts_ctf, inputs: {tilts: align}}", r"tilts", 23),
    "cycle": Case("pipeline", "", "  dt: {type: denoise_train, inputs: {tomograms: dp}}\n"
                  "  dp: {type: denoisepredict, inputs: {tomograms: reconstruct, model: dt}}\n", r"dependency cycle: dt -> dp -> dt", 25),
    "name_dots": Case("pipeline", "  ctf:  ", "  ../x:  ", r"job name '\.\./x' is not a safe name", 23),
    "name_space": Case("pipeline", "  ctf:  ", "  my ctf:  ", r"job name 'my ctf' is not a safe name", 23),
    "name_slash": Case("pipeline", "  ctf:  ", "  a/b:  ", r"job name 'a/b' is not a safe name", 23),
    "name_exit": Case("pipeline", "  ctf:  ", "  EXIT:  ", r"job name 'EXIT' is not a safe name", 23),
    "name_newline_key": Case("pipeline", "  ctf:  ", '  "c\\ntf":  ', r"is not a safe name", 23),
    "name_too_long": Case("pipeline", "  ctf:  ", "  " + "c" * 65 + ":  ", r"is not a safe name", 23),
    "name_digit": Case("pipeline", "  ctf:  ", "  1ctf:  ", r"job name '1ctf' is not a safe name", 23),
    "job_not_mapping": Case("pipeline", "{type: ts_ctf}", "tsCtf", r"ctf", 23),
    "job_without_type": Case("pipeline", "{type: ts_ctf}", "{params: {}}", r"type", 23),
    "job_unknown_key": Case("pipeline", "{type: ts_ctf}", "{type: ts_ctf, parms: {}}", r"unknown key 'parms'", 23),
    # --- resources, as sbatch reads them ---
    "time_99_99": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "99:99"}', r"seconds must be below 60", 16),
    "time_01_99_00": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "01:99:00"}', r"minutes must be below 60", 16),
    "time_zero": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "0"}', r"zero means no limit", 16),
    "time_25_hours": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "1-25:00:00"}', r"hours must be below 24", 16),
    "time_words": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "two hours"}', r"expected a SLURM wall time", 16),
    "mem_words": Case("pipeline", "resources: {mem: 2G}", "resources: {mem: lots}", r"expected SLURM memory", 24),
    "mem_zero": Case("pipeline", "resources: {mem: 2G}", "resources: {mem: 0G}", r"expected SLURM memory", 24),
    "mem_negative": Case("pipeline", "resources: {mem: 2G}", "resources: {mem: -1G}", r"expected SLURM memory", 24),
    "mem_unit": Case("pipeline", "resources: {mem: 2G}", "resources: {mem: 2GB}", r"expected SLURM memory", 24),
    "cpus_zero": Case("pipeline", "resources: {mem: 2G}", "resources: {cpus: 0}", r"greater than or equal to 1", 24),
    "cpus_words": Case("pipeline", "resources: {mem: 2G}", "resources: {cpus: many}", r"found 'many'", 24),
    "gpus_negative": Case("pipeline", "resources: {mem: 2G}", "resources: {gpus: -1}", r"greater than or equal to 0", 24),
    "gpus_many": Case("pipeline", "resources: {mem: 2G}", "resources: {gpus: 99}", r"less than or equal to 16", 24),
    "partition_newline": Case("pipeline", "resources: {mem: 2G}", 'resources: {partition: "gpu\\ntouch X"}', r"control character", 24),
    "partition_subst": Case("pipeline", "resources: {mem: 2G}", 'resources: {partition: "$(touch X)"}', r"partition names", 24),
    "constraint_newline": Case("pipeline", "resources: {mem: 2G}", 'resources: {constraint: "a100\\ntouch X #"}', r"control character", 24),
    "constraint_backtick": Case("pipeline", "resources: {mem: 2G}", 'resources: {constraint: "`touch X`"}', r"SLURM constraint", 24),
    "sbatch_newline": Case("pipeline", "resources: {mem: 2G}", 'resources: {sbatch: ["--qos=high\\ntouch X"]}', r"control character", 24),
    "sbatch_semicolon": Case("pipeline", "resources: {mem: 2G}", 'resources: {sbatch: ["--qos=high;touch X"]}', r"one sbatch option", 24),
    "sbatch_not_option": Case("pipeline", "resources: {mem: 2G}", 'resources: {sbatch: ["qos=high"]}', r"one sbatch option", 24),
    "mem_true": Case("pipeline", "resources: {mem: 2G}", "resources: {mem: true}",
                     r"mem: expected SLURM memory \(e\.g\. 32G\), found True(.|\n)*hint: mem: .*from 1 MB to 1048576T", 24),
    "time_true": Case("pipeline", 'resources: {time: "00:20:00"}', "resources: {time: true}",
                      r"time: expected a SLURM wall time \(e\.g\. 02:00:00\), found True", 16),
    "cpus_true": Case("pipeline", "resources: {mem: 2G}", "resources: {cpus: true}", r"cpus: expected a valid integer, found True", 24),
    "time_beyond_slurm": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "24855-03:15:00"}',
                              r"longer than SLURM takes: wall times run from 1 minute to 24855-03:14:00", 16),
    "time_minutes_beyond_slurm": Case("pipeline", 'resources: {time: "00:20:00"}', "resources: {time: 35791395}",
                                      r"wall times run from 1 minute to 24855-03:14:00", 16),
    "mem_beyond_slurm": Case("pipeline", "resources: {mem: 2G}", "resources: {mem: 1048577T}", r"from 1 \(MB\) to 1048576T", 24),
    "integer_of_5000_digits": Case("pipeline", "{rescale_angpixs: 10}", "{rescale_angpixs: " + "1" * 5000 + "}", r"a number of 5000 digits", 24),
    "integer_of_160_bits": Case("pipeline", "{rescale_angpixs: 10}", "{rescale_angpixs: 0x" + "f" * 40 + "}", r"160-bit integer: too large", 24),
    "resource_unknown": Case("pipeline", "resources: {mem: 2G}", "resources: {memory: 2G}", r"unknown key 'memory'", 24),
    # --- defaults: checked where written, even when a job overrides them ---
    "default_overridden_but_bad": Case("pipeline", 'resources: {time: "00:20:00"}',
                                       'resources: {time: "00:20:00"}\n  params: {tsReconstruct: {rescale_angpixs: two}}',
                                       r"defaults\.params\.tsReconstruct\.rescale_angpixs: .*found 'two'", 17),
    "default_unknown_type": Case("pipeline", 'resources: {time: "00:20:00"}',
                                 'resources: {time: "00:20:00"}\n  params: {tsCTF: {window: 512}}', r"tsCTF", 17),
    "default_bad_time": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "00:60:00"}', r"minutes must be below 60", 16),
    "default_bad_resource_overridden": Case("pipeline", 'resources: {time: "00:20:00"}', 'resources: {time: "00:20:00", mem: 2X}',
                                            r"defaults\.resources\.mem: expected SLURM memory", 16),
    # --- data ---
    "frames_match_nothing": Case("pipeline", "data/frames/*.mrc", "data/frames/*.eer", r"matches no file", 9),
    "mdocs_match_nothing": Case("pipeline", "data/mdoc/*.mdoc", "data/mdocs/*.mdoc", r"matches no file", 10),
    "gain_missing": Case("pipeline", "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  gain: data/gain.gain\n", r"gain", 11),
    "gain_operations": Case("pipeline", "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  gain_operations: rotate\n",
                            r"gain_operations", 11),
    "frame_check": Case("pipeline", "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  frame_check: never\n", r"frame_check", 11),
    "acquisition_unknown": Case("pipeline", "    voltage: 300", "    voltag: 300", r"unknown key 'voltag'", 12),
    "acquisition_true": Case("pipeline", "    voltage: 300", "    voltage: true", r"voltage: expected a valid number, found True", 12),
    "frames_glob_loop": Case("pipeline", "", _glob_loop, r"reaches the directory data/frames a second time, as data/frames/loop_a: a symlink loop",
                             None, "loop_a"),
    "acquisition_negative": Case("pipeline", "    dose_per_tilt: 3.0", "    dose_per_tilt: -3.0", r"greater than", 13),
    "frames_control_char": Case("pipeline", "data/frames/*.mrc", '"data/frames/\\n*.mrc"', r"control character", 9),
    "missing_dose": Case("pipeline", "    dose_per_tilt: 3.0            # and ExposureDose = 0 in every section\n", "",
                         r"no dose per tilt", 11),  # at data.acquisition, where it is to be given
    # --- mdocs ---
    "mdoc_cut_in_header": Case("mdoc", "[ZValue = 5]", lambda root: (root / MDOC).write_text(
        (root / MDOC).read_text().split("[ZValue = 5]")[0] + "[ZVal"), r"is not a section header", None),
    "mdoc_cut_in_line": Case("mdoc", "", lambda root: (root / MDOC).write_text((root / MDOC).read_text().split("TiltAngle = 3.00113")[0] + "TiltAng"),
                             r"is not a 'key = value' line", None),
    "mdoc_duplicate_zvalue": Case("mdoc", "[ZValue = 2]", "[ZValue = 1]", r"\[ZValue = 1\] appears twice", -1),
    "mdoc_tilt_not_number": Case("mdoc", "TiltAngle = 3.00113", "TiltAngle = three", r"is not a number", -1),
    "mdoc_nul": Case("mdoc", "TiltAngle = 3.00113", b"TiltAngle = 3.0\x0013", r"a NUL byte: not a text mdoc file"),
    "mdoc_not_utf8": Case("mdoc", "TiltAngle = 3.00113", b"TiltAngle = 3.0\xff13", r"byte 0xff is not UTF-8"),
    "mdoc_copied": Case("mdoc", "", _same_frames, r"two tilt series cannot share a movie", 29, "TS_01_copy.mdoc"),
    "mdoc_pixel_size_disagree": Case("pipeline", "", _copy_mdoc("TS_02", "PixelSpacing = 5.4", "PixelSpacing = 2.7"),
                                     r"disagree on pixel size", 8),
    "mdoc_missing_frame": Case("mdoc", "", lambda root: ((root / "data/frames/TS_01_007_-12.0.mrc").unlink(),
                                                         _edit(root / "pipeline.yaml", "  mdocs: data/mdoc/*.mdoc\n",
                                                               "  mdocs: data/mdoc/*.mdoc\n  incomplete: error\n")),
                               r"frame 'TS_01_007_-12\.0\.mrc' of \[ZValue = 7\] is not among the frames", 190),
    "no_tilt_series_complete": Case("pipeline", "", lambda root: (root / "data/frames/TS_01_007_-12.0.mrc").unlink(),
                                    r"no tilt series has all its frames yet: TS_01 \(40 of 41 frames\)", 8),
    "exclude_unknown": Case("pipeline", "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  exclude: {TS_1: bad ice}\n",
                            r"data\.exclude names TS_1, but no mdoc of data\.mdocs is TS_1\.mdoc", 11),
    "exclude_everything": Case("pipeline", "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  exclude: {TS_01: bad ice}\n",
                               r"data\.exclude leaves out every tilt series \(1\)", 11),
    "incomplete_policy": Case("pipeline", "  mdocs: data/mdoc/*.mdoc\n", "  mdocs: data/mdoc/*.mdoc\n  incomplete: wait\n",
                              r"incomplete", 11),
    "glob_list_empty": Case("pipeline", "  frames: data/frames/*.mrc", "  frames: []", r"at least 1", 9),
    "glob_in_list_matches_nothing": Case("pipeline", "  frames: data/frames/*.mrc", "  frames: [data/frames/*.mrc, session2/frames/*.mrc]",
                                         r"data\.frames matches no file: session2/frames/\*\.mrc", 9),
    "mdoc_name_semicolon": Case("mdoc", "", _copy_mdoc("TS;02"), r"tilt-series name 'TS;02' holds ';': names may hold only letters, digits",
                                None, "TS;02.mdoc"),
    "mdoc_montage": Case("mdoc", "", _montage, r"montage, not a tilt series", 5, "grid.mdoc"),
    # --- the site profile ---
    "site_missing": Case("pipeline", f"site: {SITE}", "site: locall", r"site profile 'locall' does not exist", 6),
    "site_unknown_key": Case("site", "submit: sbatch", "submitt: sbatch", r"unknown key 'submitt'", 6),
    "site_env_key_shell": Case("site", "", "job_script:\n  env: {\"X=1;touch X;Y\": v}\n", r"environment variable name", APPENDED + 1),
    "site_env_key_digit": Case("site", "", "job_script:\n  env: {1X: v}\n", r"environment variable name", APPENDED + 1),
    "site_env_value_newline": Case("site", "", "job_script:\n  env: {X: \"a\\ntouch X\"}\n", r"control character", APPENDED + 1),
    "site_setup_dollar": Case("site", "", "job_script:\n  setup: [\"module load $(touch X)\"]\n", r"plain words", APPENDED + 1),
    "site_setup_semicolon": Case("site", "", "job_script:\n  setup: [\"module load relion; touch X\"]\n", r"plain words", APPENDED + 1),
    "site_driver_shell": Case("site", "driver: cryocc_relion_driver", "driver: cryocc_relion_driver;touch X", r"expected words", 7),
    "site_submit_pipe": Case("site", "submit: sbatch", "submit: sbatch | tee x", r"expected words", 6),
    "site_relion_command": Case("site", "command: relion_schemer", "command: relion_schemer --x", r"expected an executable", 9),
    "site_cpus_words": Case("site", "{cpus: 1,", "{cpus: many,", r"found 'many'", 12),
    "site_time_bad": Case("site", 'time: "00:30:00"', 'time: "00:30:99"', r"seconds must be below 60", 12),
    "site_param_unknown": Case("site", "", "params:\n  tsCtf: {windw: 512}\n", r"unknown parameter 'windw'", APPENDED + 1),
    "site_nul": Case("site", "submit: sbatch", b"submit: sb\0atch", r"a NUL byte", 6),
    "site_not_utf8": Case("site", "submit: sbatch", b"submit: sb\xe9atch", r"is not UTF-8", 6),
    "site_name_unsafe": Case("site", "name: local", "name: ../local", r"name", 4),
    "site_yaml_syntax": Case("site", "tools: {}", "tools: {", r"YAML syntax error", None),
    "site_bind_comma": Case("site", "", 'container: {binds: ["/groups,/scratch"]}\n', r"without commas \(apptainer -B splits at , and :\)"),
    "site_bind_three_colons": Case("site", "", 'container: {binds: ["/a:/b:/c"]}\n', r"src:dest\[:ro\|rw\]"),
    "site_scratch_colon": Case("site", "", "scratch: /scratch:x\n", r"may not hold , or :"),
    "site_alias_bomb": Case("site", "", ALIAS_BOMB,
        r"more than 100000 values", None),
}


def _setup(tmp_path: Path, cli) -> tuple[Path, Path]:
    """The quickstart on its own copy of the local site profile, applied once."""
    pipeline = copy_examples(tmp_path / "examples", "quickstart")
    shutil.copy(ROOT / "config/sites/local.yaml", pipeline.parent / SITE)
    pipeline.write_text(pipeline.read_text().replace("site: local ", f"site: {SITE} ", 1))
    project = tmp_path / "project"
    cli("apply", pipeline, "--project", project)
    return pipeline, project


def _break(case: Case, pipeline: Path) -> tuple[Path, int | None]:
    """Apply the case's edit; returns the file it names and the line the edit landed on."""
    root = pipeline.parent
    path = {"pipeline": pipeline, "site": root / SITE, "mdoc": root / MDOC}[case.target]
    if callable(case.new):
        case.new(root)
        return path, None
    data = path.read_bytes()
    new = case.new if isinstance(case.new, bytes) else case.new.encode()
    if case.old:
        assert case.old.encode() in data, f"{case.old!r} not in {path}"
        at = data.index(case.old.encode())
        data = data[:at] + new + data[at + len(case.old.encode()):]
    else:
        at = len(data)
        data = data + new
    path.write_bytes(data)
    return path, data.count(b"\n", 0, at) + 1


def test_the_corpus_is_large_and_covers_every_input():
    assert len(CASES) >= 80
    assert {c.target for c in CASES.values()} == {"pipeline", "site", "mdoc"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_input_is_located_explained_and_changes_nothing(name, cli, tmp_path):
    case = CASES[name]
    pipeline, project = _setup(tmp_path, cli)
    before = tree(project)
    path, landed = _break(case, pipeline)
    line = landed if case.line == -1 else case.line
    for command in (["validate", pipeline], ["plan", pipeline, "--project", project], ["apply", pipeline, "--project", project]):
        result = cli(*command, code=None)
        err = result.stderr
        assert result.exit_code == 1, f"{command[0]}: exit {result.exit_code}\n{result.stdout}\n{err}"
        assert "Traceback" not in err, err
        first = err.splitlines()[0]
        m = re.match(r"error: (\S+?)(?::(\d+)(?::(\d+))?)?: ", first)
        assert m and m.group(1).endswith("/" + (case.file or path.name)), err
        if line is not None:
            assert m.group(2) and int(m.group(2)) == line, err
        assert re.search(case.fragment, err), err
        assert "\n  hint: " in err, err
    assert tree(project) == before


# --- property: no mutation of a valid spec or site profile ever gives a traceback ---------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["", "../x", "$(touch X)", "a\nb", "\0", "01:99:00", "-1G", "*", "~"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _paths(doc, prefix=()):
    """Every key path in a JSON-like document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _mutate(doc, path, how, value):
    import copy

    doc = copy.deepcopy(doc)
    if not path:
        return value if how == "replace" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if how == "delete":
        del parent[path[-1]]
    elif how == "replace":
        parent[path[-1]] = value
    elif isinstance(parent, dict):  # add a sibling key
        parent[str(value)[:12] or "k"] = value
    return doc


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    from ruamel.yaml import YAML

    root = tmp_path_factory.mktemp("property")
    pipeline = copy_examples(root / "examples", "quickstart")
    site = YAML(typ="safe").load((ROOT / "config/sites/local.yaml").read_text())
    spec = YAML(typ="safe").load(pipeline.read_text())
    spec["site"] = SITE
    return pipeline, spec, site


def _no_traceback(pipeline: Path, *texts: tuple[str, bytes]) -> None:
    from typer.testing import CliRunner

    from cryocc.cli import app

    for name, data in texts:
        (pipeline.parent / name).write_bytes(data)
    result = CliRunner().invoke(app, ["validate", str(pipeline)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1) and "Traceback" not in result.stderr
    if result.exit_code == 1:
        assert result.stderr.startswith("error: "), result.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.sampled_from(["spec", "site"]), pick=st.integers(0, 10**6), how=st.sampled_from(["replace", "delete", "add"]),
       value=VALUES)
def test_no_mutation_of_a_valid_spec_or_site_gives_a_traceback(valid, which, pick, how, value):
    import json

    pipeline, spec, site = valid
    target = spec if which == "spec" else site
    paths = list(_paths(target))
    mutated = _mutate(target, paths[pick % len(paths)], how, value)
    spec_doc, site_doc = (mutated, site) if which == "spec" else (spec, mutated)
    _no_traceback(pipeline, ("pipeline.yaml", json.dumps(spec_doc, default=str).encode()),  # JSON is YAML
                  (SITE, json.dumps(site_doc, default=str).encode()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.sampled_from(["pipeline.yaml", SITE]), at=st.integers(0, 10**6), cut=st.integers(0, 8), junk=st.binary(max_size=8))
def test_no_byte_level_damage_gives_a_traceback(valid, which, at, cut, junk):
    """Bytes inserted, cut or replaced anywhere in the files as users write them."""
    pipeline, _, _ = valid
    texts = {"pipeline.yaml": (ROOT / "examples/quickstart/pipeline.yaml").read_text().replace("site: local ", f"site: {SITE} ", 1).encode(),
             SITE: (ROOT / "config/sites/local.yaml").read_bytes()}
    data = texts[which]
    i = at % (len(data) + 1)
    texts[which] = data[:i] + junk + data[i + cut:]
    _no_traceback(pipeline, *texts.items())
