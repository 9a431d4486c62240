"""The classify service's searches over HTTP: the :class:`ClassifySearch` port.

``POST {classify}/api/v1/scans/search`` and ``POST {classify}/api/v1/objects/search`` with the
query vector (``descriptor`` + ``descriptor_set_version``) and the caller's own
``Authorization`` header, so classify scopes the candidates to what the caller may see (their
hospital's scans, their projects' objects) in its own query; segment never widens or filters
what comes back. No answer in time, a connection refused, a 5xx, or no URL configured
(``SPECIMEN_SEGMENT_CLASSIFY_URL``) is a 503 ``classify-unavailable``; a 401 or 403 passes on as
itself, any other 4xx is a 422 ``classify-refused`` with classify's status and reason.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import httpx
import numpy as np
import numpy.typing as npt

from specimen_kit.errors import Forbidden, Unauthenticated
from specimen_segment.domain.errors import ClassifyRefused, ClassifyUnavailable
from specimen_segment.domain.similarity import ForeignHit

logger = logging.getLogger(__name__)

_ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "scan": ("scan_id", "hospital", "patient_ref", "label", "probability", "true_label",
             "media_type", "created_at", "url", "content_url", "thumbnail_url"),
    "object": ("object_id", "project_id", "frame_id", "category", "probability", "status",
               "file_name", "rank", "url", "crop_url", "thumbnail_url"),
}


class HttpClassifySearch:
    """``client`` has classify's base URL and timeout (the app's lifespan owns it; None when no
    URL is configured); ``authorization`` is the caller's header, passed on as it came."""

    def __init__(self, client: httpx.Client | None, authorization: str) -> None:
        self._client = client
        self._authorization = authorization

    def scans(self, vector: npt.NDArray[np.float32], version: str, limit: int) -> list[ForeignHit]:
        return self._search("scans", "/api/v1/scans/search", "scan", vector, version, limit)

    def objects(self, vector: npt.NDArray[np.float32], version: str,
                limit: int) -> list[ForeignHit]:
        return self._search("objects", "/api/v1/objects/search", "object", vector, version, limit)

    def _search(self, source: str, path: str, kind: Literal["scan", "object"],
                vector: npt.NDArray[np.float32], version: str, limit: int) -> list[ForeignHit]:
        if self._client is None:
            raise ClassifyUnavailable(
                f"searching {source} asks the classify service, and none is configured "
                "(SPECIMEN_SEGMENT_CLASSIFY_URL); search the library alone or try later")
        body = {"descriptor": [float(v) for v in np.asarray(vector, np.float64)],
                "descriptor_set_version": version, "limit": limit}
        try:
            response = self._client.post(path, json=body,
                                         headers={"Authorization": self._authorization})
        except httpx.HTTPError as error:
            logger.warning("classify service unreachable", extra={"error": repr(error)})
            raise ClassifyUnavailable(
                f"the classify service, which keeps the {source}, did not answer; try again "
                "shortly") from None
        if response.status_code == httpx.codes.UNAUTHORIZED:
            raise Unauthenticated(f"the classify service did not honour your token for the "
                                  f"{source} search: {_reason(response)}")
        if response.status_code == httpx.codes.FORBIDDEN:
            raise Forbidden(f"the classify service refused you the {source} search: "
                            f"{_reason(response)}")
        if 400 <= response.status_code < 500:
            raise ClassifyRefused(source, response.status_code, _reason(response))
        if response.status_code != httpx.codes.OK:
            logger.warning("classify service failed a search",
                           extra={"status": response.status_code, "source": source})
            raise ClassifyUnavailable(
                f"the classify service answered {response.status_code} to the {source} search; "
                "try again shortly")
        try:
            items: list[dict[str, Any]] = response.json()["items"]
            return [ForeignHit(kind, float(item["similarity"]),
                               {name: item.get(name) for name in _ITEM_FIELDS[kind]})
                    for item in items]
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("classify answer unreadable", extra={"error": repr(error)})
            raise ClassifyUnavailable(
                f"the classify service's answer to the {source} search was unreadable") from None


def _reason(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail) if detail else response.reason_phrase
