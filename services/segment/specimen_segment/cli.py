"""Command line of the segment service:
``python -m specimen_segment migrate | sweep-orphans | backfill-descriptors``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from specimen_kit.logs import configure_logging
from specimen_kit.storage import add_storage_commands, run_storage_command
from specimen_segment.adapters.descriptor_backfill import backfill_descriptors
from specimen_segment.adapters.migrations import upgrade_database
from specimen_segment.adapters.repository import referenced_blob_keys
from specimen_segment.config import SegmentSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m specimen_segment",
                                     description="Specimen segment service administration.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_storage_commands(commands, database_variable="SPECIMEN_SEGMENT_DATABASE_URL",
                         blobs="images and results")
    backfill = commands.add_parser(
        "backfill-descriptors", help="describe the images and picture results stored without "
                                     "similarity descriptors of the current version")
    backfill.add_argument("--prune", action="store_true",
                          help="then delete the descriptors of other (older) versions")
    arguments = parser.parse_args(argv)
    settings = SegmentSettings()
    configure_logging("segment", settings.log_level)
    if arguments.command == "backfill-descriptors":
        report = backfill_descriptors(settings.resolved_database_url, settings.resolved_blob_dir,
                                      max_pixels=settings.max_image_pixels, prune=arguments.prune)
        return 1 if report.failed else 0
    return run_storage_command(arguments, database_url=settings.resolved_database_url,
                               blob_dir=settings.resolved_blob_dir, upgrade=upgrade_database,
                               referenced_keys=referenced_blob_keys)
