"""Fail a build whose unzipped Lambda artifact is over a size budget, printing the size either way."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def folder_megabytes(folder: Path) -> float:
    """Total size of the files under `folder`, in MB (10^6 bytes), as Lambda counts the unzipped package."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()) / 1e6


def main(argv: list[str] | None = None) -> int:
    """Print the artifact's size; exit 1 when it is over the limit."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit-mb", type=float, default=150.0)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder} does not exist; run `make build` first", file=sys.stderr)
        return 1
    size = folder_megabytes(args.folder)
    verdict = "OK" if size <= args.limit_mb else "TOO LARGE"
    print(f"{args.folder}: {size:.1f} MB unzipped (limit {args.limit_mb:.0f} MB; Lambda's hard limit 250 MB) {verdict}")
    return 0 if size <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
