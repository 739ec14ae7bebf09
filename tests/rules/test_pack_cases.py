"""Every YAML case beside every pack is a test; every rule must have cases on both sides of its conditions."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.conftest import POLICIES
from zhengce.engine.evaluate import Evaluator
from zhengce.rules.cases import case_files, load_cases, run_case


def _all_cases():
    out = []
    for path in case_files(POLICIES):
        for c in load_cases(path):
            out.append(pytest.param(path, c, id=f"{path.stem.replace('.cases', '')}::{c.name}"))
    return out


ALL = _all_cases()


@pytest.fixture(scope="module")
def evaluator(pack):
    return Evaluator(pack)


@pytest.mark.parametrize(("path", "case"), ALL)
def test_case(pack, evaluator, path, case):
    problems = run_case(pack, case, evaluator, str(path))
    assert not problems, f"{path.name} · {case.name}: " + "; ".join(problems)


def test_every_rule_has_cases_on_both_sides(pack):
    seen = defaultdict(set)
    for p in ALL:
        _path, case = p.values
        seen[case.rule].add(case.eligible)
    missing = []
    for cr in pack.rules:
        outcomes = seen.get(cr.id, set())
        if not cr.conditions and True in outcomes:
            continue  # an unconditional rule can only be out of force; the validity test covers that
        if True not in outcomes or False not in outcomes:
            missing.append(f"{cr.id} ({cr.document.doc_no}): has {sorted(map(str, outcomes)) or 'no cases'}")
    assert not missing, "rules without an eligible and a not-eligible case:\n" + "\n".join(missing)


def test_every_maximum_rule_has_a_case_checking_kind_or_amount(pack):
    cases_by_rule = defaultdict(list)
    for p in ALL:
        cases_by_rule[p.values[1].rule].append(p.values[1])
    lacking = [cr.id for cr in pack.rules if cr.rule.kind != "eligibility"
               and not any(c.amount is not None for c in cases_by_rule[cr.id])]
    assert not lacking, f"rules whose cases never check an amount: {lacking}"


def test_every_rule_with_validity_has_an_out_of_force_case(pack):
    by_rule = defaultdict(list)
    for p in ALL:
        by_rule[p.values[1].rule].append(p.values[1])
    docs_checked = defaultdict(bool)
    for cr in pack.rules:
        if cr.valid_to is None and cr.document.repealed is None:
            continue
        if any(c.status == "not_in_force" for c in by_rule[cr.id]):
            docs_checked[cr.document.doc_no] = True
        else:
            docs_checked.setdefault(cr.document.doc_no, False)
    unchecked = [d for d, ok in docs_checked.items() if not ok]
    assert not unchecked, f"documents with an expiry but no case after it: {unchecked}"
