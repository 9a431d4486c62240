"""Migration 0003 (plankton projects) and ``replace_frame_objects``, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from specimen_classify.adapters.migrations import MIGRATIONS_DIR, upgrade_database
from specimen_classify.adapters.project_repository import referenced_blob_keys, replace_frame_objects
from specimen_classify.adapters.tables import (
    FrameRow,
    ObjectAnnotationRow,
    PlanktonObjectRow,
    ProjectRow,
)
from specimen_classify.domain.errors import FrameNotFound
from specimen_classify.domain.plankton.projects import NewObject
from specimen_kit.database import alembic_config, build_engine, build_sessionmaker
from specimen_kit.testing import temporary_postgres_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NEW_TABLES = {"projects", "project_members", "frames", "plankton_objects", "object_annotations"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url_at_0002(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
        upgrade_database(url, "0002")
        yield url
        return
    with temporary_postgres_database("specimen_classify_projects") as url:
        upgrade_database(url, "0002")
        yield url


def _tables(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def new_object(rank: int, category: str = "copepod", probability: float = 0.9) -> NewObject:
    return NewObject(rank=rank, bbox=(1, 2, 11, 12), centroid=(5.5, 6.5),
                     features={"area": 100.0, "eccentricity": 0.5}, feature_set_version="1",
                     category=category, probability=probability,
                     scores={category: probability, "other": 1 - probability},
                     model_name="plankton-forest", model_version=1)


def add_frame(session: Session, name: str = "f1.png") -> int:
    project = ProjectRow(name="p", settings="{}", owner_id=7, created_at=T0, updated_at=T0)
    session.add(project)
    session.flush()
    frame = FrameRow(project_id=project.id, file_name=name, image_key=f"{project.id:064x}",
                     media_type="image/png", bytes=10, width=64, height=48, created_by=7,
                     created_at=T0)
    session.add(frame)
    session.flush()
    return frame.id


class TestMigration0003:
    def test_upgrade_creates_and_downgrade_drops_the_tables(self, url_at_0002: str) -> None:
        assert not NEW_TABLES & _tables(url_at_0002)
        upgrade_database(url_at_0002, "0003")
        assert _tables(url_at_0002) >= NEW_TABLES
        command.downgrade(alembic_config(url_at_0002, MIGRATIONS_DIR), "0002")
        assert not NEW_TABLES & _tables(url_at_0002)
        assert "scans" in _tables(url_at_0002)


class TestReplaceFrameObjects:
    @pytest.fixture
    def sessions(self, url_at_0002: str) -> Iterator[Session]:
        upgrade_database(url_at_0002)
        engine = build_engine(url_at_0002)
        try:
            with build_sessionmaker(engine)() as session:
                yield session
        finally:
            engine.dispose()

    def test_a_rerun_replaces_the_objects_without_duplicates(self, sessions: Session) -> None:
        frame_id = add_frame(sessions)
        sessions.commit()
        assert replace_frame_objects(sessions, frame_id, 1, [new_object(1), new_object(2)]) == 2
        first = sessions.scalars(select(PlanktonObjectRow.id)).all()
        sessions.add(ObjectAnnotationRow(object_id=first[0], category="copepod",
                                         status="validated", user_id=7, at=T0))
        sessions.commit()
        assert replace_frame_objects(sessions, frame_id, 2,
                                     [new_object(1, "diatom"), new_object(2), new_object(3)]) == 3
        rows = sessions.scalars(select(PlanktonObjectRow).order_by(PlanktonObjectRow.rank)).all()
        assert [(row.rank, row.job_id) for row in rows] == [(1, 2), (2, 2), (3, 2)]
        assert rows[0].category == "diatom" and rows[0].status == "predicted"
        assert sessions.scalar(select(func.count()).select_from(ObjectAnnotationRow)) == 0

    def test_it_commits_its_own_transaction_when_none_is_open(self, sessions: Session,
                                                              url_at_0002: str) -> None:
        frame_id = add_frame(sessions)
        sessions.commit()
        replace_frame_objects(sessions, frame_id, None, [new_object(1)])
        engine = build_engine(url_at_0002)
        try:
            with build_sessionmaker(engine)() as other:
                assert other.scalar(select(func.count()).select_from(PlanktonObjectRow)) == 1
        finally:
            engine.dispose()

    def test_a_failed_insert_keeps_the_previous_objects(self, sessions: Session) -> None:
        frame_id = add_frame(sessions)
        sessions.commit()
        replace_frame_objects(sessions, frame_id, 1, [new_object(1)])
        bad = replace(new_object(2), status="nonsense")  # the database's check constraint
        with pytest.raises(IntegrityError):
            replace_frame_objects(sessions, frame_id, 2, [new_object(1), bad])
        assert sessions.scalars(select(PlanktonObjectRow.job_id)).all() == [1]

    def test_duplicate_ranks_are_refused(self, sessions: Session) -> None:
        frame_id = add_frame(sessions)
        sessions.commit()
        with pytest.raises(ValueError, match="ranks"):
            replace_frame_objects(sessions, frame_id, 1, [new_object(1), new_object(1)])

    def test_a_deleted_frame_is_reported(self, sessions: Session) -> None:
        with pytest.raises(FrameNotFound):
            replace_frame_objects(sessions, 999, 1, [new_object(1)])

    def test_sweep_orphans_keeps_the_frames_crops_and_masks(self, sessions: Session) -> None:
        frame_id = add_frame(sessions)
        sessions.commit()
        replace_frame_objects(sessions, frame_id, 1, [replace(new_object(1), crop_key="c" * 64,
                                                              mask_key="m" * 64)])
        keys = referenced_blob_keys(sessions)
        frame_key = sessions.scalar(select(FrameRow.image_key))
        assert keys == {frame_key, "c" * 64, "m" * 64}
