"""``migrate`` waits for a database that is not up yet (compose, a Kubernetes Job), and only for that.

Found by the container proof: a migration job started while the network's DNS did not answer
yet failed at once ("Temporary failure in name resolution") and took the stack down with it.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from specimen_kit.database import wait_for_database
from specimen_kit.testing import POSTGRES_ADMIN_URL, service_unavailable


@pytest.mark.postgres
def test_a_database_that_appears_while_waiting_is_waited_for() -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"specimen_wait_{uuid.uuid4().hex[:10]}"
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect():
            pass
    except OperationalError as error:
        admin.dispose()
        service_unavailable("PostgreSQL", error)

    def create_later() -> None:
        time.sleep(0.6)
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        wait_for_database(url, 30, retry_every=0.1)  # "does not exist" until the thread runs
        creator.join()
        with create_engine(url).connect() as connection:
            assert connection.execute(text("select current_database()")).scalar() == name
    finally:
        creator.join()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_server_that_never_answers_is_given_up_on_after_the_wait() -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=1"
    with pytest.raises(OperationalError):  # retried for half a second, then raised
        wait_for_database(unreachable, 0.5, retry_every=0.1)


@pytest.mark.parametrize("url", ["nosuchdialect://x/y", "not a url"])
def test_a_url_that_can_never_work_is_not_retried(url: str) -> None:
    with pytest.raises((NoSuchModuleError, ArgumentError)):
        wait_for_database(url, 3600)


def test_a_sqlite_file_whose_directory_is_not_made_yet_is_not_waited_for(tmp_path: Path) -> None:
    # migrate on a new SQLite path: upgrade_database makes the directory; waiting first made
    # "unable to open database file" retry for the whole wait, then fail (found by CI).
    wait_for_database(f"sqlite:///{tmp_path / 'not-yet' / 'users.sqlite3'}", 3600)
