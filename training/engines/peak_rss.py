"""A process's own peak resident memory, for the engines' reports of what a run needed.

Not ru_maxrss on Linux: Linux carries the high-water mark of the process that started this one across fork+exec,
so a Dask worker started by the driver (or a driver started by a benchmark that once held a catalogue) would report
at least that parent's peak. VmHWM is the process's own.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def own_peak_rss_mb() -> int:
    """This process's peak resident memory in MB: VmHWM where there is a /proc, else ru_maxrss."""
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return round(peak / 1024 / (1024 if sys.platform == "darwin" else 1))
