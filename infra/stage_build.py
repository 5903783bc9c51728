"""`make build`, before `sam build`: stage each function's folder with exactly what it ships.

- `function/`: the handler's code, its requirements and the model to serve: the ONNX file itself (bundled), or
  `served_model.json` with the S3 location and sha256 of the same file (pinned). Either way what is served is
  part of the package, and SAM names a new Lambda version from the package: a new model publishes a version
  and goes through the canary on every deploy path, a plain `sam deploy` included.
- `deploy_hook/`: the pre-traffic hook plus `expected.json` (the model's version, classes and golden examples,
  read from the artifact), so the hook never trusts what the version under test says of itself.
- `monitor/`: the drift monitor.
- `release.json`: what was built (architecture, S3 bucket and key, model version), from which `make deploy`
  takes the stack parameters and `make smoke` the version to expect, so neither can disagree with the package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import onnx
from pydantic import ValidationError

from handler.exceptions import ModelLoadError
from handler.model import load_model
from handler.settings import Settings
from infra.exceptions import InfraError
from infra.release import (
    DEFAULT_CAPTURE_SAMPLE_RATE,
    DEFAULT_TARGET_PRECISION,
    RELEASE_FILE,
    Release,
    read_release,
)

ROOT = Path(__file__).resolve().parents[1]
METADATA_KEY = "product_classifier"
FOLDERS = ("function", "deploy_hook", "monitor")
# A bucket name S3 allows (3 to 63 lower-case letters, digits, dots and hyphens, a letter or digit at each end).
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# The key `make publish` writes a model under (`infra.publish`), its folder the version as training names them.
PUBLISHED_KEY = re.compile(r"(?:.*/)?models/(?P<version>\d{8}\.\d{6}-[0-9a-f]{8})/model\.onnx")


def stage(
    model: Path,
    out: Path,
    *,
    architecture: str,
    model_uri: str = "",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    capture_sample_rate: float = DEFAULT_CAPTURE_SAMPLE_RATE,
) -> Release:
    """Stage the three function folders and `release.json` under `out` (replacing what was there).

    Raises:
        InfraError: The model is missing, not an exported classifier or one the function would refuse to load at
            the target precision (which must be one of its operating points), `model_uri` is not s3://bucket/key,
            or the capture rate is not in [0, 1]. Nothing of an earlier build is left then.
    """
    for folder in FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / RELEASE_FILE).unlink(missing_ok=True)
    if not model.is_file():
        raise InfraError(f"no trained model at {model}; run `make train` first (or pass MODEL=path)")
    data = model.read_bytes()  # read once: hashed, and parsed for its metadata
    metadata = _model_metadata(data, model)
    _check_loads(model, target_precision)
    target_precision = _recorded_target(metadata, target_precision)
    sha256 = hashlib.sha256(data).hexdigest()
    if not 0 <= capture_sample_rate <= 1:
        raise InfraError(f"CAPTURE_SAMPLE_RATE must be from 0 (off) to 1 (every listing), got {capture_sample_rate}")
    bucket, key = _split_s3_uri(model_uri) if model_uri else ("", "")
    _check_same_version(key, str(metadata.get("model_version")), model)
    pinned: dict[str, Any] = {"target_precision": target_precision, "capture_sample_rate": capture_sample_rate}
    if bucket:
        pinned |= {"model_s3_uri": model_uri, "model_sha256": sha256}
    _stage_function(out / "function", model, pinned=pinned)
    _stage_package(out / "deploy_hook", ROOT / "deploy_hook", "pre_traffic")
    expected = {key_: metadata.get(key_) for key_ in ("model_version", "classes", "golden_examples")}
    (out / "deploy_hook" / "pre_traffic" / "expected.json").write_text(json.dumps(expected))
    _stage_package(out / "monitor", ROOT / "monitor", "drift_monitor")
    release = Release(
        architecture, str(metadata.get("model_version")), sha256, bucket, key, target_precision, capture_sample_rate
    )
    (out / RELEASE_FILE).write_text(json.dumps(asdict(release), indent=2) + "\n")
    return release


def _stage_function(target: Path, model: Path, *, pinned: dict[str, Any]) -> None:
    """The handler's modules and requirements, what is pinned (the target precision, the S3 location of a model that is
    not bundled), and the model file when it is."""
    (target / "handler").mkdir(parents=True)
    for source in sorted((ROOT / "handler").glob("*.py")):
        shutil.copy2(source, target / "handler" / source.name)
    # The /docs and /redoc assets (gzip, ~0.8 MB), so the docs pages work without a CDN.
    shutil.copytree(ROOT / "handler" / "docs_assets", target / "handler" / "docs_assets")
    shutil.copy2(ROOT / "handler" / "requirements.txt", target / "requirements.txt")
    (target / "handler" / "served_model.json").write_text(json.dumps(pinned, sort_keys=True))
    if "model_s3_uri" not in pinned:
        shutil.copy2(model, target / "handler" / "model.onnx")


def _stage_package(target: Path, source: Path, package: str) -> None:
    """A small function's package and its requirements.txt (boto3 and the standard library only)."""
    (target / package).mkdir(parents=True)
    shutil.copy2(source / "requirements.txt", target / "requirements.txt")
    for module in sorted((source / package).glob("*.py")):
        shutil.copy2(module, target / package / module.name)


