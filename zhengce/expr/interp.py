"""Per-entity backend: compile the AST into nested Python closures (fast, no ``eval``).

Semantics shared by every backend (the bulk backends must match these exactly):
- a missing field or an unknown value is ``None`` and propagates through arithmetic, comparison and functions;
- ``and``/``or``/``not`` use Kleene three-valued logic (as SQL and polars do with NULL);
- division by zero yields ``None`` (unknown), never an exception;
- numbers are ``Decimal``; dates are ``datetime.date``; lists are tuples.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from zhengce.errors import ExpressionError
from zhengce.expr import ast as A

Env = Mapping[str, object]
Fn = Callable[[Env], object]


class ParamLookup:
    """Protocol for dated parameters: ``value_at(name, date) -> Decimal | None``."""

    def value_at(self, name: str, at: date) -> object:  # pragma: no cover - protocol
        raise NotImplementedError


def months_between(a: date, b: date) -> int:
    """Whole calendar months from a to b; a trailing part month is dropped (不足月的天数不予折算)."""
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if b.day < a.day and not (b.day == calendar.monthrange(b.year, b.month)[1]):
        months -= 1
    return months


def years_between(a: date, b: date) -> int:
    years = b.year - a.year
    if (b.month, b.day) < (a.month, a.day):
        years -= 1
    return years


def add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _int(v: object, fn: str) -> int:
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return int(v)
    raise ExpressionError(f"{fn}() needs a whole number, got {v!r}")


def _num(v: object, what: str) -> Decimal:
    if isinstance(v, Decimal):
        return v
    raise ExpressionError(f"{what} needs a number, got {type(v).__name__} {v!r}")


#: the comparison operators as functions — shared by every backend (polars columns overload them too)
COMPARATORS: dict[str, Callable[[object, object], object]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _cmp(op: str) -> Callable[[object, object], bool]:
    return COMPARATORS[op]


def compile_expr(node: A.Node, params: ParamLookup | None = None) -> Fn:
    """Compile an AST node to a closure ``f(env) -> value``."""
    c = lambda n: compile_expr(n, params)  # noqa: E731

    if isinstance(node, A.Literal):
        v = node.value
        return lambda env: v
    if isinstance(node, A.Field):
        name = node.name
        return lambda env: env.get(name)
    if isinstance(node, A.Unary):
        f = c(node.operand)
        if node.op == "not":
            def not_(env):
                v = f(env)
                return None if v is None else (not v)
            return not_

        def neg(env):
            v = f(env)
            return None if v is None else -_num(v, "unary minus")
        return neg
    if isinstance(node, A.Binary):
        lf, rf, op = c(node.left), c(node.right), node.op

        def binary(env):
            a = lf(env)
            if a is None:
                return None
            b = rf(env)
            if b is None:
                return None
            if op == "+":
                if isinstance(a, date) and isinstance(b, Decimal):
                    return a + timedelta(days=int(b))
                return _num(a, "+") + _num(b, "+")
            if op == "-":
                if isinstance(a, date) and isinstance(b, date):
                    return Decimal((a - b).days)
                if isinstance(a, date):
                    return a - timedelta(days=int(_num(b, "-")))
                return _num(a, "-") - _num(b, "-")
            if op == "*":
                return _num(a, "*") * _num(b, "*")
            b = _num(b, "/")
            return None if b == 0 else _num(a, "/") / b
        return binary
    if isinstance(node, A.Compare):
        lf, rf, cmp = c(node.left), c(node.right), _cmp(node.op)
        op = node.op

        def compare(env):
            a = lf(env)
            if a is None:
                return None
            b = rf(env)
            if b is None:
                return None
            try:
                return cmp(a, b)
            except TypeError as exc:
                raise ExpressionError(
                    f"cannot compare {type(a).__name__} {a!r} {op} {type(b).__name__} {b!r}"
                ) from exc
        return compare
    if isinstance(node, A.Logical):
        fs = tuple(c(i) for i in node.items)
        if node.op == "and":
            def and_(env):
                unknown = False
                for f in fs:
                    v = f(env)
                    if v is None:
                        unknown = True
                    elif not v:
                        return False
                return None if unknown else True
            return and_

        def or_(env):
            unknown = False
            for f in fs:
                v = f(env)
                if v is None:
                    unknown = True
                elif v:
                    return True
            return None if unknown else False
        return or_
    if isinstance(node, A.In):
        itf, cf, negate = c(node.item), c(node.container), node.negate

        def in_(env):
            item = itf(env)
            cont = cf(env)
            if item is None or cont is None:
                return None
            if not isinstance(cont, (tuple, list, frozenset, set)):
                raise ExpressionError(f"'in' needs a list on the right, got {cont!r}")
            found = item in cont
            return (not found) if negate else found
        return in_
    if isinstance(node, A.IfElse):
        cf, tf, of = c(node.cond), c(node.then), c(node.otherwise)

        def ifelse(env):
            v = cf(env)
            if v is None:
                return None
            return tf(env) if v else of(env)
        return ifelse
    if isinstance(node, A.ListLit):
        fs = tuple(c(i) for i in node.items)
        return lambda env: tuple(f(env) for f in fs)
    if isinstance(node, A.Call):
        return _compile_call(node, params, [c(a) for a in node.args])
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover


def _compile_call(node: A.Call, params: ParamLookup | None, fs: list[Fn]) -> Fn:
    name = node.func

    def strict(fn):
        """Wrap fn(*values) so any unknown argument makes the result unknown."""
        def call(env):
            vals = [f(env) for f in fs]
            if any(v is None for v in vals):
                return None
            return fn(*vals)
        return call

    if name == "min":
        return strict(lambda *v: min(v))
    if name == "max":
        return strict(lambda *v: max(v))
    if name == "abs":
        return strict(lambda v: abs(_num(v, "abs()")))
    if name == "floor":
        return strict(lambda v: _num(v, "floor()").to_integral_value(rounding=ROUND_FLOOR))
    if name == "ceil":
        return strict(lambda v: _num(v, "ceil()").to_integral_value(rounding=ROUND_CEILING))
    if name == "round":
        def _round(v, places=Decimal(0)):
            q = Decimal(1).scaleb(-_int(places, "round"))
            return _num(v, "round()").quantize(q, rounding=ROUND_HALF_UP)
        return strict(_round)
    if name == "coalesce":
        def coalesce(env):
            for f in fs:
                v = f(env)
                if v is not None:
                    return v
            return None
        return coalesce
    if name == "is_known":
        f0 = fs[0]
        return lambda env: f0(env) is not None
    if name == "days_between":
        return strict(lambda a, b: Decimal((b - a).days))
    if name == "months_between":
        return strict(lambda a, b: Decimal(months_between(a, b)))
    if name == "years_between":
        return strict(lambda a, b: Decimal(years_between(a, b)))
    if name == "year":
        return strict(lambda d: Decimal(d.year))
    if name == "month":
        return strict(lambda d: Decimal(d.month))
    if name == "add_days":
        return strict(lambda d, n: d + timedelta(days=_int(n, "add_days")))
    if name == "add_months":
        return strict(lambda d, n: add_months(d, _int(n, "add_months")))
    if name == "add_years":
        return strict(lambda d, n: add_months(d, 12 * _int(n, "add_years")))
    if name == "len":
        return strict(lambda v: Decimal(len(v)))
    if name == "count_in":
        return strict(lambda lst, vals: Decimal(sum(1 for x in vals if x in lst)))
    if name == "param":
        pname = node.args[0].value
        at = fs[1]
        if params is None:
            raise ExpressionError(f"param({pname!r}) used but no parameters are loaded")

        def param(env):
            d = at(env)
            if d is None:
                return None
            return params.value_at(pname, d)
        return param
    raise ExpressionError(f"function {name}() has no per-entity implementation")  # pragma: no cover


def evaluate(node: A.Node, env: Env, params: ParamLookup | None = None) -> object:
    """Convenience: compile and run once (tests, REPL). The engine caches compiled closures."""
    return compile_expr(node, params)(env)
