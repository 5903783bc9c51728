"""The FastAPI app: routes, validation errors and metrics, built around one loaded model.

No `from __future__ import annotations` here: FastAPI reads the route annotations at runtime, and the
request models are built per app from the model's schema, so they must be real objects, not strings.
"""

import json
import os
import time
import uuid
from collections import Counter
from email.message import Message
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from handler.capture import CAPTURED_TOP_K, Capture
from handler.decisions import ACCEPT, Decision, decide
from handler.dimensions import dimension_value
from handler.docs import redoc_page, swagger_page
from handler.events import SYNTHETIC_HEADER
from handler.exceptions import InferenceError
from handler.explain import Explanation, predict_explained, scored_rows
from handler.guard import MAX_MESSAGE, RequestGuard, as_sent, request_path, shortened
from handler.json_body import RepeatedNameError, StrictJSONRoute
from handler.model import Model, Prediction
from handler.schemas import (
    BatchPrediction,
    BatchResponse,
    ClassProbability,
    ErrorResponse,
    HealthResponse,
    ModelResponse,
    PathNode,
    PredictionResponse,
    TaxonomySummary,
    build_batch_model,
    build_product_model,
)
from handler.settings import Settings

DEFAULT_SERVICE = "product-classifier"
DEFAULT_NAMESPACE = "ProductClassifier"
# GET /model lists at most this many golden examples, and at most MODEL_GOLDEN_VALUES probabilities in all (each
# example has one per class): ~0.4 MB at 5,000 classes. The pre-traffic check replays the artifact's whole set.
MODEL_GOLDEN_EXAMPLES = 30
MODEL_GOLDEN_VALUES = 20_000
# How many problems an error answer lists, at most.
MAX_ERRORS = 20
# How many of them the "rejected request" log line names, by field and type.
LOGGED_ERRORS = 5
# Where the OpenAPI document is served (the docs pages load it from there).
OPENAPI_PATH = "/openapi.json"
# The query parameters of POST /predict and /predict/batch; any other is refused (`_check_query`).
PREDICT_QUERY = ("top_k", "min_confidence", "target_precision", "explain")
# What a prediction request without a body is told.
EMPTY_BODY = "the body is empty: send the request as a JSON object"
# JSON-escaped as UTF-8, one character of a JSON body takes at most this many bytes.
UTF8_ESCAPE = 4
# Requests the release path itself sends (the pre-traffic hook, the drift monitor, smoke tests) carry this header;
# they are counted apart, so they never enter the class mix or the behaviour alarms of real traffic.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
)
# The error schema is written into each response as JSON Schema, not as `"model": ErrorResponse`: FastAPI
# builds a validating field per route and status for a model (~1 ms each, at every cold start), only to
# document it.
_ERROR_CONTENT = {"application/json": {"schema": ErrorResponse.model_json_schema()}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _ERROR_CONTENT}
    for status, description in (
        (400, "The body could not be parsed (not UTF-8, too deep, huge integer)."),
        (413, "The body is larger than MAX_BODY_BYTES."),
        (415, "The Content-Type is not application/json, or the body is compressed (Content-Encoding)."),
        (422, "A field is missing, of the wrong type, too long or unknown."),
        (500, "Inference failed (a server fault, logged)."),
    )
}


