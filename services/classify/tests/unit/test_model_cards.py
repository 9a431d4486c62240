from __future__ import annotations

from datetime import UTC, datetime

import pytest

from specimen_classify.domain.model_cards import card_created_at, headline_metrics


class TestCardCreatedAt:
    @pytest.mark.parametrize("written", ["2026-11-21T10:00:00+00:00", "2026-11-21T10:00:00.000Z",
                                         "2026-11-21T11:00:00+01:00"])
    def test_older_and_newer_trainers_forms_are_the_same_moment(self, written: str) -> None:
        assert card_created_at({"created_at": written}) == datetime(2026, 11, 21, 10, tzinfo=UTC)

    @pytest.mark.parametrize("card", [{}, {"created_at": None}, {"created_at": "yesterday"},
                                      {"created_at": 1764000000}])
    def test_a_card_that_does_not_say_when_answers_none(self, card: dict[str, object]) -> None:
        assert card_created_at(card) is None


class TestHeadlineMetrics:
    def test_missing_metrics_are_none(self) -> None:
        card = {"metrics": {"test": {"accuracy": 0.97, "balanced_accuracy": "n/a"}}}
        assert headline_metrics(card) == {"accuracy": 0.97, "balanced_accuracy": None, "f1_macro": None}
