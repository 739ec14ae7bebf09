"""A small, safe expression language: tokenised and parsed to an AST, never ``eval``-ed.

Grammar (lowest precedence first)::

    expr    := "if" expr "then" expr "else" expr | or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum [("<"|"<="|">"|">="|"=="|"!="|"≥"|"≤"|"≠") sum | ["not"] "in" sum]
    sum     := product (("+"|"-") product)*
    product := unary (("*"|"/") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER [UNIT] | STRING | "true" | "false" | "null" | NAME | NAME "(" args ")"
             | "(" expr ")" | "[" [expr ("," expr)*] "]"

Numbers may carry a unit written as in the policy text: ``100亿元``, ``1000万元``, ``5万``, ``10%``, ``90bp``.
Units convert to base units at parse time (money → 元, rates → fractions), so ``10%`` is ``Decimal("0.10")``.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from zhengce.errors import ExpressionError
from zhengce.expr import ast as A
from zhengce.money import UNITS

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:万元|亿元|万|亿|元|%|‰|bp|基点)?)
  | (?P<string>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*'|“[^”]*”)
  | (?P<op><=|>=|==|!=|≥|≤|≠|[-+*/()<>,\[\]])
  | (?P<name>[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*)
    """,
    re.VERBOSE,
)
_NUM_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(.*)")
_KEYWORDS = {"and", "or", "not", "in", "if", "then", "else", "true", "false", "null"}
_CMP_ALIASES = {"≥": ">=", "≤": "<=", "≠": "!="}


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.kind}:{self.text}@{self.pos}"


