"""Data capture: one JSON line per answered listing, so production traffic can be reviewed, labelled and retrained on.

On Lambda the line goes to stdout, which Lambda already ships to the function's log group: a subscription filter
on `{ $.capture = 1 }` streams exactly these lines into a Firehose delivery stream that writes gzip objects,
partitioned by date, to the stack's capture bucket (template.yaml). The request pays for a `json.dumps` and one
buffered write per listing, never for a network call, and nothing runs or costs anything while no traffic comes.
Offline (`make serve CAPTURE=folder`), the same lines are appended to `folder/YYYY/MM/DD/capture-<pid>.jsonl`.

A record holds the request's inputs (the model's input fields only: what the API accepts), the answer with its
top three classes whatever `top_k` the caller asked for, the path, the decision, the model version, the request id,
the listing's place in the request (`item`: what tells a listing sent twice in one request from a record delivered
twice) and the time. Synthetic traffic (the release path's own requests) is never captured.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import threading
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

# The marker the log subscription filters on; a new record layout would get a new value.
CAPTURE_VERSION = 1
# Classes kept per record: what a reviewer picks from.
CAPTURED_TOP_K = 3


def listing_id(inputs: dict[str, Any]) -> str:
    """A listing's identity: a digest of its inputs (the same listing sent twice is one listing to review)."""
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def time_text(moment: datetime) -> str:
    """A capture time as records carry it: UTC to the millisecond, with a Z ("2026-12-07T06:22:52.756Z"), so the
    times of one capture are written in one form."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Capture:
    """Samples answered listings at `rate` and writes each as one JSON line to a folder or to `stream` (stdout)."""

    def __init__(
        self, rate: float, folder: Path | None = None, *, stream: IO[str] | None = None, seed: int | None = None
    ) -> None:
        self.rate = rate
        self.folder = folder
        self.stream = stream
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether any listing is captured."""
        return self.rate > 0

    def write(
        self, inputs: list[dict[str, Any]], answers: list[dict[str, Any]], *, model_version: str, request_id: str
    ) -> int:
        """Capture a sample of one request's answered listings (inputs and answers in the same order).

        Returns:
            How many listings were written.
        """
        chosen = [i for i in range(len(inputs)) if self.rate >= 1 or self._random.random() < self.rate]
        if not chosen:
            return 0
        now = datetime.now(UTC)
        stamp = time_text(now)
        lines = "".join(
            json.dumps(
                {
                    "capture": CAPTURE_VERSION,
                    "time": stamp,
                    "request_id": request_id,
                    "item": i,
                    "model_version": model_version,
                    "listing_id": listing_id(inputs[i]),
                    "inputs": inputs[i],
                    **answers[i],
                },
                ensure_ascii=False,
                separators=(",", ":"),
                default=str,
            )
            + "\n"
            for i in chosen
        )
        with self._lock:
            if self.folder is None:
                stream = self.stream or sys.stdout
                stream.write(lines)
                stream.flush()
            else:
                target = self.folder / now.strftime("%Y/%m/%d") / f"capture-{os.getpid()}.jsonl"
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("a", encoding="utf-8") as handle:
                    handle.write(lines)
        return len(chosen)
