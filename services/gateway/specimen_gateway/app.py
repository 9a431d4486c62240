"""The gateway's app factory: ``uvicorn specimen_gateway.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import cache
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from specimen_gateway.adapters.body_budget import BodyBudget
from specimen_gateway.adapters.client_address import ClientAddressMiddleware
from specimen_gateway.adapters.cors import ProblemCorsMiddleware
from specimen_gateway.adapters.openapi_catalog import OpenApiCatalog
from specimen_gateway.adapters.proxy import GatewayRuntime, ProxyMiddleware
from specimen_gateway.adapters.token_cache import CachingTokenVerifier
from specimen_gateway.adapters.upstreams import open_upstreams
from specimen_gateway.api.docs import ASSETS_URL, docs_router, swagger_assets
from specimen_gateway.config import GatewaySettings
from specimen_gateway.domain.routes import UPLOAD_ROUTES, RouteTable
from specimen_gateway.web.pages import PAGE_PATHS, PROJECT_PREFIX, pages_router, templates
from specimen_gateway.web.security import STATIC_URL, UiStaticFiles
from specimen_gateway.web.session import SESSION_PATH, session_router
from specimen_kit.openapi_problems import document_problems
from specimen_kit.ratelimit import build_rate_limiter
from specimen_kit.revocation_feed import polled_revocations
from specimen_kit.service import build_service_app
from specimen_kit.tokens import JwksClient, TokenVerifier

# Paths the gateway answers itself (health, docs, the web UI's pages, session and assets);
# every other path goes through the route table (so /metrics, served on the metrics port only,
# is a no-route 404 here like any unknown path).
OWN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", *PAGE_PATHS})
OWN_PREFIXES = ("/docs/", SESSION_PATH, STATIC_URL + "/", PROJECT_PREFIX)
# FastAPI's generated docs describe the gateway alone; the gateway serves the suite's instead.
_FASTAPI_DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _without_fastapi_docs(app: FastAPI) -> None:
    """Drop the docs routes FastAPI added in its constructor (the kit builds the app)."""
    app.openapi_url = app.docs_url = app.redoc_url = None
    app.swagger_ui_oauth2_redirect_url = None

    def generated(route: BaseRoute) -> bool:
        return isinstance(route, Route) and route.path in _FASTAPI_DOC_PATHS

    app.router.routes[:] = [route for route in app.router.routes if not generated(route)]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    runtime = GatewayRuntime(table=RouteTable(), rate_limit=settings.rate_limit,
                             body_budget=BodyBudget(settings.max_buffered_body_bytes),
                             spool_budget=BodyBudget(settings.max_spooled_body_bytes),
                             max_body_bytes=settings.max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            upstreams = await stack.enter_async_context(open_upstreams(settings))
            jwks_http = await stack.enter_async_context(httpx.AsyncClient())
            verifier = TokenVerifier(
                JwksClient(settings.jwks_url, jwks_http, ttl=settings.jwks_cache_seconds),
                settings.jwt_issuer,
            )
            revocations = await stack.enter_async_context(polled_revocations(
                settings.resolved_revocations_url, http=jwks_http,
                poll_seconds=settings.revocation_poll_seconds,
                max_staleness=settings.revocation_max_staleness_seconds))
            runtime.verifier = CachingTokenVerifier(verifier, revocations)
            limiter, redis = build_rate_limiter(settings.redis_url, "specimen:gateway:rate",
                                                timeout_seconds=settings.redis_timeout_seconds)
            if redis is not None:
                stack.push_async_callback(redis.aclose)
            runtime.upstreams, runtime.limiter = upstreams, limiter
            stack.callback(setattr, runtime, "upstreams", {})
            app.state.token_verifier = verifier
            app.state.readiness_checks = {
                name: upstream.check_ready for name, upstream in upstreams.items()
            }
            app.state.readiness_checks["token_revocations"] = revocations.check_loaded
            app.state.openapi_catalog = OpenApiCatalog(
                upstreams, runtime.table, own_document, settings.openapi_cache_seconds,
            )
            yield

    app = build_service_app(
        "gateway", settings, lifespan, title="Specimen gateway", upload_routes=UPLOAD_ROUTES,
        description="Token check, routing, limits and aggregated docs for the Specimen suite.",
    )
    _without_fastapi_docs(app)
    runtime.body_limits = app.state.body_limits
    app.include_router(docs_router())
    app.mount(ASSETS_URL, swagger_assets(), name="swagger-ui")
    view = templates()
    app.include_router(session_router(view, refresh_seconds=settings.ui_session_days * 86400))
    app.include_router(pages_router(view))
    app.mount(STATIC_URL, UiStaticFiles(), name="ui-static")
    app.state.gateway_runtime = runtime

    @cache
    def own_document() -> dict[str, Any]:
        # With the statuses the shared machinery answers on these routes too (422 for a query
        # parameter they do not take, 503 when saturated), as every service documents its own.
        return document_problems(get_openapi(title=app.title, version=app.version,
                                             routes=app.routes))

    # Innermost of the shared middleware: requests are already id'd, logged and size-checked.
    app.user_middleware.append(Middleware(
        ProxyMiddleware, runtime=runtime, own_paths=OWN_PATHS, own_prefixes=OWN_PREFIXES,
    ))
    if settings.cors_origins:
        # Inside the request-context middleware, so preflights are logged and carry an id;
        # outside the proxy, so 401/403/429 answers carry the CORS headers browsers need.
        app.user_middleware.insert(1, Middleware(
            ProblemCorsMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["*"], allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
        ))
    # Outermost: the access log, the rate limit and X-Forwarded-For upstream all see the
    # client resolved through SPECIMEN_TRUSTED_PROXIES (uvicorn runs with --no-proxy-headers).
    app.user_middleware.insert(0, Middleware(
        ClientAddressMiddleware, trusted=settings.trusted_proxies))
    return app
