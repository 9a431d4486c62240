"""``/scans``: MRI scan records of a hospital, classified by the active MRI model on the way in.

Who may do what (the rules live in :mod:`specimen_classify.domain.scans`):

============================================  =========================================
route                                         roles
============================================  =========================================
``POST /scans``, ``GET /scans``, ``GET``       technician, moderator, admin (technicians
``/scans/{id}``, ``/image``, ``export.csv``,   and moderators within their hospital)
``/classifications``
``POST /scans/search``                         technician, moderator, admin (their hospital's
                                              scans; an admin all, or ``hospital``)
``PATCH``, ``DELETE /scans/{id}``, ``POST``    moderator (their hospital), admin
``/scans/{id}/classification``
============================================  =========================================

A scan outside the caller's hospital answers 404 on every id route. Handlers are sync:
decoding, inference and the database calls run in the threadpool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from specimen_classify.adapters.model_metrics import count_predictions
from specimen_classify.api.deps import ActiveMriModel, ScanSearchService, ScanService
from specimen_classify.api.scan_schemas import (
    ClassificationPage,
    PageQuery,
    ScanCreateFields,
    ScanFilterQuery,
    ScanListQuery,
    ScanPage,
    ScanPublic,
    ScanSearchParams,
    ScanSearchResults,
    ScanUpdate,
)
from specimen_classify.api.stored_images import sent_or_converted
from specimen_classify.domain.predictions import MRI_MODEL
from specimen_classify.domain.scan_search import ScanQuery
from specimen_classify.domain.scans import ScanUpload
from specimen_imaging.options import validate_params
from specimen_kit.downloads import content_disposition
from specimen_kit.identifiers import RecordId
from specimen_kit.negotiation import (
    MEDIA_TYPES,
    AcceptHeader,
    Quality,
    output_query,
)
from specimen_kit.security import CurrentPrincipal, ModeratorOrAbove
from specimen_kit.uploads import FileFields, read_payload, request_body_doc, require_file


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


router = APIRouter(prefix="/scans", tags=["MRI scans"], responses={
    401: _problem("No valid bearer token."),
    422: _problem("A parameter or field is invalid (the problem names it)."),
})
_ID_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _problem("No such scan among those you can see (other hospitals' look the same)."),
}
_HOSPITAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: _problem("The users service did not say whether the hospital an admin named exists "
                  "(hospitals-unavailable); see Retry-After."),
}
_EDIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_ID_RESPONSES, 403: _problem("Technicians read scans; moderators and admins change them."),
}
_CLASSIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: _problem("The body or the image's pixel count is over the limit."),
    415: _problem("Not PNG, JPEG, TIFF or DICOM, or not a content type that carries an image."),
    422: _problem("The image cannot be read, holds no brain (no-brain-found), the hospital is "
                  "not on the list (unknown-hospital), or a field is invalid."),
    503: _problem("No MRI model version is loaded yet (model-unavailable), or the users "
                  "service did not say whether the named hospital exists "
                  "(hospitals-unavailable)."),
}
_RECLASSIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_EDIT_RESPONSES,
    422: _problem("The stored image holds no brain for this model's preprocessing."),
    503: _problem("No MRI model version is loaded yet (model-unavailable)."),
}
CONVERSIONS = ("png", "jpeg", "webp", "tiff")
"""What a scan's image can be converted to, besides the format it was sent in."""
_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPES[name]: {"schema": {"type": "string", "format": "binary"}}
                      for name in ("png", "jpeg", "webp", "tiff", "dicom")},
          "description": "The image exactly as it was sent (the default), or the slice as the "
                         "classifier reads it (8-bit gray, a DICOM's window applied) in "
                         "`output`; with a Content-Disposition name."},
    406: _problem("The Accept header admits neither the format the scan was sent in nor a "
                  "conversion."),
    **_ID_RESPONSES,
}
ImageOutput = Annotated[str | None, output_query(
    [*CONVERSIONS, "dicom"],
    "png, jpeg, webp or tiff (or the format it was sent in, dicom included); overrides Accept. "
    "Without either, the image as sent. Another is a 422 naming the choices.")]
_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "A header row, then one row per scan, newest first."},
}

SCAN_FILE = FileFields(single=("image",))


async def _scan_upload(request: Request) -> ScanUpload:
    """The image and its fields, as multipart, JSON with base64, or raw bytes + query string."""
    payload = await read_payload(request, SCAN_FILE)
    try:
        fields = ScanCreateFields.model_validate(payload.fields)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from error
    return ScanUpload(data=require_file(payload, "image", SCAN_FILE),
                      patient_gender=fields.patient_gender, hospital=fields.hospital,
                      true_label=fields.true_label, notes=fields.notes,
                      patient_ref=fields.patient_ref)


Upload = Annotated[ScanUpload, Depends(_scan_upload)]


@router.post("", response_model=ScanPublic, status_code=status.HTTP_201_CREATED,
             openapi_extra=request_body_doc(ScanCreateFields.model_json_schema(), SCAN_FILE),
             responses={**_CLASSIFY_RESPONSES,
                        403: _problem("Only an admin may name another hospital.")},
             summary="File an MRI slice (PNG, JPEG, TIFF or DICOM): classify it and keep it")
