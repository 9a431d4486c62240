"""Fetches the services' OpenAPI documents and keeps the merged one for a short while.

The merged document is cached (``SPECIMEN_GATEWAY_OPENAPI_CACHE_SECONDS``, 30 s) so that a
docs page reload does not hit three services; a service that cannot be reached is left out,
named in ``x-unavailable-services``, and asked again sooner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from specimen_gateway.adapters.upstreams import Upstream
from specimen_gateway.domain.openapi import Document, merge_documents
from specimen_gateway.domain.routes import RouteTable

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 3.0
RETRY_UNAVAILABLE_SECONDS = 5.0


class OpenApiCatalog:
    """The suite's merged OpenAPI document, built on demand and cached."""

    def __init__(self, upstreams: Mapping[str, Upstream], table: RouteTable,
                 own_document: Callable[[], Document], cache_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._upstreams = upstreams
        self._table = table
        self._own_document = own_document
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: Document | None = None
        self._expires_at = float("-inf")
        self._lock = asyncio.Lock()

    async def document(self) -> Document:
        if self._cached is not None and self._clock() < self._expires_at:
            return self._cached
        async with self._lock:
            if self._cached is None or self._clock() >= self._expires_at:
                self._cached, complete = await self._build()
                lifetime = self._cache_seconds if complete else min(
                    self._cache_seconds, RETRY_UNAVAILABLE_SECONDS)
                self._expires_at = self._clock() + lifetime
            return self._cached

    async def _fetch(self, upstream: Upstream) -> dict[str, Any] | None:
        try:
            document = await upstream.fetch_json("/openapi.json", FETCH_TIMEOUT_SECONDS)
        except Exception as error:  # any failure means "leave this service out for now"
            logger.warning("could not fetch OpenAPI document",
                           extra={"service": upstream.name, "error": repr(error)})
            return None
        return document if isinstance(document, dict) else None

    async def _build(self) -> tuple[Document, bool]:
        names = list(self._upstreams)
        fetched = await asyncio.gather(*(self._fetch(self._upstreams[n]) for n in names))
        documents = {name: doc for name, doc in zip(names, fetched, strict=True) if doc}
        unavailable = [name for name, doc in zip(names, fetched, strict=True) if not doc]
        own = self._own_document()
        merged = merge_documents(
            documents,
            keep=lambda service, path: self._table.owner(path) == service,
            own_paths=own.get("paths", {}),
            unavailable=unavailable,
            version=str(own.get("info", {}).get("version", "0.1.0")),
        )
        return merged, not unavailable
