"""The search's rules: exact ranking (against brute force), the in-process index against exact
search on a real SQLite database, region proposals, what counts as a picture."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from specimen_imaging.codecs import decode_image
from specimen_imaging.scenes import scene
from specimen_imaging.similarity import DIMENSIONS
from specimen_kit.errors import InvalidParameter
from specimen_segment.adapters.descriptor_repository import OwnerVectorCache, SqlDescriptorRepository
from specimen_segment.adapters.migrations import upgrade_database
from specimen_segment.adapters.models import ImageRow
from specimen_segment.adapters.repository import SqlLibraryRepository
from specimen_segment.domain.errors import ImageNotFound
from specimen_segment.domain.library import StoredImage, StoredSegmentation
from specimen_segment.domain.similarity import (
    ForeignHit,
    PictureKey,
    ScopeVectors,
    SearchQuery,
    SimilarImages,
    describe_picture,
    describe_region,
    is_picture,
    rank_pictures,
    region_proposals,
    working_copy,
)


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.normal(size=(n, DIMENSIONS)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class TestRankPictures:
    @settings(max_examples=50, deadline=None)
    @given(st.integers(1, 60), st.integers(1, 15), st.integers(1, 20), st.integers(0, 2**32 - 1))
    def test_equals_brute_force_best_row_per_picture(self, rows: int, pictures: int, limit: int,
                                                     seed: int) -> None:
        rng = np.random.default_rng(seed)
        owner_of_row = rng.integers(0, pictures, rows)
        keys = tuple(PictureKey(uuid.UUID(int=i + 1)) for i in range(pictures))
        scope = ScopeVectors(keys, owner_of_row, unit_rows(rng, rows))
        query = unit_rows(rng, 1)[0]
        ranked = rank_pictures(query, scope, limit)
        best = {}
        for row, picture in enumerate(owner_of_row):
            best[picture] = max(best.get(picture, -9.0), float(scope.vectors[row] @ query))
        expected = sorted(best, key=lambda p: (-best[p], p))[:limit]
        assert [p for p, _ in ranked] == expected
        assert all(abs(score - best[p]) < 1e-5 for p, score in ranked)

    def test_excluded_pictures_never_appear(self) -> None:
        keys = (PictureKey(uuid.UUID(int=1)), PictureKey(uuid.UUID(int=2)))
        scope = ScopeVectors(keys, np.array([0, 1]), np.eye(2, DIMENSIONS, dtype=np.float32))
        query = np.eye(1, DIMENSIONS, dtype=np.float32)[0]
        assert [p for p, _ in rank_pictures(query, scope, 5, frozenset({0}))] == [1]

    def test_an_empty_scope_answers_nothing(self) -> None:
        assert rank_pictures(np.ones(DIMENSIONS, np.float32), ScopeVectors.empty(), 10) == []


class TestIndexAgainstExact:
    """The app's index (per-owner matrices kept between searches) answers as exact search over
    a fresh read of the owner's rows, before and after the rows change."""

    @pytest.fixture
    def session(self, tmp_path: Path) -> Session:
        url = f"sqlite:///{tmp_path / 'segment.sqlite3'}"
        upgrade_database(url)
        return Session(create_engine(url))

    def _image(self, session: Session, owner: int) -> uuid.UUID:
        image_id = uuid.uuid4()
        now = datetime.now(UTC)
        session.add(ImageRow(id=image_id, owner_id=owner, name="x", format="png", width=1, height=1,
                             channels=1, bit_depth=8, bytes=1, blob_key=image_id.hex, created_at=now,
                             updated_at=now))
        session.flush()
        return image_id

    def test_scoped_and_fresh(self, session: Session) -> None:
        rng = np.random.default_rng(3)
        rows = SqlDescriptorRepository(session)
        cache = OwnerVectorCache(max_vectors=10_000)
        for owner in (1, 2):
            for _ in range(30):
                rows.add_vectors(owner, PictureKey(self._image(session, owner)), "1",
                                 unit_rows(rng, int(rng.integers(1, 6))))
        theirs = {key.image_id for key in rows.load_scope(2, "1").pictures}
        for round_ in range(3):
            for query in unit_rows(rng, 20):
                cached = cache.vectors(1, "1", rows)
                fresh = rows.load_scope(1, "1")
                a = [(cached.pictures[i], s) for i, s in rank_pictures(query, cached, 10)]
                b = [(fresh.pictures[i], s) for i, s in rank_pictures(query, fresh, 10)]
                assert a == b
                assert not {key.image_id for key, _ in a} & theirs
            # The owner's rows change: a new picture, and one described again.
            rows.add_vectors(1, PictureKey(self._image(session, 1)), "1", unit_rows(rng, 2))
            rows.add_vectors(1, fresh.pictures[round_], "1", unit_rows(rng, 1))

    def test_least_recently_searched_owners_go_first(self, session: Session) -> None:
        rng = np.random.default_rng(4)
        rows = SqlDescriptorRepository(session)
        for owner in (1, 2, 3):
            rows.add_vectors(owner, PictureKey(self._image(session, owner)), "1", unit_rows(rng, 4))
        cache = OwnerVectorCache(max_vectors=8)
        for owner in (1, 2, 3):
            cache.vectors(owner, "1", rows)
        assert len(cache) == 2


