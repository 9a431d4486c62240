"""``/projects``, ``/frames``, ``/objects``: plankton projects, their members, frames, objects
and the review of the objects (issue 12).

Any signed-in user may create a project (and owns it); access to a project is by membership
(rules in :mod:`specimen_classify.domain.plankton.projects`):

=================================================  ==========================================
route                                              project role
=================================================  ==========================================
``GET /projects/{id}``, ``/members``, ``/frames``, viewer, annotator, manager (owner; admin)
``/objects``, ``/objects/counts``, ``GET /frames``
``/{id}`` (+ ``/image``, ``/tiles``), ``GET
/objects/{id}`` (+ ``/crop.png``, ``/mask.png``)
``POST /projects/{id}/objects/search``             viewer, annotator, manager
``POST /projects/{id}/objects/annotations``        annotator, manager
``PATCH``/``DELETE /projects/{id}``, ``PUT``/      manager
``DELETE /members/{user_id}``, ``POST /projects/
{id}/frames``, ``DELETE /frames/{id}``
=================================================  ==========================================

A project the caller cannot see answers 404 on every route, its frames and objects too.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from specimen_classify.api.deps import (
    MemberObjectSearchService,
    ObjectSearchService,
    ProjectService,
    Settings,
    UserNames,
    import_limits,
)
from specimen_classify.api.project_schemas import (
    AnnotationRequest,
    AnnotationResult,
    CountsPublic,
    FrameListQuery,
    FrameMetadataFields,
    FramePage,
    FramePublic,
    FrameUploadReport,
    MemberObjectSearchParams,
    MemberObjectSearchResults,
    MemberPage,
    MemberPublic,
    MemberPut,
    ObjectDetailPublic,
    ObjectListQuery,
    ObjectPage,
    ObjectSearchParams,
    ObjectSearchResults,
    PageQuery,
    ProjectCreate,
    ProjectListQuery,
    ProjectPage,
    ProjectPublic,
    ProjectSettings,
    ProjectUpdate,
)
from specimen_classify.api.stored_images import sent_or_converted
from specimen_classify.domain.plankton.frame_import import (
    Candidate,
    ImportLimits,
    Rejected,
    Upload,
    add_archive,
    content_name,
    file_name_problem,
    is_zip,
)
from specimen_classify.domain.plankton.object_search import MemberObjectQuery, ObjectQuery
from specimen_classify.domain.plankton.project_records import ProjectFields, Review
from specimen_classify.domain.plankton.projects import ProjectRole
from specimen_imaging.codecs import decode_image
from specimen_imaging.options import validate_params
from specimen_kit.downloads import file_response
from specimen_kit.errors import InvalidParameter, MalformedJson, UnsupportedMediaType
from specimen_kit.identifiers import RecordId
from specimen_kit.negotiation import (
    MEDIA_TYPES,
    AcceptHeader,
    Quality,
    output_query,
)
from specimen_kit.openapi_problems import documented_problem
from specimen_kit.security import CurrentPrincipal
from specimen_kit.uploads import FileFields, bounded_form, decode_base64, read_payload, request_body_doc

_COMMON: dict[int | str, dict[str, Any]] = {
    401: documented_problem("No valid bearer token."),
    422: documented_problem("A parameter or field is invalid (the problem names it)."),
}
_PROJECT_404: dict[int | str, dict[str, Any]] = {
    404: documented_problem("No such project among those you can see (others look the same)."),
}
_MANAGER: dict[int | str, dict[str, Any]] = {
    **_PROJECT_404, 403: documented_problem("Your role in the project does not allow this "
                                            "(project-role-required)."),
}
_FRAME_404: dict[int | str, dict[str, Any]] = {
    404: documented_problem("No such frame in the projects you can see."),
}
_OBJECT_404: dict[int | str, dict[str, Any]] = {
    404: documented_problem("No such object in the projects you can see, or (crop, mask) none "
                            "stored for it."),
}
_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "A PNG."},
}

projects_router = APIRouter(prefix="/projects", tags=["Plankton projects"], responses=_COMMON)
frames_router = APIRouter(prefix="/frames", tags=["Plankton projects"], responses=_COMMON)
objects_router = APIRouter(prefix="/objects", tags=["Plankton projects"], responses=_COMMON)
routers = (projects_router, frames_router, objects_router)

ProjectId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The project's id.")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The users service's id.")]


def _settings_of(given: dict[str, Any] | None) -> dict[str, Any]:
    """The default pipeline settings validated by the models of /classify/plankton, with
    every default filled in (a 422 naming each bad field)."""
    validated = validate_params(ProjectSettings, given or {})
    return validated.model_dump(mode="json")


# --- projects -----------------------------------------------------------------------------------


@projects_router.post("", response_model=ProjectPublic, status_code=status.HTTP_201_CREATED,
                      summary="Create a plankton project (you own it and manage it)")
def create_project(body: ProjectCreate, caller: CurrentPrincipal, projects: ProjectService,
                   request: Request, response: Response) -> ProjectPublic:
    view = projects.create(caller, ProjectFields(
        name=body.name, description=body.description, instrument=body.instrument,
        pixel_size_um=body.pixel_size_um, settings=_settings_of(body.settings)))
    response.headers["Location"] = request.app.url_path_for(
        "get_project", project_id=str(view.project.id))
    return ProjectPublic.of(view)


@projects_router.get("", response_model=ProjectPage,
                     summary="Projects you own or are a member of (an admin: all)")
def list_projects(query: Annotated[ProjectListQuery, Query()], caller: CurrentPrincipal,
                  projects: ProjectService) -> ProjectPage:
    return ProjectPage.of(projects.list_projects(caller, query.q, query.order(), query.limit,
                                                 query.offset))


@projects_router.get("/{project_id}", response_model=ProjectPublic, responses=_PROJECT_404,
                     summary="One project, with your role in it")
def get_project(project_id: ProjectId, caller: CurrentPrincipal,
                projects: ProjectService) -> ProjectPublic:
    return ProjectPublic.of(projects.get(caller, project_id))


@projects_router.patch("/{project_id}", response_model=ProjectPublic, responses=_MANAGER,
                       summary="Change a project's name, description, instrument, pixel size "
                               "or default settings (manager)")
def update_project(project_id: ProjectId, body: ProjectUpdate, caller: CurrentPrincipal,
                   projects: ProjectService) -> ProjectPublic:
    settings = _settings_of(body.settings) if "settings" in body.model_fields_set else None
    return ProjectPublic.of(projects.update(caller, project_id, body.changes(settings)))


@projects_router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT,
                        responses=_MANAGER,
                        summary="Delete a project with its frames, objects and members "
                                "(manager)")
def delete_project(project_id: ProjectId, caller: CurrentPrincipal,
                   projects: ProjectService) -> None:
    projects.delete(caller, project_id)


# --- members --------------------------------------------------------------------------------------


@projects_router.get("/{project_id}/members", response_model=MemberPage, responses=_PROJECT_404,
                     summary="The project's members: the owner first, then by user id")
def list_members(project_id: ProjectId, query: Annotated[PageQuery, Query()],
                 caller: CurrentPrincipal, projects: ProjectService) -> MemberPage:
    members = projects.members(caller, project_id)
    page = members[query.offset:query.offset + query.limit]
    return MemberPage(items=[MemberPublic.of(m) for m in page], total=len(members),
                      limit=query.limit, offset=query.offset)


@projects_router.get("/{project_id}/members/{user_id}", response_model=MemberPublic,
                     responses={404: documented_problem("No such project, or the user is no "
                                                        "member (member-not-found).")},
                     summary="One member's role")
def get_member(project_id: ProjectId, user_id: UserId, caller: CurrentPrincipal,
               projects: ProjectService) -> MemberPublic:
    return MemberPublic.of(projects.member(caller, project_id, user_id))


@projects_router.put("/{project_id}/members/{user_id}", response_model=MemberPublic,
                     responses={**_MANAGER, 201: {"description": "The user became a member."}},
                     summary="Make a user a member with a role, or change their role (manager)")
def put_member(project_id: ProjectId, user_id: UserId, body: MemberPut,
               caller: CurrentPrincipal, projects: ProjectService,
               response: Response) -> MemberPublic:
    member, created = projects.put_member(caller, project_id, user_id, ProjectRole(body.role))
    if created:
        response.status_code = status.HTTP_201_CREATED
    return MemberPublic.of(member)


@projects_router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
                        responses=_MANAGER, summary="Remove a member (manager; not the owner)")
def delete_member(project_id: ProjectId, user_id: UserId, caller: CurrentPrincipal,
                  projects: ProjectService) -> None:
    projects.remove_member(caller, project_id, user_id)


# --- frames ---------------------------------------------------------------------------------------

_METADATA_FIELDS = {name: {"type": "string", "description": str(field.description or name)}
                    for name, field in FrameMetadataFields.model_fields.items()}
_UPLOAD_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "Frames (PNG, JPEG, TIFF, BMP, WebP, GIF), or ZIP archives of "
                                 "them (with a metadata CSV/TSV inside if you like); repeat "
                                 "the part."},
        "archive": {"type": "array", "items": {"type": "string", "format": "binary"},
                    "description": "ZIP archives of frames (the same as a ZIP `image` part)."},
        "metadata": {"type": "string", "format": "binary",
                     "description": "A CSV or TSV, one row per file: file_name, sample_id, "
                                    "acq_id, lat, lon, date, time (or datetime), depth_min, "
                                    "depth_max."},
        **_METADATA_FIELDS,
    }}},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/zip": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "object", "properties": {
        "image": {"type": "array", "items": {"type": "string"},
                  "description": "Frames (or ZIPs) as base64 or data URLs, named by their "
                                 "content (sha256 prefix and extension)."},
        "files": {"type": "array", "items": {"type": "object", "required": ["name", "data"],
                                             "properties": {"name": {"type": "string"},
                                                            "data": {"type": "string"}}},
                  "description": "Frames or ZIPs: each a file name and its bytes as base64 or "
                                 "a data URL."},
        "metadata": {"type": "string", "description": "The metadata table as CSV or TSV text."},
        **_METADATA_FIELDS,
    }}}}}}


async def _upload_of(request: Request, limits: ImportLimits) -> tuple[Upload, dict[str, Any]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await _json_upload(request, limits)
    if content_type.startswith("image/") or content_type in ("application/zip",
                                                             "application/octet-stream"):
        # One frame (named by its content) or one ZIP as the raw body, streamed to disk as it
        # arrives (up to SPECIMEN_MAX_UPLOAD_BYTES: never held whole in memory).
        stream, name = await _spooled_body(request)
        upload = Upload()
        await run_in_threadpool(_sort_part, upload, "image", name, stream, limits)
        return upload, {}
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType(f"content type {content_type or 'none'} is not read here; send "
                                   "multipart/form-data with `image` parts (frames or ZIPs), JSON "
                                   "{\"files\": [{\"name\", \"data\"}]} or {\"image\": [...]}, or one "
                                   "frame (image/*) or ZIP (application/zip) as the body")
    # Room for the metadata table and ZIPs beside the frames; the frames' own count is checked below.
    form = await bounded_form(request, max_files=limits.max_files + 20, max_fields=100,
                              files_limit=limits.max_files)
    request.state.upload_form = form  # closed by the handler once the upload is stored
    upload = Upload()
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key in ("image", "archive", "metadata"):
                raise InvalidParameter(f"{key} must be a file part, not a form field")
            fields[key] = value
            continue
        if key not in ("image", "archive", "metadata"):
            raise InvalidParameter(f"{key} is not a file part of this route; send frames as "
                                   "`image`, ZIPs as `image` or `archive`, a table as `metadata`")
        await run_in_threadpool(_sort_part, upload, key, value.filename or "", value.file, limits)
    return upload, fields


async def _json_upload(request: Request, limits: ImportLimits) -> tuple[Upload, dict[str, Any]]:
    """``{"files": [{"name", "data": base64 or data URL}], "metadata": "<CSV/TSV text>",
    ...metadata fields}``: the multipart upload as JSON (for clients without multipart)."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"The request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise InvalidParameter("the JSON body must be an object with `files`")
    files = body.pop("files", None)
    images = body.pop("image", None)
    if isinstance(images, str):
        images = [images]
    if images is not None:
        if not isinstance(images, list) or not images:
            raise InvalidParameter("image must be base64 text, a data URL, or a list of them")
        # Unnamed frames are named by their content (the same bytes, the same name).
        unnamed = []
        for index, text in enumerate(images):
            data = decode_base64(f"image[{index}]", text)
            unnamed.append({"name": content_name(data), "data": data})
        files = [*(files or []), *unnamed]
    if not isinstance(files, list) or not files:
        raise InvalidParameter("send files (a list of {\"name\", \"data\"}) or image (base64 "
                               "or data URLs)")
    if len(files) > limits.max_files:
        raise InvalidParameter(f"files holds {len(files)} entries; send at most {limits.max_files}")
    upload = Upload()
    table = body.pop("metadata", None)
    if table is not None:
        if not isinstance(table, str):
            raise InvalidParameter("metadata must be the CSV or TSV table as text")
        name = "metadata.tsv" if "\t" in table.split("\n", 1)[0] else "metadata.csv"
        upload.tables.append((name, table.encode()))
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or set(entry) != {"name", "data"}:
            raise InvalidParameter(f"files[{index}] must be {{\"name\", \"data\"}}")
        name, data = entry["name"], entry["data"]
        if not isinstance(data, bytes):
            data = decode_base64(f"files[{index}].data", data)
        await run_in_threadpool(_sort_part, upload, "image", str(name), _spooled(request, data),
                                limits)
    return upload, body


