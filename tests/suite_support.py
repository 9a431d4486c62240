"""What the suite tests share: the first admin's credentials and the running suite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from local_suite import LocalSuite

ADMIN_EMAIL = "root@suite.test"
ADMIN_PASSWORD = "suite-admin-" + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class RunningSuite:
    suite: LocalSuite
    private_pem: str

    @property
    def gateway(self) -> str:
        return self.suite.url("gateway")

    def log(self, service: str) -> str:
        return (self.suite.log_dir / f"{service}.log").read_text()