class TestRules:
    @pytest.mark.parametrize(("operation", "params", "expected"), [
        ("threshold", {}, False), ("threshold", {"result": "cutout"}, True),
        ("threshold", {"result": "overlay"}, True), ("superpixels", {}, False),
        ("superpixels", {"result": "overlay"}, True), ("selection", {}, True),
        ("selection", {"result": "mask"}, False), ("objects", {}, True), ("background", {}, True),
        ("vignetting", {}, True), ("convert", {}, True)])
    def test_is_picture(self, operation: str, params: dict[str, str], expected: bool) -> None:
        assert is_picture(operation, params) is expected

    def test_a_thin_mask_survives_the_working_copy(self) -> None:
        mask = np.zeros((1000, 1000), bool)
        mask[500, 100:900] = True
        small, small_mask = working_copy(np.zeros((1000, 1000, 3), np.uint8), mask)
        assert small.shape == (256, 256, 3) and small_mask is not None and small_mask.sum() >= 4

    def test_sixteen_bit_and_gray_pictures_are_described(self) -> None:
        gray16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
        assert describe_picture(gray16).shape[1] == DIMENSIONS

    def test_a_transparent_cutout_is_described_where_it_is_opaque(self) -> None:
        item = scene("red-discs", "sand", 2, size=96)
        rgba = np.dstack([item.pixels, item.mask.astype(np.uint8) * 255])
        elsewhere = np.dstack([np.zeros_like(item.pixels), item.mask.astype(np.uint8) * 255])
        elsewhere[item.mask, :3] = item.pixels[item.mask]
        assert describe_picture(rgba)[0].tobytes() == describe_picture(elsewhere)[0].tobytes()
        assert float(describe_picture(rgba)[0] @ describe_region(item.pixels, item.mask)) > 0.999

    def test_proposals_are_deterministic_and_bounded(self) -> None:
        pixels = scene("purple-rings", "weave", 5).pixels
        first, again = region_proposals(pixels), region_proposals(pixels.copy())
        assert 1 <= len(first) <= 8
        assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again, strict=True))

    def test_the_object_is_among_the_proposals(self) -> None:
        item = scene("blue-stripes", "plain-light", 6)
        proposals = region_proposals(item.pixels)
        best = max(float((p & item.mask).sum() / (p | item.mask).sum()) for p in proposals)
        assert best > 0.8

    @pytest.mark.parametrize(("query", "needle"), [
        (SearchQuery(limit=1), "nothing to search by"),
        (SearchQuery(limit=1, upload=b"x", image_id=uuid.uuid4()), "not both"),
        (SearchQuery(limit=1, upload=b"x", selection=object()), "send image_id"),  # type: ignore[arg-type]
    ])
    def test_a_query_must_name_one_thing(self, query: SearchQuery, needle: str) -> None:
        with pytest.raises(InvalidParameter, match=needle):
            query.check()

    def test_an_empty_mask_is_refused(self) -> None:
        with pytest.raises(InvalidParameter, match="the selection is empty"):
            describe_region(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool))


class TestConcurrentDeletion:
    """A picture deleted by another request after the owner's rows were read is left out of
    the answer (regression: the search answered 404 for the whole query)."""

    def test_a_picture_gone_since_the_rows_were_read_is_skipped(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'segment.sqlite3'}"
        upgrade_database(url)
        session = Session(create_engine(url))
        now = datetime.now(UTC)
        images = {}
        for name in ("kept", "deleted"):
            image = StoredImage(id=uuid.uuid4(), owner_id=1, name=name, format="png", width=8,
                                height=8, channels=3, bit_depth=8, bytes=1, blob_key=name,
                                created_at=now, updated_at=now)
            SqlLibraryRepository(session).add_image(image)
            vectors = describe_picture(scene("red-discs", "sand", 1).pixels)
            SqlDescriptorRepository(session).add_vectors(1, PictureKey(image.id), "1", vectors)
            images[name] = image

        class Library:
            def get_image(self, owner_id: int, image_id: uuid.UUID) -> StoredImage:
                if image_id == images["deleted"].id:
                    raise ImageNotFound(image_id)
                return images["kept"]

            def get_segmentation(self, owner_id: int, image_id: uuid.UUID,
                                 segmentation_id: uuid.UUID) -> StoredSegmentation:
                raise AssertionError("no results here")

            def image_pixels(self, image: StoredImage) -> np.ndarray:
                raise AssertionError("the query is an upload")

        class LibraryOnly:
            def scans(self, *_: object) -> list[ForeignHit]:
                raise AssertionError("the query asks the library alone")

            objects = scans

        search = SimilarImages(Library(), SqlDescriptorRepository(session), OwnerVectorCache(100),
                               LibraryOnly(), decode=decode_image, max_limit=10)
        query = io.BytesIO()
        Image.fromarray(scene("red-discs", "sand", 1).pixels).save(query, format="PNG")
        answer = search.search(1, SearchQuery(limit=10, upload=query.getvalue()))
        assert [hit.image.name for hit in answer.hits] == ["kept"]