def create_scan(caller: CurrentPrincipal, upload: Upload, model: ActiveMriModel,
                scans: ScanService, request: Request, response: Response) -> ScanPublic:
    scan = scans.create(caller, upload, model)
    count_predictions(MRI_MODEL, [scan.classification.label])
    response.headers["Location"] = request.app.url_path_for("get_scan", scan_id=str(scan.id))
    return ScanPublic.of(scan)


@router.get("", response_model=ScanPage,
            summary="Scans you can see, filtered and sorted (newest first by default)")
def list_scans(query: Annotated[ScanListQuery, Query()], caller: CurrentPrincipal,
               scans: ScanService) -> ScanPage:
    return ScanPage.of(scans.list_scans(caller, query.filters(), query.order(), query.limit,
                                        query.offset))


SEARCH_FILE = FileFields(single=("image",), raw="image")
"""The scan search's file: an uploaded slice (optional: or a scan_id, or a descriptor)."""


async def _scan_query(request: Request) -> ScanQuery:
    """The search's image and fields, sent the three ways every image route reads them."""
    payload = await read_payload(request, SEARCH_FILE)
    params = validate_params(ScanSearchParams, payload.fields)
    return ScanQuery(limit=params.limit, upload=payload.first("image"), scan_id=params.scan_id,
                     descriptor=None if params.descriptor is None else tuple(params.descriptor),
                     descriptor_set_version=params.descriptor_set_version,
                     hospital=params.hospital)


@router.post("/search", response_model=ScanSearchResults,
             openapi_extra=request_body_doc(ScanSearchParams.model_json_schema(), SEARCH_FILE),
             responses={
                 404: _problem("scan_id names no scan you can see (other hospitals' look the "
                               "same)."),
                 409: _problem("The query scan has no descriptor yet (scan-not-described): run "
                               "the descriptor backfill."),
                 413: _problem("The body or the image's pixel count is over the limit."),
                 415: _problem("Not multipart, JSON or an image body, or not an image."),
                 422: _problem("Nothing (or two things) to search by, a descriptor of another "
                               "set version or length, a limit out of range, or an unreadable "
                               "image.")},
             summary="The scans of your hospital (admin: all, or `hospital`) most like an "
                     "uploaded slice, a scan or a descriptor, best first")
def search_scans(query: Annotated[ScanQuery, Depends(_scan_query)], caller: CurrentPrincipal,
                 search: ScanSearchService) -> ScanSearchResults:
    return ScanSearchResults.of(search.search(caller, query))


# Before /{scan_id}: "export.csv" is not an id.
@router.get("/export.csv", response_class=Response, responses=_CSV_RESPONSES,
            summary="The scans you can see as CSV, with the listing's filters")
def export_scans(query: Annotated[ScanFilterQuery, Query()], caller: CurrentPrincipal,
                 scans: ScanService) -> Response:
    return Response(scans.export_csv(caller, query.filters()), media_type="text/csv",
                    headers={"Content-Disposition": content_disposition("scans.csv")})


@router.get("/{scan_id}", response_model=ScanPublic, responses=_ID_RESPONSES,
            summary="One scan with its latest classification")
def get_scan(scan_id: RecordId, caller: CurrentPrincipal, scans: ScanService) -> ScanPublic:
    return ScanPublic.of(scans.get(caller, scan_id))


@router.get("/{scan_id}/image", response_class=Response, responses=_IMAGE_RESPONSES,
            summary="The scan's image as it was sent, or converted to `output` (or Accept)")
def get_scan_image(scan_id: RecordId, caller: CurrentPrincipal, scans: ScanService,
                   output: ImageOutput = None, quality: Quality = None,
                   accept: AcceptHeader = None) -> Response:
    sent = scans.image(caller, scan_id)
    return sent_or_converted(sent, CONVERSIONS, output, accept, quality, scans.converted)


@router.patch("/{scan_id}", response_model=ScanPublic,
              responses={**_EDIT_RESPONSES, **_HOSPITAL_RESPONSES},
              summary="Change a scan's gender, true label, notes, patient reference (or, as "
                      "admin, hospital)")
def update_scan(scan_id: RecordId, body: ScanUpdate, caller: ModeratorOrAbove,
                scans: ScanService) -> ScanPublic:
    return ScanPublic.of(scans.update(caller, scan_id, body.changes()))


@router.delete("/{scan_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_EDIT_RESPONSES,
                  summary="Delete a scan, its image and its classification history")
def delete_scan(scan_id: RecordId, caller: ModeratorOrAbove, scans: ScanService) -> None:
    scans.delete(caller, scan_id)


@router.get("/{scan_id}/classifications", response_model=ClassificationPage,
            responses=_ID_RESPONSES,
            summary="The scan's classification history, newest first, with model and time")
def list_classifications(scan_id: RecordId, query: Annotated[PageQuery, Query()],
                         caller: CurrentPrincipal, scans: ScanService) -> ClassificationPage:
    return ClassificationPage.of(scans.classifications(caller, scan_id, query.limit,
                                                       query.offset))


@router.post("/{scan_id}/classification", response_model=ScanPublic,
             responses=_RECLASSIFY_RESPONSES,
             summary="Classify the stored image again with the active model; the result is "
                     "appended to the history and becomes the scan's classification")
def reclassify_scan(scan_id: RecordId, caller: ModeratorOrAbove, scans: ScanService,
                    model: ActiveMriModel) -> ScanPublic:
    scan = scans.reclassify(caller, scan_id, model)
    count_predictions(MRI_MODEL, [scan.classification.label])
    return ScanPublic.of(scan)
