"""Named dependencies: the request's database session, the services, the current user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from specimen_kit.security import CurrentPrincipal
from specimen_kit.timestamps import utc_now
from specimen_users.adapters.repositories import (
    SqlHospitalRepository,
    SqlRefreshTokenRepository,
    SqlRevocationRepository,
    SqlUserRepository,
)
from specimen_users.domain.accounts import AccountService
from specimen_users.domain.auth import AuthService
from specimen_users.domain.entities import User
from specimen_users.domain.hospitals import HospitalDirectory
from specimen_users.domain.login_throttle import LoginThrottle
from specimen_users.domain.revocation import TokenRevoker


def _db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler succeeds, rolled back if not.

    An error that says ``keeps_changes`` (a detected refresh-token theft) still commits: the
    revocation it made must outlive the failed request.
    """
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    with sessions() as session:
        try:
            yield session
        except Exception as error:
            if getattr(error, "keeps_changes", False):
                session.commit()
            else:
                session.rollback()
            raise
        session.commit()


# scope="function": commit before the response is sent, so a 2xx means the data is stored.
DbSession = Annotated[Session, Depends(_db_session, scope="function")]


def _token_revoker(request: Request, session: DbSession) -> TokenRevoker:
    return TokenRevoker(SqlRevocationRepository(session),
                        request.app.state.token_lifetimes.access, utc_now)


Revoker = Annotated[TokenRevoker, Depends(_token_revoker)]


def _hospital_directory(session: DbSession) -> HospitalDirectory:
    return HospitalDirectory(SqlHospitalRepository(session), SqlUserRepository(session), utc_now)


Hospitals = Annotated[HospitalDirectory, Depends(_hospital_directory)]


def _account_service(request: Request, session: DbSession, revoker: Revoker,
                     hospitals: Hospitals) -> AccountService:
    return AccountService(SqlUserRepository(session), SqlRefreshTokenRepository(session),
                          request.app.state.password_hasher, utc_now, revoker, hospitals)


def _auth_service(request: Request, session: DbSession, revoker: Revoker) -> AuthService:
    return AuthService(SqlUserRepository(session), SqlRefreshTokenRepository(session),
                       request.app.state.password_hasher, request.app.state.token_signer,
                       request.app.state.token_lifetimes, utc_now, revoker)


Accounts = Annotated[AccountService, Depends(_account_service)]
Auth = Annotated[AuthService, Depends(_auth_service)]


def _current_user(principal: CurrentPrincipal, accounts: Accounts) -> User:
    # Read from the database, not the token: a role, hospital or deactivation changed since
    # the token was issued applies at once, and a revoked token (its version behind the
    # user's) is refused here, where the row is read anyway.
    return accounts.active_user(principal.user_id, principal.token_version)


CurrentUser = Annotated[User, Depends(_current_user)]


def _login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


Throttle = Annotated[LoginThrottle, Depends(_login_throttle)]


def client_address(request: Request) -> str:
    """The caller's address; uvicorn sets it from the gateway's forwarded headers."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]
