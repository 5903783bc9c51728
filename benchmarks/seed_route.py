"""The serving route this project replaced, rebuilt for comparison: FastAPI + a pandas DataFrame + the
scikit-learn pipeline's transform + native LightGBM predict, behind the same Mangum and powertools wrapping.

Reads SEED_MODEL_PATH (a joblib pickle of the fitted pipeline) and SEED_METADATA_PATH (model.json).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import joblib
import numpy as np
import pandas as pd
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import Body, FastAPI
from mangum import Mangum

logger = Logger()
metrics = Metrics()
pipeline = joblib.load(os.environ["SEED_MODEL_PATH"])
METADATA = json.loads(open(os.environ["SEED_METADATA_PATH"]).read())  # noqa: SIM115
NUMERIC = [spec["name"] for spec in METADATA["inputs"] if spec["type"] == "float"]
COLUMNS = [spec["name"] for spec in METADATA["inputs"]]
app = FastAPI()


def _frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(items).reindex(columns=COLUMNS)
    for name in COLUMNS:
        frame[name] = frame[name].astype(np.float32) if name in NUMERIC else frame[name].fillna("").astype(str)
    return frame


def _answers(items: list[dict[str, Any]], top_k: int) -> list[dict[str, Any]]:
    started = time.perf_counter()
    probabilities = pipeline.predict_proba(_frame(items))
    metrics.add_metric(
        name="InferenceLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    classes = pipeline.classes_
    answers = []
    for row in probabilities:
        best = np.argsort(-row)[:top_k]
        answers.append(
            {
                "label": str(classes[best[0]]),
                "confidence": float(row[best[0]]),
                "top_k": [{"label": str(classes[i]), "probability": float(row[i])} for i in best],
            }
        )
    logger.info("predicted", extra={"rows": len(items)})
    return answers


@app.post("/predict")
def predict(item: dict[str, Any] = Body(...), top_k: int = 3) -> dict[str, Any]:  # noqa: B008
    return _answers([item], top_k)[0]


@app.post("/predict/batch")
def predict_batch(request: dict[str, Any] = Body(...), top_k: int = 3) -> dict[str, Any]:  # noqa: B008
    return {"predictions": _answers(request["items"], top_k)}


mangum = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return mangum(event, context)
