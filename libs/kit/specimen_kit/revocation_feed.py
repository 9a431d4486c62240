"""The background fetch that keeps a service's :class:`RevocationList` current.

See :mod:`specimen_kit.revocations` for what is revoked and why; this module is the HTTP side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from prometheus_client import Counter, Gauge

from specimen_kit.revocations import RevocationList, parse_revocations

logger = logging.getLogger(__name__)

REFRESH_TIMEOUT_SECONDS = 2.0

REVOCATION_LIST_AGE = Gauge(
    "specimen_revocation_list_age_seconds",
    "Seconds since the revocation list was last fetched from the users service "
    "(-1 before the first fetch).")
REVOCATION_REFRESH_FAILURES = Counter(
    "specimen_revocation_refresh_failures_total",
    "Failed fetches of the revocation list from the users service.")


class RevocationPoller:
    """Fetches the list from ``url`` into ``revocations`` every ``interval`` seconds.

    Failures are logged once when they start and once when fetching works again, so a
    users service that is down for an hour does not write seven thousand warnings.
    """

    def __init__(self, revocations: RevocationList, http: httpx.AsyncClient, url: str,
                 interval: float) -> None:
        self._revocations = revocations
        self._http = http
        self._url = url
        self._interval = interval
        self._failing = False

    async def refresh(self) -> bool:
        """One fetch; True when the list was replaced."""
        try:
            response = await self._http.get(self._url, timeout=REFRESH_TIMEOUT_SECONDS)
            response.raise_for_status()
            self._revocations.replace(parse_revocations(response.json()))
        except (httpx.HTTPError, ValueError) as error:
            REVOCATION_REFRESH_FAILURES.inc()
            if not self._failing:
                logger.warning("could not fetch the revocation list; failing closed after "
                               "the staleness limit", extra={"url": self._url,
                                                             "error": repr(error)})
            self._failing = True
            return False
        finally:
            age = self._revocations.age
            REVOCATION_LIST_AGE.set(-1 if age is None else age)
        if self._failing:
            logger.info("revocation list fetched again", extra={"url": self._url})
        self._failing = False
        return True

    async def run(self) -> None:
        """Refresh forever; cancel the task to stop."""
        while True:
            await asyncio.sleep(self._interval)
            await self.refresh()


@asynccontextmanager
async def polled_revocations(url: str, *, poll_seconds: float, max_staleness: float,
                             http: httpx.AsyncClient | None = None,
                             ) -> AsyncIterator[RevocationList]:
    """A :class:`RevocationList` kept current by a background task, for a lifespan to own.

    The first fetch happens before the list is handed out; if the users service is not up
    yet, the task keeps trying and authenticated requests answer 503 until it succeeds.
    """
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx.AsyncClient())
        revocations = RevocationList(max_staleness)
        poller = RevocationPoller(revocations, http, url, poll_seconds)
        await poller.refresh()
        task = asyncio.create_task(poller.run(), name="revocation-poller")
        try:
            yield revocations
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
