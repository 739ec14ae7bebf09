"""Turn an amount spec (fixed, rate × base, per step, table, progressive) into one expression AST.

Every backend then only needs to compile expressions; the shape is kept for the trace ("10% × 设备投资额").
"""

from __future__ import annotations

from decimal import Decimal

from zhengce.expr import ast as A
from zhengce.expr.parser import parse
from zhengce.rules.model import AmountSpec

ZERO = A.Literal(Decimal(0))


def amount_ast(spec: str | AmountSpec) -> A.Node:
    if isinstance(spec, str):
        return parse(spec)
    shape = spec.shape
    if shape == "formula":
        return parse(spec.formula)
    if shape == "rate":
        return A.Binary("*", parse(spec.rate), parse(spec.base))
    if shape == "per_step":
        return A.Binary("*", parse(spec.each), parse(spec.steps))
    if shape == "table":
        # FIRST hit policy: nested if/else, the last else is the default (null = no row matched → not eligible)
        node: A.Node = parse(spec.default) if spec.default is not None else A.Literal(None)
        for row in reversed(spec.table):
            node = A.IfElse(parse(row.when), parse(row.amount), node)
        return node
    if shape == "progressive":
        base = parse(spec.base)
        total: A.Node | None = None
        for band in spec.progressive:
            lo = parse(band.above)
            top = A.Call("min", (base, parse(band.upto))) if band.upto is not None else base
            part = A.Binary("*", A.Call("max", (ZERO, A.Binary("-", top, lo))), parse(band.rate))
            total = part if total is None else A.Binary("+", total, part)
        return total
    raise ValueError(shape)  # pragma: no cover


def describe(spec: str | AmountSpec | None) -> str:
    """One-line human description of how the amount is computed."""
    from zhengce.expr.parser import to_text

    if spec is None:
        return "（文件未规定金额）"
    if isinstance(spec, str):
        return spec
    s = spec.shape
    if s == "formula":
        return spec.formula
    if s == "rate":
        return f"{spec.rate} × {spec.base}"
    if s == "per_step":
        return f"{spec.each} × {spec.steps}"
    if s == "table":
        return "；".join(f"{r.label or r.when} → {r.amount}" for r in spec.table)
    return to_text(amount_ast(spec))
