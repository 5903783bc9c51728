"""Settings read from the environment, where an empty value means "not given".

The Makefile exports every user variable (`export $(USER_VARIABLES)`), and make exports a variable the user did
not set as an empty string: `os.environ.get("WORKER_MEMORY", "4GiB")` would then return "" instead of the default.
"""

from __future__ import annotations

import os


def environment_setting(name: str, default: str) -> str:
    """The value of environment variable `name`, or `default` when it is unset or empty."""
    return os.environ.get(name) or default
