"""Prometheus metrics of the models, served with the kit's at ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

INFERENCE_SECONDS = Histogram(
    "specimen_model_inference_seconds",
    "Time of one model call (one batch of slices or of object rows), by model.",
    ("model",),
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)
PREDICTIONS = Counter(
    "specimen_predictions_total",
    "Answers given, by model and label (tumor/healthy, plankton category or unclear).",
    ("model", "label"),
)


def count_predictions(model: str, labels: Iterable[str]) -> None:
    """Count one answer per label given."""
    for label in labels:
        PREDICTIONS.labels(model, label).inc()
