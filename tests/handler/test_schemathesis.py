"""Property-based API tests: schemathesis generates valid and invalid requests from /openapi.json.

In-process against the ASGI app, with a fixed example budget and derandomized generation so CI runs the
same cases every time. All checks run on every answer: no 5xx, every status, header and body as
documented, valid data accepted, invalid data refused.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings

EXAMPLES = 40
# Operations with neither parameters nor body have no invalid request to generate.
NO_INPUTS = {"GET /health", "GET /model"}
CASES = [
    (label, mode)
    for label in ("POST /predict", "POST /predict/batch", *sorted(NO_INPUTS))
    for mode in GenerationMode
    if not (label in NO_INPUTS and mode is GenerationMode.NEGATIVE)
]


@pytest.fixture(scope="module", params=["flat", "taxonomy"])
def operations(request, model_path, taxonomy_model_path):
    """The operations of a flat model's API and of a three-level taxonomy model's (paths, min_confidence)."""
    path = {"flat": model_path, "taxonomy": taxonomy_model_path}[request.param]
    service = Settings(model_path=path, max_batch=20, max_text_length=300)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(load_model(service), service))
    return {operation.label: operation for operation in (result.ok() for result in schema.get_all_operations())}


def test_every_operation_is_covered(operations):
    assert set(operations) == {label for label, _ in CASES}


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_operation_conforms_to_its_schema(operations, label, mode):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=operations[label].as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate()

    check()
