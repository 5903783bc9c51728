"""Publish a trained model to S3 under an immutable, versioned key, only if it passed its gates.

Layout under s3://BUCKET/PREFIX/:
    models/<model_version>/model.onnx        (object metadata: sha256, model-version)
    models/<model_version>/model.json, metrics.json, parity_report.json, model_card.md
    current.json                             {"model_version", "model_key", "sha256", ...}

A version is never overwritten. `current.json` moves only after every object of the version was uploaded
and read back with the right checksum; a failed upload removes what it had written, so nothing partial is
ever current. The handler serves a published model with MODEL_S3_URI=s3://BUCKET/<model_key>.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from infra.aws_client import aws_client
from infra.exceptions import GateError, InfraError, PublishError

MODEL_FILES = ("model.json", "metrics.json", "parity_report.json", "model_card.md", "model.onnx")
CONTENT_TYPES = {
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".onnx": "application/octet-stream",
}
GATED_FILES = ("metrics.json", "parity_report.json", "model.json")
POINTER = "current.json"
DEFAULT_PREFIX = "product-classifier"
# What each S3 call publishing makes does, for a refusal's message (any other is a write).
S3_ACTIONS = {"GetObject": "read objects of", "HeadObject": "read objects of", "DeleteObject": "delete objects of",
              "ListObjectsV2": "list"}  # fmt: skip
# A model version as a folder name: `make train` writes `20261207.013000-1a2b3c4d`.
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@dataclass(frozen=True)
class Publication:
    """What a publish did."""

    bucket: str
    model_version: str
    model_key: str
    sha256: str
    keys: list[str]
    pointer_key: str
    model_s3_uri: str
    previous_version: str | None = None


def check_gates(artifacts: Path, *, min_macro_f1: float) -> dict[str, Any]:
    """Refuse a model whose parity or quality gate failed, or whose files are not the ones the gates judged (the
    graph's own bytes are compared with metrics.json's `onnx_sha256` as they are uploaded: `_check_gated_graph`).

    Raises:
        GateError: A file is missing or unreadable, parity failed, macro-F1 is not a number at or above
            `min_macro_f1` or covers one class at most, the run did not promote the model (it was worse than the
            champion or its own baseline: see `make train`'s summary), or the files describe different models.
    """
    if not math.isfinite(min_macro_f1) or not 0 <= min_macro_f1 <= 1:
        raise GateError(f"the quality gate needs a macro-F1 from 0 to 1, not {min_macro_f1}")
    missing = [name for name in MODEL_FILES if not (artifacts / name).is_file()]
    if missing:
        raise GateError(f"{artifacts} lacks {', '.join(missing)}: run `make train` (OUT={artifacts}) first")
    metrics, parity, metadata = (_read_object(artifacts / name) for name in GATED_FILES)
    version = metrics.get("model_version")
    passed = parity.get("passed") is True and metrics.get("parity_passed") is True
    if not passed or metrics.get("parity_label_agreement") != 1.0:
        raise GateError(
            f"parity gate failed for {version}: parity_report.json records passed {parity.get('passed')}, label "
            f"agreement {parity.get('label_agreement')}, max |Δp| {parity.get('max_abs_diff')} (tolerance "
            f"{parity.get('tolerance')}); metrics.json records passed {metrics.get('parity_passed')}, label agreement "
            f"{metrics.get('parity_label_agreement')}"
        )
    macro_f1 = metrics.get("macro_f1")
    if isinstance(macro_f1, bool) or not isinstance(macro_f1, int | float) or not 0 <= macro_f1 <= 1:
        raise GateError(f"{artifacts}/metrics.json has no macro-F1 (macro_f1: {macro_f1!r}); retrain")
    if macro_f1 < min_macro_f1:
        raise GateError(f"quality gate failed: macro-F1 {macro_f1:.4f} < required {min_macro_f1:.4f}")
    evaluated = metrics.get("classes_evaluated")
    if isinstance(evaluated, int) and evaluated < 2:
        raise GateError(
            f"quality gate failed: macro-F1 {macro_f1:.4f} is over {evaluated} class(es) with test rows, of the "
            f"{metrics.get('classes_learnt')} learnt, so it says nothing of the others; add products of the small "
            "classes, or lower split.min_class_products, and retrain"
        )
    promotion = metrics.get("promotion")
    if not isinstance(promotion, dict) or not isinstance(promotion.get("promoted"), bool):
        raise GateError(
            f"{artifacts}/metrics.json records no promotion decision (promotion: {promotion!r}), so nothing says the "
            "model beat its baseline and the champion: retrain"
        )
    if not promotion["promoted"]:
        raise GateError(f"{version} was not promoted to candidate: {promotion.get('reason')}")
    if not isinstance(version, str) or metadata.get("model_version") != version:
        raise GateError(f"{artifacts}/model.json and metrics.json describe different models; retrain")
    if not VERSION_NAME.fullmatch(version):
        # It names the version's folder: an empty one would write into models/ itself, "../x" beside it.
        raise GateError(f"{artifacts}/metrics.json names model version {version!r}, which names no folder; retrain")
    if not metrics.get("onnx_sha256"):
        raise GateError(
            f"{artifacts}/metrics.json records no onnx_sha256, so nothing ties model.onnx to the gates it passed "
            "(trained before `make train` recorded it): retrain"
        )
    return metrics


def _check_gated_graph(artifacts: Path, metrics: dict[str, Any], digest: str) -> None:
    """The graph about to be uploaded (its sha256, `digest`) must be the one `make train` gated: a file copied from
    another run, or cut short by a full disk, is never uploaded under these metrics' version.

    Raises:
        GateError: The sha256 differs from metrics.json's `onnx_sha256`.
    """
    if metrics["onnx_sha256"] != digest:
        raise GateError(
            f"{artifacts}/model.onnx is not the graph metrics.json gated (sha256 {digest[:12]}…, recorded "
            f"{str(metrics['onnx_sha256'])[:12]}…): it changed after training or comes from another run; retrain"
        )


def _read_object(path: Path) -> dict[str, Any]:
    """A JSON object written by `make train`.

    Raises:
        GateError: The file is not UTF-8 JSON holding an object (cut short, or not written by `make train`).
    """
    try:
        value = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GateError(f"{path} is not valid JSON ({exc}); retrain") from None
    if not isinstance(value, dict):
        raise GateError(f"{path} holds a JSON {type(value).__name__}, not the object `make train` writes; retrain")
    return value


def publish_model(
    s3_client: Any, artifacts: Path, *, bucket: str, prefix: str = DEFAULT_PREFIX, min_macro_f1: float
) -> Publication:
    """Upload a gated model as a new immutable version and make it current.

    Args:
        s3_client: A boto3 S3 client (tests pass one backed by moto).
        artifacts: The folder `make train` wrote.
        bucket: Target bucket; must exist.
        prefix: Key prefix of this model family.
        min_macro_f1: Quality gate on the test macro-F1.

    Raises:
        GateError: The model must not be published.
        PublishError: Missing bucket or credentials, an existing version, or a failed/unverified upload.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if problem := _prefix_problem(prefix):
        raise PublishError(f"PREFIX {prefix!r} holds {problem}; choose another prefix")
    metrics = check_gates(artifacts, min_macro_f1=min_macro_f1)
    version = metrics["model_version"]
    base = _key(prefix, "models", version)
    bodies = {f"{base}/{name}": (artifacts / name).read_bytes() for name in MODEL_FILES}
    digests = {key: hashlib.sha256(body).hexdigest() for key, body in bodies.items()}
    digest = digests[f"{base}/model.onnx"]
    _check_gated_graph(artifacts, metrics, digest)
    written: list[str] = []
    pointer_key = _key(prefix, POINTER)
    try:
        for key, body in bodies.items():
            if _put_new(s3_client, bucket, key, body, metadata={"sha256": digests[key], "model-version": version}):
                written.append(key)
        _verify(s3_client, bucket, digests)
        previous = _current_version(s3_client, bucket, pointer_key)
    except (BotoCoreError, ClientError, PublishError) as exc:
        _abandon(s3_client, exc, bucket, base, version, written)
    pointer = {
        "model_version": version,
        "model_key": f"{base}/model.onnx",
        "sha256": digest,
        "macro_f1": metrics["macro_f1"],
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        s3_client.put_object(
            Bucket=bucket, Key=pointer_key, Body=json.dumps(pointer, indent=2).encode(), ContentType="application/json"
        )
    except (BotoCoreError, ClientError) as exc:
        # S3 refused the write (an error answer), so it did not move, unless another publish of this version moved
        # it: only then are the version's objects removed. A timeout or a dropped connection leaves no way to know.
        if isinstance(exc, ClientError) and _current_version(s3_client, bucket, pointer_key) != version:
            _abandon(s3_client, exc, bucket, base, version, written)
        raise PublishError(
            f"publishing {version}: moving s3://{bucket}/{pointer_key} to it failed ({_describe(exc, bucket)}), and "
            f"it may have moved all the same (S3 may have applied the write, or another publish of {version}), so "
            f"the version's objects stay at s3://{bucket}/{base}/ for it to name: run `make publish` again, which "
            "keeps them and moves it"
        ) from exc
    if not written and previous not in (None, version):
        logger.warning(
            f"{version} was already published, so nothing was uploaded; {POINTER} named {previous} and now names "
            f"{version} again"
        )
    return Publication(
        bucket,
        version,
        f"{base}/model.onnx",
        digest,
        written,
        pointer_key,
        f"s3://{bucket}/{base}/model.onnx",
        previous,
    )


def _abandon(s3_client: Any, exc: Exception, bucket: str, base: str, version: str, written: list[str]) -> NoReturn:
    """Remove what this publish wrote of a version no pointer names, and fail saying why (and what is left).

    Raises:
        PublishError: Always.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    reason = str(exc) if isinstance(exc, PublishError) else _describe(exc, bucket)
    left = _remove(s3_client, bucket, written)
    if left:
        reason += (
            f"; and {len(left)} object(s) of the failed upload could not be removed ({left[0]}): delete "
            f"s3://{bucket}/{base}/ by hand before publishing again (removing needs s3:DeleteObject)"
        )
    if isinstance(exc, (BotoCoreError, ClientError)):
        raise PublishError(f"publishing {version} to s3://{bucket}/{base}/ failed: {reason}") from exc
    raise PublishError(reason) from exc


def _prefix_problem(prefix: str) -> str | None:
    """What in the prefix `make build MODEL_URI=s3://bucket/<prefix>/…` could not pass on, or None: sam deploy's
    parameter overrides split on whitespace and take a `"` as a quote, and an s3:// URI's key ends at a `?` (its
    query) or `#` (its fragment), so the build refuses such a URI."""
    if any(character.isspace() for character in prefix):
        return "spaces: `make build MODEL_URI=` passes the model's key to sam deploy, which splits it there"
    if '"' in prefix:
        return "a '\"': `make build MODEL_URI=` passes the model's key to sam deploy, which reads it as a quote"
    if found := sorted(set(prefix) & {"?", "#"}):
        ends = "an s3:// URI's key ends there, so `make build MODEL_URI=` would refuse it"
        return f"{' and '.join(map(repr, found))}: {ends}"
    return None


def _key(prefix: str, *parts: str) -> str:
    """An object key under the prefix; an empty prefix (or "/") is the bucket's root, never a key starting with "/"."""
    return "/".join(part for part in (prefix.strip("/"), *parts) if part)


def _current_version(s3_client: Any, bucket: str, pointer_key: str) -> str | None:
    """The version the pointer names before it moves, for the warning alone: None when there is no pointer yet, or
    it cannot be read (S3 answers a missing key with 403 to a caller without s3:ListBucket, as the release role is)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pointer = json.loads(s3_client.get_object(Bucket=bucket, Key=pointer_key)["Body"].read())
    except (BotoCoreError, ClientError, ValueError):
        return None
    version = pointer.get("model_version") if isinstance(pointer, dict) else None
    return version if isinstance(version, str) else None


def _put_new(s3_client: Any, bucket: str, key: str, body: bytes, *, metadata: dict[str, str]) -> bool:
    """Write an object that must not exist yet: a conditional put (If-None-Match: *), so of two concurrent
    publishes of one version exactly one wins and the other never overwrites it.

    Returns:
        True when written; False when the same bytes (same sha256) are already there: a re-run of a failed
        deploy publishes the version it published before, which is a success, not a conflict.
    """
    from botocore.exceptions import ClientError

    try:
        s3_client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            Metadata=metadata,
            ContentType=CONTENT_TYPES[Path(key).suffix],
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
            raise
        existing = s3_client.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        if existing.get("sha256") == metadata["sha256"]:
            return False
        raise PublishError(
            f"s3://{bucket}/{key} already exists with other content: versions are never overwritten; train a new model"
        ) from None
    return True


def _verify(s3_client: Any, bucket: str, digests: dict[str, str]) -> None:
    """Read every uploaded object back and compare its sha256 with the one computed before the upload."""
    for key, expected in digests.items():
        remote = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if hashlib.sha256(remote).hexdigest() != expected:
            raise PublishError(
                f"s3://{bucket}/{key} does not match the local file after upload; nothing was made current"
            )


def _remove(s3_client: Any, bucket: str, keys: list[str]) -> list[str]:
    """Remove a half-published version (the pointer was not moved), each object tried even when one fails.

    Returns:
        The keys that could not be removed, each with the reason.
    """
    left = []
    for key in keys:
        try:
            s3_client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:  # cleanup must not hide the original error, whatever fails here
            left.append(f"s3://{bucket}/{key}: {_describe(exc, bucket)}")
    return left


def _describe(exc: Exception, bucket: str) -> str:
    """A short, actionable reason for a boto3 failure."""
    from botocore.exceptions import NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (configure a profile, environment variables or an OIDC role)"
    code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist (create it, or pass BUCKET=<existing bucket>)"
    if code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        # Publishing reads back what it wrote and what a version holds already: name the call that was refused.
        action = S3_ACTIONS.get(getattr(exc, "operation_name", ""), "write to")
        return f"access denied ({code}): the credentials cannot {action} s3://{bucket}"
    return str(exc)


@app.command()
def main(
    bucket: Annotated[str, typer.Option(help="Existing S3 bucket to publish to.")],
    artifacts: Annotated[Path, typer.Option(help="Folder written by `make train`.")] = Path("artifacts"),
    prefix: Annotated[str, typer.Option(help="Key prefix of this model family.")] = DEFAULT_PREFIX,
    min_macro_f1: Annotated[str, typer.Option(help="Quality gate: lowest test macro-F1 that may ship.")] = "0.8",
) -> None:
    """Publish the trained model to S3 (boto3's usual credentials; AWS_ENDPOINT_URL for a local S3)."""
    import boto3

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    try:
        publication = publish_model(
            aws_client(boto3, "s3"), artifacts, bucket=bucket, prefix=prefix, min_macro_f1=_macro_f1(min_macro_f1)
        )
    except InfraError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(asdict(publication), indent=2))


def _macro_f1(text: str) -> float:
    """MIN_MACRO_F1 as a number, read here so that text is one line naming the variable, not typer's usage box.

    Raises:
        GateError: Not a number.
    """
    try:
        return float(text)
    except ValueError:
        raise GateError(f"MIN_MACRO_F1 must be a macro-F1 from 0 to 1 such as 0.8, got {text!r}") from None


if __name__ == "__main__":
    app()
