"""`make prune-versions FUNCTION= KEEP=`: delete old published versions of the classifier function.

Every deploy publishes a version and SAM retains the old ones; with SnapStart each cached version is billed.
This keeps the newest KEEP versions plus every version an alias routes to (its target and any canary weight),
so the live version and a running rollout are never touched.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.aws_client import aws_client
from infra.exceptions import InfraError


def protected_versions(client: Any, function: str) -> set[str]:
    """Versions some alias points at, fully or through a routing (canary) weight."""
    protected: set[str] = set()
    for page in client.get_paginator("list_aliases").paginate(FunctionName=function):
        for alias in page["Aliases"]:
            protected.add(alias["FunctionVersion"])
            protected |= set((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {}))
    return protected


def check_keep(keep: int) -> None:
    """At least the newest version stays.

    Raises:
        InfraError: `keep` is below 1.
    """
    if keep < 1:
        raise InfraError(f"KEEP must be at least 1, got {keep}")


def keep_count(text: str) -> int:
    """KEEP as a count of versions, read here so that text is one line naming the variable, not argparse's usage.

    Raises:
        InfraError: Not a whole number of at least 1.
    """
    try:
        keep = int(text)
    except ValueError:
        raise InfraError(f"KEEP must be a whole number of versions, at least 1, got {text!r}") from None
    check_keep(keep)
    return keep


def prune(client: Any, function: str, keep: int) -> list[str]:
    """Delete all published versions but the newest `keep` and the protected ones; return those deleted.

    Raises:
        InfraError: `keep` is below 1, or Lambda refused a call (the message names it).
    """
    check_keep(keep)
    try:
        published = sorted(
            (
                int(version["Version"])
                for page in client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
                for version in page["Versions"]
                if version["Version"] != "$LATEST"
            ),
            reverse=True,
        )
        protected = protected_versions(client, function)
        doomed = [str(number) for number in published[keep:] if str(number) not in protected]
        for version in doomed:
            client.delete_function(FunctionName=function, Qualifier=version)
    except (BotoCoreError, ClientError) as exc:
        raise InfraError(f"cannot prune versions of {function}: {exc}") from exc
    return doomed


def _lambda_client(boto3: Any, function: str) -> Any:
    """A Lambda client in the function's region: its ARN's (arn:aws:lambda:<region>:…), else the environment's.

    Raises:
        InfraError: A bare function name and no region configured.
    """
    parts = function.split(":")
    region = parts[3] if function.startswith("arn:") and len(parts) > 3 and parts[3] else None
    try:
        return aws_client(boto3, "lambda", region_name=region)
    except BotoCoreError as exc:
        raise InfraError(
            f"no AWS region for {function!r} ({exc}): pass FUNCTION=<its ARN> (the stack's FunctionArn output), or "
            "set AWS_DEFAULT_REGION (or a profile's region)"
        ) from None


def main() -> int:
    """CLI entry: prints each deleted version."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True, help="The classifier's function name or ARN")
    parser.add_argument("--keep", default="3", help="How many of the newest versions to keep")
    args = parser.parse_args()
    import boto3

    try:
        keep = keep_count(args.keep)
        deleted = prune(_lambda_client(boto3, args.function), args.function, keep)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {len(deleted)} version(s): {', '.join(deleted) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
