"""``POST /scans/search`` and ``POST /objects/search`` (issue 14) on SQLite and PostgreSQL: the
scope is part of the query (another hospital's scan, another project's object never appear,
even as the exact nearest), the three kinds of query, the descriptor version rule, and the
backfill of scans filed before the search."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from sqlalchemy import delete, select

from specimen_classify.adapters.descriptor_backfill import describe_scans, start_backfill
from specimen_classify.adapters.tables import ScanDescriptorRow
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.plankton.object_similarity import (
    FEATURE_NAMES,
    OBJECT_DESCRIPTOR_VERSION,
    combine,
    feature_part,
)
from specimen_imaging import similarity
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker

if TYPE_CHECKING:
    from conftest import Api, ProjectsApi, Slices

SCAN_SEARCH = "/api/v1/scans/search"
OBJECT_SEARCH = "/api/v1/objects/search"


def slice_descriptor(slices: Slices, seed: int) -> list[float]:
    """What segment sends for the slice's PNG uploaded as a query: the whole picture's vector."""
    return [float(v) for v in similarity.describe_working_copy(slices.pixels(seed))]


async def scan_search(api: Api, headers: dict[str, str], expect: int = 200, **fields: Any) -> Any:
    response = await api.http.post(SCAN_SEARCH, json=fields, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


class TestScanScope:
    async def test_another_hospital_s_scan_never_appears_even_as_the_exact_nearest(
            self, api: Api, slices: Slices) -> None:
        own = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2)]
        elsewhere = (await api.create(slices.file(3), headers=api.other_moderator))["id"]
        query = slice_descriptor(slices, 3)
        mine = await scan_search(api, api.technician, descriptor=query, descriptor_set_version="1")
        everyone = await scan_search(api, api.admin, descriptor=query, descriptor_set_version="1")
        st_mary = await scan_search(api, api.admin, descriptor=query, descriptor_set_version="1",
                                    hospital="St Mary")
        named = await scan_search(api, api.technician, descriptor=query,
                                  descriptor_set_version="1", hospital="St Mary")
        assert sorted(item["scan_id"] for item in mine["items"]) == sorted(own)
        assert mine["candidates"] == 2
        assert everyone["items"][0]["scan_id"] == elsewhere
        assert everyone["items"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert [item["scan_id"] for item in st_mary["items"]] == [elsewhere]
        assert named == {"items": [], "candidates": 0, "descriptor_set_version": "1"}

    async def test_a_scan_of_another_hospital_as_the_query_is_its_404(
            self, api: Api, slices: Slices) -> None:
        elsewhere = (await api.create(slices.file(3), headers=api.other_moderator))["id"]
        answer = await scan_search(api, api.technician, expect=404, scan_id=elsewhere)
        assert answer["type"].endswith("/scan-not-found")


class TestScanQueries:
    async def test_upload_scan_id_and_descriptor_rank_alike(self, api: Api, slices: Slices) -> None:
        ids = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2, 3)]
        uploaded = await api.http.post(SCAN_SEARCH, files={"image": ("q.png", slices.file(2))},
                                       data={"limit": "2"}, headers=api.technician)
        by_id = await scan_search(api, api.technician, scan_id=ids[1])
        by_vector = await scan_search(api, api.technician, descriptor=slice_descriptor(slices, 2),
                                      descriptor_set_version="1")
        assert uploaded.status_code == 200, uploaded.text
        top = uploaded.json()["items"]
        assert len(top) == 2 and top[0]["scan_id"] == ids[1]
        assert top[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert top[0]["url"] == f"/api/v1/scans/{ids[1]}"
        assert top[0]["content_url"] == f"/api/v1/scans/{ids[1]}/image"
        assert by_vector["items"][0]["scan_id"] == ids[1]
        # A scan is not its own answer; the others come in the same order as for its picture.
        assert [item["scan_id"] for item in by_id["items"]] == [
            item["scan_id"] for item in by_vector["items"][1:]]
        assert by_id["candidates"] == 2

    @pytest.mark.parametrize(("fields", "says"), [
        ({}, "nothing to search by"),
        ({"scan_id": 1, "descriptor": [1.0] * 48, "descriptor_set_version": "1"}, "one thing"),
        ({"descriptor": [1.0] * 48}, "descriptor_set_version"),
        ({"descriptor": [1.0] * 48, "descriptor_set_version": "2"}, "never compared"),
        ({"descriptor": [1.0] * 47, "descriptor_set_version": "1"}, "has 48"),
        ({"descriptor": [0.0] * 48, "descriptor_set_version": "1"}, "not all zeros"),
        ({"descriptor": [1.0] * 48, "descriptor_set_version": "1", "limit": 0}, "limit"),
        ({"descriptor": [1.0] * 48, "descriptor_set_version": "1", "colour": 1}, "colour"),
    ])
    async def test_a_query_that_is_not_one_is_a_422_naming_the_fix(
            self, api: Api, fields: dict[str, Any], says: str) -> None:
        answer = await scan_search(api, api.technician, expect=422, **fields)
        assert says in str(answer)


class TestScanBackfill:
    async def test_scans_filed_before_the_search_are_described_as_filing_describes_them(
            self, api: Api, slices: Slices, database_url: str, tmp_path: Path) -> None:
        ids = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2)]
        engine = build_engine(database_url)
        try:
            sessions = build_sessionmaker(engine)
            with sessions() as session:
                before = dict(session.execute(select(ScanDescriptorRow.scan_id,
                                                     ScanDescriptorRow.vector)).all())
            with sessions() as session, session.begin():
                session.execute(delete(ScanDescriptorRow))
            lost = await scan_search(api, api.technician, descriptor=slice_descriptor(slices, 1),
                                     descriptor_set_version="1")
            with sessions() as session, session.begin():
                job, tasks = start_backfill(session, created_by=1)
            assert len(tasks) == 1  # one task for the two scans
            blobs = FilesystemBlobStore(ClassifySettings(data_dir=tmp_path).resolved_blob_dir)
            done = describe_scans(sessions, blobs, ids[0], ids[1], 50_000_000)
            again = describe_scans(sessions, blobs, ids[0], ids[1], 50_000_000)
            with sessions() as session:
                after = dict(session.execute(select(ScanDescriptorRow.scan_id,
                                                    ScanDescriptorRow.vector)).all())
        finally:
            engine.dispose()
        found = await scan_search(api, api.technician, descriptor=slice_descriptor(slices, 1),
                                  descriptor_set_version="1")
        assert job.kind == "descriptor-backfill" and job.total == 1
        assert lost["items"] == []
        assert (done, again) == ((2, 0), (0, 0))
        assert after == before
        assert found["items"][0]["scan_id"] == ids[0]


# --- objects across the caller's projects ----------------------------------------------------

MEMBER, OUTSIDER_OWNER, ADMIN = 30, 31, 1


def object_vector(seed: int) -> tuple[np.ndarray, list[float]]:
    """A stored object descriptor of a random image part, and that image part as a query."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=similarity.DIMENSIONS)
    image /= np.linalg.norm(image)
    row = np.abs(rng.normal(size=len(FEATURE_NAMES))) * 10
    return combine(image, feature_part(row)), [float(v) for v in image]