async def _spooled_body(request: Request) -> tuple[IO[bytes], str]:
    """The raw body in a temporary file (spilled to disk past 1 MiB, closed when the upload
    ends) and its content name (:func:`content_name` of the bytes, hashed as they stream)."""
    stream = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (closed below)
    request.state.json_streams = [*getattr(request.state, "json_streams", []), stream]
    digest = hashlib.sha256()
    head = b""
    async for chunk in request.stream():
        if not chunk:
            continue
        digest.update(chunk)
        if len(head) < 16:
            head += chunk[:16]
        await run_in_threadpool(stream.write, chunk)
    if not head:
        raise InvalidParameter("the request body is empty; send a frame or a ZIP")
    return stream, content_name(head, digest.hexdigest())


def _spooled(request: Request, data: bytes) -> IO[bytes]:
    """``data`` as a file (spilled to disk past 1 MiB), closed when the upload ends."""
    stream = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (closed below)
    stream.write(data)
    request.state.json_streams = [*getattr(request.state, "json_streams", []), stream]
    return stream


def _sort_part(upload: Upload, key: str, name: str, stream: IO[bytes],
               limits: ImportLimits) -> None:
    stream.seek(0)
    head = stream.read(4)
    stream.seek(0)
    if key == "metadata":
        data = stream.read(limits.max_metadata_bytes + 1)
        if len(data) > limits.max_metadata_bytes:
            upload.rejected.append(Rejected(name or "metadata", None, "the metadata table is "
                                            f"over {limits.max_metadata_bytes} bytes"))
        else:
            upload.tables.append((name or "metadata.csv", data))
        return
    if key == "archive" or is_zip(head):
        add_archive(upload, name or "archive.zip", stream, limits)
        return
    problem = file_name_problem(name)
    if problem is not None:
        upload.rejected.append(Rejected(name or "(no name)", None, problem))
        return
    upload.candidates.append(Candidate(name, None, stream=stream))


