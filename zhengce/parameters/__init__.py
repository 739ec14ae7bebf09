"""Dated parameters: named values that change over time (e.g. the 1-year LPR by publication date).

Files live in ``policies/parameters/<name>.yaml``::

    name: lpr_1y
    label: 1年期贷款市场报价利率（LPR）
    unit: "%"
    source: 全国银行间同业拆借中心受权公布
    known_until: 2025-06-19      # after this date the value is unknown (not silently carried forward)
    values:
      2019-08-20: 4.25%
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml

from zhengce.errors import ParameterError, RulePackError
from zhengce.money import to_decimal


@dataclass
class Parameter:
    name: str
    label: str
    unit: str | None
    source: str
    dates: list[date]
    values: list[Decimal]
    known_until: date | None = None

    def value_at(self, at: date) -> Decimal | None:
        """Value in force at ``at`` (the latest published on or before it); None before the first or after known_until."""
        if self.known_until is not None and at > self.known_until:
            return None
        i = bisect.bisect_right(self.dates, at) - 1
        return None if i < 0 else self.values[i]


@dataclass
class ParameterSet:
    params: dict[str, Parameter] = field(default_factory=dict)

    def value_at(self, name: str, at: date) -> Decimal | None:
        try:
            p = self.params[name]
        except KeyError:
            raise ParameterError(f"unknown parameter {name!r}; known: {', '.join(sorted(self.params)) or 'none'}") from None
        return p.value_at(at)

    def __contains__(self, name: str) -> bool:
        return name in self.params


def load_parameter(path: Path) -> Parameter:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulePackError(str(path), f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "name" not in data or not isinstance(data.get("values"), dict):
        raise RulePackError(str(path), "a parameter file needs 'name' and a 'values' mapping of date → value")
    pairs = []
    for k, v in data["values"].items():
        try:
            d = k if isinstance(k, date) else date.fromisoformat(str(k))
            pairs.append((d, to_decimal(v, what=f"value at {d}")))
        except ValueError as exc:
            raise RulePackError(str(path), str(exc), field=f"values.{k}") from exc
    pairs.sort()
    ku = data.get("known_until")
    if ku is not None and not isinstance(ku, date):
        ku = date.fromisoformat(str(ku))
    return Parameter(
        name=data["name"],
        label=data.get("label", data["name"]),
        unit=data.get("unit"),
        source=data.get("source", ""),
        dates=[d for d, _ in pairs],
        values=[v for _, v in pairs],
        known_until=ku,
    )


def load_parameters(directory: Path) -> ParameterSet:
    ps = ParameterSet()
    if directory.is_dir():
        for path in sorted(directory.glob("*.yaml")):
            p = load_parameter(path)
            ps.params[p.name] = p
    return ps
