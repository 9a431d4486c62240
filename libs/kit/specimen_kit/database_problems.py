"""Database failures a client can do nothing about but retry, answered 503 + ``Retry-After``.

Caught once here for every service that owns a database, instead of each repository guarding
each query: a pool with no free connection within its timeout (the service is saturated), and a
database that refuses or drops connections (it is restarting). Both were 500s (issue 9,
finding 8). And a row that vanished under a concurrent delete between its read and its write
(``StaleDataError`` at flush, ``ObjectDeletedError`` on reload), or a row written under one
whose parent a concurrent delete removed (a foreign-key violation: a run posted to a project,
a result kept for an image, while it is deleted): a 404, as if the delete had come first,
never a 500 (finding 12; the second found by racing writes against deletes).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from specimen_kit.errors import InternalError, NotFound, Problem
from specimen_kit.metrics import REQUESTS_REJECTED
from specimen_kit.problems import problem_response

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
TRANSACTION_ROLLBACK_CLASS = "40"
"""SQLSTATE class of a transaction the server rolled back: a deadlock, a serialization failure."""
FOREIGN_KEY_VIOLATION = "23503"
"""PostgreSQL's SQLSTATE for a foreign-key violation (SQLite names it ``SQLITE_CONSTRAINT_FOREIGNKEY``)."""


class DatabaseBusy(Problem):
    """Every database connection is in use for longer than the pool's timeout; retry shortly."""

    status = 503
    title = "Database busy"
    slug = "database-busy"

    def __init__(self) -> None:
        super().__init__("Every database connection is busy; retry in a moment.",
                         retry_after=RETRY_AFTER_SECONDS)
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class DatabaseUnavailable(Problem):
    """The database refuses or drops connections (it is restarting); retry shortly."""

    status = 503
    title = "Database unavailable"
    slug = "database-unavailable"

    def __init__(self) -> None:
        super().__init__("The database is unavailable; retry in a moment.",
                         retry_after=RETRY_AFTER_SECONDS)
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class DatabaseConflict(Problem):
    """PostgreSQL rolled the request back to resolve a conflict with a concurrent one (a
    deadlock, a serialization failure); the same request again is expected to pass."""

    status = 503
    title = "Database conflict"
    slug = "database-conflict"

    def __init__(self) -> None:
        super().__init__("This request met a concurrent one on the same records and was rolled back; "
                         "nothing was saved. Retry it.", retry_after=RETRY_AFTER_SECONDS)
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    REQUESTS_REJECTED.labels(request.app.state.service_name, "database_busy").inc()
    return problem_response(DatabaseBusy(), request.url.path)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if _is_foreign_key_violation(exc):
        # Logged with the driver's words: a write naming a row that never existed would be a
        # bug answered the same way, and must stay visible.
        logger.warning("a write named a row that is not there (deleted meanwhile)",
                       extra={"path": request.url.path, "error": repr(exc.orig)})
        return problem_response(NotFound("A record this request refers to was deleted by another "
                                         "request meanwhile; nothing was saved."), request.url.path)
    if str(getattr(exc.orig, "sqlstate", "") or "").startswith(TRANSACTION_ROLLBACK_CLASS):
        logger.warning("rolled back by the database for a concurrent request",
                       extra={"path": request.url.path, "error": repr(exc.orig)})
        return problem_response(DatabaseConflict(), request.url.path)
    if not exc.connection_invalidated and not _is_connection_failure(exc):
        logger.exception("database error", extra={"path": request.url.path})
        return problem_response(InternalError(), request.url.path)
    logger.warning("database unavailable", extra={"path": request.url.path, "error": repr(exc)})
    return problem_response(DatabaseUnavailable(), request.url.path)


def _is_connection_failure(exc: DBAPIError) -> bool:
    """An ``OperationalError`` or ``InterfaceError``: the driver could not talk to the server
    (refused, dropped, restarting; SQLite's "database is locked" after its busy timeout)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def _is_foreign_key_violation(exc: DBAPIError) -> bool:
    """A write that names a row that is not there (any longer), on PostgreSQL or SQLite."""
    if not isinstance(exc, IntegrityError):
        return False
    driver_error = exc.orig
    return (getattr(driver_error, "sqlstate", None) == FOREIGN_KEY_VIOLATION
            or getattr(driver_error, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_FOREIGNKEY")


async def _row_vanished(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(NotFound("The object was deleted by another request meanwhile."),
                            request.url.path)


def install_database_problems(app: FastAPI) -> None:
    """Answer pool exhaustion and connection failures as 503 problems with ``Retry-After``,
    and a row deleted under a concurrent request (or a write naming it) as a 404."""
    app.add_exception_handler(StaleDataError, _row_vanished)
    app.add_exception_handler(ObjectDeletedError, _row_vanished)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(DBAPIError, _database_error)
