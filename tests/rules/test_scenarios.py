"""Whole-entity scenarios (policies/scenarios/*.yaml): stacking across documents, group caps, child entities, totals."""

from __future__ import annotations

import pytest

from tests.conftest import POLICIES
from zhengce.rules.cases import load_scenarios, run_scenario, scenario_files

ALL = [pytest.param(p, sc, id=f"{p.stem}::{sc.name}") for p in scenario_files(POLICIES) for sc in load_scenarios(p)]


@pytest.mark.parametrize(("path", "scenario"), ALL)
def test_scenario(pack, path, scenario):
    problems = run_scenario(pack, scenario, source=str(path))
    assert not problems, "; ".join(problems)


def test_there_are_scenarios():
    assert len(ALL) >= 3
