"""Where and when a benchmark ran: the commit, the UTC date and the machine, recorded with every result row."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measured_on() -> dict[str, str]:
    """The commit (with `-dirty` when the code has changes), the UTC date and the machine of this run."""
    git = ["git", "-C", str(ROOT)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        # The result files a run writes as it goes are not the code it measured.
        status = [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"]
        dirty = subprocess.run(status, capture_output=True, text=True)
        head = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        head = "unknown"
    return {
        "commit": head,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
