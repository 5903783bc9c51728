"""Serving settings, read once from the environment (set in template.yaml) with the defaults below.

A plain pydantic model plus `from_env`, not pydantic-settings: that package and the dotenv it imports cost
0.06–0.1 s of every cold start for a dozen flat variables.

Which model is served, at which target precision it decides and at which rate it captures traffic are not environment
settings on Lambda: `make build` pins them into the code package (`served_model.json`: the target precision, the
capture rate, and the S3 location and sha256 of a model that is not bundled), because SAM publishes a new version
only when the package or a literal property changes — a value chosen by a template parameter alone could reach
`$LATEST` and never the alias.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handler.decisions import DEFAULT_TARGET_PRECISION
from handler.exceptions import SettingsError

if TYPE_CHECKING:
    from collections.abc import Mapping

BUNDLED_MODEL = Path(__file__).resolve().parent / "model.onnx"
SERVED_MODEL = Path(__file__).resolve().parent / "served_model.json"
# What `make build` pins into the package: the target precision and capture rate always, the S3 model's location and
# sha256 when it is not bundled (both or neither).
PINNED_FIELDS = ("model_s3_uri", "model_sha256", "target_precision", "capture_sample_rate")
PINNED_MODEL = ("model_s3_uri", "model_sha256")
# Pinned, but the stack's value wins where a deploy passed one: it decides whether the capture infrastructure exists.
STACK_DECIDES = ("capture_sample_rate",)
# A SnapStart init (when a version is published) may run far longer than the 10 s of an on-demand init, so a
# transient S3 blip there gets patient retries instead of failing the deployment.
SNAPSTART_S3 = {"s3_connect_timeout": 5.0, "s3_read_timeout": 20.0, "s3_max_attempts": 5}


class Settings(BaseModel):
    """Settings of the function; `from_env` fills them from environment variables named like the fields."""

    model_config = ConfigDict(protected_namespaces=(), extra="forbid", allow_inf_nan=False)

    model_path: Path = Field(BUNDLED_MODEL, description="ONNX file bundled with the function (MODEL_PATH).")
    model_s3_uri: str | None = Field(None, description="s3://bucket/key of a published model; wins over MODEL_PATH.")
    model_sha256: str | None = Field(None, description="Expected sha256 of the S3 model; else its published metadata.")
    model_cache_dir: Path = Field(Path("/tmp"), description="Where an S3 model is downloaded to, once per container.")
    intra_op_threads: int = Field(1, ge=1, le=16, description="onnxruntime threads; Lambda gives 1 vCPU per 1,769 MB.")
    max_batch: int = Field(1000, ge=1, le=10_000, description="Most items one /predict/batch request may carry.")
    max_text_length: int = Field(2000, ge=1, description="Longest string accepted in any field.")
    max_top_k: int = Field(10, ge=1, description="Cap of the top_k query parameter.")
    low_confidence: float = Field(0.5, ge=0, le=1, description="Predictions below this confidence are counted.")
    target_precision: float = Field(
        DEFAULT_TARGET_PRECISION,
        gt=0,
        le=1,
        description="The precision answers are accepted at unless a request asks for another; one "
        "of the model's recorded operating points (TARGET_PRECISION).",
    )
    # Off unless a deployment turns it on: `make build` pins the template's default of 1.0, `make serve CAPTURE=` too.
    capture_sample_rate: float = Field(
        0.0, ge=0, le=1, description="Share of answered listings captured for review and retraining; 0 turns it off."
    )
    capture_dir: Path | None = Field(
        None, description="Folder captured listings are appended to (local runs); unset: stdout, which Lambda ships."
    )
    inference_chunk: int = Field(64, ge=1, description="Rows per onnxruntime call; bounds padding and memory.")
    # explain=true scores each listing once per explained word and field (up to 13 + fields rows for one): these
    # bound its work to about what a request without it costs at MAX_BODY_BYTES (long titles) and at MAX_BATCH
    # (short ones, whose cost is per row: per class, at thousands of classes).
    max_explained_characters: int = Field(
        40_000, ge=2000, description="Most characters of text one explain=true request may carry, all items together."
    )
    max_explained_rows: int = Field(
        1000, ge=16, description="Most rows one explain=true request may score, listings and occlusions together."
    )
    max_body_bytes: int = Field(
        524_288, ge=1024, le=6_000_000, description="Largest request body; bigger ones get 413 before parsing."
    )
    # Lambda returns at most 6 MiB from a synchronous call, counted after the body is JSON-escaped (as UTF-8, on
    # python3.12) into the function's result; 16 KiB of it are left to Mangum's envelope (status, headers).
    max_response_bytes: int = Field(
        6_275_072,
        ge=65_536,
        le=6_291_456,
        description="Largest answer as Lambda carries it; a bigger one is a 422 saying what to ask for instead.",
    )
    s3_connect_timeout: float = Field(1.0, gt=0, description="Seconds to connect to S3 when loading the model.")
    s3_read_timeout: float = Field(2.0, gt=0, description="Seconds S3 may stay silent during one read.")
    s3_max_attempts: int = Field(2, ge=1, le=5, description="Attempts per S3 call, the first one included.")

    @field_validator("capture_dir")
    @classmethod
    def _a_folder(cls, folder: Path | None) -> Path | None:
        """CAPTURE_DIR must be a folder, or not exist yet (the first capture makes it); one that cannot even be
        looked at (under a folder this process may not enter) is `_capture_writable`'s to report."""
        try:
            is_file = folder is not None and folder.exists() and not folder.is_dir()
        except OSError:
            return folder
        if is_file:
            raise ValueError(f"{folder} is a file; name a folder for captured listings")
        return folder

    @model_validator(mode="after")
    def _capture_writable(self) -> Settings:
        """With capture on, CAPTURE_DIR must be a folder this process can write (made if it does not exist yet): a
        capture that fails is one log line per request, so a folder that cannot be written would lose every listing
        quietly."""
        if self.capture_dir is None or self.capture_sample_rate == 0:
            return self
        import tempfile  # only where capture goes to a folder (local runs): not on Lambda's cold start

        try:
            self.capture_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.capture_dir):
                pass
        except OSError as exc:
            raise ValueError(
                f"CAPTURE_DIR {self.capture_dir} cannot be written ({exc.strerror or exc}); name a writable folder"
            ) from None
        return self

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, served_model: Path = SERVED_MODEL, **explicit: Any
    ) -> Settings:
        """Defaults for the init type, then environment variables named like the fields (upper case; empty means
        unset), then what `make build` pinned into the package, then explicit arguments. The pin wins over the
        environment (a `sam deploy` that keeps a stack's saved TargetPrecision after `make build
        TARGET_PRECISION=0.99` would otherwise serve the saved value on the version built for 0.99), but for the
        capture rate: the stack's decides whether a capture bucket and stream exist, so a stack deployed with
        CaptureSampleRate=0 never captures, whatever the build pinned.

        Raises:
            SettingsError: A variable or the pinned file does not parse or is out of range; the message names it.
        """
        environ = os.environ if environ is None else environ
        by_init_type = SNAPSTART_S3 if environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start" else {}
        from_environment = {name: environ[name.upper()] for name in cls.model_fields if environ.get(name.upper())}
        try:
            pinned = _pinned(served_model)
            stack_decides = {name: pinned.pop(name) for name in STACK_DECIDES if name in pinned}
            return cls.model_validate(by_init_type | stack_decides | from_environment | pinned | explicit)
        except ValidationError as exc:
            raise SettingsError(f"invalid settings: {'; '.join(map(_problem, exc.errors()))}") from exc


def _problem(error: Any) -> str:
    """One validation error as a line: the variable it names, if any (a check of several has none), and why."""
    name = ".".join(str(part) for part in error["loc"]).upper()
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}" if name else message


def _pinned(path: Path) -> dict[str, Any]:
    """What `make build` pinned into the package (the target precision, and the S3 model unless it is bundled), or
    nothing for a local run."""
    if not path.is_file():
        return {}
    try:
        pinned = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path.name} is unreadable ({exc}); rebuild with `make build`") from exc
    model_fields = set(pinned) & set(PINNED_MODEL) if isinstance(pinned, dict) else set()
    if (
        not isinstance(pinned, dict)
        or not set(pinned) <= set(PINNED_FIELDS)
        or model_fields not in (set(), {*PINNED_MODEL})
    ):
        raise SettingsError(
            f"{path.name} must hold {list(PINNED_FIELDS)} (the S3 fields both or neither); rebuild with `make build`"
        )
    return pinned
