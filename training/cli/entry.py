"""How every training command line runs: a usage error is one line and exit code 1, like every other refusal."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from types import FrameType


def run(app: typer.Typer) -> None:
    """Run `app` as its module's `__main__`; a usage error (an option given text where it takes a number, an unknown
    option, one missing) ends with one line naming it, not Click's usage block and exit code 2. SIGTERM (a `kill`,
    a CI job cancelled, a container stopped) exits as Ctrl-C does, through the commands' own clean-up, so no staging
    folder is left beside OUT."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # typer's own Click's ClickException, UsageError and BadParameter
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {message} (`--help` lists the options)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as an exit with the shell's code for it (128 + 15), raised where the command is, so `finally` runs."""
    raise SystemExit(128 + signum)
