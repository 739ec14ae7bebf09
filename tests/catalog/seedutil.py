"""Seed access for the catalog tests (seeds live beside the repo: ../shared/seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEEDS = (REPO / ".." / "shared" / "seeds").resolve()


def seed_files() -> list[Path]:
    files = sorted(SEEDS.glob("*.txt"))
    if len(files) < 5:
        pytest.skip(f"seeds not available under {SEEDS}")
    return files
