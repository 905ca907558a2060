"""Confidence that a hit answers the question: logistic regression on arm scores and ranks.

The model is fitted on the tuning set (``python -m eval.calibration``) and committed as
``index/calibration.json``, one model per search mode, each with the threshold on its top
hit's probability above which a search counts as ``answered``. Loading never refits.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np

CALIBRATION = "calibration.json"
# Newton steps: the penalised log-likelihood is strictly concave, so a few dozen converge to
# machine precision on a few thousand candidates.
NEWTON_STEPS = 50
# Share of answerable tuning questions (top hit right) that ``answered`` may wrongly flag.
FALSE_FLAG_RATE = 0.05


@dataclass(frozen=True)
class LogisticModel:
    """P(relevant) = sigmoid(bias + Σ weights · (x - mean) / scale), over the named features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        """Per row of ``matrix`` (columns in ``features`` order), the probability in [0, 1]."""
        z = (np.asarray(matrix, dtype=float) - self.mean) / self.scale @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        """A JSON-ready dict that ``from_dict`` reads back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LogisticModel:
        """The model stored by ``to_dict``."""
        return cls(features=tuple(data["features"]), mean=tuple(data["mean"]), scale=tuple(data["scale"]),
                   weights=tuple(data["weights"]), bias=float(data["bias"]), threshold=float(data["threshold"]))


def fit_logistic(matrix: np.ndarray, labels: np.ndarray, *, l2: float) -> tuple[np.ndarray, float]:
    """Weights and bias minimising log-loss + ``l2``/2 · |weights|² (the bias unpenalised), by Newton's method."""
    x = np.c_[np.asarray(matrix, dtype=float), np.ones(len(matrix))]
    y = np.asarray(labels, dtype=float)
    penalty = np.diag(np.r_[np.full(x.shape[1] - 1, l2), 0.0])
    w = np.zeros(x.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + penalty
        w = w - np.linalg.solve(hessian, gradient)
    return w[:-1], float(w[-1])


def fit(matrix: np.ndarray, labels: np.ndarray, features: Sequence[str], *, l2: float) -> LogisticModel:
    """A model over standardised ``features`` (a constant column keeps scale 1), threshold 0.5."""
    matrix = np.asarray(matrix, dtype=float)
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale == 0] = 1.0
    weights, bias = fit_logistic((matrix - mean) / scale, labels, l2=l2)
    return LogisticModel(tuple(features), tuple(mean.tolist()), tuple(scale.tolist()),
                         tuple(weights.tolist()), bias)


def choose_threshold(top_confidence: Sequence[float], top_correct: Sequence[bool], *,
                     false_flag_rate: float = FALSE_FLAG_RATE) -> float:
    """The highest threshold that flags at most ``false_flag_rate`` of the questions whose top hit answers.

    The tuning set holds only answerable questions, so what a threshold can be judged on is
    how many of them it wrongly flags; among the thresholds within that budget the highest
    flags the most questions the speeches do not answer. The cut falls midway between the
    last confidence it may flag and the next. 0 when no top hit answers.
    """
    right = sorted(float(c) for c, ok in zip(top_confidence, top_correct) if ok)
    allowed = math.floor(false_flag_rate * len(right) + 1e-9)
    if not right:
        return 0.0
    if allowed == 0:
        return right[0]
    if allowed >= len(right):
        return right[-1]
    return (right[allowed - 1] + right[allowed]) / 2


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions with confidence in [low, high): how many, their mean, and how often they were right."""

    low: float
    high: float
    n: int
    mean_confidence: float | None
    observed: float | None


def reliability(confidence: Sequence[float], outcome: Sequence[bool], *, bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1] (the last one closed), empty bins included with None."""
    out = []
    pairs = list(zip(confidence, outcome))
    for i in range(bins):
        low, high = i / bins, (i + 1) / bins
        inside = [(c, o) for c, o in pairs if low <= c < high or (i == bins - 1 and c == 1.0)]
        n = len(inside)
        out.append(ReliabilityBin(low, high, n, sum(c for c, _ in inside) / n if n else None,
                                  sum(bool(o) for _, o in inside) / n if n else None))
    return out


def expected_calibration_error(bins: Sequence[ReliabilityBin]) -> float:
    """Σ n_b / n · |observed_b − mean confidence_b| over non-empty bins."""
    total = sum(b.n for b in bins)
    if not total:
        return math.nan
    return sum(b.n / total * abs(b.observed - b.mean_confidence) for b in bins if b.n)


def load_models(path: Path | str | None = None) -> dict[str, LogisticModel]:
    """The committed per-mode models (default: ``index/calibration.json`` shipped with the package)."""
    source = files("index") / CALIBRATION if path is None else Path(path)
    data = json.loads(source.read_text(encoding="utf-8"))
    return {mode: LogisticModel.from_dict(model) for mode, model in data["models"].items()}