@projects_router.post(
    "/{project_id}/frames", response_model=FrameUploadReport,
    status_code=status.HTTP_201_CREATED, openapi_extra=_UPLOAD_DOC,
    responses={**_MANAGER, 413: documented_problem("The body is over SPECIMEN_MAX_UPLOAD_BYTES (JSON: "
                                            "SPECIMEN_MAX_BODY_BYTES)."),
               415: documented_problem("Not multipart/form-data, JSON, image/* or application/zip."),
               422: documented_problem("A metadata field or table is unusable, an archive is "
                                       "refused whole (archive-refused), or no file became a "
                                       "frame (no-frames-imported, with `rejected`).")},
    summary="Upload frames in bulk (image parts or ZIPs, metadata from fields or a CSV/TSV); "
            "answers what was imported and what was rejected, and why (manager)")
async def upload_frames(project_id: ProjectId, request: Request, caller: CurrentPrincipal,
                        projects: ProjectService, settings: Settings) -> FrameUploadReport:
    await run_in_threadpool(projects.require, caller, project_id, ProjectRole.MANAGER)
    try:
        upload, fields = await _upload_of(request, import_limits(settings))
        try:
            metadata = FrameMetadataFields.model_validate(fields)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from error
        report = await run_in_threadpool(projects.upload_frames, caller, project_id, upload,
                                         metadata.values())
        return FrameUploadReport.of(report)
    finally:
        form = getattr(request.state, "upload_form", None)
        if form is not None:
            await form.close()
        for stream in getattr(request.state, "json_streams", []):
            stream.close()


