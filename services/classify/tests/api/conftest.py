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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from specimen_classify.adapters.migrations import upgrade_database
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.domain.predictions import MRI_MODEL
from specimen_classify.domain.synthetic_mri import mri_slice
from specimen_kit.jwk import generate_private_key_pem, public_jwk
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

