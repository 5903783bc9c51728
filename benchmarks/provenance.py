"""Where and when a benchmark ran (the commit, the UTC date and the machine), and what every result row carries over
from its run's metrics."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

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
        "machine": f"{platform.machine()}{_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def _cpu() -> str:
    """The CPU's model name after a space, or nothing where the system does not say: two machines of one architecture
    and core count ran the same cases over twice as fast as each other, so times compare only on one CPU."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name") and ":" in line]
    return f" {names[0]}" if names and names[0] else ""


def with_earlier_peers(row: dict[str, Any], earlier: dict[str, Any] | None) -> dict[str, Any]:
    """A case re-run without --peers keeps the peers an earlier run measured on the very same split, with the commit,
    date and machine they were measured on (`peers_measured_on`).

    The peers never see our model, only the split, so a change to our model does not change them, and refitting
    TF-IDF + LinearSVC at 1,000 classes takes an hour. The split is the same when each part holds as many rows.
    """
    if "peers" in row or not earlier or "peers" not in earlier:
        return row
    if any(row.get(part) != earlier.get(part) for part in ("n_train", "n_validation", "n_test")):
        return row
    provenance = earlier.get("peers_measured_on") or {key: earlier[key] for key in ("commit", "date", "machine")}
    return row | {"peers": earlier["peers"], "peers_measured_on": provenance}


def reported_operating_points(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The operating points a result row keeps: the answered class's ("leaf") and, with path labels, the whole
    decision's ("decision": the class, else the deepest level of its path that is sure enough), the share a team can
    file automatically either way. The per-level thresholds between them are in the run's own metrics."""
    return [point for point in metrics.get("operating_points", []) if point["level"] in ("leaf", "decision")]