async def described_project(client: ProjectsApi, owner: int, members: dict[int, str],
                            seeds: list[int]) -> list[int]:
    project = await client.project(owner, members)
    body = await client.upload(project["id"], [("image", ("f.png", client.png(seed=owner)))],
                               user=owner)
    frame = body["imported"][0]["id"]
    return client.add_objects(frame, [
        replace(client.new_object(rank), descriptor=object_vector(seed)[0],
                descriptor_version=OBJECT_DESCRIPTOR_VERSION)
        for rank, seed in enumerate(seeds, start=1)])


async def object_search(client: ProjectsApi, user: int, expect: int = 200, **fields: Any) -> Any:
    response = await client.http.post(OBJECT_SEARCH, json=fields, headers=client.as_user(user))
    assert response.status_code == expect, response.text
    return response.json()


class TestMemberObjectScope:
    async def test_objects_of_a_project_one_is_not_in_never_appear(
            self, projects_api: ProjectsApi) -> None:
        mine = await described_project(projects_api, OUTSIDER_OWNER + 10, {MEMBER: "viewer"},
                                       [1, 2, 3])
        theirs = await described_project(projects_api, OUTSIDER_OWNER, {}, [4])
        query = object_vector(4)[1]
        as_member = await object_search(projects_api, MEMBER, descriptor=query,
                                        descriptor_set_version="1", limit=10)
        as_owner = await object_search(projects_api, OUTSIDER_OWNER, descriptor=query,
                                       descriptor_set_version="1")
        as_admin = await object_search(projects_api, ADMIN, descriptor=query,
                                       descriptor_set_version="1", limit=10)
        hidden = await object_search(projects_api, MEMBER, expect=404, object_id=theirs[0])
        assert sorted(item["object_id"] for item in as_member["items"]) == sorted(mine)
        assert as_member["candidates"] == 3
        assert [item["object_id"] for item in as_owner["items"]] == theirs
        assert as_owner["items"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert as_admin["items"][0]["object_id"] == theirs[0]
        assert as_admin["candidates"] == 4
        assert hidden["type"].endswith("/object-not-found")

    async def test_an_object_as_the_query_ranks_by_its_image_part_and_is_left_out(
            self, projects_api: ProjectsApi) -> None:
        ids = await described_project(projects_api, MEMBER, {}, [1, 2, 3])
        by_id = await object_search(projects_api, MEMBER, object_id=ids[0])
        by_vector = await object_search(projects_api, MEMBER, descriptor=object_vector(1)[1],
                                        descriptor_set_version="1")
        item = by_vector["items"][0]
        assert item["object_id"] == ids[0] and item["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert item["url"] == f"/api/v1/objects/{ids[0]}"
        assert item["thumbnail_url"] == f"/api/v1/objects/{ids[0]}/crop.png"
        assert item["project_id"] >= 1
        assert [i["object_id"] for i in by_id["items"]] == [
            i["object_id"] for i in by_vector["items"][1:]]

    async def test_a_descriptor_of_another_set_is_a_422(self, projects_api: ProjectsApi) -> None:
        answer = await object_search(projects_api, MEMBER, expect=422, descriptor=[1.0] * 48,
                                     descriptor_set_version="object-1")
        assert "never compared" in answer["detail"]
