"""Where a command writes: OUT checked before any work, so a run never fits, registers and promotes a model (or
scores two) only to fail writing its files."""

from __future__ import annotations

import os
import re
import tempfile
from typing import TYPE_CHECKING

from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from pathlib import Path

# A URI's scheme: a Path reads s3://bucket/key as the local folder s3:/bucket/key, which a run would then create.
URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+")


def check_local(out: Path, *, role: str, what: str, kind: str = "folder") -> None:
    """OUT must be local: commands write their files where they run.

    Args:
        out: OUT as a Path.
        role: How the message names it (`OUT`, `PREDICTIONS (OUT)`).
        what: What goes into it, for the message.
        kind: What OUT names: a folder, or a file.

    Raises:
        DataValidationError: OUT is a URI (named with its scheme's `://`, which a Path reads as `:/`).
    """
    scheme = URI.match(str(out))
    if scheme:
        typed = f"{scheme[1]}://{str(out)[scheme.end() :]}"
        copy = "aws s3 sync" if kind == "folder" else "aws s3 cp"
        raise DataValidationError(f"{role} {typed} is not a local {kind}; write {what} to one, then copy it ({copy})")


def check_out_dir(out_dir: Path, *, what: str = "the artifacts", role: str = "OUT") -> None:
    """OUT must be a local folder the command can create or write into.

    Args:
        out_dir: The folder.
        what: What goes into it, for the message.
        role: How the message names it (`OUT`, `FEATURES`).

    Raises:
        DataValidationError: OUT is a URI or a file, lies under a file, or its nearest existing folder is not writable.
    """
    check_local(out_dir, role=role, what=what)
    check_writable_folder(out_dir, what=what, role=role)


def check_writable_folder(out_dir: Path, *, what: str, role: str) -> None:
    """A local folder must be one the command can create or write into (`check_out_dir` without refusing a URI).

    Raises:
        DataValidationError: It is a file, lies under a file, or its nearest existing folder is not writable.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise DataValidationError(f"{role} {out_dir} is a file; name a folder for {what}")
    existing = _nearest(out_dir)
    if not existing.is_dir():
        raise DataValidationError(f"{role} {out_dir} lies under {existing}, which is a file; name a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataValidationError(f"cannot write {role} {out_dir}: {existing} is not writable")
    try:  # what access() cannot tell: a file system that refuses new folders (/proc, a read-only mount)
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".out-check-"))
    except OSError as exc:
        raise DataValidationError(
            f"cannot write {role} {out_dir}: {existing} refuses new folders ({exc.strerror})"
        ) from None


def staging_folder(out_dir: Path) -> tempfile.TemporaryDirectory[str]:
    """A staging folder in the folder `check_out_dir` checked (OUT itself, or the nearest folder above it that
    exists), so on OUT's file system: a run's files are written there as they are made, so a disk too full for them
    fails the run before its model is registered, and moving them into OUT is a rename that needs no more space."""
    return tempfile.TemporaryDirectory(dir=_nearest(out_dir), prefix=f".{out_dir.name}-staging-")


def _nearest(out_dir: Path) -> Path:
    """OUT when it exists, else the nearest path above it that does (a folder, unless OUT lies under a file)."""
    return next(folder for folder in (out_dir, *out_dir.absolute().parents) if folder.exists())
