"""Response bodies of ``/models``: the store's versions and cards, as the API shows them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from specimen_kit.identifiers import MAX_RECORD_ID
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


class TrainingRequest(BaseModel):
    """A plankton training: the projects whose validated objects it learns from."""

    model_config = ConfigDict(extra="forbid")

    project_ids: list[Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]] = Field(
        min_length=1, max_length=100, description="Projects you can see; their validated objects are "
                                                  "the training data.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seeds the split and the forest.")
    n_estimators: int = Field(default=100, ge=1, le=1000, description="Trees of the forest.")
