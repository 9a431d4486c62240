"""Probabilities that mean what they say: temperature scaling and expected calibration error.

A network trained to a low loss on well-separated data answers 0.999 where it is right 90 % of
the time. Temperature scaling (Guo et al., 2017) divides the network's logit by one number ``T``
fitted on the validation split (lowest negative log-likelihood), which leaves the ranking, and so
the ROC, unchanged; ``T > 1`` softens the probabilities. The expected calibration error (ECE)
says how far the stated confidence is from the observed accuracy, on average over equal-width
confidence bins weighted by their share of the samples.

Pure numpy; the trainer fits, the serving runtime applies.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TEMPERATURE_BOUNDS = (1.0, 20.0)
"""Temperatures searched: the probabilities are softened, never sharpened. A validation split of
generated slices is separated (nearly) perfectly, and then the likelihood always asks for a
sharper model (T -> 0), a confidence that slices from anywhere else do not bear out (measured:
T = 0.25 halved the validation NLL and doubled the test split's)."""
TEMPERATURE_GRID = 801
"""Log-spaced temperatures tried; adjacent ones differ by under 0.8 %."""
ECE_BINS = 15


def sigmoid(logits: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """The logistic function, computed without overflow for large |logit|.

    Examples
    --------
    >>> sigmoid(np.array([0.0, 800.0, -800.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    z = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def binary_nll(logits: npt.NDArray[np.floating], truth: npt.NDArray[np.bool_],
               temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``truth`` under ``sigmoid(logits / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    sign = np.where(np.asarray(truth, dtype=bool), 1.0, -1.0)
    # -log sigmoid(s z) = log(1 + exp(-s z)), stably.
    return float(np.mean(np.logaddexp(0.0, -sign * z)))


def fit_temperature(logits: npt.NDArray[np.floating], truth: npt.NDArray[np.bool_],
                    bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature within ``bounds`` with the lowest NLL on these (validation) logits.

    A grid search in log space: the NLL of one parameter is smooth and cheap, and a grid never
    wanders off to a bound by a bad step.

    Raises
    ------
    ValueError
        No samples, or shapes that differ.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(4000) < 0.5
    >>> x = np.where(truth, 1.0, -1.0) + rng.normal(0, 1.0, 4000)
    >>> calibrated_logits = 2.0 * x  # the log-odds of two unit Gaussians 2 apart
    >>> 2.8 < fit_temperature(calibrated_logits * 3.0, truth) < 3.2  # a network 3x over-confident
    True
    """
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    t = np.asarray(truth, dtype=bool).reshape(-1)
    if z.size == 0 or z.size != t.size:
        raise ValueError(f"need as many logits as truths, at least one: got {z.size} and {t.size}")
    grid = np.geomspace(bounds[0], bounds[1], TEMPERATURE_GRID)
    losses = [binary_nll(z, t, float(temperature)) for temperature in grid]
    return float(grid[int(np.argmin(losses))])


def expected_calibration_error(p_positive: npt.NDArray[np.floating], truth: npt.NDArray[np.bool_],
                               bins: int = ECE_BINS) -> float:
    """ECE of a binary classifier that answers the more probable class with its probability.

    The confidence ``max(p, 1 - p)`` of each answer falls in one of ``bins`` equal-width bins of
    [0.5, 1]; ECE is the sample-weighted mean of |accuracy - mean confidence| over the bins.

    Examples
    --------
    >>> expected_calibration_error(np.array([0.9, 0.9, 0.1, 0.1]), np.array([True, False, False, False]))
    0.15
    """
    p = np.asarray(p_positive, dtype=np.float64).reshape(-1)
    t = np.asarray(truth, dtype=bool).reshape(-1)
    if p.size == 0:
        return 0.0
    confidence = np.maximum(p, 1.0 - p)
    correct = (p >= 0.5) == t
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(float(correct[inside].mean()) - float(confidence[inside].mean()))
    return round(float(error), 12)
