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


@dataclass
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


class Explainer:
    """Walks a failed condition's AST and reports each failing leaf comparison."""

    def __init__(self, params, unit_of):
        self.params = params
        self.unit_of = unit_of  # field name -> display unit
        self._fns: dict[int, object] = {}

    def _val(self, node: A.Node, env) -> object:
        fn = self._fns.get(id(node))
        if fn is None:
            fn = self._fns[id(node)] = compile_expr(node, self.params)
        return fn(env)

    def explain(self, cid: str, label: str, node: A.Node, env) -> list[NearMiss]:
        out: list[NearMiss] = []
        self._walk(cid, label, node, env, out, want=True)
        return out

    def _walk(self, cid, label, node, env, out, want: bool):
        if isinstance(node, A.Logical):
            is_and = (node.op == "and") == want  # and wanted-true, or or wanted-false: every item must hold
            if is_and:
                for item in node.items:
                    v = self._val(item, env)
                    if v is not None and bool(v) != want:
                        self._walk(cid, label, item, env, out, want)
            else:  # any one item would do: report them all
                for item in node.items:
                    self._walk(cid, label, item, env, out, want)
            return
        if isinstance(node, A.Unary) and node.op == "not":
            self._walk(cid, label, node.operand, env, out, not want)
            return
        if isinstance(node, A.Compare):
            op = node.op if want else {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}[node.op]
            left, right = node.left, node.right
            if not _is_fieldish(left) and _is_fieldish(right):
                left, right, op = right, left, _FLIP[op]
            a, r = self._val(left, env), self._val(right, env)
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
            fld = left.name if isinstance(left, A.Field) else None
            unit = (right.unit if isinstance(right, A.Literal) else None) or (self.unit_of(fld) if fld else None)
            out.append(NearMiss(cid, label, to_text(A.Compare(op, left, right)), fld, op, r, a, gap, rel, unit))
            return
        if isinstance(node, A.In):
            item, cont = self._val(node.item, env), self._val(node.container, env)
            fld = node.container.name if isinstance(node.container, A.Field) else (
                node.item.name if isinstance(node.item, A.Field) else None)
            negate = node.negate if want else not node.negate
            op = "not in" if negate else "in"
            out.append(NearMiss(cid, label, to_text(A.In(node.item, node.container, negate)), fld, op,
                                item if isinstance(node.container, A.Field) else cont,
                                cont if isinstance(node.container, A.Field) else item, None, None, None))
            return
        v = self._val(node, env)
        fld = node.name if isinstance(node, A.Field) else None
        out.append(NearMiss(cid, label, to_text(node) if want else f"not ({to_text(node)})", fld, "==", want, v,
                            None, None, None))


def _is_fieldish(node: A.Node) -> bool:
    return any(isinstance(n, A.Field) for n in A.walk(node))
