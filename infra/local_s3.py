"""`make local-s3`: a bucket on the local S3 endpoint (moto_server) that `make publish` can write to.

The Makefile starts moto_server on 127.0.0.1 in the background; this waits until it answers, creates the
bucket with dummy credentials (moto accepts any) and prints the publish line to run against it.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from infra.exceptions import InfraError

# moto accepts any key; these are what the README's publish line passes too.
DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def wait_for_endpoint(endpoint: str, *, timeout: float = 15.0, log: str = ".local-s3/log") -> None:
    """Wait until something accepts connections at the endpoint's host and port.

    Raises:
        InfraError: Nothing did within `timeout` seconds.
    """
    parts = urlsplit(endpoint)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(address) == 0:
                return
        time.sleep(0.1)
    raise InfraError(f"no S3 endpoint answers at {endpoint} after {timeout:.0f} s; see {log}")


def create_bucket(client: Any, bucket: str) -> bool:
    """Create the bucket unless it exists; returns whether it was created.

    Args:
        client: A boto3 S3 client (tests pass one backed by moto).
        bucket: The bucket's name.

    Raises:
        InfraError: The endpoint refused to create it.
    """
    from botocore.exceptions import ClientError

    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            return False
        raise InfraError(f"could not create bucket {bucket!r}: {exc}") from exc
    return True


@app.command()
def main(
    endpoint: Annotated[str, typer.Option(help="The local S3 endpoint, e.g. http://127.0.0.1:5050.")],
    bucket: Annotated[str, typer.Option(help="The bucket to create.")] = "local",
    log: Annotated[str, typer.Option(help="The server's log, named when it does not answer.")] = ".local-s3/log",
) -> None:
    """Wait for the local S3 endpoint, create the bucket and print the publish line to use."""
    import boto3

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    try:
        wait_for_endpoint(endpoint, log=log)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **DUMMY_CREDENTIALS)
        created = create_bucket(client, bucket)
    except InfraError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(
        f"local S3 at {endpoint}, bucket {bucket!r} {'created' if created else 'ready'}. Publish to it with:\n"
        f"  AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
        f" make publish BUCKET={bucket}\n"
        "Stop it with: make stop-local-s3"
    )


if __name__ == "__main__":
    app()
