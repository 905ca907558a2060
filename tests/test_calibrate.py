"""Logistic calibration, threshold choice and reliability, against hand-computed cases."""
import math

import numpy as np
import pytest

from eval.calibration import MODE_FEATURES, served_query
from index.calibrate import (LogisticModel, ReliabilityBin, choose_threshold, expected_calibration_error, fit,
                             fit_logistic, load_models, reliability)


def test_unpenalised_fit_recovers_the_log_odds():
    # x = 1: 3 of 4 relevant; x = -1: 1 of 4. The MLE is P = 3/4 and 1/4: weight ln 3, bias 0.
    x = np.array([[1.0]] * 4 + [[-1.0]] * 4)
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    weights, bias = fit_logistic(x, y, l2=0.0)
    assert weights[0] == pytest.approx(math.log(3))
    assert bias == pytest.approx(0.0, abs=1e-12)


def test_penalty_shrinks_the_weight_but_not_the_bias():
    x = np.array([[1.0]] * 4 + [[-1.0]] * 4)
    y = np.array([1, 1, 1, 1, 1, 1, 0, 0])
    weights, bias = fit_logistic(x, y, l2=1e6)
    assert abs(weights[0]) < 1e-5
    assert bias == pytest.approx(math.log(6 / 2), rel=1e-4)  # the base rate's log odds


def test_probability_standardises_then_applies_the_weights():
    model = LogisticModel(("x",), (1.0,), (2.0,), (2.0,), -1.0, threshold=0.4)
    # z = (3 - 1) / 2 * 2 - 1 = 1
    assert model.probability(np.array([[3.0]]))[0] == pytest.approx(1 / (1 + math.exp(-1)))
    assert LogisticModel.from_dict(model.to_dict()) == model


def test_fit_keeps_a_constant_feature_at_scale_one():
    model = fit(np.array([[0.0, 5.0], [1.0, 5.0]]), np.array([0, 1]), ("x", "constant"), l2=1.0)
    assert model.features == ("x", "constant")
    assert model.mean == (0.5, 5.0)
    assert model.scale == (0.5, 1.0)
    assert model.weights[1] == 0.0


def test_threshold_flags_at_most_the_allowed_share_of_right_answers():
    confidence = [0.9, 0.8, 0.6, 0.7, 0.3, 0.5]
    correct = [True, True, False, True, False, True]
    # Right tops: .5 .7 .8 .9. A quarter may be flagged: one, so the cut falls between .5 and .7.
    assert choose_threshold(confidence, correct, false_flag_rate=0.25) == pytest.approx(0.6)
    # Under one allowed: the lowest right top itself (nothing right is flagged).
    assert choose_threshold(confidence, correct, false_flag_rate=0.2) == 0.5
    assert choose_threshold(confidence, correct, false_flag_rate=0.5) == pytest.approx(0.75)
    assert choose_threshold([0.4], [False]) == 0.0


def test_reliability_bins_and_calibration_error():
    bins = reliability([0.1, 0.4, 0.6, 1.0], [False, True, True, True], bins=2)
    assert bins == [ReliabilityBin(0.0, 0.5, 2, 0.25, 0.5), ReliabilityBin(0.5, 1.0, 2, 0.8, 1.0)]
    assert expected_calibration_error(bins) == pytest.approx(0.5 * 0.25 + 0.5 * 0.2)
    empty = reliability([0.95], [True], bins=4)
    assert [b.n for b in empty] == [0, 0, 0, 1]
    assert empty[0].mean_confidence is None and empty[0].observed is None


def test_committed_models_cover_every_mode():
    models = load_models()
    assert {mode: model.features for mode, model in models.items()} == MODE_FEATURES
    for model in models.values():
        assert len(model.weights) == len(model.mean) == len(model.scale) == len(model.features)
        assert 0.0 <= model.threshold <= 1.0


def test_eval_reports_reliability_and_flags_by_the_committed_threshold():
    from eval.questions import Question
    from eval.report import format_unanswerable, reliability_lines
    from eval.scoring import answer_threshold, evaluate, evaluate_unanswerable

    threshold = answer_threshold("hybrid")
    answers = {"right": [{"text": "粮食安全", "confidence": 0.95, "speech": {"title": ""}},
                         {"text": "别的", "confidence": 0.05, "speech": {"title": ""}}],
               "unsure": [{"text": "别的", "confidence": 0.0, "speech": {"title": ""}}],
               "nothing": []}

    def search(query, k, mode):
        return answers[query][:k]

    questions = [Question(id=q, question=q, gold_spans=("粮食安全",)) for q in ("right", "unsure")]
    result = evaluate(questions, search, mode="hybrid")
    calibration = result["calibration"]
    assert calibration["hits"] == 3 and calibration["flagged"] == 1 and calibration["threshold"] == threshold
    # Confidences .05 and 0 share the first bin (mean .025, none relevant); .95 is relevant.
    assert [(b["n"], b["observed"]) for b in calibration["bins"] if b["n"]] == [(2, 0.0), (1, 1.0)]
    assert calibration["ece"] == pytest.approx((2 * 0.025 + 0.05) / 3)
    assert reliability_lines(result)[0].startswith("hybrid: confidence of 3 top-10 hits")
    flagged = evaluate_unanswerable([("a", "unsure"), ("b", "nothing"), ("c", "right")], search, mode="hybrid")
    assert (flagged["n"], flagged["flagged"]) == (3, 2)
    assert [q["flagged"] for q in flagged["per_question"]] == [True, True, False]
    assert format_unanswerable({"questions": "ooc.jsonl", "modes": {"hybrid": flagged}}) == (
        f"out-of-corpus questions from ooc.jsonl:\n  hybrid: 2 of 3 flagged not answered (top confidence < {threshold:.3f})")


def test_calibration_fits_on_what_the_search_serves(searcher):
    # A quoted phrase the speeches hold is a filter: the rows holding it, the rest is ranked.
    text, rows = served_query(searcher, "“粮食安全”怎么保障")
    assert text == "怎么保障"
    assert rows.tolist() == [r for r, p in enumerate(searcher.passages) if "粮食安全" in "".join(p.text.split())]
    # One no passage holds is relaxed, as Searcher.answer does: its words are ranked, nothing filtered.
    assert served_query(searcher, "“月球基地”怎么建") == ("月球基地怎么建", None)
    assert served_query(searcher, "如何保障粮食安全？") == ("如何保障粮食安全？", None)
