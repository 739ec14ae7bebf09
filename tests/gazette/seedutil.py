"""Seed access for the gazette tests (seeds live beside the repo: ../shared/seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhengce.gazette import parse_file

REPO = Path(__file__).resolve().parents[2]
SEEDS = (REPO / ".." / "shared" / "seeds").resolve()


def seed_path(prefix: str) -> Path:
    found = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not found:
        pytest.skip(f"seed {prefix} not available under {SEEDS}")
    return found[0]


_CACHE: dict[str, object] = {}


def parsed(prefix: str):
    if prefix not in _CACHE:
        _CACHE[prefix] = parse_file(seed_path(prefix))
    return _CACHE[prefix]

