"""YAML mistakes said in words: what is wrong, at which line and column, and how to fix it; never the
parser's states (`<block end>`, `<block mapping start>`) nor pydantic's `found None`."""

from __future__ import annotations

import pytest

HEAD = "cryocc: 1\nname: x\nsite: local\n"
JOBS = "jobs:\n  a: {type: import_movies}\n"

# name: (the file, its line:col in the message, the message, the hint)
CASES = {
    "indented_less_than_its_siblings": (
        HEAD + "data:\n    frames: a\n  mdocs: b\n" + JOBS, "6:3",
        "line 6 is indented 2 spaces, which lines up with no key above it",
        "indent it with 4 spaces (beside line 5) or 0 spaces (beside line 4)"),
    "indented_further_than_a_key_with_a_value": (
        HEAD + "data:\n  frames: a\n   mdocs: b\n" + JOBS, "6:4",
        "line 6 is indented further than line 5, as if it went on with line 5's value",
        "indent it with 2 spaces like line 5 to make it a key beside it; or, to nest it below line 5's key, end line 5 at its ':'"),
    "a_tab": (
        HEAD + "data:\n\tframes: a\n" + JOBS, "5:1",
        "a tab character", "YAML does not allow tabs for indentation: indent with spaces"),
    "an_unclosed_bracket": (
        HEAD + "data:\n  frames: [a, b\n  mdocs: b\n" + JOBS, "5:11",
        "the '[' at line 5, column 11 is not closed: ':' at line 6, column 8 comes before its ']'",
        "close it with ']'"),
    "an_unclosed_brace_at_the_end": (
        HEAD + "data: {frames: a, mdocs: b\n", "4:7",
        "the '{' at line 4, column 7 is not closed: the file ends before its '}'", "close it with '}'"),
    "a_bracket_left_open_at_the_end": (
        HEAD + JOBS + "data: {frames: a, mdocs: [", "6:26",
        "the '[' at line 6, column 26 is not closed: the file ends before its ']'", "close it with ']'"),
    "a_bracket_left_open_before_a_comment_at_the_end": (
        HEAD + JOBS + "data:\n  frames: a\n  mdocs: ['b]', \n# the end ]\n", "8:10",
        "the '[' at line 8, column 10 is not closed: the file ends before its ']'", "close it with ']'"),
    "an_unclosed_quote": (
        HEAD + 'data:\n  frames: "a/*.eer\n  mdocs: b\n' + JOBS, "5:11",
        'the quote (") at line 5, column 11 is never closed', 'end the value with a matching "'),
    "a_backslash_in_double_quotes": (
        HEAD + 'data:\n  frames: "C:\\data\\x.eer"\n' + JOBS, "5:15",
        "\\d is not an escape YAML knows", "use '...' for paths with backslashes"),
    "a_missing_colon_before_a_key": (
        HEAD + "data:\n  frames a\n  mdocs: b\n" + JOBS, "5:3",
        "no ':' after the key in 'frames a' (line 5)", "write key: value, with a space after the ':'"),
    "a_missing_colon_at_the_top": (
        "cryocc: 1\nname x\nsite: local\n" + JOBS, "2:1",
        "no ':' after the key in 'name x'", "write key: value"),
    "a_value_holding_colon_space": (
        HEAD + "data:\n  frames: a: b\n" + JOBS, "5:12",
        "a second ': ' on one line (the value holds ': ')", "put the value in quotes (key: 'a: b')"),
    "a_list_item_among_keys": (
        HEAD + "data:\n  frames: a\n  - mdocs: b\n" + JOBS, "6:3",
        "a list item ('- ') among the keys of a mapping", "put the list under a key of its own"),
    "a_list_on_the_line_of_its_key": (
        HEAD + "data:\n  frames: - a\n" + JOBS, "5:11",
        "a list item ('- ') on the same line as its key", "start the list on the next line"),
    "a_key_among_list_items": (
        HEAD + "data:\n  frames:\n    - a\n    mdocs: b\n" + JOBS, "7:5",
        "a key among the items of a list", "each item of a list starts with '- '"),
    "text_after_a_quoted_value": (
        HEAD + 'data:\n  frames: "a" b\n' + JOBS, "5:15",
        "more text after the value ends, at column 15", "put the whole value in quotes"),
    "an_empty_section": (
        HEAD + "data:\n" + JOBS, "4:1",
        "data: empty, but it takes a mapping", "write its keys (frames, mdocs required; cryocc schema lists all) on the lines below 'data:'"),
    "an_empty_job": (
        HEAD + "data: {frames: a, mdocs: b}\njobs:\n  a:\n", "6:3",
        "jobs.a: empty, but it takes a mapping", "write its keys (type required"),
    "an_empty_value": (
        HEAD + "data:\n  frames:\n  mdocs: b\n" + JOBS, "5:3",
        "data.frames: empty: nothing follows the ':'", "write the value after 'frames: ' (glob of movie frames"),
    "a_list_where_a_mapping_is_expected": (
        HEAD + "data:\n  - frames: a\n  - mdocs: b\n" + JOBS, "5:3",
        "data: a list ('- ' items) where a mapping is expected", "as key: value lines, without the '- '"),
    "an_undefined_alias": (
        HEAD + "data: *common\n" + JOBS, "4:7",
        "*common refers to no anchor &common above it", "define &common earlier in the file"),
}
JARGON = ("<block end>", "<block mapping start>", "found None", "cannot start any token", "<scalar>", "<stream end>",
          "while scanning", "while parsing", "instance of")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_yaml_mistake_is_said_in_words_at_its_line_with_a_fix(case, cli, tmp_path):
    text, where, message, hint = CASES[case]
    (tmp_path / "pipeline.yaml").write_text(text)
    err = cli("validate", str(tmp_path / "pipeline.yaml"), code=1).stderr
    first = err.splitlines()[0]
    assert first.startswith(f"error: {tmp_path}/pipeline.yaml:{where}: "), err
    assert message in first, err
    assert f"hint: {hint}" in err.splitlines()[1] or hint in err.splitlines()[1], err
    assert not any(word in err for word in JARGON), err
    assert "Traceback" not in err


def test_an_unknown_parser_complaint_keeps_the_parsers_words(tmp_path):
    """Where nothing better is known, the parser's own text stays, as a detail."""
    from ruamel.yaml.error import MarkedYAMLError, StreamMark

    from cryocc.schema.yaml_syntax import syntax_error

    exc = MarkedYAMLError(context="while doing something", context_mark=StreamMark("f", 0, 0, 0),
                          problem="found something odd", problem_mark=StreamMark("f", 3, 1, 2))
    e = syntax_error(exc, "a: 1\nb: 2\n", "f.yaml")
    assert e.render() == "f.yaml:2:3: YAML syntax error: while doing something: found something odd\n" \
                         "  hint: check indentation and quoting near this position"


def test_the_end_of_the_file_where_no_bracket_is_open_is_said_in_words(tmp_path):
    from ruamel.yaml.error import MarkedYAMLError, StreamMark

    from cryocc.schema.yaml_syntax import syntax_error

    exc = MarkedYAMLError(context="while parsing a block node", context_mark=StreamMark("f", 5, 1, 0),
                          problem="expected the node content, but found '<stream end>'", problem_mark=StreamMark("f", 5, 1, 0))
    e = syntax_error(exc, "a: 1\nb: '[' # {\n", "f.yaml")
    assert e.render() == "f.yaml:2:1: YAML syntax error: the file ends where a value is expected\n" \
                         "  hint: finish the last value, or remove it"