def _model_metadata(data: bytes, model: Path) -> dict[str, Any]:
    """The metadata training embedded in the graph `model` holds (version, classes, golden examples)."""
    try:
        graph = onnx.load_model_from_string(data)
    except Exception as exc:  # onnx raises DecodeError and friends for anything that is not a model
        raise InfraError(f"{model} is not an ONNX model: {exc}") from exc
    properties = {prop.key: prop.value for prop in graph.metadata_props}
    if METADATA_KEY not in properties:
        raise InfraError(f"{model} has no '{METADATA_KEY}' metadata; export it with `make train`")
    try:
        metadata = json.loads(properties[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise InfraError(
            f"{model}'s '{METADATA_KEY}' metadata is unreadable ({exc}); export it with `make train`"
        ) from None
    if not isinstance(metadata, dict):
        raise InfraError(f"{model}'s '{METADATA_KEY}' metadata is not an object; export it with `make train`")
    if not metadata.get("golden_examples"):
        raise InfraError(f"{model} carries no golden examples for the pre-traffic check; retrain it with `make train`")
    # The hook refuses a golden set without category paths: refuse it here, at build, not at deploy.
    if not all(isinstance(example, dict) and example.get("path") for example in metadata["golden_examples"]):
        raise InfraError(f"{model}'s golden examples carry no category paths for the pre-traffic check; retrain it")
    return metadata


def _check_loads(model: Path, target: float) -> None:
    """Load the model as the function does at init (`handler.model.load_model`) and decide at `target`: the metadata
    must fit the graph, the target be one of its operating points (when it records any) and the golden examples
    answer as training recorded. A model the function would refuse is refused here, at build, rather than failing
    every request of a deployed version.

    Raises:
        InfraError: The function would refuse it; the message is the function's.
    """
    try:
        load_model(Settings(model_path=model, target_precision=target))
    except ValidationError as exc:
        raise InfraError(f"TARGET_PRECISION {target}: {exc.errors()[0]['msg']}") from None
    except ModelLoadError as exc:
        raise InfraError(f"{model}: the function would refuse to load it: {exc}") from None


def _recorded_target(metadata: dict[str, Any], target: float) -> float:
    """The model's own operating point for a target the function takes as it (within its rounding): the release
    records it as the template's TargetPrecision, whose allowed values are the points as written (0.98, never
    0.980000001)."""
    recorded = [float(point) for point in metadata.get("operating_points") or {}]
    return min(recorded, key=lambda point: abs(point - target), default=target)


def _check_same_version(key: str, version: str, model: Path) -> None:
    """A published model's key names its version: MODEL must be that version's file, since the build pins MODEL's
    sha256 for the object at MODEL_URI, and the function refuses to start on a mismatch (a rollback that forgot
    MODEL= would build green and fail only at init).

    Raises:
        InfraError: The key names another version than MODEL's.
    """
    published = PUBLISHED_KEY.fullmatch(key)
    if published and published["version"] != version:
        raise InfraError(
            f"MODEL_URI names model version {published['version']}, but MODEL {model} is version {version}: pass "
            "MODEL= that version's model.onnx (its `make train` artifacts), whose sha256 the build pins"
        )


def _split_s3_uri(uri: str) -> tuple[str, str]:
    """The bucket and key of an s3:// URI `make publish` prints, refusing what `sam deploy` could not pass on or S3
    could not name: whitespace or a `"` in the key (parameter overrides split on the one and quote with the other),
    a query, a fragment or credentials (dropped without a word), a bucket name S3 does not allow.

    Raises:
        InfraError: Naming what to write instead.
    """
    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    well_formed = (
        parsed.scheme == "s3"
        and S3_BUCKET.fullmatch(parsed.netloc) is not None
        and key.strip("/") != ""
        and not any(character.isspace() or character == '"' for character in key)
        and not (parsed.query or parsed.fragment or parsed.params)
    )
    if not well_formed:
        raise InfraError(
            "MODEL_URI must look like s3://bucket/key/model.onnx (printed by `make publish`; a bucket name of "
            "lower-case letters, digits, dots and hyphens, a key without spaces or '\"', nothing after it), got "
            f"{uri!r}"
        )
    return parsed.netloc, key


def main() -> None:
    """CLI: stage a build, or print what `make deploy` / `make smoke` need from the last one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="the trained model.onnx to serve (its metadata feeds the hook)")
    parser.add_argument("--model-uri", default="", help="s3://bucket/key where `make publish` put that same file")
    parser.add_argument("--arch", default="x86_64", choices=["x86_64", "arm64"])
    parser.add_argument("--target-precision", type=float, default=DEFAULT_TARGET_PRECISION,
                        help="the precision the function decides accept or review at (one of the model's)")  # fmt: skip
    parser.add_argument("--capture-sample-rate", type=float, default=DEFAULT_CAPTURE_SAMPLE_RATE,
                        help="share of answered listings the function captures (0 turns capture off)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--print", choices=["parameters", "model-version"], help="read build/release.json instead")
    args = parser.parse_args()
    try:
        if args.print:
            release = read_release(args.out / RELEASE_FILE)
            print(" ".join(release.parameter_overrides()) if args.print == "parameters" else release.model_version)
            return
        release = stage(
            args.model,
            args.out,
            architecture=args.arch,
            model_uri=args.model_uri,
            target_precision=args.target_precision,
            capture_sample_rate=args.capture_sample_rate,
        )
    except InfraError as exc:
        raise SystemExit(f"error: {exc}") from None
    where = f"s3://{release.model_bucket}/{release.model_key}" if release.model_bucket else "bundled"
    print(f"staged model {release.model_version} ({where}, sha256 {release.model_sha256[:12]}) for {args.arch}")


if __name__ == "__main__":
    main()
