from __future__ import annotations

import pytest

from specimen_kit.jwk import generate_private_key_pem


@pytest.fixture(scope="session")
def private_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def other_private_pem() -> str:
    return generate_private_key_pem()
