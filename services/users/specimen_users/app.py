"""The users service's app factory: ``uvicorn specimen_users.app:create_app --factory``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from specimen_kit.database import build_engine, build_sessionmaker, ping
from specimen_kit.database_problems import install_database_problems
from specimen_kit.ratelimit import build_counters
from specimen_kit.service import build_service_app
from specimen_kit.timestamps import utc_now
from specimen_kit.tokens import StaticKeySource, TokenVerifier
from specimen_users.adapters.hashing import BcryptPasswordHasher
from specimen_users.adapters.keys import development_admin_password, load_signing_key
from specimen_users.adapters.repositories import (
    SqlHospitalRepository,
    SqlRefreshTokenRepository,
    SqlRevocationRepository,
    SqlUserRepository,
)
from specimen_users.adapters.signing import RsaTokenSigner
from specimen_users.api import auth, hospitals, jwks, revocations, users
from specimen_users.config import UsersSettings
from specimen_users.domain.accounts import AccountService
from specimen_users.domain.auth import TokenLifetimes
from specimen_users.domain.hospitals import HospitalDirectory
from specimen_users.domain.login_throttle import LoginThrottle
from specimen_users.domain.revocation import TokenRevoker

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _bootstrap_admin(engine: Engine, sessions: sessionmaker[Session],
                     hasher: BcryptPasswordHasher, settings: UsersSettings) -> None:
    # ``hospitals`` is the newest table (0003): its absence also catches a database migrated
    # only part of the way.
    if not inspect(engine).has_table("hospitals"):
        raise RuntimeError("the users database lacks its tables; run `python -m specimen_users "
                           "migrate` (the migration Job) before starting the service")
    password = development_admin_password(settings)
    with sessions() as session, session.begin():
        revoker = TokenRevoker(SqlRevocationRepository(session),
                               timedelta(minutes=settings.access_token_minutes), utc_now)
        accounts = AccountService(SqlUserRepository(session), SqlRefreshTokenRepository(session),
                                  hasher, utc_now, revoker,
                                  HospitalDirectory(SqlHospitalRepository(session),
                                                    SqlUserRepository(session), utc_now))
        accounts.bootstrap_admin(settings.admin_email, password, settings.admin_hospital)


def create_app(settings: UsersSettings | None = None) -> FastAPI:
    """The users service; ``settings`` default to the environment (``SPECIMEN_*``)."""
    settings = settings or UsersSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.resolved_database_url,
                              pool_size=settings.resolved_database_pool_size,
                              pool_timeout=settings.database_pool_timeout_seconds)
        sessions = build_sessionmaker(engine)
        counters, redis = build_counters(settings.redis_url, "users-login",
                                         timeout_seconds=settings.redis_timeout_seconds)
        try:
            signer = RsaTokenSigner(await run_in_threadpool(load_signing_key, settings),
                                    settings.previous_public_keys)
            hasher = await run_in_threadpool(BcryptPasswordHasher, settings.bcrypt_rounds)
            await run_in_threadpool(_bootstrap_admin, engine, sessions, hasher, settings)

            app.state.sessionmaker = sessions
            app.state.password_hasher = hasher
            app.state.token_signer = signer
            app.state.token_lifetimes = TokenLifetimes(
                issuer=settings.jwt_issuer,
                access=timedelta(minutes=settings.access_token_minutes),
                refresh=timedelta(days=settings.refresh_token_days))
            app.state.token_verifier = TokenVerifier(StaticKeySource(signer.jwks),
                                                     settings.jwt_issuer)
            app.state.login_throttle = LoginThrottle(counters, settings.login_throttle_rules)

            async def database_ready() -> None:
                await run_in_threadpool(ping, engine)

            app.state.readiness_checks["database"] = database_ready
            yield
        finally:
            if redis is not None:
                await redis.aclose()
            engine.dispose()

    app = build_service_app(
        "users", settings, lifespan, title="Specimen users",
        description="Users, roles and hospitals; login and the only token issuer.")
    install_database_problems(app)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(hospitals.router, prefix=API_PREFIX)
    app.include_router(jwks.router)
    app.include_router(revocations.router)
    return app