@projects_router.get("/{project_id}/frames", response_model=FramePage, responses=_PROJECT_404,
                     summary="The project's frames (by file name; filter by sample)")
def list_frames(project_id: ProjectId, query: Annotated[FrameListQuery, Query()],
                caller: CurrentPrincipal, projects: ProjectService) -> FramePage:
    return FramePage.of(projects.list_frames(caller, project_id, query.sample_id, query.order(),
                                             query.limit, query.offset))


@frames_router.get("/{frame_id}", response_model=FramePublic, responses=_FRAME_404,
                   summary="One frame's facts and metadata, with its image and tile links")
def get_frame(frame_id: RecordId, caller: CurrentPrincipal,
              projects: ProjectService) -> FramePublic:
    return FramePublic.of(projects.frame(caller, frame_id))


CONVERSIONS = ("png", "jpeg", "webp", "tiff")
# What a frame may be stored as (adapters/frame_images.py takes these), so what "as sent" answers.
SENT_FORMATS = (*CONVERSIONS, "bmp", "gif")
FrameOutput = Annotated[str | None, output_query(
    CONVERSIONS, "png, jpeg, webp or tiff (or the format it was sent in); overrides Accept. "
                 "Without either, the frame as sent.")]


@frames_router.get(
    "/{frame_id}/image", response_class=Response,
    responses={**_FRAME_404, 200: {"content": {MEDIA_TYPES[name]: {"schema": {
        "type": "string", "format": "binary"}} for name in SENT_FORMATS},
        "description": "The frame exactly as sent (default), or converted to `output`."},
        406: documented_problem("The Accept header admits no format the frame can be given in.")},
    summary="The frame's image as it was sent, or converted to `output` (or Accept)")
