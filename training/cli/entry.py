"""How every training command line runs: a usage error is one line and exit code 1, like every other refusal."""

from __future__ import annotations

import sys

import typer


def run(app: typer.Typer) -> None:
    """Run `app` as its module's `__main__`; a usage error (an option given text where it takes a number, an unknown
    option, one missing) ends with one line naming it, not Click's usage block and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # typer's own Click's ClickException, UsageError and BadParameter
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {message} (`--help` lists the options)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
