"""One request's unit of work over a database and a blob store, and the storage commands.

:data:`Blobs` stages the blob changes of a request and :data:`DbSession` (which depends on it)
holds its transaction; on the way out the session commits or rolls back first, then the staged
blobs see the outcome: a failure deletes the blobs this request wrote, a commit removes the
blobs of the rows it deleted. Both are function-scoped, so all of it happens before the response
is sent: a 2xx means the data is stored. A service's lifespan sets ``app.state.blob_store`` and
``app.state.sessionmaker``.

``migrate`` and ``sweep-orphans`` are the two storage commands of every service that keeps
blobs (segment's image library, classify's scans): :func:`add_storage_commands` adds them to a
CLI and :func:`run_storage_command` runs them.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from specimen_kit.blobs import FilesystemBlobStore, StagedBlobs, modified_before, orphaned_keys
from specimen_kit.database import (
    add_migrate_arguments,
    build_engine,
    build_sessionmaker,
    wait_for_database,
)

logger = logging.getLogger(__name__)

STORAGE_COMMANDS = ("migrate", "sweep-orphans")
DEFAULT_GRACE_SECONDS = 3600.0


def _staged_blobs(request: Request) -> Iterator[StagedBlobs]:
    store: FilesystemBlobStore = request.app.state.blob_store
    staged = StagedBlobs(store)
    try:
        yield staged
    except BaseException:
        staged.discard_written()
        raise
    staged.apply_removals()


Blobs = Annotated[StagedBlobs, Depends(_staged_blobs, scope="function")]


def _db_session(request: Request, _blobs: Blobs) -> Iterator[Session]:
    """One transaction per request: committed when the handler succeeds, rolled back if not.

    A failing commit raises into :func:`_staged_blobs` like any other error, so the blobs
    written for the lost rows are deleted too.
    """
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    with sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


# scope="function": commit before the response is sent, so a 2xx means the data is stored.
DbSession = Annotated[Session, Depends(_db_session, scope="function")]


@dataclass(frozen=True)
class SweepReport:
    removed: list[str]
    temporaries: int


def sweep_orphans(blob_dir: Path, database_url: str, referenced_keys: Callable[[Session], set[str]], *,
                  grace_seconds: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False) -> SweepReport:
    """Remove blobs that no row references, and temporary files of crashed writes.

    Only files older than ``grace_seconds`` are considered: a request writes its blob before
    it inserts and commits the row, so a young blob without a row may be one in flight. The
    blob listing is taken before the rows are read for the same reason.
    """
    store = FilesystemBlobStore(blob_dir)
    cutoff = modified_before(grace_seconds)
    candidates = list(store.keys(modified_before=cutoff))
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            referenced = referenced_keys(session)
    finally:
        engine.dispose()
    orphans = orphaned_keys(candidates, referenced)
    if dry_run:
        return SweepReport(orphans, 0)
    for key in orphans:
        store.delete(key)
    return SweepReport(orphans, store.remove_stale_temporaries(cutoff))


def add_storage_commands(commands: Any, *, database_variable: str, blobs: str) -> None:
    """Add ``migrate`` and ``sweep-orphans`` to a CLI's subparsers."""
    migrate = commands.add_parser("migrate", help=f"apply the database migrations ({database_variable})")
    add_migrate_arguments(migrate)
    sweep = commands.add_parser(
        "sweep-orphans", help=f"remove stored {blobs} that no row references "
                              "(left by a crash between a blob write and its commit)")
    sweep.add_argument("--grace-seconds", type=float, default=DEFAULT_GRACE_SECONDS,
                       help="only blobs older than this are removed (default: %(default)s)")
    sweep.add_argument("--dry-run", action="store_true", help="list the orphans, remove nothing")


def run_storage_command(arguments: argparse.Namespace, *, database_url: str, blob_dir: Path,
                        upgrade: Callable[[str, str], None],
                        referenced_keys: Callable[[Session], set[str]]) -> int:
    """Run one of :data:`STORAGE_COMMANDS`; returns the exit status."""
    if arguments.command == "migrate":
        wait_for_database(database_url, arguments.wait_seconds)
        upgrade(database_url, arguments.revision)
        logger.info("database migrated", extra={"revision": arguments.revision,
                                                "backend": database_url.split(":", 1)[0]})
    else:
        report = sweep_orphans(blob_dir, database_url, referenced_keys,
                               grace_seconds=arguments.grace_seconds, dry_run=arguments.dry_run)
        logger.info("orphaned blobs swept", extra={
            "orphans": len(report.removed), "temporaries": report.temporaries,
            "dry_run": arguments.dry_run, "keys": report.removed})
    return 0