def get_frame_image(frame_id: RecordId, caller: CurrentPrincipal, projects: ProjectService,
                    output: FrameOutput = None, quality: Quality = None,
                    accept: AcceptHeader = None) -> Response:
    sent = projects.frame_content(caller, frame_id)
    return sent_or_converted(sent, CONVERSIONS, output, accept, quality, projects.converted)


@frames_router.get(
    "/{frame_id}/tiles/{z}/{x}/{y}.png", response_class=Response,
    responses={**_PNG, 404: documented_problem("No such frame, or the tile is outside its "
                                               "pyramid (tile-not-found).")},
    summary="A 256-pixel PNG tile of the frame's pyramid (z=0: the whole frame in one tile)")
def get_frame_tile(frame_id: RecordId, z: Annotated[int, Path(ge=0, le=30)],
                   x: Annotated[int, Path(ge=0, le=2**30)], y: Annotated[int, Path(ge=0, le=2**30)],
                   caller: CurrentPrincipal, projects: ProjectService) -> Response:
    return Response(projects.tile(caller, frame_id, z, x, y), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


@frames_router.delete("/{frame_id}", status_code=status.HTTP_204_NO_CONTENT,
                      responses={**_FRAME_404, 403: documented_problem("Not a manager of the "
                                                                       "frame's project.")},
                      summary="Delete a frame with its objects (manager)")
def delete_frame(frame_id: RecordId, caller: CurrentPrincipal, projects: ProjectService) -> None:
    projects.delete_frame(caller, frame_id)


# --- objects and review ---------------------------------------------------------------------------


@projects_router.get("/{project_id}/objects", response_model=ObjectPage, responses=_PROJECT_404,
                     summary="The project's objects, filtered; the least sure first by default")
def list_objects(project_id: ProjectId, query: Annotated[ObjectListQuery, Query()],
                 caller: CurrentPrincipal, projects: ProjectService) -> ObjectPage:
    return ObjectPage.of(projects.list_objects(caller, project_id, query.filters(),
                                               query.order(), query.limit, query.offset))


@projects_router.get("/{project_id}/objects/counts", response_model=CountsPublic,
                     responses=_PROJECT_404,
                     summary="How many objects per category and status")
def object_counts(project_id: ProjectId, caller: CurrentPrincipal,
                  projects: ProjectService) -> CountsPublic:
    return CountsPublic.of(projects.counts(caller, project_id))


@projects_router.post("/{project_id}/objects/annotations", response_model=AnnotationResult,
                      responses={**_MANAGER, 422: documented_problem(
                          "An id is not an object of the project (unknown-objects, `ids`), or "
                          "a field is invalid; nothing was changed.")},
                      summary="Set the category and/or status of many objects (annotator)")
def annotate_objects(project_id: ProjectId, body: AnnotationRequest, caller: CurrentPrincipal,
                     projects: ProjectService, names: UserNames) -> AnnotationResult:
    # The annotator's name is the users service's for the token's user, never the body's
    # (annotator_name is ignored: a client could name anyone); see adapters/user_names.py.
    projects.require(caller, project_id, ProjectRole.ANNOTATOR)
    updated = projects.annotate(caller, project_id, Review(
        ids=body.ids, category=body.category, status=body.status,
        user_name=names.name_of(caller.user_id)))
    return AnnotationResult(updated=updated, category=body.category,
                            status=body.status or "validated")


SEARCH_FILES = FileFields(single=("image",), raw="image")
"""The object search's file: an uploaded crop (optional: or an object_id)."""


async def _object_query(request: Request, settings: Settings) -> ObjectQuery:
    """The search's crop and fields, sent the three ways every image route reads them."""
    payload = await read_payload(request, SEARCH_FILES)
    params = validate_params(ObjectSearchParams, payload.fields)
    if params.limit > settings.object_search_max_limit:
        raise InvalidParameter(f"limit is {params.limit}; at most "
                               f"{settings.object_search_max_limit} objects are answered")
    data = payload.first("image")
    crop = None if data is None else await run_in_threadpool(
        lambda: decode_image(data, max_pixels=settings.max_image_pixels).pixels)
    return ObjectQuery(limit=params.limit, object_id=params.object_id, crop=crop,
                       filters=params.filters())


@projects_router.post(
    "/{project_id}/objects/search", response_model=ObjectSearchResults,
    openapi_extra=request_body_doc(ObjectSearchParams.model_json_schema(), SEARCH_FILES),
    responses={**_PROJECT_404,
               409: documented_problem("The query object has no descriptor yet "
                                       "(object-not-described): run the descriptor backfill."),
               413: documented_problem("The body or the crop's pixel count is over the limit."),
               415: documented_problem("Not multipart, JSON or an image body, or not an image."),
               422: documented_problem("Nothing (or two things) to search by, an object_id not "
                                       "of the project, a crop without an object, a filter or "
                                       "limit out of range.")},
    summary="The project's objects most like one of its objects or an uploaded crop, best "
            "first; the review list's filters narrow the candidates before ranking (viewer)")
def search_objects(project_id: ProjectId, query: Annotated[ObjectQuery, Depends(_object_query)],
                   caller: CurrentPrincipal, search: ObjectSearchService) -> ObjectSearchResults:
    return ObjectSearchResults.of(search.search(caller, project_id, query))


async def _member_object_query(request: Request, settings: Settings) -> MemberObjectQuery:
    """``POST /objects/search``'s crop and fields, sent the three ways every image route reads them."""
    payload = await read_payload(request, SEARCH_FILES)
    params = validate_params(MemberObjectSearchParams, payload.fields)
    data = payload.first("image")
    crop = None if data is None else await run_in_threadpool(
        lambda: decode_image(data, max_pixels=settings.max_image_pixels).pixels)
    return MemberObjectQuery(limit=params.limit, object_id=params.object_id, crop=crop,
                             descriptor=None if params.descriptor is None else tuple(params.descriptor),
                             descriptor_set_version=params.descriptor_set_version)


@objects_router.post(
    "/search", response_model=MemberObjectSearchResults,
    openapi_extra=request_body_doc(MemberObjectSearchParams.model_json_schema(), SEARCH_FILES),
    responses={**_OBJECT_404,
               409: documented_problem("The query object has no descriptor yet "
                                       "(object-not-described): run the descriptor backfill."),
               413: documented_problem("The body or the crop's pixel count is over the limit."),
               415: documented_problem("Not multipart, JSON or an image body, or not an image."),
               422: documented_problem("Nothing (or two things) to search by, a descriptor of "
                                       "another set version or length, a crop without an "
                                       "object, a limit out of range.")},
    summary="The objects of every project you belong to (admin: all) most like one of them, "
            "an uploaded crop or a descriptor, best first (by the image part of their "
            "descriptors, comparable with library pictures and scans)")
def search_member_objects(query: Annotated[MemberObjectQuery, Depends(_member_object_query)],
                          caller: CurrentPrincipal,
                          search: MemberObjectSearchService) -> MemberObjectSearchResults:
    return MemberObjectSearchResults.of(search.search(caller, query))


@objects_router.get("/{object_id}", response_model=ObjectDetailPublic, responses=_OBJECT_404,
                    summary="One object: frame, box, features, the forest's answer, its review "
                            "history")
def get_object(object_id: RecordId, caller: CurrentPrincipal,
               projects: ProjectService) -> ObjectDetailPublic:
    return ObjectDetailPublic.of_detail(projects.object(caller, object_id))


@objects_router.get("/{object_id}/crop.png", response_class=Response,
                    responses={**_PNG, **_OBJECT_404}, summary="The object's crop (vignette)")
def get_object_crop(object_id: RecordId, caller: CurrentPrincipal,
                    projects: ProjectService) -> Response:
    return file_response(projects.object_image(caller, object_id, "crop"))


@objects_router.get("/{object_id}/mask.png", response_class=Response,
                    responses={**_PNG, **_OBJECT_404},
                    summary="The object's mask (white object on black, the crop's size)")
def get_object_mask(object_id: RecordId, caller: CurrentPrincipal,
                    projects: ProjectService) -> Response:
    return file_response(projects.object_image(caller, object_id, "mask"))
