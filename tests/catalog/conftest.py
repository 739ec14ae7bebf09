from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog.seedutil import seed_files
from zhengce.catalog import Catalog


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory) -> Path:
    """A catalog with all five seeds ingested (built once per test session)."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.db"
    with Catalog(path) as cat:
        for f in seed_files():
            res = cat.ingest_path(f)
            assert res.error is None, res.error
    return path


@pytest.fixture
def cat(seeded_db):
    c = Catalog(seeded_db)
    yield c
    c.close()
