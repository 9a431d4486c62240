"""``/models``: the model versions of the store, their cards and plots, and which one serves.

Reading is for every role; activating is for moderators and admins. Activation loads the
version first, so a version that does not load is refused and the serving one stays.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse

from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.api.deps import Models, Store
from specimen_classify.api.model_schemas import (
    Activation,
    ModelList,
    ModelSummary,
    ModelVersionCard,
    VersionSummary,
)
from specimen_classify.domain.model_cards import headline_metrics
from specimen_kit.security import CurrentPrincipal, ModeratorOrAbove


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


router = APIRouter(prefix="/models", tags=["models"], responses={
    401: _problem("No valid bearer token."),
    404: _problem("No such model or version (model-not-found)."),
})

PLOTS = {"confusion-matrix": "confusion_matrix.png", "roc": "roc.png"}


def _activation(store: ModelStore, name: str) -> Activation | None:
    version = store.active_version(name)
    if version is None:
        return None
    record = store.activation(name) or {}
    explicit = record.get("version") == version
    return Activation(version=version, activated_at=record.get("activated_at") if explicit else None,
                      activated_by=record.get("activated_by") if explicit else None)


def _summary(store: ModelStore, name: str) -> ModelSummary:
    active = store.active_version(name)
    versions = []
    task = None
    for version in store.require_versions(name):
        card = store.card(name, version)
        task = card.get("task", task)
        versions.append(VersionSummary(version=version, created_at=card.get("created_at"),
                                       active=version == active, metrics=headline_metrics(card)))
    return ModelSummary(name=name, task=task, active=_activation(store, name), versions=versions)


@router.get("", summary="Every model with its versions and the one that serves")
def list_models(_: CurrentPrincipal, store: Store) -> ModelList:
    return ModelList(models=[_summary(store, name) for name in store.names()])


@router.get("/{name}", summary="One model: its versions, their headline metrics, the active one")
def get_model(name: str, _: CurrentPrincipal, store: Store) -> ModelSummary:
    return _summary(store, name)


@router.get("/{name}/versions/{version}", summary="A version's model card")
def get_version(name: str, version: int, request: Request, _: CurrentPrincipal,
                store: Store) -> ModelVersionCard:
    card = store.card(name, version)
    version_dir = store.version_dir(name, version)
    plots = {plot: str(request.url_for("get_plot", name=name, version=version, plot=plot))
             for plot, file_name in PLOTS.items() if (version_dir / file_name).is_file()}
    return ModelVersionCard(name=name, version=version, active=store.active_version(name) == version,
                            plots=plots, card=card)


@router.get("/{name}/versions/{version}/{plot}.png", summary="A plot of the card (confusion matrix, ROC)",
            response_class=FileResponse,
            responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The PNG plot."}})
def get_plot(name: str, version: int, plot: str, _: CurrentPrincipal, store: Store) -> FileResponse:
    path = store.plot(name, version, PLOTS.get(plot, f"{plot}.unknown"))
    return FileResponse(path, media_type="image/png")


@router.post("/{name}/versions/{version}/activate", status_code=status.HTTP_200_OK,
             summary="Serve this version from now on (moderator or admin); every replica follows",
             responses={403: _problem("Only moderators and admins activate models."),
                        503: _problem("The version does not load (model-unavailable).")})
def activate_version(name: str, version: int, principal: ModeratorOrAbove, models: Models) -> Activation:
    record = models.activate(name, version, by=str(principal.user_id))
    return Activation(**record)
