"""Compile the rule AST (zhengce.expr.ast) into polars expressions over a typed register frame.

Exactness: numbers never touch floats. A number is an integer column with a scale fixed at compile time
(``Num``: value = int / 10**scale) or, after a division, an exact fraction (``Rat``: value = n / d, d > 0).
Every node carries a static bound on the magnitude of its integer representation, so the compiler picks
Int64 where it cannot overflow and Int128 where it might, and refuses (``Unsupported``) expressions whose
exact value could exceed 28 significant digits — the precision of the per-entity evaluator's Decimal
context — so the two backends cannot disagree silently. A refused rule runs on the per-entity fallback.

Semantics follow zhengce.expr.interp exactly: null = unknown and propagates; and/or/not are Kleene
(polars' ``&``/``|``/``~`` on nullable booleans are Kleene); division by zero is unknown; ``if`` on an
unknown condition is unknown; strict functions (min, max, …) are unknown when any argument is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl

from zhengce.expr import ast as A
from zhengce.expr.interp import COMPARATORS

I64_MAX = 2**63 - 1
I128_MAX = 2**127 - 1
#: the per-entity evaluator uses Python's default Decimal context (28 significant digits); an integer
#: representation below this bound is exact there too.
EXACT_BOUND = 10**28


class Unsupported(Exception):
    """The expression cannot be compiled exactly to the vectorised backend (the rule falls back)."""


# ---------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Num:
    """An exact number: ``expr / 10**scale``; |expr| <= bound. ``const`` is set for literals."""

    expr: pl.Expr
    scale: int
    bound: int
    const: int | None = None


@dataclass(frozen=True)
class Rat:
    """An exact fraction n / d with d > 0 (both integer Nums at scale 0)."""

    n: Num
    d: Num


@dataclass(frozen=True)
class Val:
    """A non-numeric value: kind in bool, str, date, list, null. ``const`` holds a literal's Python value."""

    kind: str
    expr: pl.Expr | None
    const: object = None
    is_const: bool = False


Value = Num | Rat | Val


def _dtype(bound: int) -> pl.DataType:
    if bound > I128_MAX:
        raise Unsupported("integer representation would overflow Int128")
    return pl.Int64 if bound <= I64_MAX else pl.Int128


def _neg(e: pl.Expr) -> pl.Expr:
    """-e (polars has no unary minus for Int128; multiplication works for every integer width)."""
    return e * -1


def _check(bound: int) -> int:
    if bound > EXACT_BOUND:
        raise Unsupported("value could exceed 28 significant digits (per-entity Decimal precision)")
    return bound


def lit_int(v: int) -> Num:
    return Num(pl.lit(v, dtype=_dtype(abs(v))), 0, abs(v), v)


def num_from_decimal(d: Decimal) -> Num:
    sign, digits, exp = d.as_tuple()
    if not isinstance(exp, int):
        raise Unsupported(f"non-finite number {d}")
    scale = max(0, -exp)
    v = int(d.scaleb(scale))
    return Num(pl.lit(v, dtype=_dtype(abs(v))), scale, abs(v), v)


def _cast(x: Num, bound: int) -> pl.Expr:
    """x's expression in a dtype wide enough for a result of ``bound``."""
    if x.const is not None:
        return pl.lit(x.const, dtype=_dtype(max(bound, abs(x.const))))
    if bound > I64_MAX and x.bound <= I64_MAX:
        return x.expr.cast(pl.Int128)
    return x.expr


def mul(a: Num, b: Num) -> Num:
    bound = _check(a.bound * b.bound)
    if a.const is not None and b.const is not None:
        v = a.const * b.const
        return Num(pl.lit(v, dtype=_dtype(abs(v))), a.scale + b.scale, abs(v), v)
    if a.const == 1:
        return Num(b.expr, a.scale + b.scale, b.bound)
    if b.const == 1:
        return Num(a.expr, a.scale + b.scale, a.bound)
    return Num(_cast(a, bound) * _cast(b, bound), a.scale + b.scale, bound)


def rescale(x: Num, scale: int) -> Num:
    if scale == x.scale:
        return x
    assert scale > x.scale
    f = 10 ** (scale - x.scale)
    r = mul(x, lit_int(f))
    return Num(r.expr, scale, r.bound, r.const)


def align(*xs: Num) -> list[Num]:
    s = max(x.scale for x in xs)
    return [rescale(x, s) for x in xs]


def add(a: Num, b: Num, sign: int = 1) -> Num:
    a, b = align(a, b)
    bound = _check(a.bound + b.bound)
    if a.const is not None and b.const is not None:
        v = a.const + sign * b.const
        return Num(pl.lit(v, dtype=_dtype(abs(v))), a.scale, abs(v), v)
    if b.const == 0:
        return a
    ea, eb = _cast(a, bound), _cast(b, bound)
    return Num(ea + eb if sign > 0 else ea - eb, a.scale, bound)


