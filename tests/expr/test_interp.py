"""Per-entity semantics every backend must match: unknowns, Kleene logic, exact decimals, dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhengce.expr.interp import evaluate, months_between
from zhengce.expr.parser import parse
from zhengce.parameters import Parameter, ParameterSet

D = Decimal


def ev(src, **env):
    return evaluate(parse(src), env)


@pytest.mark.parametrize(
    ("a", "b", "and_", "or_"),
    [
        (True, True, True, True), (True, False, False, True), (False, False, False, False),
        (True, None, None, True), (False, None, False, None), (None, None, None, None),
    ],
)
def test_kleene_logic(a, b, and_, or_):
    assert ev("a and b", a=a, b=b) is and_
    assert ev("a or b", a=a, b=b) is or_


def test_missing_field_is_unknown_not_false():
    assert ev("revenue >= 100亿元") is None
    assert ev("not flag") is None
    assert ev("min(a, 5)", a=None) is None
    assert ev("coalesce(a, 5)") == 5
    assert ev("is_known(a)") is False


def test_division_by_zero_is_unknown():
    assert ev("a / b", a=D(1), b=D(0)) is None


def test_money_is_exact():
    # OpenFisca's float32 gives 450.00003 for 3000 × 15%
    assert ev("3000元 * 15%") == D("450.00")
    assert ev("0.1 + 0.2") == D("0.3")
    assert ev("round(10 / 3, 2)") == D("3.33")
    assert ev("round(2.675, 2)") == D("2.68")  # half up, not banker's or binary float


def test_membership_and_lists():
    assert ev('"高新技术企业" in titles', titles=("高新技术企业",)) is True
    assert ev('"高新技术企业" not in titles', titles=()) is True
    assert ev('count_in(t, ["a", "b", "c"])', t=("a", "c", "z")) == 2
    assert ev("len(t)", t=("a",)) == 1


def test_dates():
    d1, d2 = date(2023, 1, 31), date(2024, 3, 30)
    assert ev("days_between(a, b)", a=d1, b=d2) == 424
    assert ev("months_between(a, b)", a=d1, b=d2) == 13  # 13 months reach 2024-02-29; the part month is dropped
    assert ev("years_between(a, b)", a=d1, b=d2) == 1
    assert ev("add_months(a, 1)", a=d1) == date(2023, 2, 28)
    assert ev("b - a", a=d1, b=d2) == 424
    assert ev('a >= date("2023-01-31")', a=d1) is True


def test_months_between_end_of_month():
    assert months_between(date(2023, 1, 31), date(2023, 2, 28)) == 1
    assert months_between(date(2023, 1, 15), date(2023, 2, 14)) == 0
    assert months_between(date(2023, 1, 15), date(2023, 2, 15)) == 1


def test_dated_parameter_lookup():
    ps = ParameterSet({"lpr_1y": Parameter("lpr_1y", "LPR", "%", "", [date(2023, 6, 20), date(2023, 8, 21)],
                                           [D("0.0355"), D("0.0345")], known_until=date(2024, 1, 1))})
    f = parse('param("lpr_1y", d) + 90bp')
    assert evaluate(f, {"d": date(2023, 8, 20)}, ps) == D("0.0445")
    assert evaluate(f, {"d": date(2023, 8, 21)}, ps) == D("0.0435")
    assert evaluate(f, {"d": date(2023, 1, 1)}, ps) is None  # before the first value
    assert evaluate(f, {"d": date(2024, 6, 1)}, ps) is None  # beyond what the table knows: unknown, not stale


def test_type_errors_are_clear():
    from zhengce.errors import ExpressionError

    with pytest.raises(ExpressionError, match="cannot compare"):
        ev("a > 1", a="x")


@given(st.decimals(min_value=-10**12, max_value=10**12, places=2), st.decimals(min_value=-10**12, max_value=10**12, places=2))
def test_min_max_agree_with_python(a, b):
    assert ev("min(a, b)", a=a, b=b) == min(a, b)
    assert ev("max(a, b)", a=a, b=b) == max(a, b)
    assert ev("if a >= b then a else b", a=a, b=b) == max(a, b)
