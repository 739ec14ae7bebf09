"""The expression language: parsing, units, precedence, errors with a caret, round-trip rendering."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhengce.errors import ExpressionError
from zhengce.expr import ast as A
from zhengce.expr.parser import parse, to_text


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("100亿元", Decimal("10000000000")),
        ("1000万元", Decimal("10000000")),
        ("5万", Decimal("50000")),
        ("2500元", Decimal("2500")),
        ("10%", Decimal("0.10")),
        ("0.6%", Decimal("0.006")),
        ("90bp", Decimal("0.0090")),
        ("1.5亿元", Decimal("150000000")),
    ],
)
def test_units_convert_exactly(src, value):
    node = parse(src)
    assert isinstance(node, A.Literal)
    assert node.value == value
    assert isinstance(node.value, Decimal)


def test_precedence_and_associativity():
    assert to_text(parse("a - b - c")) == "a - b - c"
    assert parse("a - b - c") == A.Binary("-", A.Binary("-", A.Field("a"), A.Field("b")), A.Field("c"))
    assert to_text(parse("a - (b - c)")) == "a - (b - c)"
    assert parse("a + b * c").right == A.Binary("*", A.Field("b"), A.Field("c"))
    node = parse("a or b and not c")
    assert node.op == "or" and node.items[1].op == "and"
    assert isinstance(node.items[1].items[1], A.Unary)


def test_comparisons_membership_and_if():
    assert parse("x ≥ 3").op == ">="
    assert parse("x ≤ 3").op == "<="
    assert parse("x ≠ 3").op == "!="
    node = parse('"高新技术企业" not in titles')
    assert isinstance(node, A.In) and node.negate
    node = parse("if a > 1 then 2 else 3")
    assert isinstance(node, A.IfElse)


def test_date_literal_is_folded():
    assert parse('date("2023-02-25")') == A.Literal(date(2023, 2, 25))


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("a >=", "expected a value"),
        ("a >= 1 1", "unexpected '1'"),
        ("foo(1)", "unknown function 'foo'"),
        ("min()", "min() takes 1..n arguments"),
        ("(a + 1", "expected ')'"),
        ("a $ b", "unexpected character '$'"),
        ('date("2023-13-01")', "bad date"),
        ("param(x, d)", "param() takes a parameter name literal"),
        ("", "empty expression"),
    ],
)
def test_errors_point_at_the_problem(src, message):
    with pytest.raises(ExpressionError) as exc:
        parse(src)
    assert message in str(exc.value)


def test_error_has_caret_under_bad_token():
    with pytest.raises(ExpressionError) as exc:
        parse("revenue >= 100亿元 andd x")
    text = str(exc.value)
    assert "^" in text and "andd" in text


def test_no_eval_of_python():
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('true')")


names = st.sampled_from(["a", "b", "revenue", "x1"])
leaves = st.one_of(names.map(A.Field), st.integers(0, 10**6).map(lambda i: A.Literal(Decimal(i))))


def _trees(children):
    return st.one_of(
        st.tuples(st.sampled_from("+-*/"), children, children).map(lambda t: A.Binary(*t)),
        st.tuples(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), children, children).map(lambda t: A.Compare(*t)),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: A.Logical(t[0], tuple(t[1]))),
        st.tuples(children, children, children).map(lambda t: A.IfElse(*t)),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: A.Call("max", tuple(xs))),
    )


@given(st.recursive(leaves, _trees, max_leaves=12))
def test_render_then_parse_round_trips(tree):
    assert parse(to_text(tree)) == tree
