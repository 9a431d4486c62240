"""The classify app in-process for the API tests, with real tokens, databases and a real model.

Scan tests take ``database_url`` (directly or through ``start_app`` / ``api``) and so run twice:
on a temporary SQLite file and on a real PostgreSQL database. ``model_dir`` is a store holding a
real tiny reference CNN (untrained, fixed seed: these tests check the API, the training tests
check what a trained model answers) exported to LiteRT, and the plankton forest trained in the
session (``tests/conftest.py``), both loaded by the real runtimes through the app's lifespan;
``add_model_version`` registers and activates another MRI version.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from sqlalchemy import select

from specimen_classify.adapters.migrations import upgrade_database
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.project_repository import SqlProjectRepository, replace_frame_objects
from specimen_classify.adapters.tables import PlanktonObjectRow
from specimen_classify.domain.plankton.projects import NewObject
from specimen_classify.domain.predictions import MRI_MODEL
from specimen_classify.domain.synthetic_mri import mri_slice
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.launch import RedisServer, free_port
from specimen_kit.testing import mint_token, temporary_postgres_database
from specimen_kit.tokens import StaticKeySource, TokenVerifier

ISSUER = "specimen-users"
SLICE_SIZE = 96


@pytest.fixture(scope="session")
def private_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def token_verifier(private_pem: str) -> TokenVerifier:
    return TokenVerifier(StaticKeySource({"keys": [public_jwk(private_pem)]}), ISSUER)


AuthHeaders = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def auth(private_pem: str) -> AuthHeaders:
    """``auth(sub="7", role="technician", hospital="General")`` → a valid Authorization header."""

    def headers(sub: str = "7", role: str = "technician", hospital: str = "General",
                **claims: Any) -> dict[str, str]:
        token = mint_token(private_pem, sub=sub, role=role, hospital=hospital, **claims)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture(scope="session")
def tiny_mri_tflite() -> bytes:
    """The reference CNN's layers, untrained (seed 0), as a LiteRT flatbuffer with a dynamic batch."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 1)),
        layers.Conv2D(16, 9, activation="relu"), layers.MaxPooling2D(2), layers.Dropout(0.25),
        layers.Conv2D(36, 9, activation="relu"), layers.MaxPooling2D(2), layers.Dropout(0.25),
        layers.Flatten(), layers.Dense(512, activation="relu"), layers.Dropout(0.15),
        layers.Dense(1, activation="sigmoid"),
    ])
    return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


AddModelVersion = Callable[[], int]


@pytest.fixture
def add_model_version(tmp_path: Path, tiny_mri_tflite: bytes) -> AddModelVersion:
    """Register (and activate) one more version of the MRI model in the test's store."""
    store = ModelStore(tmp_path / "models")

    def add() -> int:
        staged = store.staging_dir()
        (staged / "model.tflite").write_bytes(tiny_mri_tflite)
        card = {"decision_threshold": 0.5, "name": MRI_MODEL, "version": 0}
        (staged / "card.json").write_text(json.dumps(card), encoding="utf-8")
        return store.register(MRI_MODEL, staged, activate=True, by="test")

    return add


@pytest.fixture
def model_dir(tmp_path: Path, add_model_version: AddModelVersion,
              install_plankton: Callable[[Path], int]) -> Path:
    """A model store holding version 1 of the MRI model and of the plankton forest."""
    assert add_model_version() == 1
    assert install_plankton(tmp_path / "models") == 1
    return tmp_path / "models"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty scans database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'classify.sqlite3'}"
        upgrade_database(url)
        yield url
        return
    with temporary_postgres_database("specimen_classify_test") as url:
        upgrade_database(url)
        yield url


