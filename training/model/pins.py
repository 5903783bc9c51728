"""The libraries whose private internals the model code patches, and the one version each patch was written for.

Each patching module calls `require_pinned` at import, so an upgrade of one of these libraries fails loudly
there, naming the patch to re-check, instead of subtly changing what the graph or the model computes. When
you bump a pin in pyproject.toml, re-read the patch, then bump it here (tests/training/test_pins.py holds the
two in step).
"""

from __future__ import annotations

from importlib.metadata import version

from training.exceptions import PinnedVersionError

PATCHED: dict[str, tuple[str, str]] = {
    "lightgbm": (
        "4.7.0",
        "training/model/export.py replaces LGBMClassifier._Booster with a Booster of float32-aligned thresholds",
    ),
    "skl2onnx": ("1.20.0", "training/model/onnx_ops.py appends to skl2onnx._parse.do_not_merge_columns"),
    "scikit-learn": (
        "1.9.1",
        "training/engines/dask/title_models.py swaps a fitted block into ColumnTransformer.transformers_",
    ),
}


def require_pinned(package: str) -> None:
    """Fail unless `package` is installed at the version its patch here was written for.

    Args:
        package: A distribution name in PATCHED.

    Raises:
        PinnedVersionError: Another version is installed.
    """
    pinned, patch = PATCHED[package]
    installed = version(package)
    if installed != pinned:
        raise PinnedVersionError(
            f"{package} {installed} is installed, but this patch of a private internal was written for {pinned}: "
            f"{patch}. Re-check that patch against {package} {installed}, then update the pin in pyproject.toml "
            "and in training/model/pins.py"
        )
