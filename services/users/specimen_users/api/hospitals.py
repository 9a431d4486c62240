"""``/hospitals``: the managed list of hospitals users and scans belong to."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status

from specimen_kit.hospitals import MAX_HOSPITAL_NAME_CHARS
from specimen_kit.openapi_problems import documented_problems
from specimen_kit.paging import DEFAULT_LIMIT, Limit, Offset
from specimen_users.api.deps import CurrentUser, Hospitals
from specimen_users.api.schemas import (
    HospitalCreate,
    HospitalPagePublic,
    HospitalPublic,
    HospitalUpdate,
)
from specimen_users.domain.entities import HospitalFilter, SortOrder

router = APIRouter(prefix="/hospitals", tags=["hospitals"])

HospitalSort = Literal["id", "-id", "name", "-name", "created_at", "-created_at", "updated_at",
                       "-updated_at"]
HospitalId = Annotated[str, Path(min_length=1, max_length=MAX_HOSPITAL_NAME_CHARS,
                                 description="The hospital's id (its slug).",
                                 examples=["newcomer-clinic"])]

_UNKNOWN = {404: "No hospital has this id (hospital-not-found)."}
_ADMIN = {403: "Only admins create and rename hospitals (forbidden)."}
_TAKEN = {409: "The name's id is an existing hospital's id or name (hospital-taken); the "
               "answer names it (existing_id, existing_name). Or the caller's own role, hospital "
               "or activity changed while the request was handled (user-changed-meanwhile): "
               "nothing was written."}


@router.get("", response_model=HospitalPagePublic,
            summary="The hospitals, by name search, sorted (any signed-in user)")
def list_hospitals(
    _: CurrentUser,
    hospitals: Hospitals,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=MAX_HOSPITAL_NAME_CHARS, description=(
        "A part of the name, ignoring case, accents' composition and punctuation "
        "(`saint luc` finds \"Hôpital Saint-Luc\").")) ] = None,
    sort: Annotated[HospitalSort, Query(description=(
        "`field` ascending or `-field` descending; `name` ignores case."))] = "name",
) -> HospitalPagePublic:
    where = HospitalFilter(q=q, sort=SortOrder.parse(sort))
    return HospitalPagePublic.of(hospitals.list_hospitals(where, limit, offset))


@router.post("", response_model=HospitalPublic, status_code=status.HTTP_201_CREATED,
             responses=documented_problems({**_ADMIN, **_TAKEN}),
             summary="Create a hospital; its id is the slug of its name (admin)")
def create_hospital(body: HospitalCreate, actor: CurrentUser, hospitals: Hospitals,
                    request: Request, response: Response) -> HospitalPublic:
    hospital = hospitals.create(actor, body.name)
    response.headers["Location"] = request.app.url_path_for("get_hospital",
                                                             hospital_id=hospital.id)
    return HospitalPublic.of(hospital)


@router.get("/{hospital_id}", response_model=HospitalPublic,
            responses=documented_problems(_UNKNOWN), summary="One hospital")
def get_hospital(hospital_id: HospitalId, _: CurrentUser, hospitals: Hospitals) -> HospitalPublic:
    return HospitalPublic.of(hospitals.get(hospital_id))


@router.patch("/{hospital_id}", response_model=HospitalPublic,
              responses=documented_problems({**_UNKNOWN, **_ADMIN, **_TAKEN}),
              summary="Rename a hospital; its id stays (admin). Hospitals are never deleted.")
def rename_hospital(hospital_id: HospitalId, body: HospitalUpdate, actor: CurrentUser,
                    hospitals: Hospitals) -> HospitalPublic:
    return HospitalPublic.of(hospitals.rename(actor, hospital_id, body.name))
