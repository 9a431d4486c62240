"""What the API shows of a model card: its headline metrics, read from any trainer's card."""

from __future__ import annotations

from typing import Any

HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")


def headline_metrics(card: dict[str, Any]) -> dict[str, float | None]:
    """The test split's headline metrics of a card, None where the card lacks one.

    Examples
    --------
    >>> headline_metrics({"metrics": {"test": {"accuracy": 0.97, "balanced_accuracy": 0.96}}})
    {'accuracy': 0.97, 'balanced_accuracy': 0.96, 'f1_macro': None}
    """
    test = card.get("metrics", {}).get("test", {})
    return {name: (float(test[name]) if isinstance(test.get(name), int | float) else None)
            for name in HEADLINE_METRICS}
