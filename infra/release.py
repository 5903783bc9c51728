"""What one build serves (`release.json`, written by `make build`): the stack parameters `make deploy` passes, the
model version `make smoke` expects, and what `make start-api` serves locally, so none of them can disagree with the
package. Standard library only: `make start-api` reads it from the tools environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.exceptions import InfraError

if TYPE_CHECKING:
    from pathlib import Path

RELEASE_FILE = "release.json"
# The function's own default (handler/settings.py).
DEFAULT_TARGET_PRECISION = 0.98
# A deployed function captures every answered listing unless told otherwise (template.yaml's CaptureSampleRate).
DEFAULT_CAPTURE_SAMPLE_RATE = 1.0


@dataclass(frozen=True)
class Release:
    """What one build serves; the stack parameters and smoke expectations derived from it."""

    architecture: str
    model_version: str
    model_sha256: str
    model_bucket: str
    model_key: str
    target_precision: float = DEFAULT_TARGET_PRECISION
    capture_sample_rate: float = DEFAULT_CAPTURE_SAMPLE_RATE

    def parameter_overrides(self) -> list[str]:
        """`sam deploy --parameter-overrides` entries that must match this build. SAM CLI refuses an empty value
        (`ModelBucket=` "is not a valid format"), so a bundled model's S3 parameters are left to their defaults (an
        empty string: no S3 model)."""
        overrides = [
            f"Architecture={self.architecture}",
            f"TargetPrecision={self.target_precision}",
            f"CaptureSampleRate={self.capture_sample_rate:g}",
        ]
        if self.model_bucket:
            overrides += [f"ModelBucket={self.model_bucket}", f"ModelKey={self.model_key}"]
        return overrides


def read_release(path: Path) -> Release:
    """The release `make build` staged.

    Raises:
        InfraError: No build yet, or a file from another version of this tool.
    """
    try:
        return Release(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise InfraError(f"{path} not found: run `make build` first") from None
    except (TypeError, ValueError) as exc:
        raise InfraError(f"{path} is not a release record ({exc}): run `make build` again") from None