def neg(a: Num) -> Num:
    if a.const is not None:
        return Num(pl.lit(-a.const, dtype=_dtype(a.bound)), a.scale, a.bound, -a.const)
    return Num(_neg(a.expr), a.scale, a.bound)


def to_rat(x: Num | Rat) -> Rat:
    if isinstance(x, Rat):
        return x
    return Rat(Num(x.expr, 0, x.bound, x.const), lit_int(10**x.scale))


def _int_part(x: Num) -> Num:
    return Num(x.expr, 0, x.bound, x.const)


def divide(a: Num | Rat, b: Num | Rat) -> Rat | Num:
    """Exact a / b; unknown when b == 0."""
    if isinstance(a, Num) and isinstance(b, Num) and b.const is not None:
        if b.const == 0:
            return Num(pl.lit(None, dtype=pl.Int64), 0, 0)
        # a / (c / 10^sb) = a * 10^sb / c : keep a fraction with a constant denominator
        sgn = 1 if b.const > 0 else -1
        n = mul(_int_part(a), lit_int(sgn * 10**b.scale))
        d = lit_int(abs(b.const) * 10**a.scale)
        return _simplify(Rat(n, d))
    ra, rb = to_rat(a), to_rat(b)
    # (na/da) / (nb/db) = na*db / (da*nb), sign moved to the numerator
    n = mul(ra.n, rb.d)
    d = mul(ra.d, rb.n)
    if rb.n.const is not None:
        if rb.n.const == 0:
            return Num(pl.lit(None, dtype=pl.Int64), 0, 0)
        return Rat(n, d) if rb.n.const > 0 else Rat(neg(n), neg(d))
    bound_n, bound_d = n.bound, d.bound
    zero = rb.n.expr == 0
    neg_b = rb.n.expr < 0
    ne = pl.when(zero).then(None).when(neg_b).then(_neg(n.expr)).otherwise(n.expr)
    de = pl.when(neg_b).then(_neg(d.expr)).otherwise(d.expr)
    return Rat(Num(ne, 0, bound_n), Num(de, 0, bound_d))


def _simplify(r: Rat) -> Rat | Num:
    """n / 10^k with a constant denominator that is a power of ten is just a Num at scale k."""
    c = r.d.const
    if c is not None and c > 0:
        k = len(str(c)) - 1
        if 10**k == c:
            return Num(r.n.expr, k, r.n.bound, r.n.const)
    return r


def rat_add(a: Rat, b: Rat, sign: int = 1) -> Rat:
    if a.d.const is not None and a.d.const == b.d.const:
        return Rat(add(a.n, b.n, sign), a.d)
    n = add(mul(a.n, b.d), mul(b.n, a.d), sign)
    return Rat(n, mul(a.d, b.d))


def rat_mul(a: Rat, b: Rat) -> Rat:
    return Rat(mul(a.n, b.n), mul(a.d, b.d))


def cmp_exprs(a: Num | Rat, b: Num | Rat) -> tuple[pl.Expr, pl.Expr]:
    """Two integer expressions whose order equals the order of a and b."""
    if isinstance(a, Num) and isinstance(b, Num):
        a, b = align(a, b)
        bound = max(a.bound, b.bound)
        return _cast(a, bound), _cast(b, bound)
    ra, rb = to_rat(a), to_rat(b)
    left, right = mul(ra.n, rb.d), mul(rb.n, ra.d)
    bound = max(left.bound, right.bound)
    return _cast(left, bound), _cast(right, bound)


_CMP = COMPARATORS