def tokenize(source: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN_RE.match(source, pos)
        if not m:
            raise ExpressionError(f"unexpected character {source[pos]!r}", source, pos)
        kind = m.lastgroup
        text = m.group()
        if kind != "ws":
            if kind == "name" and text in _KEYWORDS:
                kind = "kw"
            toks.append(_Tok(kind, text, pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(source)))
    return toks


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.toks = tokenize(source)
        self.i = 0

    # -- helpers -------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _is(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def _take(self, kind: str, text: str | None = None) -> _Tok:
        if not self._is(kind, text):
            want = text or kind
            got = self.tok.text or "end of expression"
            raise ExpressionError(f"expected {want!r}, found {got!r}", self.source, self.tok.pos)
        t = self.tok
        self.i += 1
        return t

    def _accept(self, kind: str, text: str | None = None) -> bool:
        if self._is(kind, text):
            self.i += 1
            return True
        return False

    # -- grammar -------------------------------------------------------
    def parse(self) -> A.Node:
        node = self.expr()
        if not self._is("end"):
            raise ExpressionError(f"unexpected {self.tok.text!r}", self.source, self.tok.pos)
        return node

    def expr(self) -> A.Node:
        if self._accept("kw", "if"):
            cond = self.expr()
            self._take("kw", "then")
            then = self.expr()
            self._take("kw", "else")
            return A.IfElse(cond, then, self.expr())
        return self.or_()

    def or_(self) -> A.Node:
        items = [self.and_()]
        while self._accept("kw", "or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else A.Logical("or", tuple(items))

    def and_(self) -> A.Node:
        items = [self.not_()]
        while self._accept("kw", "and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else A.Logical("and", tuple(items))

    def not_(self) -> A.Node:
        if self._is("kw", "not") and not (self.toks[self.i + 1].kind == "kw" and self.toks[self.i + 1].text == "in"):
            self.i += 1
            return A.Unary("not", self.not_())
        return self.compare()

    def compare(self) -> A.Node:
        left = self.sum_()
        t = self.tok
        if t.kind == "op" and t.text in ("<", "<=", ">", ">=", "==", "!=", "≥", "≤", "≠"):
            self.i += 1
            return A.Compare(_CMP_ALIASES.get(t.text, t.text), left, self.sum_())
        if self._is("kw", "in"):
            self.i += 1
            return A.In(left, self.sum_(), False)
        if self._is("kw", "not") and self.toks[self.i + 1].text == "in":
            self.i += 2
            return A.In(left, self.sum_(), True)
        return left

    def sum_(self) -> A.Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-" and self.tok.text:
            op = self._take("op").text
            node = A.Binary(op, node, self.product())
        return node

    def product(self) -> A.Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            op = self._take("op").text
            node = A.Binary(op, node, self.unary())
        return node

    def unary(self) -> A.Node:
        if self._accept("op", "-"):
            operand = self.unary()
            if isinstance(operand, A.Literal) and isinstance(operand.value, Decimal):
                return A.Literal(-operand.value, operand.unit)
            return A.Unary("-", operand)
        return self.atom()

    def atom(self) -> A.Node:
        t = self.tok
        if t.kind == "number":
            self.i += 1
            m = _NUM_RE.match(t.text)
            number, unit = Decimal(m.group(1)), m.group(2) or None
            return A.Literal(number * UNITS[unit] if unit else number, unit)
        if t.kind == "string":
            self.i += 1
            return A.Literal(t.text[1:-1])
        if t.kind == "kw" and t.text in ("true", "false", "null"):
            self.i += 1
            return A.Literal({"true": True, "false": False, "null": None}[t.text])
        if t.kind == "name":
            self.i += 1
            if self._accept("op", "("):
                return self.call(t)
            return A.Field(t.text)
        if self._accept("op", "("):
            node = self.expr()
            self._take("op", ")")
            return node
        if self._accept("op", "["):
            items: list[A.Node] = []
            if not self._is("op", "]"):
                items.append(self.expr())
                while self._accept("op", ","):
                    items.append(self.expr())
            self._take("op", "]")
            return A.ListLit(tuple(items))
        got = t.text or "end of expression"
        raise ExpressionError(f"expected a value, found {got!r}", self.source, t.pos)

    def call(self, name_tok: _Tok) -> A.Node:
        name = name_tok.text
        if name not in A.FUNCTIONS:
            known = ", ".join(sorted(A.FUNCTIONS))
            raise ExpressionError(f"unknown function {name!r} (known: {known})", self.source, name_tok.pos)
        args: list[A.Node] = []
        if not self._is("op", ")"):
            args.append(self.expr())
            while self._accept("op", ","):
                args.append(self.expr())
        self._take("op", ")")
        lo, hi = A.FUNCTIONS[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else 'n'}"
            raise ExpressionError(f"{name}() takes {want} arguments, got {len(args)}", self.source, name_tok.pos)
        if name == "date":
            arg = args[0]
            if not (isinstance(arg, A.Literal) and isinstance(arg.value, str)):
                raise ExpressionError('date() takes a literal like date("2023-02-25")', self.source, name_tok.pos)
            try:
                return A.Literal(date.fromisoformat(arg.value))
            except ValueError as exc:
                raise ExpressionError(f"bad date {arg.value!r}: {exc}", self.source, name_tok.pos) from exc
        if name == "param" and not (isinstance(args[0], A.Literal) and isinstance(args[0].value, str)):
            raise ExpressionError('param() takes a parameter name literal: param("lpr_1y", date)', self.source, name_tok.pos)
        return A.Call(name, tuple(args))


def parse(source: str) -> A.Node:
    """Parse an expression into its AST. Raises ExpressionError with a caret at the bad spot."""
    if not isinstance(source, str):
        source = str(source)
    if not source.strip():
        raise ExpressionError("empty expression", source, 0)
    return _Parser(source).parse()


_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def to_text(node: A.Node, parent_prec: int = 0) -> str:
    """Render an AST back to readable source (used in traces and docs)."""
    def wrap(text: str, prec: int) -> str:
        return f"({text})" if prec < parent_prec else text

    if isinstance(node, A.Literal):
        return _literal_text(node)
    if isinstance(node, A.Field):
        return node.name
    if isinstance(node, A.Unary):
        if node.op == "not":
            return wrap("not " + to_text(node.operand, _PREC["not"]), _PREC["not"])
        return wrap("-" + to_text(node.operand, _PREC["neg"]), _PREC["neg"])
    if isinstance(node, A.Binary):
        p = _PREC[node.op]
        return wrap(f"{to_text(node.left, p)} {node.op} {to_text(node.right, p + 1)}", p)
    if isinstance(node, A.Compare):
        p = _PREC["cmp"]
        return wrap(f"{to_text(node.left, p + 1)} {node.op} {to_text(node.right, p + 1)}", p)
    if isinstance(node, A.Logical):
        p = _PREC[node.op]
        return wrap(f" {node.op} ".join(to_text(i, p + 1) for i in node.items), p)
    if isinstance(node, A.In):
        p = _PREC["cmp"]
        kw = "not in" if node.negate else "in"
        return wrap(f"{to_text(node.item, p + 1)} {kw} {to_text(node.container, p + 1)}", p)
    if isinstance(node, A.IfElse):
        return wrap(f"if {to_text(node.cond)} then {to_text(node.then)} else {to_text(node.otherwise)}", 0)
    if isinstance(node, A.Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, A.ListLit):
        return "[" + ", ".join(to_text(i) for i in node.items) + "]"
    raise TypeError(node)  # pragma: no cover


def _literal_text(node: A.Literal) -> str:
    v = node.value
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        if node.unit:
            shown = (v / UNITS[node.unit]).normalize()
            return f"{shown:f}{node.unit}"
        return f"{v.normalize():f}" if v == v.to_integral_value() else f"{v:f}"
    if isinstance(v, date):
        return f'date("{v.isoformat()}")'
    return f'"{v}"'
