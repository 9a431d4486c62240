"""Command line of the segment service: ``python -m specimen_segment migrate | sweep-orphans``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.logs import configure_logging
from specimen_segment.adapters.blobstore import FilesystemBlobStore, modified_before
from specimen_segment.adapters.migrations import upgrade_database
from specimen_segment.adapters.repository import referenced_blob_keys
from specimen_segment.config import SegmentSettings
from specimen_segment.domain.library import orphaned_keys

logger = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class SweepReport:
    removed: list[str]
    temporaries: int


def sweep_orphans(settings: SegmentSettings, grace_seconds: float = DEFAULT_GRACE_SECONDS,
                  dry_run: bool = False) -> SweepReport:
    """Remove blobs that no row references, and temporary files of crashed writes.

    Only files older than ``grace_seconds`` are considered: a request writes its blob before
    it inserts and commits the row, so a young blob without a row may be one in flight. The
    blob listing is taken before the rows are read for the same reason.
    """
    store = FilesystemBlobStore(settings.resolved_blob_dir)
    cutoff = modified_before(grace_seconds)
    candidates = list(store.keys(modified_before=cutoff))
    engine = build_engine(settings.resolved_database_url)
    try:
        with build_sessionmaker(engine)() as session:
            referenced = referenced_blob_keys(session)
    finally:
        engine.dispose()
    orphans = orphaned_keys(candidates, referenced)
    if dry_run:
        return SweepReport(orphans, 0)
    for key in orphans:
        store.delete(key)
    return SweepReport(orphans, store.remove_stale_temporaries(cutoff))


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m specimen_segment",
                                     description="Specimen segment service administration.")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser(
        "migrate", help="apply the database migrations (SPECIMEN_SEGMENT_DATABASE_URL)")
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    sweep = commands.add_parser(
        "sweep-orphans", help="remove stored blobs that no image or segmentation references "
                              "(left by a crash between a blob write and its commit)")
    sweep.add_argument("--grace-seconds", type=float, default=DEFAULT_GRACE_SECONDS,
                       help="only blobs older than this are removed (default: %(default)s)")
    sweep.add_argument("--dry-run", action="store_true", help="list the orphans, remove nothing")
    arguments = parser.parse_args(argv)

    settings = SegmentSettings()
    configure_logging("segment", settings.log_level)
    if arguments.command == "migrate":
        url = settings.resolved_database_url
        upgrade_database(url, arguments.revision)
        logger.info("database migrated", extra={"revision": arguments.revision,
                                                "backend": url.split(":", 1)[0]})
    elif arguments.command == "sweep-orphans":
        report = sweep_orphans(settings, arguments.grace_seconds, arguments.dry_run)
        logger.info("orphaned blobs swept", extra={
            "orphans": len(report.removed), "temporaries": report.temporaries,
            "dry_run": arguments.dry_run, "keys": report.removed})
    return 0
