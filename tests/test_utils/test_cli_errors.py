"""mmdistillmot.utils.cli_errors: one line per error, the traceback only under --debug."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mmdistillmot.utils import (
    add_debug_flag,
    cli_error_status,
    cli_errors,
    format_cli_error,
    one_line,
)


def test_one_line_joins_lines_and_unquotes_key_errors() -> None:
    assert one_line(ValueError("a.txt:3: bad\n  value  here")) == "a.txt:3: bad value here"
    assert one_line(KeyError("'Foo' is not in the mmdet::model registry")) == (
        "'Foo' is not in the mmdet::model registry"
    )  # str(KeyError) would add a second pair of quotes
    assert one_line(RuntimeError()) == "RuntimeError"


def test_known_errors_end_in_one_line_others_keep_their_traceback() -> None:
    with pytest.raises(SystemExit) as done, cli_errors():
        raise FileNotFoundError("OSNetTeacher(osnet_x0_25): weight file 'w.pth' does not exist.")
    message = str(done.value.code)  # what Python prints on stderr, with exit status 1
    assert message == (
        "error: OSNetTeacher(osnet_x0_25): weight file 'w.pth' does not exist. "
        "(--debug shows the traceback)"
    )
    with pytest.raises(FileNotFoundError, match="w.pth"), cli_errors(debug=True):
        raise FileNotFoundError("weight file 'w.pth' does not exist.")
    with pytest.raises(TypeError), cli_errors():  # a bug, not a bad input
        raise TypeError("unsupported operand")


def test_project_errors_name_their_class() -> None:
    from mmdistillmot.models.teachers.weights import TeacherWeightsError

    err = TeacherWeightsError("T: weight file 'w.pth' lacks 3 of the network's 5 keys")
    assert format_cli_error(err).startswith("error: TeacherWeightsError: T: weight file 'w.pth'")


def test_status_returning_tools(capsys) -> None:
    assert cli_error_status(ValueError("bad.json:2: no 'id'"), status=2) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: bad.json:2: no 'id'")
    with pytest.raises(ValueError, match="bad.json"):
        cli_error_status(ValueError("bad.json:2: no 'id'"), debug=True)


def test_debug_flag() -> None:
    parser = argparse.ArgumentParser()
    add_debug_flag(parser)
    assert parser.parse_args([]).debug is False and parser.parse_args(["--debug"]).debug is True


def test_real_mismatched_weight_file_is_one_line_naming_it(assets_root: Path) -> None:
    """OSNet x0.25 MSMT17 weights given to an OSNet x0.5: the teacher refuses them."""
    from mmdistillmot.models.teachers import OSNetTeacher

    weights = assets_root / "weights" / "osnet_x0_25_msmt17.pth"
    with pytest.raises(SystemExit) as done, cli_errors():
        OSNetTeacher(arch="osnet_x0_5", weights=str(weights), crop_size=(64, 32))
    message = str(done.value.code)
    assert "\n" not in message and message.startswith("error: TeacherWeightsError: ")
    assert str(weights) in message
