"""Shared fixtures. The seeds live beside the repo (../shared/seeds) in development and CI."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
POLICIES = REPO / "policies"


@pytest.fixture(scope="session")
def pack():
    from zhengce.rules.loader import load_pack

    return load_pack(POLICIES)


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds not present")
    return SEEDS