StartApp = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def start_app(database_url: str, model_dir: Path, serving_client: StartApp) -> StartApp:
    """Start the app on the test database and model store, with some settings overridden."""

    def start(raise_app_exceptions: bool = True,
              **overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serving_client(raise_app_exceptions=raise_app_exceptions,
                              **{"database_url": database_url, "model_dir": model_dir, **overrides})

    return start


# --- slices ---------------------------------------------------------------------------------


class Slices:
    """Synthetic MRI slices and their files (a fixture, since tests cannot import conftest)."""

    size = SLICE_SIZE

    @staticmethod
    def pixels(seed: int = 0, has_tumor: bool = False) -> np.ndarray:
        """A synthetic gray slice of SLICE_SIZE² pixels."""
        return mri_slice(seed, has_tumor, SLICE_SIZE).image

    @staticmethod
    def encode(pixels: np.ndarray, format: str = "png") -> bytes:
        """``pixels`` as a PNG, JPEG or TIFF file, or a DICOM (16-bit MONOCHROME2) file."""
        if format == "dicom":
            return Slices.dicom(pixels)
        ok, data = cv2.imencode({"png": ".png", "jpeg": ".jpg", "tiff": ".tiff"}[format], pixels)
        assert ok
        return bytes(data.tobytes())

    @staticmethod
    def file(seed: int = 0, has_tumor: bool = False, format: str = "png") -> bytes:
        return Slices.encode(Slices.pixels(seed, has_tumor), format)

    @staticmethod
    def dicom(pixels: np.ndarray, *, with_pixels: bool = True) -> bytes:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset("slice.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        if with_pixels:
            ds.PixelData = pixels.astype("<u2").tobytes()
        out = io.BytesIO()
        dcmwrite(out, ds, enforce_file_format=True)
        return out.getvalue()


@pytest.fixture(scope="session")
def slices() -> Slices:
    return Slices()


# --- the API ----------------------------------------------------------------------------------

SCANS = "/api/v1/scans"


@dataclass
class Api:
    """A client with shortcuts for the scan routes; ``auth`` mints the callers' tokens."""

    http: httpx.AsyncClient
    auth: AuthHeaders

    @property
    def technician(self) -> dict[str, str]:
        return self.auth(sub="7", role="technician", hospital="General")

    @property
    def moderator(self) -> dict[str, str]:
        return self.auth(sub="8", role="moderator", hospital="General")

    @property
    def admin(self) -> dict[str, str]:
        return self.auth(sub="1", role="admin", hospital="Headquarters")

    @property
    def other_moderator(self) -> dict[str, str]:
        return self.auth(sub="9", role="moderator", hospital="St Mary")

    async def create(self, data: bytes | None = None, headers: dict[str, str] | None = None,
                     expect: int = 201, **fields: Any) -> dict[str, Any]:
        form = {"patient_gender": "female", **fields}
        response = await self.http.post(
            SCANS, files={"image": ("slice.png", data or Slices.file())},
            data={key: value for key, value in form.items() if value is not None},
            headers=headers or self.technician)
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def api(start_app: StartApp, auth: AuthHeaders) -> AsyncIterator[Api]:
    async with start_app() as client:
        yield Api(client, auth)



# --- plankton projects (issue 12) -------------------------------------------------------------

PROJECTS_ADMIN_ID = 1
"""The user id the project tests' ``as_user`` gives the admin role; every other is a technician
(access to a project is by membership, whatever the Specimen role)."""


def _noise_png(height: int = 40, width: int = 60, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width), dtype=np.uint8)
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return bytes(data.tobytes())


@dataclass
class ProjectsApi:
    """A client for the plankton project routes, with the helpers their tests share: frames
    (``png``), archives (``zip_of``) and objects written as a run writes them (``add_objects``
    through ``replace_frame_objects``, crop and mask blobs included)."""

    http: httpx.AsyncClient
    auth: AuthHeaders
    database_url: str
    blob_dir: Path
    owner: int = 0
    """The owner of the last project made by :meth:`project`: who uploads by default."""

    png = staticmethod(_noise_png)

    def as_user(self, user_id: int) -> dict[str, str]:
        role = "admin" if user_id == PROJECTS_ADMIN_ID else "technician"
        return self.auth(sub=str(user_id), role=role, hospital="General")

    @staticmethod
    def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression) as archive:
            for name, data in members.items():
                archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
        return out.getvalue()

    @staticmethod
    def new_object(rank: int, category: str = "copepod", probability: float = 0.9) -> NewObject:
        return NewObject(rank=rank, bbox=(1, 2, 13, 12), centroid=(6.5, 7.0),
                         features={"area": 100.0 + rank, "eccentricity": 0.5},
                         feature_set_version="2", category=category, probability=probability,
                         scores={category: probability, "other": round(1 - probability, 6)},
                         model_name="plankton-forest", model_version=1)

    async def project(self, owner: int, members: dict[int, str],
                      **fields: Any) -> dict[str, Any]:
        response = await self.http.post("/api/v1/projects", json={"name": "Cruise", **fields},
                                         headers=self.as_user(owner))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        self.owner = owner
        for user, role in members.items():
            added = await self.http.put(f"/api/v1/projects/{body['id']}/members/{user}",
                                        json={"role": role}, headers=self.as_user(owner))
            assert added.status_code == 201, added.text
        return body

    async def upload(self, project_id: int, files: list[tuple[str, tuple[str, bytes]]],
                     data: dict[str, str] | None = None, user: int | None = None,
                     expect: int = 201) -> dict[str, Any]:
        response = await self.http.post(f"/api/v1/projects/{project_id}/frames", files=files,
                                         data=data or {}, headers=self.as_user(user or self.owner))
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body

    def add_objects(self, frame_id: int, objects: list[NewObject], job_id: int = 1,
                    mask_blobs: bool = False) -> list[int]:
        """Objects as a run writes them, a crop blob each and the mask PNG in the row (as
        before migration 0008, a mask blob each, with ``mask_blobs``); their ids by rank."""
        store = FilesystemBlobStore(self.blob_dir)
        with_blobs = [replace(o, crop_key=store.put(_noise_png(12, 10, o.rank)),
                              mask_key=store.put(_noise_png(12, 10, 100 + o.rank)) if mask_blobs else None,
                              mask_png=None if mask_blobs else _noise_png(12, 10, 100 + o.rank))
                      for o in objects]
        engine = build_engine(self.database_url)
        try:
            with build_sessionmaker(engine)() as session:
                replace_frame_objects(session, frame_id, job_id, with_blobs)
                return list(session.scalars(
                    select(PlanktonObjectRow.id).where(PlanktonObjectRow.frame_id == frame_id)
                    .order_by(PlanktonObjectRow.rank)))
        finally:
            engine.dispose()


