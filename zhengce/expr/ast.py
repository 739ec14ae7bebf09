"""The expression AST: the single definition every backend (per-entity, polars, Spark) compiles from.

Nodes are frozen dataclasses with no behaviour; interpreters live elsewhere. Values are:
Decimal (numbers, money in 元, rates as fractions), str, bool, datetime.date, tuple (lists), None (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

Value = Decimal | str | bool | date | tuple | None


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value
    unit: str | None = None  # the unit as written ("万元", "%"), for display only; value is already in base units


@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "+", "-", "*", "/"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # "<", "<=", ">", ">=", "==", "!="
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # "and" / "or"; Kleene three-valued logic (None = unknown)
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class In:
    item: Node
    container: Node
    negate: bool = False


@dataclass(frozen=True, slots=True)
class IfElse:
    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]


Node = Literal | Field | Unary | Binary | Compare | Logical | In | IfElse | Call | ListLit

#: functions the language knows, with (min_args, max_args); max None = variadic
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "min": (1, None),
    "max": (1, None),
    "abs": (1, 1),
    "floor": (1, 1),  # toward −∞ to an integer
    "ceil": (1, 1),
    "round": (1, 2),  # round(x, places=0), half up
    "coalesce": (1, None),  # first known value
    "is_known": (1, 1),  # True when the value is present (never unknown)
    "date": (1, 1),  # date("2023-02-25") literal (folded at parse time)
    "days_between": (2, 2),  # days from a to b (b − a)
    "months_between": (2, 2),  # whole calendar months from a to b, days of a part month dropped
    "years_between": (2, 2),  # whole years from a to b
    "year": (1, 1),
    "month": (1, 1),
    "add_days": (2, 2),
    "add_months": (2, 2),
    "add_years": (2, 2),
    "param": (2, 2),  # param("lpr_1y", at_date): dated parameter value in force at that date
    "len": (1, 1),  # size of a list
    "count_in": (2, 2),  # count_in(list_field, ["a","b"]) — how many of the given values the list holds
}


def walk(node: Node):
    """Yield every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Unary):
            stack.append(n.operand)
        elif isinstance(n, (Binary, Compare)):
            stack.extend((n.right, n.left))
        elif isinstance(n, Logical):
            stack.extend(reversed(n.items))
        elif isinstance(n, In):
            stack.extend((n.container, n.item))
        elif isinstance(n, IfElse):
            stack.extend((n.otherwise, n.then, n.cond))
        elif isinstance(n, (Call, ListLit)):
            stack.extend(reversed(n.args if isinstance(n, Call) else n.items))


def fields_of(node: Node) -> set[str]:
    """Names of every entity field the expression reads."""
    return {n.name for n in walk(node) if isinstance(n, Field)}


def params_of(node: Node) -> set[str]:
    return {
        n.args[0].value
        for n in walk(node)
        if isinstance(n, Call) and n.func == "param" and isinstance(n.args[0], Literal)
    }