def floor_(x: Num | Rat) -> Num:
    if isinstance(x, Num):
        if x.scale == 0:
            return x
        return Num(x.expr // (10**x.scale), 0, x.bound // 10**x.scale + 1)
    return Num(x.n.expr // _cast(x.d, x.n.bound), 0, x.n.bound)


def ceil_(x: Num | Rat) -> Num:
    if isinstance(x, Num):
        if x.scale == 0:
            return x
        return Num(_neg(_neg(x.expr) // (10**x.scale)), 0, x.bound // 10**x.scale + 1)
    return Num(_neg(_neg(x.n.expr) // _cast(x.d, x.n.bound)), 0, x.n.bound)


def round_half_up(x: Num | Rat, places: int) -> Num:
    """Decimal.quantize(10**-places, ROUND_HALF_UP): ties away from zero. Result scale max(places, 0)."""
    if isinstance(x, Num):
        if places >= x.scale:
            return x
        k = x.scale - places
        f = 10**k
        h = f // 2
        e = x.expr
        r = pl.when(e >= 0).then((e + h) // f).otherwise(_neg((_neg(e) + h) // f))
        if places < 0:
            return Num(r * (10**-places), 0, (x.bound // f + 1) * 10**-places)
        return Num(r, places, x.bound // f + 1)
    # n/d * 10^p, half up: (2|n|10^p + d) // (2d)
    p = max(places, 0)
    n2 = mul(x.n, lit_int(2 * 10**p))
    d2 = mul(x.d, lit_int(2))
    bound = max(n2.bound + d2.bound, d2.bound)
    _check(bound)
    ne, de = _cast(n2, bound), _cast(d2, bound)
    r = pl.when(ne >= 0).then((ne + de // 2) // de).otherwise(_neg((_neg(ne) + de // 2) // de))
    # d2 is even, so de // 2 == d exactly
    out = Num(r, p, x.n.bound * 10**p // 1 + 1)
    if places < 0:
        return round_half_up(out, places)
    return out


def to_fen(x: Num | Rat) -> pl.Expr:
    """Round to 分 half up and return an Int64 expression in 分 (the bulk money unit)."""
    r = round_half_up(x, 2)
    r = rescale(r, 2)
    if r.bound > I64_MAX:
        raise Unsupported("amount could exceed Int64 分")
    return r.expr.cast(pl.Int64)


# ------------------------------------------------------------------------------------ the compiler
NUMERIC_TYPES = {"money", "number", "rate", "int"}
#: exact scale (decimal places) the bulk backend holds for each numeric field type, and the largest magnitude
SCALES = {"money": 2, "number": 4, "rate": 6, "int": 0}
MAX_ABS = {"money": 10**13, "number": 10**12, "rate": 10**3, "int": 10**12}


def field_bound(ftype: str) -> int:
    return MAX_ABS[ftype] * 10 ** SCALES[ftype]


@dataclass
class Context:
    """What the compiler needs to know: field types of the entity, as_of, dated parameters."""

    field_types: dict[str, str]  # name -> schema type
    as_of: date
    params: object = None  # ParameterSet


class Compiler:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        #: set field -> the text literals rules test it for; each gets one bit of an Int64 mask column, so
        #: '"高新技术企业" in titles' is a bit test instead of a list scan (see set_mask_columns)
        self.set_literals: dict[str, list[str]] = {}

    def set_bit(self, field_name: str, literal: str) -> pl.Expr:
        """(mask column & bit) != 0 — null when the set itself is unknown."""
        lits = self.set_literals.setdefault(field_name, [])
        if literal not in lits:
            lits.append(literal)
        i = lits.index(literal)
        return (pl.col(mask_column(field_name, i // 63)) & (1 << (i % 63))) != 0

    # --- entry points
    def compile(self, node: A.Node) -> Value:
        return self._c(node)

    def boolean(self, node: A.Node) -> pl.Expr:
        v = self._c(node)
        if isinstance(v, Val) and v.kind == "bool":
            return v.expr if not v.is_const else pl.lit(v.const, dtype=pl.Boolean)
        if isinstance(v, Val) and v.kind == "null":
            return pl.lit(None, dtype=pl.Boolean)
        raise Unsupported(f"condition is not a true/false value ({type(v).__name__})")

    def number(self, node: A.Node) -> Num | Rat:
        v = self._c(node)
        if isinstance(v, (Num, Rat)):
            return v
        if isinstance(v, Val) and v.kind == "null":
            return Num(pl.lit(None, dtype=pl.Int64), 0, 0)
        raise Unsupported(f"amount is not a number ({v})")

    # --- nodes
    def _c(self, node: A.Node) -> Value:
        m = getattr(self, "_" + type(node).__name__)
        return m(node)

    def _Literal(self, node: A.Literal) -> Value:
        v = node.value
        if isinstance(v, bool):
            return Val("bool", pl.lit(v, dtype=pl.Boolean), v, True)
        if isinstance(v, Decimal):
            return num_from_decimal(v)
        if isinstance(v, str):
            return Val("str", pl.lit(v, dtype=pl.Utf8), v, True)
        if isinstance(v, date):
            return Val("date", pl.lit(v, dtype=pl.Date), v, True)
        if v is None:
            return Val("null", pl.lit(None), None, True)
        if isinstance(v, tuple):
            return Val("list", None, v, True)
        raise Unsupported(f"literal {v!r}")

    def _Field(self, node: A.Field) -> Value:
        name = node.name
        if name == "as_of":
            return Val("date", pl.lit(self.ctx.as_of, dtype=pl.Date), self.ctx.as_of, True)
        t = self.ctx.field_types.get(name)
        if t is None:
            raise Unsupported(f"unknown field {name}")
        col = pl.col(name)
        if t in NUMERIC_TYPES:
            return Num(col, SCALES[t], field_bound(t))
        if t == "bool":
            return Val("bool", col)
        if t == "date":
            return Val("date", col)
        if t in ("text", "enum"):
            return Val("str", col)
        if t == "set":
            return Val("list", col)
        raise Unsupported(f"field type {t}")

    def _Unary(self, node: A.Unary) -> Value:
        v = self._c(node.operand)
        if node.op == "not":
            if isinstance(v, Val) and v.kind == "bool":
                return Val("bool", ~v.expr)
            if isinstance(v, Val) and v.kind == "null":
                return v
            raise Unsupported("not of a non-boolean")
        if isinstance(v, Num):
            return neg(v)
        if isinstance(v, Rat):
            return Rat(neg(v.n), v.d)
        raise Unsupported("unary minus of a non-number")

    def _Binary(self, node: A.Binary) -> Value:
        a, b = self._c(node.left), self._c(node.right)
        if _is_null(a) or _is_null(b):
            return Val("null", pl.lit(None), None, True)
        op = node.op
        if isinstance(a, Val) or isinstance(b, Val):
            return self._date_arith(op, a, b)
        if op in "+-":
            sign = 1 if op == "+" else -1
            if isinstance(a, Num) and isinstance(b, Num):
                return add(a, b, sign)
            return rat_add(to_rat(a), to_rat(b), sign)
        if op == "*":
            if isinstance(a, Num) and isinstance(b, Num):
                return mul(a, b)
            return rat_mul(to_rat(a), to_rat(b))
        if op == "/":
            return divide(a, b)
        raise Unsupported(f"operator {op}")

    def _date_arith(self, op: str, a: Value, b: Value) -> Value:
        if isinstance(a, Val) and a.kind == "date":
            if isinstance(b, Num) and op in "+-":
                days = _trunc_int(b)
                e = a.expr + pl.duration(days=days) if op == "+" else a.expr - pl.duration(days=days)
                return Val("date", e)
            if isinstance(b, Val) and b.kind == "date" and op == "-":
                return Num((a.expr - b.expr).dt.total_days().cast(pl.Int64), 0, 10**7)
        raise Unsupported(f"arithmetic {op} on non-numbers")

    def _Compare(self, node: A.Compare) -> Value:
        a, b = self._c(node.left), self._c(node.right)
        if _is_null(a) or _is_null(b):
            return Val("bool", pl.lit(None, dtype=pl.Boolean))
        f = _CMP[node.op]
        if isinstance(a, (Num, Rat)) and isinstance(b, (Num, Rat)):
            ea, eb = cmp_exprs(a, b)
            return Val("bool", f(ea, eb))
        if isinstance(a, Val) and isinstance(b, Val) and a.kind == b.kind and a.kind in ("str", "date", "bool"):
            if a.kind == "bool" and node.op not in ("==", "!="):
                raise Unsupported("ordering of booleans")
            return Val("bool", f(a.expr, b.expr))
        raise Unsupported(f"comparison {node.op} between different kinds of value")

    def _Logical(self, node: A.Logical) -> Value:
        items = [self.boolean(i) for i in node.items]
        e = items[0]
        for x in items[1:]:
            e = (e & x) if node.op == "and" else (e | x)
        return Val("bool", e)

    def _In(self, node: A.In) -> Value:
        item, cont = self._c(node.item), self._c(node.container)
        if _is_null(item) or _is_null(cont):
            return Val("bool", pl.lit(None, dtype=pl.Boolean))
        if not (isinstance(cont, Val) and cont.kind == "list"):
            raise Unsupported("'in' needs a list")
        if cont.is_const:
            values = cont.const
            if isinstance(item, Val) and item.kind == "str" and all(isinstance(v, str) for v in values):
                if item.is_const:
                    found = pl.lit(item.const in values, dtype=pl.Boolean)
                else:
                    found = item.expr.is_in(pl.lit(list(values), dtype=pl.List(pl.Utf8)))
                    found = pl.when(item.expr.is_null()).then(None).otherwise(found)
            elif isinstance(item, (Num, Rat)) and all(isinstance(v, Decimal) for v in values):
                found = pl.lit(False, dtype=pl.Boolean)
                for v in values:
                    ea, eb = cmp_exprs(item, num_from_decimal(v))
                    found = found | (ea == eb)
            else:
                raise Unsupported("'in' over a list of mixed kinds")
        elif isinstance(item, Val) and item.is_const and isinstance(item.const, str) and _field_name(cont.expr):
            found = self.set_bit(_field_name(cont.expr), item.const)
        else:
            if not (isinstance(item, Val) and item.kind == "str"):
                raise Unsupported("'in' over a list field needs a text item")
            found = cont.expr.list.contains(item.expr)
            found = pl.when(cont.expr.is_null() | item.expr.is_null()).then(None).otherwise(found)
        return Val("bool", ~found if node.negate else found)

    def _IfElse(self, node: A.IfElse) -> Value:
        c = self.boolean(node.cond)
        t, o = self._c(node.then), self._c(node.otherwise)
        # an unknown condition must give unknown; polars' when() sends it to otherwise instead. When the
        # condition can only be unknown because one of its fields F is, and the otherwise branch is unknown
        # whenever any of F is (a tier table on one field ending in 'else null'), otherwise gives the unknown
        # itself and the guard is dropped (tier chains were evaluating every comparison twice)
        f = nulls_only_from(node.cond)
        guard = not (f is not None and (not f or _covers(null_if(node.otherwise), f)))
        return _select([(c, t)], o, [guard])

    def _ListLit(self, node: A.ListLit) -> Value:
        vals = []
        for i in node.items:
            v = self._c(i)
            if isinstance(v, Val) and v.is_const and v.kind == "str":
                vals.append(v.const)
            elif isinstance(v, Num) and v.const is not None:
                vals.append(Decimal(v.const).scaleb(-v.scale))
            else:
                raise Unsupported("list literal with non-constant items")
        return Val("list", None, tuple(vals), True)

    def _Call(self, node: A.Call) -> Value:
        name = node.func
        if name == "param":
            return self._param(node)
        args = [self._c(a) for a in node.args]
        if name == "coalesce":
            return _coalesce(args)
        if name == "is_known":
            a = args[0]
            if _is_null(a):
                return Val("bool", pl.lit(False, dtype=pl.Boolean))
            if isinstance(a, Val) and a.is_const:
                return Val("bool", pl.lit(True, dtype=pl.Boolean))
            return Val("bool", _expr_of(a).is_not_null())
        if any(_is_null(a) for a in args):  # strict: unknown in, unknown out
            return Val("null", pl.lit(None), None, True)
        if name in ("min", "max"):
            return _minmax(name, args)
        if name in ("abs", "floor", "ceil", "round"):
            x = args[0]
            if not isinstance(x, (Num, Rat)):
                raise Unsupported(f"{name}() of a non-number")
            if name == "abs":
                if isinstance(x, Num):
                    return Num(x.expr.abs(), x.scale, x.bound)
                return Rat(Num(x.n.expr.abs(), 0, x.n.bound), x.d)
            if name == "floor":
                return floor_(x)
            if name == "ceil":
                return ceil_(x)
            places = 0
            if len(args) == 2:
                p = args[1]
                if not (isinstance(p, Num) and p.const is not None and p.scale == 0):
                    raise Unsupported("round() places must be a whole-number literal")
                places = p.const
            return round_half_up(x, places)
        if name in ("year", "month"):
            d = _date_arg(args[0])
            e = d.dt.year() if name == "year" else d.dt.month()
            return Num(e.cast(pl.Int64), 0, 10**4)
        if name in ("days_between", "months_between", "years_between"):
            a, b = _date_arg(args[0]), _date_arg(args[1])
            if name == "days_between":
                return Num((b - a).dt.total_days().cast(pl.Int64), 0, 10**7)
            ya, ma, da = a.dt.year().cast(pl.Int64), a.dt.month().cast(pl.Int64), a.dt.day().cast(pl.Int64)
            yb, mb, db = b.dt.year().cast(pl.Int64), b.dt.month().cast(pl.Int64), b.dt.day().cast(pl.Int64)
            if name == "months_between":
                m = (yb - ya) * 12 + (mb - ma)
                last = b.dt.month_end().dt.day().cast(pl.Int64)
                m = m - ((db < da) & (db != last)).cast(pl.Int64)
                return Num(m, 0, 10**6)
            y = yb - ya - ((mb < ma) | ((mb == ma) & (db < da))).cast(pl.Int64)
            return Num(y, 0, 10**5)
        if name in ("add_days", "add_months", "add_years"):
            d = _date_arg(args[0])
            n = args[1]
            if not (isinstance(n, Num) and n.scale == 0):
                raise Unsupported(f"{name}() needs a whole number")
            if name == "add_days":
                return Val("date", d + pl.duration(days=n.expr))
            months = n.expr * (12 if name == "add_years" else 1)
            if n.const is not None:
                return Val("date", d.dt.offset_by(f"{n.const * (12 if name == 'add_years' else 1)}mo"))
            return Val("date", d.dt.offset_by(pl.format("{}mo", months)))
        if name == "len":
            x = args[0]
            if isinstance(x, Val) and x.kind == "list":
                if x.is_const:
                    return lit_int(len(x.const))
                return Num(x.expr.list.len().cast(pl.Int64), 0, 10**6)
            raise Unsupported("len() of a non-list")
        if name == "count_in":
            lst, vals = args
            if not (isinstance(lst, Val) and lst.kind == "list" and not lst.is_const and isinstance(vals, Val)
                    and vals.is_const and all(isinstance(v, str) for v in vals.const)):
                raise Unsupported("count_in() needs a list field and a list of texts")
            if not vals.const:
                return lit_int(0)
            e = None
            fname = _field_name(lst.expr)
            for v in vals.const:
                if fname:
                    t = self.set_bit(fname, v).cast(pl.Int64)
                else:
                    t = lst.expr.list.contains(pl.lit(v, dtype=pl.Utf8)).cast(pl.Int64)
                e = t if e is None else e + t
            if fname:
                return Num(e, 0, len(vals.const))
            return Num(pl.when(lst.expr.is_null()).then(None).otherwise(e), 0, len(vals.const))
        raise Unsupported(f"function {name}()")

    def _param(self, node: A.Call) -> Value:
        pname = node.args[0].value
        params = self.ctx.params
        if params is None or pname not in params:
            raise Unsupported(f"parameter {pname}")
        p = params.params[pname]
        at = self._c(node.args[1])
        if _is_null(at):
            return Val("null", pl.lit(None), None, True)
        d = _date_arg(at)
        if not p.dates:
            return Val("null", pl.lit(None), None, True)
        nums = [num_from_decimal(v) for v in p.values]
        s = max(n.scale for n in nums)
        nums = [rescale(n, s) for n in nums]
        bound = max(n.bound for n in nums)
        dt = _dtype(bound)
        e = pl.when(d < pl.lit(p.dates[0], dtype=pl.Date)).then(None)
        if p.known_until is not None:
            e = pl.when(d > pl.lit(p.known_until, dtype=pl.Date)).then(None).when(
                d < pl.lit(p.dates[0], dtype=pl.Date)).then(None)
        for dd, n in reversed(list(zip(p.dates, nums, strict=True))):
            e = e.when(d >= pl.lit(dd, dtype=pl.Date)).then(pl.lit(n.const, dtype=dt))
        e = e.otherwise(None)
        return Num(e, s, bound)


# ------------------------------------------------------------------------- null and sign analyses
#: "every field": the value is always unknown (a null literal)
ALWAYS = None
_STRICT_CALLS = {"min", "max", "abs", "floor", "ceil", "round"}


def null_if(node: A.Node) -> frozenset[str] | None:
    """Fields F such that the value is certainly unknown (null) whenever any field of F is; ``ALWAYS`` (None)
    for a value that is always unknown. A sufficient condition, used only to drop redundant null guards."""
    if isinstance(node, A.Literal):
        return ALWAYS if node.value is None else frozenset()
    if isinstance(node, A.Field):
        return frozenset() if node.name == "as_of" else frozenset({node.name})
    if isinstance(node, A.Unary):
        return null_if(node.operand)
    if isinstance(node, (A.Binary, A.Compare)):
        return _union(null_if(node.left), null_if(node.right))
    if isinstance(node, A.In):
        return _union(null_if(node.item), null_if(node.container))
    if isinstance(node, A.IfElse):
        c, t, o = null_if(node.cond), null_if(node.then), null_if(node.otherwise)
        both = t if o is ALWAYS else o if t is ALWAYS else (t & o)
        return _union(c, both) if both is not ALWAYS else ALWAYS
    if isinstance(node, A.Call) and node.func in _STRICT_CALLS:
        out: frozenset[str] | None = frozenset()
        for a in node.args:
            out = _union(out, null_if(a))
        return out
    return frozenset()


def nulls_only_from(node: A.Node) -> frozenset[str] | None:
    """Fields F such that the value can be unknown only when some field of F is (comparisons, arithmetic
    without division, Kleene and/or/not, membership); None when it can be unknown otherwise (division by
    zero, functions, a null literal, nested if/else)."""
    if isinstance(node, A.Literal):
        return None if node.value is None else frozenset()
    if isinstance(node, A.Field):
        return frozenset() if node.name == "as_of" else frozenset({node.name})
    if isinstance(node, A.Unary):
        return nulls_only_from(node.operand)
    if isinstance(node, A.Binary) and node.op == "/":
        return None
    if isinstance(node, (A.Binary, A.Compare)):
        parts = [nulls_only_from(node.left), nulls_only_from(node.right)]
    elif isinstance(node, A.Logical):
        parts = [nulls_only_from(i) for i in node.items]
    elif isinstance(node, A.In):
        parts = [nulls_only_from(node.item), nulls_only_from(node.container)]
    elif isinstance(node, A.ListLit):
        parts = [nulls_only_from(i) for i in node.items]
    else:
        return None
    if any(x is None for x in parts):
        return None
    return frozenset().union(*parts)


def never_negative(node: A.Node) -> bool:
    """True when the value can never be below zero (non-negative literals combined by + × ÷, if/else and
    min/max/floor/ceil/round of such values; unknown stays unknown): max(amount, 0) is then a no-op."""
    if isinstance(node, A.Literal):
        return node.value is None or (isinstance(node.value, Decimal) and node.value >= 0)
    if isinstance(node, A.Binary) and node.op in ("+", "*", "/"):
        return never_negative(node.left) and never_negative(node.right)
    if isinstance(node, A.IfElse):
        return never_negative(node.then) and never_negative(node.otherwise)
    if isinstance(node, A.Call) and node.func in ("min", "floor", "ceil", "round", "abs"):
        return node.func == "abs" or all(never_negative(a) for a in node.args[:1 if node.func == "round" else None])
    if isinstance(node, A.Call) and node.func == "max":
        return any(never_negative(a) for a in node.args)
    return False


def _union(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is ALWAYS or b is ALWAYS:
        return ALWAYS
    return a | b


def _covers(nulls: frozenset[str] | None, fields: frozenset[str]) -> bool:
    return nulls is ALWAYS or fields <= nulls


# ------------------------------------------------------------------------------------------- helpers
def mask_column(field_name: str, k: int) -> str:
    return f"__set_{field_name}_{k}"


def _field_name(e: pl.Expr) -> str | None:
    """The column name when ``e`` is a bare pl.col(name)."""
    try:
        if e.meta.is_column():
            return e.meta.output_name()
    except Exception:  # noqa: BLE001 - introspection only
        return None
    return None


def set_mask_columns(frame: pl.DataFrame, set_literals: dict[str, list[str]]) -> pl.DataFrame:
    """Add the Int64 bit-mask columns for set fields (one bit per literal a rule tests; null when the set is
    unknown). Built from the list items (row of each item from the list lengths, bits OR-ed in with numpy), so
    the cost is the number of items, not rows × literals; duplicate items set the same bit once."""
    if not set_literals:
        return frame
    n = frame.height
    new_cols = []
    for name, lits in set_literals.items():
        nmask = (len(lits) + 62) // 63
        if name not in frame.columns:
            new_cols.extend(pl.lit(None, dtype=pl.Int64).alias(mask_column(name, k)) for k in range(nmask))
            continue
        col = frame[name]
        ends = np.cumsum(col.list.len().fill_null(0).to_numpy())  # item k belongs to the row whose end > k
        items = col.explode(empty_as_null=False, keep_nulls=False)
        masks = [np.zeros(n, dtype=np.int64) for _ in range(nmask)]
        if len(lits) <= 16:  # a few literals: one string comparison each (cheaper than hashing every item)
            for i, lit in enumerate(lits):
                rows = np.searchsorted(ends, (items == lit).arg_true().to_numpy(), side="right")
                masks[i // 63][rows] |= np.int64(1) << np.int64(i % 63)  # repeated rows set the same bit
        else:
            pos = items.replace_strict(lits, list(range(len(lits))), default=-1, return_dtype=pl.Int64) \
                .fill_null(-1).to_numpy()
            hit = np.flatnonzero(pos >= 0)
            rows, pos = np.searchsorted(ends, hit, side="right"), pos[hit]
            for k in range(nmask):
                sel = (pos // 63) == k
                np.bitwise_or.at(masks[k], rows[sel], np.left_shift(np.int64(1), pos[sel] % 63))
        null = col.is_null()
        for k, m in enumerate(masks):
            new_cols.append(pl.select(pl.when(null).then(None).otherwise(pl.Series(m))).to_series()
                            .alias(mask_column(name, k)))
    return with_aligned(frame, new_cols)


def with_aligned(frame: pl.DataFrame, cols: list) -> pl.DataFrame:
    """Add columns chunked like the frame. A frame whose columns are chunked differently (a Parquet read gives
    one chunk per row group; a new column has one) is rechunked — copied — by polars on every query: 0.1–0.4 s
    per select at 1M rows. Eager Series are sliced to the frame's chunk lengths (no copy); expressions are
    evaluated first."""
    if not cols:
        return frame
    series = [c if isinstance(c, pl.Series) else frame.select(c).to_series() for c in cols]
    if frame.width:
        lengths = frame.get_column(frame.columns[0]).chunk_lengths()
        series = [aligned(s, lengths) for s in series]
    return frame.with_columns(series)


def aligned(s: pl.Series, lengths: list[int]) -> pl.Series:
    """``s`` cut into chunks of ``lengths`` rows (zero-copy slices), to sit beside columns chunked that way."""
    if s.chunk_lengths() == lengths:
        return s
    s, parts, o = s.rechunk(), [], 0
    if len(lengths) <= 1:
        return s
    for k in lengths:
        parts.append(s.slice(o, k))
        o += k
    return pl.concat(parts, rechunk=False)


def _is_null(v: Value) -> bool:
    return isinstance(v, Val) and v.kind == "null"


def _expr_of(v: Value) -> pl.Expr:
    if isinstance(v, Num):
        return v.expr
    if isinstance(v, Rat):
        return v.n.expr
    if v.expr is None:
        raise Unsupported("list literal used as a value")
    return v.expr


def _date_arg(v: Value) -> pl.Expr:
    if isinstance(v, Val) and v.kind == "date":
        return v.expr
    raise Unsupported("expected a date")


def _trunc_int(b: Num) -> pl.Expr:
    """int(Decimal): toward zero."""
    if b.scale == 0:
        return b.expr
    f = 10**b.scale
    return pl.when(b.expr >= 0).then(b.expr // f).otherwise(_neg(_neg(b.expr) // f))


def _unify(vals: list[Value]) -> tuple[str, list]:
    """Bring values of one kind to a common representation: ('num', [Num at one scale]), ('rat', [Rat]) or
    (kind, [Val]). Nulls adopt the others' kind."""
    real = [v for v in vals if not _is_null(v)]
    if not real:
        return "null", vals
    if all(isinstance(v, Num) for v in real):
        s = max(v.scale for v in real)
        bound = max(v.bound * 10 ** (s - v.scale) for v in real)
        out = []
        for v in vals:
            if _is_null(v):
                out.append(Num(pl.lit(None, dtype=_dtype(bound)), s, 0))
            else:
                r = rescale(v, s)
                out.append(Num(_cast(r, bound), s, bound, r.const))
        return "num", out
    if all(isinstance(v, (Num, Rat)) for v in real):
        rats = [to_rat(v) if not _is_null(v) else None for v in vals]
        bn = max(r.n.bound for r in rats if r is not None)
        bd = max(r.d.bound for r in rats if r is not None)
        out = []
        for r in rats:
            if r is None:
                out.append(Rat(Num(pl.lit(None, dtype=_dtype(bn)), 0, 0), Num(pl.lit(1, dtype=_dtype(bd)), 0, 1)))
            else:
                out.append(Rat(Num(_cast(r.n, bn), 0, bn), Num(_cast(r.d, bd), 0, bd)))
        return "rat", out
    kinds = {v.kind for v in real if isinstance(v, Val)}
    if len(kinds) == 1 and all(isinstance(v, Val) for v in real):
        k = kinds.pop()
        if k == "list":
            raise Unsupported("choice between lists")
        return k, vals
    raise Unsupported("branches of different kinds")


def _select(branches: list[tuple[pl.Expr, Value]], otherwise: Value, guards: list[bool] | None = None) -> Value:
    """if/else chain with the per-entity rule that an unknown condition gives an unknown value. ``guards``:
    per branch, whether its unknown case needs its own ``then(None)``; False only where the caller has shown
    that the chain reaches a null anyway (see ``Compiler._IfElse``)."""
    kind, vals = _unify([v for _, v in branches] + [otherwise])
    conds = [c for c, _ in branches]
    guards = guards if guards is not None else [True] * len(conds)

    def chain(parts: list[pl.Expr]) -> pl.Expr:
        e = None
        for c, p, g in zip(conds, parts[:-1], guards, strict=True):
            if g:
                e = pl.when(c.is_null()).then(None).when(c).then(p) if e is None else \
                    e.when(c.is_null()).then(None).when(c).then(p)
            else:
                e = pl.when(c).then(p) if e is None else e.when(c).then(p)
        return e.otherwise(parts[-1])

    if kind == "num":
        bound = max(v.bound for v in vals)
        return Num(chain([v.expr for v in vals]), vals[0].scale, bound)
    if kind == "rat":
        n = chain([v.n.expr for v in vals])
        d = chain([v.d.expr for v in vals])
        return Rat(Num(n, 0, max(v.n.bound for v in vals)), Num(d, 0, max(v.d.bound for v in vals)))
    if kind == "null":
        return Val("null", pl.lit(None), None, True)
    return Val(kind, chain([v.expr for v in vals]))


def _minmax(name: str, args: list[Value]) -> Value:
    kind, vals = _unify(args)
    if kind == "num":
        f = pl.min_horizontal if name == "min" else pl.max_horizontal
        if len(vals) == 1:
            return vals[0]
        # min_horizontal skips nulls; the language's min/max are strict (unknown in → unknown out)
        e = f([v.expr for v in vals])
        nonconst = [v.expr for v in vals if v.const is None]
        if nonconst:
            e = pl.when(pl.any_horizontal([x.is_null() for x in nonconst])).then(None).otherwise(e)
        return Num(e, vals[0].scale, max(v.bound for v in vals))
    if kind == "rat":
        best = vals[0]
        for v in vals[1:]:
            a, b = cmp_exprs(v, best)
            take = (a < b) if name == "min" else (a > b)
            n = pl.when(take).then(v.n.expr).otherwise(best.n.expr)
            d = pl.when(take).then(v.d.expr).otherwise(best.d.expr)
            best = Rat(Num(n, 0, max(v.n.bound, best.n.bound)), Num(d, 0, max(v.d.bound, best.d.bound)))
        return best
    if kind in ("str", "date"):
        f = pl.min_horizontal if name == "min" else pl.max_horizontal
        e = f([v.expr for v in vals])
        return Val(kind, pl.when(pl.any_horizontal([v.expr.is_null() for v in vals])).then(None).otherwise(e))
    raise Unsupported(f"{name}() of {kind}")


def _coalesce(args: list[Value]) -> Value:
    kind, vals = _unify(args)
    if kind == "num":
        return Num(pl.coalesce([v.expr for v in vals]), vals[0].scale, max(v.bound for v in vals))
    if kind == "rat":
        n = pl.coalesce([v.n.expr for v in vals])
        d = None
        for v in reversed(vals):
            d = v.d.expr if d is None else pl.when(v.n.expr.is_not_null()).then(v.d.expr).otherwise(d)
        return Rat(Num(n, 0, max(v.n.bound for v in vals)), Num(d, 0, max(v.d.bound for v in vals)))
    if kind == "null":
        return Val("null", pl.lit(None), None, True)
    return Val(kind, pl.coalesce([v.expr for v in vals]))
