"""``/models``: the model versions of the store, their cards and plots, and which one serves.

Reading is for every role; activating is for moderators and admins. Activation loads the
version first, so a version that does not load is refused and the serving one stays.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, status
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
from specimen_classify.domain.model_cards import card_created_at, headline_metrics
from specimen_kit.openapi_problems import documented_problem
from specimen_kit.security import CurrentPrincipal, ModeratorOrAbove
from specimen_kit.timestamps import rfc3339

router = APIRouter(prefix="/models", tags=["models"], responses={
    401: documented_problem("No valid bearer token."),
    404: documented_problem("No such model or version (model-not-found)."),
    422: documented_problem("A query parameter was sent (these routes take none), or a version is "
                            "not a number."),
})

PLOTS = {"confusion-matrix": "confusion_matrix.png", "roc": "roc.png"}
PUBLIC_PREFIX = "/api/v1"
"""Where the gateway serves this service's routes (the app mounts its routers there too)."""


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
        versions.append(VersionSummary(version=version, created_at=card_created_at(card),
                                       active=version == active, metrics=headline_metrics(card)))
    return ModelSummary(name=name, task=task, active=_activation(store, name), versions=versions)


@router.get("", summary="Every model with its versions and the one that serves")
def list_models(_: CurrentPrincipal, store: Store) -> ModelList:
    return ModelList(models=[_summary(store, name) for name in store.names()])


@router.get("/{name}", summary="One model: its versions, their headline metrics, the active one")
def get_model(name: str, _: CurrentPrincipal, store: Store) -> ModelSummary:
    return _summary(store, name)


@router.get("/{name}/versions/{version}", summary="A version's model card")
def get_version(name: str, version: int, _: CurrentPrincipal, store: Store) -> ModelVersionCard:
    card = store.card(name, version)
    version_dir = store.version_dir(name, version)
    plots = {plot: plot_path(name, version, plot)
             for plot, file_name in PLOTS.items() if (version_dir / file_name).is_file()}
    created_at = card_created_at(card)
    if created_at is not None:
        # The card as stored may say +00:00 (older trainers); the answer says it one way.
        card = {**card, "created_at": rfc3339(created_at)}
    return ModelVersionCard(name=name, version=version, active=store.active_version(name) == version,
                            created_at=created_at, plots=plots, card=card)


def plot_path(name: str, version: int, plot: str) -> str:
    """The plot's link, relative to the public gateway: never built from the request's URL, which
    is classify's internal address behind the gateway (issue 10)."""
    return f"{PUBLIC_PREFIX}/models/{quote(name, safe='')}/versions/{version}/{plot}.png"


@router.get("/{name}/versions/{version}/{plot}.png", summary="A plot of the card (confusion matrix, ROC)",
            response_class=FileResponse,
            responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The PNG plot."}})
def get_plot(name: str, version: int, plot: str, _: CurrentPrincipal, store: Store) -> FileResponse:
    path = store.plot(name, version, PLOTS.get(plot, f"{plot}.unknown"))
    return FileResponse(path, media_type="image/png")


@router.post("/{name}/versions/{version}/activate", status_code=status.HTTP_200_OK,
             summary="Serve this version from now on (moderator or admin); every replica follows",
             responses={403: documented_problem("Only moderators and admins activate models."),
                        409: documented_problem("The version does not load here (unloadable-model); "
                                                "the serving one stays.")})
def activate_version(name: str, version: int, principal: ModeratorOrAbove, models: Models) -> Activation:
    record = models.activate(name, version, by=str(principal.user_id))
    return Activation(**record)
