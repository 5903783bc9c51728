"""`make release-id`: one sha256 for what a deploy serves, the built function's files and the model's checksum.

It feeds the template's ReleaseId (AutoPublishCodeSha256), so a change of code *or* of the S3 model
publishes a new Lambda version, and with it a canary rollout and the pre-traffic check.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path


def release_id(function_dir: Path, model_sha256: str) -> str:
    """sha256 over every file's relative path and content (in path order), then the model's checksum.

    Raises:
        FileNotFoundError: The build folder does not exist (run `make build` first).
    """
    if not function_dir.is_dir():
        raise FileNotFoundError(f"{function_dir} not found; run `make build` first")
    digest = hashlib.sha256()
    for path in sorted(p for p in function_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(function_dir).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(model_sha256.encode())
    return digest.hexdigest()


def main() -> None:
    """CLI entry: print the release id."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function_dir", type=Path)
    parser.add_argument("--model-sha256", default="", help="ModelSha256 of the S3 model; empty for a bundled one")
    args = parser.parse_args()
    try:
        print(release_id(args.function_dir, args.model_sha256))
    except FileNotFoundError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
