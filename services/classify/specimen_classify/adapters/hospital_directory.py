"""The list of hospitals, asked of the users service that keeps it.

``GET {users}/api/v1/hospitals/{id}`` with the caller's own ``Authorization`` header: any
signed-in user may read the list, and the users service sees who asks. 200 is yes, 404 no;
anything else (no answer in time, a 5xx, a refused token) means this service cannot tell, and
nothing is filed under a hospital that may not exist (503).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from specimen_classify.domain.errors import HospitalsUnavailable

logger = logging.getLogger(__name__)


class UsersHospitalDirectory:
    """The :class:`~specimen_classify.domain.scans.HospitalDirectory` port over HTTP.

    ``client`` has the users service's base URL and timeout (the app's lifespan owns it);
    ``authorization`` is the caller's header, passed on as it came.
    """

    def __init__(self, client: httpx.Client, authorization: str) -> None:
        self._client = client
        self._authorization = authorization

    def exists(self, hospital_id: str) -> bool:
        try:
            response = self._client.get(f"/api/v1/hospitals/{quote(hospital_id, safe='')}",
                                        headers={"Authorization": self._authorization})
        except httpx.HTTPError as error:
            logger.warning("users service unreachable", extra={"error": repr(error)})
            raise HospitalsUnavailable(
                "the users service, which keeps the list of hospitals, did not answer; "
                "try again shortly") from None
        if response.status_code == httpx.codes.OK:
            return True
        if response.status_code == httpx.codes.NOT_FOUND:
            return False
        logger.warning("users service refused a hospital lookup",
                       extra={"status": response.status_code})
        raise HospitalsUnavailable(
            f"the users service answered {response.status_code} when asked whether the "
            "hospital exists; try again shortly")
