"""Explain why a condition failed, in numbers: which comparison, what was required, what the entity has, the gap.

"需 营业收入 ≥ 100亿元，现为 92亿元，差 8亿元" — the near-miss is what turns a 'no' into advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from zhengce.expr import ast as A
from zhengce.expr.interp import compile_expr
from zhengce.expr.parser import to_text

_FLIP = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "==", "!=": "!="}


@dataclass(slots=True)
class NearMiss:
    condition: str  # condition id
    label: str  # condition label (text's words)
    expr: str  # the failing comparison
    field: str | None
    op: str | None
    required: object
    actual: object
    gap: Decimal | None  # how far the entity is from the threshold (always ≥ 0 when known)
    relative_gap: Decimal | None  # gap / |required|
    unit: str | None

    def to_json(self) -> dict:
        def j(v):
            if isinstance(v, Decimal):
                return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
            if isinstance(v, tuple):
                return list(v)
            if hasattr(v, "isoformat"):
                return v.isoformat()
            return v

        return {
            "condition": self.condition, "label": self.label, "expr": self.expr, "field": self.field, "op": self.op,
            "required": j(self.required), "actual": j(self.actual), "gap": j(self.gap),
            "relative_gap": None if self.relative_gap is None else format(self.relative_gap.quantize(Decimal("0.0001")), "f"),
            "unit": self.unit,
        }


_NEG = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


class Explainer:
    """Walks a failed condition's AST and reports each failing leaf comparison.

    Each condition is compiled once into an explain-closure (texts, units and sub-expression closures
    precomputed), so explaining a failure at run time only evaluates numbers.
    """

    def __init__(self, params, unit_of):
        self.params = params
        self.unit_of = unit_of  # field name -> display unit
        self._plans: dict[tuple[int, bool], object] = {}
        self._keep: list[A.Node] = []  # keep nodes alive so id() keys stay unique

    def explain(self, cid: str, label: str, node: A.Node, env) -> list[NearMiss]:
        out: list[NearMiss] = []
        self._plan(node, True)(env, out, cid, label)
        return out

    def _plan(self, node: A.Node, want: bool):
        key = (id(node), want)
        plan = self._plans.get(key)
        if plan is None:
            self._keep.append(node)
            plan = self._plans[key] = self._build(node, want)
        return plan

    def _build(self, node: A.Node, want: bool):
        params = self.params
        if isinstance(node, A.Logical):
            every = (node.op == "and") == want  # and wanted-true, or or wanted-false: every item must hold
            items = [(compile_expr(i, params), self._plan(i, want)) for i in node.items]
            if every:
                def all_items(env, out, cid, label):
                    for fn, sub in items:
                        v = fn(env)
                        if v is not None and bool(v) != want:
                            sub(env, out, cid, label)
                return all_items

            def any_item(env, out, cid, label):  # any one item would do: report them all
                for _fn, sub in items:
                    sub(env, out, cid, label)
            return any_item
        if isinstance(node, A.Unary) and node.op == "not":
            return self._plan(node.operand, not want)
        if isinstance(node, A.Compare):
            op = node.op if want else _NEG[node.op]
            left, right = node.left, node.right
            if not _is_fieldish(left) and _is_fieldish(right):
                left, right, op = right, left, _FLIP[op]
            lf, rf = compile_expr(left, params), compile_expr(right, params)
            fld = left.name if isinstance(left, A.Field) else None
            unit = (right.unit if isinstance(right, A.Literal) else None) or (self.unit_of(fld) if fld else None)
            text = to_text(A.Compare(op, left, right))

            def compare(env, out, cid, label):
                a, r = lf(env), rf(env)
                if a is None or r is None:
                    return
                gap = rel = None
                if isinstance(a, Decimal) and isinstance(r, Decimal):
                    if op in (">=", ">"):
                        gap = r - a
                    elif op in ("<=", "<"):
                        gap = a - r
                    if gap is not None and gap < 0:
                        gap = None
                    if gap is not None and r != 0:
                        rel = gap / abs(r)
                out.append(NearMiss(cid, label, text, fld, op, r, a, gap, rel, unit))
            return compare
        if isinstance(node, A.In):
            itf, cf = compile_expr(node.item, params), compile_expr(node.container, params)
            on_container = isinstance(node.container, A.Field)
            fld = node.container.name if on_container else (node.item.name if isinstance(node.item, A.Field) else None)
            negate = node.negate if want else not node.negate
            op = "not in" if negate else "in"
            text = to_text(A.In(node.item, node.container, negate))

            def member(env, out, cid, label):
                item, cont = itf(env), cf(env)
                out.append(NearMiss(cid, label, text, fld, op, item if on_container else cont,
                                    cont if on_container else item, None, None, None))
            return member
        fn = compile_expr(node, params)
        fld = node.name if isinstance(node, A.Field) else None
        text = to_text(node) if want else f"not ({to_text(node)})"

        def other(env, out, cid, label):
            out.append(NearMiss(cid, label, text, fld, "==", want, fn(env), None, None, None))
        return other


def _is_fieldish(node: A.Node) -> bool:
    return any(isinstance(n, A.Field) for n in A.walk(node))
