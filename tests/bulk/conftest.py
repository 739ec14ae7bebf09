from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def bulk_pack():
    """The pack as it stands (other engineers add rules while we work: tests run against whatever exists)."""
    from tests.conftest import POLICIES
    from zhengce.rules.loader import load_pack

    return load_pack(POLICIES)
