"""The model card's account of its confidence: how it was calibrated, and when that did not carry to test."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from training.reporting.model_card import confidence_section, curl_example


def _report(temperature: float, ece_before: float, ece_after: float, lead: bool = False) -> dict:
    return {
        "temperature": temperature, "none_logit": None, "lead_knots": [0.0, 2.0] if lead else [],
        "lead_log_scales": [0.1, -0.1] if lead else [], "ece_before": ece_before, "ece_after": ece_after,
        "log_loss_before": 0.5, "log_loss_after": 0.4, "candidate_recall": 1.0,
        "operating_points": [{"level": "leaf", "target_precision": 0.95, "threshold": 0.6, "test_coverage": 0.8,
                              "test_precision": 0.96}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("report", "calibrated", "raised"),
    [
        (_report(1.4, 0.0300, 0.0050), True, False),
        (_report(0.7, 0.0857, 0.1198), True, True),  # Open Food Facts: fitted on validation, worse on test
        (_report(1.0, 0.0020, 0.0020, lead=True), True, False),
        (_report(1.0, 0.002021972105237821, 0.0020219721052378067), False, False),  # uncalibrated: float noise only
    ],
)
def test_the_card_says_how_confidence_was_calibrated_and_when_it_raised_the_test_error(report, calibrated, raised):
    text = confidence_section(report)

    assert ("Left uncalibrated" in text) is not calibrated
    assert (f"temperature of {report['temperature']:.3f}" in text) is calibrated
    assert ("raised the test calibration error" in text) is raised


@pytest.mark.parametrize("title", ["Men's T-Shirt 'Classic'", 'Monitor 27" 4K', "café $HOME `x` \\ n"])
def test_the_cards_curl_call_sends_the_example_as_it_is(title):
    example = {"title": title, "price": 9.5}

    words = shlex.split(curl_example(example).replace("\\\n", " "))

    assert json.loads(words[words.index("-d") + 1]) == example
    assert subprocess.run(["bash", "-n", "-c", curl_example(example)], check=False).returncode == 0


def test_an_operating_point_short_of_its_target_on_test_is_marked():
    report = _report(1.2, 0.03, 0.005)
    short = report["operating_points"][0] | {"target_precision": 0.98, "test_precision": 0.9626}
    report["operating_points"] = [short, short | {"target_precision": 0.95}]

    text = confidence_section(report)

    assert "96.26% (below target on test)" in text
    assert text.count("below target on test") == 1


def test_operating_points_say_they_leave_out_the_classes_learnt_without_held_out_rows():
    report = _report(1.2, 0.03, 0.005)

    assert "These figures leave out the 620 classes learnt without held-out rows" in confidence_section(
        report, not_evaluated=620
    )
    assert "leave out" not in confidence_section(report)


def test_the_card_says_how_much_of_the_log_loss_the_candidates_misses_make():
    # GIVEN a re-ranker whose candidates miss the true class on 7 % of the rows (each scored at probability 0)
    report = _report(1.2, 0.03, 0.005) | {"candidate_recall": 0.93, "none_logit": -4.0}

    text = confidence_section(report)

    assert (
        "among the candidates for 93.00% of the rows, and each of the others adds 36 nats to the log loss (2.52" in text
    )
