"""The tools teams already use, on the same split as our run: fastText (supervised) and TF-IDF + LinearSVC.

`training_benchmark.py --peers` and `categories_benchmark.py --peers` call `compare_peers` with the split their
case trained on (the local engine's, from the same config and data: each product is dealt by a hash of its id),
so the peers learn from the same training products, choose their settings on the same validation products and
are scored on the same test rows, with the same macro-F1 (over the classes with test rows).

What each peer sees, as ours does: the title, each hashed field as a token (`merchant_id=123`), and the
catalogue's extra training text (`data.training_text`, e.g. PriceRunner's canonical product names) as extra
training examples of the training products only. Settings, chosen on validation macro-F1 from a small grid each:

- fastText 0.9.2 (`fasttext-wheel`, a benchmark dependency only): 25 epochs, learning rate 0.5, word bigrams,
  dimension 100, with or without character n-grams 3-6; the full softmax up to SOFTMAX_MAX_CLASSES classes,
  hierarchical softmax above (the full softmax costs time in proportion to the classes). Two threads; the training
  lines shuffled (seeded), since fastText learns in file order and a catalogue is often sorted by category.
- scikit-learn: word 1-2-gram and character 2-5-gram (within words) TF-IDF, sublinear term frequency, then
  LinearSVC (one-vs-rest) with C from SVC_C_GRID (only its last C above SVC_GRID_MAX_CLASSES classes, where one
  fit takes minutes; not at all above SVC_MAX_CLASSES, where one fit takes hours). Each vectorizer keeps its most
  frequent features up to what SVC_COEF_BYTES allows, since LinearSVC's coefficients are a dense
  [classes x features] matrix.

Fit time is the chosen setting's fit on the training rows; size is the saved model (fastText's .bin, the
pickled scikit-learn pipeline); single-row latency is the median of SINGLE_ROWS predictions of one test row
each, in this process (ours is measured the same way, by the benchmark, through the handler's own session).
"""

from __future__ import annotations

import pickle
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.columns import LABEL, extra_text_columns
from training.data.load import load_catalogue
from training.data.split import Splits, split_catalogue
from training.reporting.evaluate import classification_metrics
from training.text import reads_as_empty

if TYPE_CHECKING:
    from training.config import TrainConfig

SOFTMAX_MAX_CLASSES = 200
SVC_C_GRID = (0.1, 0.5)
# LinearSVC keeps a dense [classes x features] float64 matrix: each vectorizer keeps at most this many bytes'
# worth of its most frequent features (unlimited at 10 classes, 62,500 features each at 1,000 classes).
SVC_COEF_BYTES = 1e9
# Above this many classes one LinearSVC fit takes minutes: only the grid's last C is fitted.
SVC_GRID_MAX_CLASSES = 200
# Above this many, not at all: one fit took 62 min at 1,000 classes x 140,000 rows (liblinear, one-vs-rest on one
# core), so 5,000 classes x 350,000 rows would take most of a day.
SVC_MAX_CLASSES = 1_000
FASTTEXT_GRID = ({"minn": 0, "maxn": 0}, {"minn": 3, "maxn": 6})
FASTTEXT_SETTINGS = {"epoch": 25, "lr": 0.5, "wordNgrams": 2, "dim": 100, "minCount": 1, "thread": 2, "verbose": 0}
SINGLE_ROWS = 300


def listing_text(frame: pd.DataFrame, config: TrainConfig) -> list[str]:
    """Each row's title and hashed fields, as one line of text (the fields as `name=value` tokens)."""
    text = frame[config.data.text].fillna("").astype(str)
    for name in config.data.hashed:
        if name in frame.columns:
            values = frame[name].fillna("").astype(str).str.replace(r"\s+", "_", regex=True)
            text = text + (" " + name + "=" + values).where(values != "", "")
    return [" ".join(line.lower().split()) for line in text]


def training_examples(train: pd.DataFrame, config: TrainConfig) -> tuple[list[str], list[str]]:
    """The training rows' text and labels, plus each distinct extra training text of a training product."""
    texts, labels = listing_text(train, config), train[LABEL].astype(str).tolist()
    for column in extra_text_columns(train):
        extra = pd.DataFrame({"text": train[column].fillna("").astype(str).str.lower(), "label": train[LABEL]})
        extra = extra[~extra["text"].map(reads_as_empty).astype(bool)].drop_duplicates()
        texts += [" ".join(line.split()) for line in extra["text"]]
        labels += extra["label"].astype(str).tolist()
    return texts, labels


def local_split(config: TrainConfig, data: str | None, *, n_train: int, n_test: int) -> Splits:
    """The split the local engine trained on for this config and data (None: the synthetic catalogue).

    Raises:
        RuntimeError: Its sizes are not the run's (`n_train`, `n_test`): the peers would not be on the same rows.
    """
    splits = split_catalogue(load_catalogue(config, data).frame, config.split)
    if (len(splits.train), len(splits.test)) != (n_train, n_test):
        raise RuntimeError(f"the peers' split ({len(splits.train)}, {len(splits.test)}) is not the run's ({n_train}, "
                           f"{n_test})")  # fmt: skip
    return splits


