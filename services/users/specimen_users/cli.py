"""Command line of the users service: ``python -m specimen_users migrate``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from specimen_kit.database import add_migrate_arguments, wait_for_database
from specimen_kit.logs import configure_logging
from specimen_users.adapters.migrations import upgrade_database
from specimen_users.config import UsersDatabaseSettings

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m specimen_users",
                                     description="Specimen users service administration.")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser(
        "migrate", help="apply the database migrations (SPECIMEN_USERS_DATABASE_URL)")
    add_migrate_arguments(migrate)
    arguments = parser.parse_args(argv)

    settings = UsersDatabaseSettings()
    configure_logging("users", settings.log_level)
    if arguments.command == "migrate":
        url = settings.resolved_database_url
        wait_for_database(url, arguments.wait_seconds)
        upgrade_database(url, arguments.revision)
        logger.info("database migrated", extra={"revision": arguments.revision,
                                                "backend": url.split(":", 1)[0]})
    return 0
