"""Fail a build whose unzipped Lambda artifact Lambda would refuse, printing the size either way and saying when it
is over the serving budget (a larger package starts more slowly, but still deploys)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Lambda's hard limit on a function's unzipped package (zip deployment).
LAMBDA_LIMIT_MB = 250.0
# What the PriceRunner function is held to (docs/measured.md): a 5,000-category model's build is over it, and fine.
BUDGET_MB = 150.0


def folder_megabytes(folder: Path) -> float:
    """Total size of the files under `folder`, in MB (10^6 bytes), as Lambda counts the unzipped package."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()) / 1e6


def main(argv: list[str] | None = None) -> int:
    """Print the artifact's size; exit 1 when it is over the limit."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit-mb", type=float, default=LAMBDA_LIMIT_MB)
    parser.add_argument("--budget-mb", type=float, default=BUDGET_MB)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder} does not exist; run `make build` first", file=sys.stderr)
        return 1
    size = folder_megabytes(args.folder)
    if size > args.limit_mb:
        verdict = "TOO LARGE"
    elif size > args.budget_mb:
        verdict = f"OK, over the {args.budget_mb:.0f} MB budget (a larger package starts more slowly)"
    else:
        verdict = "OK"
    print(f"{args.folder}: {size:.1f} MB unzipped (limit {args.limit_mb:.0f} MB, Lambda's for a zip package) {verdict}")
    return 0 if size <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
