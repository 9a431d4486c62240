"""Response bodies of ``/models``: the store's versions and cards, as the API shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Activation(BaseModel):
    version: int
    activated_at: str | None = Field(description="ISO 8601; null when the newest version serves "
                                                 "because none was activated explicitly.")
    activated_by: str | None = Field(description="User id of whoever activated it, or 'bootstrap'.")


class VersionSummary(BaseModel):
    version: int
    created_at: str | None
    active: bool
    metrics: dict[str, float | None] = Field(
        description="The card's headline test metrics (accuracy, balanced_accuracy, f1_macro).")


class ModelSummary(BaseModel):
    name: str
    task: str | None
    active: Activation | None = Field(description="The version that serves; null when none does.")
    versions: list[VersionSummary]


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelVersionCard(BaseModel):
    name: str
    version: int
    active: bool
    plots: dict[str, str] = Field(description="Plot name → its URL (confusion matrix, ROC).")
    card: dict[str, Any] = Field(description="The model card as the trainer wrote it: metrics on the "
                                             "held-out test split, split, data, libraries, export.")
