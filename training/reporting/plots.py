"""The plots logged with every run: the test confusion matrix and LightGBM's feature importance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # training runs headless; the default backend may look for a display

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import confusion_matrix

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from sklearn.pipeline import Pipeline


def plot_confusion_matrix(labels: pd.Series, predicted: np.ndarray, classes: np.ndarray, path: Path) -> Path:
    """Row-normalised confusion matrix as a PNG, so small classes read as clearly as large ones."""
    matrix = confusion_matrix(labels, predicted, labels=classes, normalize="true")
    figure, axes = plt.subplots(figsize=(9, 8))
    image = axes.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    axes.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true")
    axes.set_xticklabels(classes, rotation=45, ha="right")
    axes.set_yticklabels(classes)
    for (row, column), value in np.ndenumerate(matrix):
        if value >= 0.005:
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black")
    figure.colorbar(image)
    axes.set_title("Test confusion matrix (row-normalised)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_feature_importance(pipeline: Pipeline, path: Path, *, top: int = 30) -> Path:
    """The top features by total split gain, named by block (e.g. `title_scores__score_TVs`)."""
    names = pipeline.named_steps["features"].get_feature_names_out()
    gains = pipeline.named_steps["classifier"].booster_.feature_importance(importance_type="gain")
    order = np.argsort(gains)[::-1][:top][::-1]
    figure, axes = plt.subplots(figsize=(9, 0.3 * top + 1.5))
    axes.barh([names[i] for i in order], gains[order])
    axes.set(xlabel="total gain", title=f"Top {top} features by gain")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