def served_single_row_ms(model_path: Path, test: pd.DataFrame, config: TrainConfig) -> float:
    """Our model's median single-row latency on the test rows, through the handler's own session."""
    from handler.model import load_model
    from handler.settings import Settings

    model = load_model(Settings(model_path=model_path))
    inputs = [name for name in config.input_names if name in test.columns]
    times = []
    for values in test[inputs].head(SINGLE_ROWS).itertuples(index=False, name=None):
        row = {name: (None if value != value else value) for name, value in zip(inputs, values, strict=True)}
        started = time.perf_counter()
        model.predict([row])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def compare_peers(config: TrainConfig, splits: Splits) -> dict[str, dict[str, Any]]:
    """Each peer fitted on `splits.train`, its setting chosen on `splits.validation`, scored on `splits.test`."""
    texts, labels = training_examples(splits.train, config)
    validation = listing_text(splits.validation, config), splits.validation[LABEL].astype(str).to_numpy()
    test = listing_text(splits.test, config), splits.test[LABEL]
    classes = len(set(labels))
    skipped = {"skipped": f"{classes:,} classes: above SVC_MAX_CLASSES ({SVC_MAX_CLASSES:,}), one fit takes hours"}
    return {
        "fasttext": _best(_fasttext_fits(texts, labels), validation, test),
        "tfidf_linearsvc": _best(_svc_fits(texts, labels), validation, test) if classes <= SVC_MAX_CLASSES else skipped,
    }


Fit = tuple[dict[str, Any], Callable[[], tuple[Callable[[Sequence[str]], np.ndarray], float, int]]]


def _best(
    fits: list[Fit], validation: tuple[list[str], np.ndarray], test: tuple[list[str], pd.Series]
) -> dict[str, Any]:
    """Fit each setting, keep the one with the best validation macro-F1, and score it on test."""
    best: tuple[float, dict[str, Any], Callable[[Sequence[str]], np.ndarray], float, int] | None = None
    for setting, fit in fits:
        predict, seconds, size = fit()
        score = classification_metrics(pd.Series(validation[1]), predict(validation[0]))["macro_f1"]
        if best is None or score > best[0]:
            best = (score, setting, predict, seconds, size)
    assert best is not None
    score, setting, predict, seconds, size = best
    test_text, test_labels = test
    single = []
    for line in test_text[:SINGLE_ROWS]:
        started = time.perf_counter()
        predict([line])
        single.append((time.perf_counter() - started) * 1000)
    return {
        "macro_f1": round(classification_metrics(test_labels, predict(test_text))["macro_f1"], 4),
        "validation_macro_f1": round(score, 4),
        "setting": setting,
        "fit_seconds": round(seconds, 1),
        "model_mb": round(size / 1e6, 2),
        "single_row_p50_ms": round(statistics.median(single), 3),
    }


def _fasttext_fits(texts: list[str], labels: list[str]) -> list[Fit]:
    """One fit per FASTTEXT_GRID entry, each returning its predictor, fit seconds and saved size."""
    import fasttext

    classes = len(set(labels))
    loss = "softmax" if classes <= SOFTMAX_MAX_CLASSES else "hs"
    # fastText reads labels as whitespace-free tokens: number them, and map back.
    names = sorted(set(labels))
    code = {name: f"__label__{index}" for index, name in enumerate(names)}

    # fastText's SGD reads the file in order, epoch after epoch, with a decaying learning rate: a catalogue sorted by
    # category (PriceRunner's is) leaves it leaning to the last categories (measured: 0.96-0.975 macro-F1 on
    # PriceRunner's validation products, 0.987 shuffled). So the lines go in a seeded random order.
    order = np.random.default_rng(0).permutation(len(texts))
    lines = "".join(f"{code[labels[i]]} {texts[i]}\n" for i in order)

    def fit(grid: dict[str, int]) -> tuple[Callable[[Sequence[str]], np.ndarray], float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            path.write_text(lines)
            started = time.perf_counter()
            model = fasttext.train_supervised(str(path), loss=loss, **FASTTEXT_SETTINGS, **grid)
            seconds = time.perf_counter() - started
            model.save_model(str(Path(tmp) / "model.bin"))
            size = (Path(tmp) / "model.bin").stat().st_size

        def predict(lines: Sequence[str]) -> np.ndarray:
            # model.predict breaks on NumPy 2 (np.array(copy=False)); its C++ core answers directly.
            best = [model.f.predict(line + "\n", 1, 0.0, "strict")[0][1] for line in lines]
            return np.array([names[int(label.removeprefix("__label__"))] for label in best], dtype=object)

        return predict, seconds, size

    return [({"loss": loss, **grid}, lambda grid=grid: fit(grid)) for grid in FASTTEXT_GRID]


def _svc_fits(texts: list[str], labels: list[str]) -> list[Fit]:
    """One TF-IDF + LinearSVC fit per C of SVC_C_GRID."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    classes = len(set(labels))
    most = int(SVC_COEF_BYTES / (8 * classes * 2)) if classes > 10 else None

    def fit(c: float) -> tuple[Callable[[Sequence[str]], np.ndarray], float, int]:
        pipeline = make_pipeline(
            make_union(
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=most, dtype=np.float32),
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=most,
                    dtype=np.float32,
                ),
            ),
            LinearSVC(C=c),
        )
        started = time.perf_counter()
        pipeline.fit(texts, labels)
        seconds = time.perf_counter() - started
        return pipeline.predict, seconds, len(pickle.dumps(pipeline))

    grid = SVC_C_GRID if classes <= SVC_GRID_MAX_CLASSES else SVC_C_GRID[-1:]
    return [({"C": c, "max_features": most}, lambda c=c: fit(c)) for c in grid]