def create_app(model: Model, settings: Settings) -> FastAPI:
    """Build the API around a loaded model; its request schema is the model's own input schema."""
    product = build_product_model(
        model.inputs, max_text_length=settings.max_text_length, example=model.metadata.get("example")
    )
    batch = build_batch_model(product, max_batch=settings.max_batch)
    top_k_query = Query(
        3, ge=1, le=min(settings.max_top_k, len(model.classes)), description="How many classes to list."
    )
    min_confidence_query = Query(
        None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="0 to 1: answer with the deepest node of the predicted path whose confidence reaches this "
        "(`label`, `confidence`, `level`; the root '' at level 0 when even the department is below it).",
    )
    targets = model.operating_points.targets if model.operating_points else []
    target_query = Query(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description=f"The precision to take `decision` at: one of the model's operating points {targets} "
        f"(default {settings.target_precision})."
        if targets
        else "This model records no operating points: its answers carry no `decision`, and any value is refused.",
        # The schema names the allowed values, so a client (or schemathesis) knows them; `_target` enforces them.
        json_schema_extra={"enum": targets} if targets else None,
    )
    explain_query = Query(False, description="Add `explanation`: each title word's and field's effect on the answer.")
    capture = Capture(settings.capture_sample_rate, settings.capture_dir)
    app = FastAPI(
        title="Product category classifier",
        version=model.version,
        description=f"Predicts one of {len(model.classes)} categories from a product's raw fields.",
        docs_url=None,
        redoc_url=None,
        # Served by the route below: FastAPI's own also answers HEAD (with the whole document through Mangum),
        # where every other route answers 405.
        openapi_url=None,
        # `/predict/` is not a route: a 404, as documented, not a redirect to a URL built from the Host header
        # (behind a REST API stage it would drop the stage).
        redirect_slashes=False,
        # What the guard answers on any route: a body over the limit or compressed, and a fault of ours.
        responses={status: ERROR_RESPONSES[status] for status in (413, 415, 500)},
    )
    app.router.route_class = StrictJSONRoute
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes, logger=logger)

    # `level` is left out unless min_confidence asked for it (`_json_answer` drops None fields): a flat model's
    # answer keeps its shape.
    # The query is checked before any field (a dependency runs before the parameters are validated): a misspelt
    # parameter beside a bad body is told at once, not on the next try.
    checked_query = [Depends(_check_query)]

    @app.post("/predict", response_model=PredictionResponse, responses=ERROR_RESPONSES, dependencies=checked_query)
    async def predict(
        http: Request,
        item: product = Body(...),  # type: ignore[valid-type]  # noqa: B008
        top_k: int = top_k_query,
        min_confidence: float | None = min_confidence_query,
        target_precision: float | None = target_query,
        explain: bool = explain_query,
    ) -> Response:
        """Classify one product."""
        target = _target(model, settings, target_precision)
        row = item.model_dump(by_alias=True)  # type: ignore[attr-defined]
        synthetic = _is_synthetic(http)
        ((prediction, why),) = _predict(model, [row], settings, synthetic, explain=explain)
        answer = _answer(prediction, model, top_k, min_confidence, target)
        if why is not None:
            answer["explanation"] = _explanation(why)
        response = _json_answer(PredictionResponse(**answer, model_version=model.version), settings, items=1)
        if capture.enabled and not synthetic:
            _capture(capture, model, http, [row], [(prediction, answer)], top_k, min_confidence, target)
        return response

    @app.post("/predict/batch", response_model=BatchResponse, responses=ERROR_RESPONSES, dependencies=checked_query)
    async def predict_batch(
        http: Request,
        request: batch = Body(...),  # type: ignore[valid-type]  # noqa: B008
        top_k: int = top_k_query,
        min_confidence: float | None = min_confidence_query,
        target_precision: float | None = target_query,
        explain: bool = explain_query,
    ) -> Response:
        """Classify up to MAX_BATCH products; answers come back in the items' order."""
        target = _target(model, settings, target_precision)
        rows = [item.model_dump(by_alias=True) for item in request.items]  # type: ignore[attr-defined]
        if explain:
            _check_explained_work(rows, model, settings)
        synthetic = _is_synthetic(http)
        answered = []
        for prediction, why in _predict(model, rows, settings, synthetic, explain=explain):
            answer = _answer(prediction, model, top_k, min_confidence, target)
            if why is not None:
                answer["explanation"] = _explanation(why)
            answered.append((prediction, answer))
        answers = BatchResponse(
            predictions=[BatchPrediction(**answer) for _, answer in answered], model_version=model.version
        )
        response = _json_answer(answers, settings, items=len(rows))
        if capture.enabled and not synthetic:
            _capture(capture, model, http, rows, answered, top_k, min_confidence, target)
        return response

    @app.get("/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        """The function serves only with a loaded model, so answering at all means healthy."""
        return HealthResponse(status="ok", model_loaded=True, model_version=model.version)

    shown_golden = max(1, min(MODEL_GOLDEN_EXAMPLES, MODEL_GOLDEN_VALUES // len(model.classes)))

    @app.get("/model", response_model=ModelResponse)
    async def describe_model() -> ModelResponse:
        """Classes, inputs, test metrics and provenance of the served model."""
        metadata = model.metadata
        return ModelResponse(
            model_version=model.version,
            trained_at=metadata.get("created_at"),
            classes=model.classes,
            inputs=model.inputs,
            metrics=metadata.get("metrics", {}),
            training_data=_public_training_data(metadata.get("training_data")),
            library_versions=metadata.get("library_versions"),
            class_shares=metadata.get("class_shares"),
            taxonomy=TaxonomySummary(**model.taxonomy.summary()),
            calibration=metadata.get("calibration"),
            operating_points=_operating_points(metadata, model),
            golden_examples=metadata.get("golden_examples", [])[:shown_golden],
        )

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_document() -> Response:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(http: Request) -> Response:
        encoding = http.headers.get("accept-encoding", "")
        return swagger_page(title=app.title, openapi_url=OPENAPI_PATH, accept_encoding=encoding)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(http: Request) -> Response:
        encoding = http.headers.get("accept-encoding", "")
        return redoc_page(title=app.title, openapi_url=OPENAPI_PATH, accept_encoding=encoding)

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(InferenceError, _inference_error)
    return app


def _capture(
    capture: Capture, model: Model, http: Request, rows: list[dict[str, Any]],
    answered: list[tuple[Prediction, dict[str, Any]]], top_k: int, min_confidence: float | None, target: float | None,
) -> None:  # fmt: skip
    """Capture the request's answers (`handler.capture`), each with its top CAPTURED_TOP_K classes and the leaf
    answer: the response's own answer when it already is that, else the same answer computed again. A write that
    fails is logged and counted (CaptureErrors), and the caller still gets the answer."""
    reusable = top_k >= CAPTURED_TOP_K and min_confidence is None
    records = []
    for prediction, answer in answered:
        full = answer if reusable else _answer(prediction, model, CAPTURED_TOP_K, None, target)
        record = {key: value for key, value in full.items() if key != "explanation"}
        record["top_k"] = [item.model_dump() for item in full["top_k"][:CAPTURED_TOP_K]]
        record["path"] = [node.model_dump() for node in full["path"]]
        records.append(record)
    try:
        capture.write(rows, records, model_version=model.version, request_id=_request_id(http))
    except OSError as exc:  # the answer is already made: a capture that cannot be written must not lose it
        logger.error("capture failed", extra={"reason": str(exc), "listings": len(rows)})
        metrics.add_metric(name="CaptureErrors", unit=MetricUnit.Count, value=1)


def _request_id(http: Request) -> str:
    """The API's request id (as in the access log), else Lambda's, else a new one (a local server).

    Only a string is the API's: a direct invoke may put anything in its place, a list nested too deep to print.
    """
    event = http.scope.get("aws.event") or {}
    context = http.scope.get("aws.context")
    found = (event.get("requestContext") or {}).get("requestId")
    if not (found and isinstance(found, str)):
        found = getattr(context, "aws_request_id", None)
    return str(found or uuid.uuid4())


def _is_synthetic(request: Request) -> bool:
    """Whether the release path, not a client, sent this request."""
    return bool(request.headers.get(SYNTHETIC_HEADER))


def _predict(
    model: Model, rows: list[dict[str, Any]], settings: Settings, synthetic: bool, *, explain: bool
) -> list[tuple[Prediction, Explanation | None]]:
    """Run the model (explaining in the same call when asked) and record latency, batch size, per-class counts,
    low-confidence and accepted answers.

    Answers are counted as accepted at the deployment's target precision, whatever a caller asked for: the drift
    monitor compares the accepted share over time, which would otherwise move with the precision clients ask for.
    Synthetic requests are only counted (SyntheticPredictions): their golden examples would otherwise add to
    the class mix the drift check reads and to the new version's behaviour alarms.
    """
    started = time.perf_counter()
    answered: list[tuple[Prediction, Explanation | None]] = []
    answered.extend(predict_explained(model, rows) if explain else ((p, None) for p in model.predict(rows)))
    predictions = [prediction for prediction, _ in answered]
    latency_ms = (time.perf_counter() - started) * 1000
    logger.info("predicted", extra={"rows": len(rows), "latency_ms": round(latency_ms, 3), "synthetic": synthetic})
    if synthetic:
        metrics.add_metric(name="SyntheticPredictions", unit=MetricUnit.Count, value=len(rows))
        return answered
    metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=len(rows))
    unsure = [float(p.probabilities.max()) < settings.low_confidence for p in predictions]
    metrics.add_metric(name="LowConfidencePredictions", unit=MetricUnit.Count, value=sum(unsure))
    low_by_label = Counter(p.label for p, low in zip(predictions, unsure, strict=True) if low)
    for label, count in Counter(p.label for p in predictions).items():
        with single_metric(
            name="Predictions", unit=MetricUnit.Count, value=count, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="category", value=dimension_value(label))
            # Per leaf, low confidence is a property of this line, not a metric: Logs Insights sums it by category
            # at no metric cost (a metric would add one per leaf, 5,000 at scale).
            metric.add_metadata(key="low_confidence", value=low_by_label[label])
    target = _target(model, settings, None)
    accepted = [_decision(model, p, target).decision == ACCEPT for p in predictions] if target is not None else None
    if accepted is not None:
        # Across versions (the service alone): the drift monitor compares the accepted share with its trailing week.
        for name, value in (("AcceptedPredictions", sum(accepted)), ("DecidedPredictions", len(accepted))):
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace):
                pass
    if model.taxonomy.depth > 1:
        _department_metrics(model, predictions, unsure, accepted)
    return answered


def _department_metrics(
    model: Model, predictions: list[Prediction], unsure: list[bool], accepted: list[bool] | None
) -> None:
    """Predictions, low-confidence and accepted predictions per top-level department (a few dozen values at most)."""
    department = [model.taxonomy.names[int(p.path_nodes[0])] for p in predictions]
    low = Counter(name for name, flag in zip(department, unsure, strict=True) if flag)
    sure = Counter(name for name, flag in zip(department, accepted or [], strict=False) if flag)
    for name, count in Counter(department).items():
        values = [("DepartmentPredictions", count), ("DepartmentLowConfidence", low[name])]
        if accepted is not None:
            values.append(("DepartmentAccepted", sure[name]))
        for metric_name, value in values:
            with single_metric(
                name=metric_name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name="department", value=dimension_value(name))


def _answer(
    prediction: Prediction, model: Model, top_k: int, min_confidence: float | None, target: float | None
) -> dict[str, Any]:
    """Label, confidence, the top_k classes, the path and the decision of one prediction; with min_confidence, the
    deepest node of the path that reaches it instead of the leaf, and its level."""
    probabilities = prediction.probabilities
    best = np.argsort(-probabilities, kind="stable")[:top_k]
    taxonomy = model.taxonomy
    answer: dict[str, Any] = {
        "label": prediction.label,
        "confidence": float(probabilities[model.classes.index(prediction.label)]),
        "top_k": [ClassProbability(label=model.classes[i], probability=float(probabilities[i])) for i in best],
        "path": [
            PathNode(name=taxonomy.names[node], node=taxonomy.paths[node], level=level, confidence=confidence)
            for level, (node, confidence) in enumerate(prediction.path(), start=1)
        ],
    }
    if target is not None:
        decision = _decision(model, prediction, target)
        answer |= {"decision": decision.decision, "target_precision": decision.target_precision}
        answer |= {"decision_level": decision.level, "decision_label": decision.label}
    if min_confidence is not None:
        answer["label"], answer["level"], answer["confidence"] = model.back_off(prediction, min_confidence)
    return answer


def _json_answer(answer: PredictionResponse | BatchResponse, settings: Settings, *, items: int) -> Response:
    """The answer as JSON, or a 422 when Lambda could not return it: past MAX_RESPONSE_BYTES it would end in a 502
    after all the work. Long category names make answers long; a request can only fix it by asking for less. The
    predictions of a refused answer are still counted in the metrics (they were made).

    Raises:
        RequestValidationError: The answer, as Lambda counts it, is over MAX_RESPONSE_BYTES.
    """
    body = answer.model_dump_json(exclude_none=True)
    limit = settings.max_response_bytes
    # Lambda's python3.12 runtime escapes the body into its result as UTF-8 JSON (a quote or a backslash takes two
    # bytes, a character up to four): only a body that could then pass the limit is escaped to count it.
    size = len(body) if len(body) * UTF8_ESCAPE <= limit else len(json.dumps(body, ensure_ascii=False).encode())
    if size <= limit:
        return Response(body, media_type="application/json")
    if isinstance(answer, BatchResponse):
        loc, advice = ("body", "items"), f"send at most about {max(1, items * limit // size)} items, or a smaller top_k"
    else:
        loc, advice = ("query", "top_k"), "ask for a smaller top_k, or leave explain out"
    raise RequestValidationError([{
        "loc": loc, "msg": f"answers of {size:,} bytes exceed the {limit:,} Lambda returns: {advice}",
        "type": "value_error",
    }])  # fmt: skip


def _target(model: Model, settings: Settings, asked: float | None) -> float | None:
    """The target precision of a request: the one asked for, else the deployment's; None when the model records no
    operating points (and none was asked for).

    Raises:
        RequestValidationError: The precision asked for is not one of the model's operating points (a 422).
    """
    points = model.operating_points
    if asked is None:
        return settings.target_precision if points is not None else None
    if points is None or points.find(asked) is None:
        allowed = points.targets if points else []
        raise RequestValidationError([{
            "loc": ("query", "target_precision"),
            "msg": f"must be one of the model's operating points {allowed}, got {asked}",
            "type": "value_error",
        }])  # fmt: skip
    return min(points.targets, key=lambda recorded: abs(recorded - asked))


def _check_query(http: Request) -> None:
    """The query names only the prediction routes' parameters, each once: a misspelt one (`target_precison=0.99`)
    would otherwise be ignored and the answer silently taken at the default, as an unknown body field would, and of
    one given twice (`top_k=1&top_k=3`) only the last value would count.

    Raises:
        RequestValidationError: Some query parameter is not one of PREDICT_QUERY, or is given more than once (a 422
            naming each).
    """
    # Starlette parses the query as Latin-1; the names are read from the text the client sent (`as_sent`).
    query = as_sent(http.scope.get("query_string", b"").decode("latin-1"))
    names = Counter(name for name, _ in parse_qsl(query, keep_blank_values=True))
    unknown = [name for name in names if name not in PREDICT_QUERY]
    repeated = [name for name, count in names.items() if count > 1 and name in PREDICT_QUERY]
    if unknown or repeated:
        raise RequestValidationError([{
            "loc": ("query", name), "msg": f"unknown query parameter; the parameters are {', '.join(PREDICT_QUERY)}",
            "type": "extra_forbidden",
        } for name in unknown] + [{
            "loc": ("query", name), "msg": f"given {names[name]} times; give it once", "type": "value_error",
        } for name in repeated])  # fmt: skip


def _check_explained_work(rows: list[dict[str, Any]], model: Model, settings: Settings) -> None:
    """explain=true may carry at most MAX_EXPLAINED_CHARACTERS characters of text, all items together, and score at
    most MAX_EXPLAINED_ROWS rows, the listings and their occlusions together: about the text and the rows of the
    costliest request without it, so it cannot outrun the function's timeout either. The rows bound short titles,
    whose cost is per row (per class, at thousands of classes), not per character.

    Raises:
        RequestValidationError: It carries more, or would score more (a 422).
    """
    characters = sum(len(value) for row in rows for value in row.values() if isinstance(value, str))
    limit = settings.max_explained_characters
    if characters > limit:
        message = (
            f"explain=true explains at most {limit} characters of text per request, this one holds {characters}: "
            "send fewer or shorter items per request, or leave explain out"
        )
    else:
        scored = scored_rows(rows, text=model.text_input, inputs=model.inputs)
        if scored <= settings.max_explained_rows:
            return
        message = (
            "explain=true scores each listing once more per explained word and field, at most "
            f"{settings.max_explained_rows} rows per request, and this one would score {scored}: send fewer items "
            "per request, or leave explain out"
        )
    raise RequestValidationError([{"loc": ("query", "explain"), "msg": message, "type": "value_error"}])


def _decision(model: Model, prediction: Prediction, target: float) -> Decision:
    """Accept or review one prediction at `target` (`handler.decisions`)."""
    assert model.operating_points is not None
    thresholds = model.operating_points.find(target)
    assert thresholds is not None
    confidence = float(prediction.probabilities[model.classes.index(prediction.label)])
    path = [(model.taxonomy.paths[node], value) for node, value in prediction.path()]
    return decide(thresholds, target, label=prediction.label, confidence=confidence, path=path)


def _explanation(found: Explanation) -> dict[str, Any]:
    """The explanation of one answer, as the response's `explanation` (`handler.explain`)."""
    return {
        "label": found.label,
        "words": [{"word": word, "delta": delta} for word, delta in found.words],
        "fields": [{"field": field, "delta": delta} for field, delta in found.fields],
    }


def _operating_points(metadata: dict[str, Any], model: Model) -> list[dict[str, Any]]:
    """GET /model's operating points: each target's thresholds and what they gave on test."""
    if model.operating_points is None:
        return []
    recorded = metadata.get("operating_points", {})
    points = []
    for target in model.operating_points.targets:
        thresholds = model.operating_points.find(target)
        assert thresholds is not None
        extra: dict[str, Any] = next((e for key, e in recorded.items() if round(float(key), 2) == target), {})
        points.append({
            "target_precision": target, "threshold": thresholds.leaf, "level_thresholds": list(thresholds.levels),
            "test_coverage": extra.get("test_coverage"), "test_precision": extra.get("test_precision"),
        })  # fmt: skip
    return points


def _public_training_data(training_data: Any) -> dict[str, Any] | None:
    """Where the model's data came from, without the training machine's file paths."""
    if not isinstance(training_data, dict):
        return None
    source = str(training_data.get("source", ""))
    return {
        "source": source if source.startswith("synthetic(") else PurePath(source).name,
        "sha256": training_data.get("sha256"),
        "rows": training_data.get("rows"),
    }


def _is_json(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters allowed, as FastAPI decides to parse."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the offending fields (at most MAX_ERRORS), or 415 when the body was not sent as JSON."""
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and not _is_json(content_type):
        logger.info("rejected request", extra={"path": request_path(request.scope), "status": 415})
        body = ErrorResponse(
            error=f"Content-Type must be application/json, got {shortened(as_sent(content_type) or 'none')!r}"
        )
        return JSONResponse(status_code=415, content=body.model_dump(exclude_none=True))
    problems = exc.errors()  # type: ignore[attr-defined]
    if problems and problems[0]["type"] == "json_invalid":
        return _json_syntax_error(request, exc)
    errors = [
        {
            "field": shortened(".".join(str(part) for part in error["loc"])),
            "message": EMPTY_BODY if _is_empty_body(error) else shortened(error["msg"], MAX_MESSAGE),
            "type": error["type"],
        }
        for error in problems[:MAX_ERRORS]
    ]
    logged = [{"field": _logged_field(error), "type": error["type"]} for error in problems[:LOGGED_ERRORS]]
    logger.info("rejected request", extra={"path": request_path(request.scope), "status": 422, "errors": logged})
    summary = (
        "invalid request"
        if len(problems) <= MAX_ERRORS
        else f"invalid request ({len(problems)} problems, first {MAX_ERRORS} shown)"
    )
    return JSONResponse(status_code=422, content=ErrorResponse(error=summary, detail=errors).model_dump())


def _logged_field(error: dict[str, Any]) -> str:
    """Where a refused field was, as the log line names it: an unknown field by its place, not by its name, which
    the client chose (the 422 echoes it to the client; the log line keeps no field name or value it sent)."""
    location = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        location[-1] = "<unknown>"
    return shortened(".".join(location))


def _is_empty_body(error: dict[str, Any]) -> bool:
    """Whether a validation error is FastAPI's for a request without a body ("Field required" at `body`)."""
    return tuple(error["loc"]) == ("body",) and error["type"] == "missing"


def _json_syntax_error(request: Request, exc: Exception) -> JSONResponse:
    """422 saying in words what is wrong with a body that is not JSON, and where (line and column)."""
    cause = exc.__cause__
    if isinstance(cause, RepeatedNameError):
        return _repeated_name(request, cause)
    if isinstance(cause, json.JSONDecodeError):
        where = f"line {cause.lineno}, column {cause.colno} (character {cause.pos + 1})"
        # Some of json's messages end in "at" already ("Unterminated string starting at"); one advises the server.
        message = cause.msg.removesuffix(" at").removesuffix(" (decode using utf-8-sig)")
        problem = f"{message[0].lower()}{message[1:]} at {where}"
    else:
        problem = "the body is not a JSON document"
    hint = "JSON wants double-quoted names and strings, commas between items and none after the last"
    detail = [{"field": "body", "message": shortened(problem), "type": "json_invalid"}]
    logged = [{"field": "body", "type": "json_invalid"}]
    logger.info("rejected request", extra={"path": request_path(request.scope), "status": 422, "errors": logged})
    body = ErrorResponse(error=f"the body is not valid JSON: {problem}; {hint}", detail=detail)
    return JSONResponse(status_code=422, content=body.model_dump())


def _repeated_name(request: Request, cause: RepeatedNameError) -> JSONResponse:
    """422 naming the member an object gives twice: which value counts would be the parser's choice, not the
    client's."""
    problem = shortened(cause.msg)
    detail = [{"field": "body", "message": problem, "type": "json_repeated_name"}]
    logged = [{"field": "body", "type": "json_repeated_name"}]
    logger.info("rejected request", extra={"path": request_path(request.scope), "status": 422, "errors": logged})
    body = ErrorResponse(error=f"the body is ambiguous JSON: {problem}; give each name once", detail=detail)
    return JSONResponse(status_code=422, content=body.model_dump())


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unparsable body, unknown route or method) in the API's one error shape."""
    status = getattr(exc, "status_code", 400)
    if status == 400:
        detail = [{"field": "body", "message": _unparsable(exc.__cause__), "type": "body_unparsable"}]
        body = ErrorResponse(error="the body could not be parsed as JSON", detail=detail)
    else:
        body = ErrorResponse(error=shortened(getattr(exc, "detail", "error")))
    logger.info("rejected request", extra={"path": request_path(request.scope), "status": status})
    return JSONResponse(
        status_code=status, content=body.model_dump(exclude_none=True), headers=getattr(exc, "headers", None)
    )


def _unparsable(cause: BaseException | None) -> str:
    """Why a body could not be parsed, in the client's terms (never the parser's exception or its advice)."""
    if isinstance(cause, UnicodeDecodeError):
        # the encoding json detected: UTF-8 (a mark or none), or UTF-16 or UTF-32 by the NUL bytes of their ASCII
        encoding = cause.encoding.upper().removesuffix("-SIG").removesuffix("-LE").removesuffix("-BE")
        return f"the body is not {encoding} text (byte {cause.start + 1} cannot be decoded)"
    if isinstance(cause, RecursionError):
        return "the body nests arrays or objects too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number in the body has too many digits to read"
    return "unreadable body"


async def _inference_error(request: Request, exc: Exception) -> JSONResponse:
    """500 with a short message; the cause goes to the log, once."""
    logger.exception("inference failed", extra={"path": request_path(request.scope)})
    return JSONResponse(status_code=500, content=ErrorResponse(error="inference failed").model_dump(exclude_none=True))