@pytest.fixture
def delete_project_elsewhere(database_url: str) -> Callable[[int], None]:
    """Delete a project as a concurrent request does: in a session of its own, committed."""

    def delete(project_id: int) -> None:
        engine = build_engine(database_url)
        try:
            with build_sessionmaker(engine)() as other, other.begin():
                SqlProjectRepository(other).delete_project(project_id)
        finally:
            engine.dispose()

    return delete


@pytest.fixture
async def projects_api(serving_client: StartApp, database_url: str, auth: AuthHeaders,
                       tmp_path: Path) -> AsyncIterator[ProjectsApi]:
    """The app on the test database (no models needed) with the project helpers."""
    async with serving_client(database_url=database_url) as http:
        yield ProjectsApi(http, auth, database_url, tmp_path / "classify-blobs")


@pytest.fixture
async def small_limits_api(serving_client: StartApp, database_url: str, auth: AuthHeaders,
                           tmp_path: Path) -> AsyncIterator[ProjectsApi]:
    """As ``projects_api`` with tight upload limits: 3 members a ZIP, 50 kB a member, ratio 20."""
    async with serving_client(database_url=database_url, frames_zip_max_members=3,
                              frames_zip_max_member_bytes=50_000,
                              frames_zip_max_ratio=20.0) as http:
        yield ProjectsApi(http, auth, database_url, tmp_path / "classify-blobs")


@pytest.fixture
async def upload_limits_api(serving_client: StartApp, database_url: str, auth: AuthHeaders,
                            tmp_path: Path) -> AsyncIterator[ProjectsApi]:
    """As ``projects_api`` with a 2 MiB body limit, a 64 MiB upload limit and 8 MiB frames."""
    async with serving_client(database_url=database_url, max_body_bytes=2 * 1024 * 1024,
                              max_upload_bytes=64 * 1024 * 1024,
                              frames_zip_max_member_bytes=8 * 1024 * 1024) as http:
        yield ProjectsApi(http, auth, database_url, tmp_path / "classify-blobs")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private ``redis-server`` on a free port for one test (the shared Redis is never touched)."""
    server = RedisServer(free_port(), log_path=tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
