"""The files a run leaves in its output folder, written to a staging folder and moved in only when complete."""

from __future__ import annotations

import json
import logging
import shutil
from typing import TYPE_CHECKING, Any

from training.model.parity import parity_report_dict

if TYPE_CHECKING:
    from pathlib import Path

    from training.data.report import DataReport
    from training.model.parity import ParityReport

logger = logging.getLogger(__name__)


def write_artifacts(
    staging: Path, *, model_bytes: bytes, metadata: dict[str, Any], parity: ParityReport, report: DataReport
) -> None:
    """Write model.onnx, model.json, parity_report.json and data_report.json into `staging`: all but the summary,
    before the model is registered, so a disk too full for them fails the run before anything is registered.

    Args:
        staging: The run's staging folder (the model card, data_report.txt and plots are already there).
        model_bytes: The exported graph.
        metadata: What the graph embeds, also written beside it.
        parity: The parity gate's report.
        report: The data report.
    """
    (staging / "model.onnx").write_bytes(model_bytes)
    (staging / "model.json").write_text(json.dumps(metadata, indent=2))
    (staging / "parity_report.json").write_text(json.dumps(parity_report_dict(parity), indent=2))
    (staging / "data_report.json").write_text(json.dumps(report.to_dict(), indent=2))


def write_summary(staging: Path, summary: dict[str, Any]) -> None:
    """Write metrics.json, the run summary, once the registry has decided (it records the promotion)."""
    (staging / "metrics.json").write_text(json.dumps(summary, indent=2))


def move_artifacts(staging: Path, out_dir: Path) -> None:
    """Move the finished files from `staging` into `out_dir` (created), only once all of them exist: renames, where
    `staging` is on OUT's file system (`training.cli.out_folder.staging_folder`), which need no more space.

    A file move on this machine: publishing to S3 is `make publish` (infra/publish.py).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        shutil.move(str(path), out_dir / path.name)
    logger.info("artifacts written", extra={"folder": str(out_dir)})
