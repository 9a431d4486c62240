"""Response bodies of ``/models``: the store's versions and cards, as the API shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from specimen_kit.timestamps import Timestamp


class Activation(BaseModel):
    version: int
    activated_at: Timestamp | None = Field(description="RFC 3339, UTC; null when the newest version "
                                                       "serves because none was activated explicitly.")
    activated_by: str | None = Field(description="User id of whoever activated it, or 'bootstrap'.")


class VersionSummary(BaseModel):
    version: int
    created_at: Timestamp | None = Field(description="When the version was trained (RFC 3339, UTC); "
                                                     "null when its card does not say.")
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
    created_at: Timestamp | None = Field(description="When the version was trained (RFC 3339, UTC); "
                                                     "null when its card does not say.")
    plots: dict[str, str] = Field(description="Plot name → its link, relative to the gateway "
                                              "(`/api/v1/models/…/roc.png`): confusion matrix, ROC.")
    card: dict[str, Any] = Field(description="The model card as the trainer wrote it: metrics on the "
                                             "held-out test split, split, data, libraries, export.")
