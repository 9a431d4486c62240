"""What the API shows of a model card: its headline metrics, read from any trainer's card."""

from __future__ import annotations

from datetime import datetime
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


def card_created_at(card: dict[str, Any]) -> datetime | None:
    """When the card's version was trained, None when the card does not say (or not as ISO 8601).

    Trainers write RFC 3339 (older cards ``+00:00``; both parse); the API answers it as a
    timestamp in its one format. A card with an unreadable time still lists: the time is a fact
    about the card, not something the caller sent.

    Examples
    --------
    >>> card_created_at({"created_at": "2026-11-21T10:00:00+00:00"}).isoformat()
    '2026-11-21T10:00:00+00:00'
    >>> card_created_at({"created_at": "yesterday"}) is None
    True
    """
    value = card.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
