"""The command lines' logging."""

from __future__ import annotations

import io
import logging
import sys

from training.cli.logging_setup import configure_logging


def test_records_go_to_stderr_as_it_is_when_logged_not_when_logging_was_set_up(monkeypatch, capsys):
    # GIVEN logging set up while a caller (a test runner, a notebook) had swapped stderr for a stand-in it then closed
    stand_in = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stand_in)
    configure_logging()
    stand_in.close()
    monkeypatch.undo()

    # WHEN a later record is logged
    logging.getLogger("training.test").warning("after the stand-in closed")

    # THEN it reaches the stderr of the moment, and no "--- Logging error ---" traceback does
    printed = capsys.readouterr().err
    assert "after the stand-in closed" in printed
    assert "Logging error" not in printed
