"""cryocc's STAR reader holds to RELION's own rules (src/metadata_table.cpp: readStarLoop, readStarList;
src/strings.cpp: nextTokenInSTAR), checked on the real crboost scheme and against starfile."""

from __future__ import annotations

from pathlib import Path

import pytest
import starfile
from conftest import REAL

from cryocc.errors import ProjectError
from cryocc.star import parse_star, read_star

SCHEME = REAL / "crboost_server/config/Schemes/warp_tomo_prep/scheme.star"
TEXT = SCHEME.read_text()
LAST_LABEL = "_rlnSchemeFloatVariableResetValue #3 \n"  # of data_scheme_floats, 3 labels and 3 rows
FIRST_ROW = "do_at_most   500.000000   500.000000 "


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scheme.star"
    path.write_text(text)
    return path


def _line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def test_the_real_scheme_reads_as_starfile_reads_it():
    ours, theirs = read_star(SCHEME), starfile.read(SCHEME, always_dict=True)
    assert list(ours) == list(theirs)
    for name, block in ours.items():
        if isinstance(block, list):
            assert len(block) == len(theirs[name]) and list(block[0]) == list(theirs[name].columns), name
        else:
            assert {k: str(v) for k, v in block.items()} == {k: str(v) for k, v in theirs[name].items()}, name


@pytest.mark.parametrize("between", ["\n", "# a comment\n", "\n# a comment\n\n", "; a semicolon line\n"])
def test_blank_lines_and_comments_between_labels_and_rows_are_skipped(tmp_path, between):
    """RELION skips them (readStarLoop); cryocc read an empty loop, or the comment as a row."""
    path = _write(tmp_path, TEXT.replace(LAST_LABEL, LAST_LABEL + between))
    rows = read_star(path)["scheme_floats"]
    assert [r["rlnSchemeFloatVariableName"] for r in rows] == ["do_at_most", "maxtime_hr", "wait_sec"]
    if not between.startswith(";"):  # starfile agrees, but for the ';' line RELION skips too
        assert len(starfile.read(path, always_dict=True)["scheme_floats"]) == 3


def test_a_comment_between_labels_is_skipped():
    text = TEXT.replace("_rlnSchemeFloatVariableValue #2 \n", "_rlnSchemeFloatVariableValue #2 \n# note\n")
    assert parse_star(text)["scheme_floats"][0] == {"rlnSchemeFloatVariableName": "do_at_most", "rlnSchemeFloatVariableValue": "500.000000",
                                                    "rlnSchemeFloatVariableResetValue": "500.000000"}


@pytest.mark.parametrize("row, count", [
    ("maxtime_hr    48.000000", "2 values in a loop of 3 labels"),
    ("maxtime_hr    48.000000    48.000000   7", "4 values in a loop of 3 labels"),
    ("# a comment where a row is", "0 values in a loop of 3 labels"),
], ids=["too few", "too many", "a comment row"])
def test_a_row_with_too_few_or_too_many_values_is_an_error_at_its_line(tmp_path, row, count):
    """RELION stops there ('contains fewer/more columns than the number of labels'); cryocc read a row
    short of a value, or dropped the extra one, and went on. (Among the labels a comment is skipped.)"""
    text = TEXT.replace("maxtime_hr    48.000000    48.000000 ", row)
    path = _write(tmp_path, text)
    with pytest.raises(ProjectError) as info:
        read_star(path)
    assert f"data_scheme_floats: a row of {count}" in info.value.message
    assert info.value.location.file == str(path) and info.value.location.line == _line_of(text, row)
    assert "RELION stops here too" in info.value.hint


def test_a_value_missing_in_a_loop_of_two_labels_is_empty_as_in_relion():
    """RELION's one exception (metadata_table.cpp: 'fn_mtf <empty>', num_labels == 2)."""
    text = "data_pipeline_nodes\n\nloop_\n_rlnPipeLineNodeName #1\n_rlnPipeLineNodeTypeLabel #2\nImport/job001/tilt_series.star\n\n"
    assert parse_star(text)["pipeline_nodes"] == [{"rlnPipeLineNodeName": "Import/job001/tilt_series.star", "rlnPipeLineNodeTypeLabel": ""}]


def test_a_comment_after_a_rows_values_is_not_a_value():
    text = TEXT.replace(FIRST_ROW, FIRST_ROW + "# the limit")
    assert parse_star(text)["scheme_floats"][0]["rlnSchemeFloatVariableResetValue"] == "500.000000"


def test_a_label_without_its_value_is_an_error_at_its_line():
    text = TEXT.replace("_rlnSchemeCurrentNodeName            WAIT", "_rlnSchemeCurrentNodeName")
    with pytest.raises(ProjectError, match="data_scheme_general: _rlnSchemeCurrentNodeName has no value") as info:
        parse_star(text, "scheme.star")
    assert info.value.location.line == _line_of(text, "_rlnSchemeCurrentNodeName")


def test_a_byte_order_mark_keeps_the_first_block(tmp_path):
    """RELION finds 'data_' anywhere in the line; cryocc looked for it at the start, behind the BOM."""
    path = tmp_path / "scheme.star"
    path.write_text(TEXT.lstrip().removeprefix("# version 50001\n\n"), encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfdata_scheme_general")
    assert read_star(path) == read_star(SCHEME)
    assert "scheme_general" in starfile.read(path, always_dict=True)
