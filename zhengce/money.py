"""Exact money and units. Amounts are Decimal 元 in the engine and integer 分 in bulk; never float.

Chinese policy text states amounts in 元, 万元 and 亿元 and rates in % or 基点; this module turns those
into Decimal 元 / Decimal fractions so every backend starts from the same exact value.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

YUAN = Decimal(1)
CENT = Decimal("0.01")

#: multiplier for each accepted unit suffix (value × multiplier = base unit: 元 for money, fraction for rates)
UNITS: dict[str, Decimal] = {
    "元": Decimal(1),
    "万元": Decimal(10_000),
    "亿元": Decimal(100_000_000),
    "万": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "%": Decimal("0.01"),
    "‰": Decimal("0.001"),
    "bp": Decimal("0.0001"),
    "基点": Decimal("0.0001"),
}
MONEY_UNITS = {"元", "万元", "亿元", "万", "亿"}
RATE_UNITS = {"%", "‰", "bp", "基点"}

_AMOUNT_RE = re.compile(r"^\s*([-+]?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(万元|亿元|元|万|亿|%|‰|bp|基点)?\s*$")


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Turn an int, Decimal, numeric string or unit string ("92亿元", "10%") into an exact Decimal.

    Floats are accepted only through their shortest repr (``0.1`` → ``Decimal("0.1")``), which is what a
    user typed in YAML/JSON; binary float error never reaches an amount.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number, got a boolean")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what}: {value!r} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        m = _AMOUNT_RE.match(value)
        if not m:
            raise ValueError(f"{what}: cannot read {value!r} as a number (examples: 1200000, '120万元', '1.2亿元', '10%')")
        try:
            number = Decimal(m.group(1).replace(",", ""))
        except InvalidOperation as exc:  # pragma: no cover - regex already guards
            raise ValueError(f"{what}: cannot read {value!r} as a number") from exc
        unit = m.group(2)
        return number * UNITS[unit] if unit else number
    raise ValueError(f"{what}: expected a number, got {type(value).__name__}")


def quantize_yuan(amount: Decimal) -> Decimal:
    """Round to 分 (0.01 元), half up — the rounding point for every reported amount."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def to_fen(amount: Decimal) -> int:
    """Decimal 元 → integer 分 (after rounding to 分)."""
    return int(quantize_yuan(amount) * 100)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def format_yuan(amount: Decimal | None) -> str:
    """Human Chinese display: 1234.5 → '1,234.50元'; ≥ 1万 also shows 万元."""
    if amount is None:
        return "—"
    q = quantize_yuan(amount)
    text = f"{q:,.2f}元"
    if abs(q) >= 10_000:
        wan = (q / 10_000).normalize()
        wan_text = f"{wan:f}".rstrip("0").rstrip(".") if "." in f"{wan:f}" else f"{wan:f}"
        text += f"（{wan_text}万元）"
    return text


def format_quantity(value: Decimal, unit: str | None) -> str:
    """Show a value in the unit the policy text uses (e.g. 9200000000 with unit 亿元 → '92亿元')."""
    if unit in UNITS and unit not in ("元",):
        v = (value / UNITS[unit]).normalize()
        s = f"{v:f}"
        return f"{s}{unit}"
    v = value.normalize() if isinstance(value, Decimal) else value
    return f"{v:f}{unit or ''}" if isinstance(v, Decimal) else f"{v}{unit or ''}"
