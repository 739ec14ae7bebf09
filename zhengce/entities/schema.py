"""Typed entity schemas with units. Field definitions are data (policies/entities/core.yaml plus each pack's
``fields:`` section), merged into one registry; a name defined twice with different meaning is an error."""

from __future__ import annotations

import difflib
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zhengce.errors import EntityError
from zhengce.money import to_decimal

ENTITY_TYPES = ("enterprise", "project", "loan", "person", "institution", "district")
ENTITY_LABELS = {
    "enterprise": "企业",
    "project": "项目",
    "loan": "贷款",
    "person": "个人",
    "institution": "机构",
    "district": "区市/开发区",
}
#: plural keys under which an entity file may nest child entities (a company's projects, loans …)
CHILD_KEYS = {"projects": "project", "loans": "loan", "persons": "person", "institutions": "institution"}
RESERVED = {"type", "id", "name", "as_of", "owner_id", *CHILD_KEYS}

FieldType = Literal["money", "number", "rate", "int", "bool", "date", "text", "enum", "set"]


class FieldSpec(BaseModel):
    """One entity field: its type, unit and meaning (shown in docs, errors and near-miss messages)."""

    model_config = ConfigDict(extra="forbid")

    type: FieldType
    label: str = Field(description="中文名称, e.g. 营业收入")
    unit: str | None = Field(default=None, description="display unit: 元/万元/亿元 for money, % for rates")
    description: str | None = None
    values: list[str] | None = Field(default=None, description="allowed values (enum, set)")
    defined_in: str | None = Field(default=None, description="file that defined the field (filled by the loader)")

    def same_meaning(self, other: FieldSpec) -> bool:
        return self.type == other.type and (self.values or None) == (other.values or None)


_TRUE = {"true", "yes", "y", "1", "是", "有", "√", "t"}
_FALSE = {"false", "no", "n", "0", "否", "无", "×", "f", ""}


def coerce(spec: FieldSpec, value: object) -> object:
    """Normalise one raw input value to the engine's value types. Raises ValueError with the reason."""
    if value is None:
        return None
    t = spec.type
    if isinstance(value, str) and value.strip() == "" and t != "text":
        return None
    if t in ("money", "number", "rate"):
        if t == "rate" and isinstance(value, str) and value.strip().endswith("%"):
            return to_decimal(value.strip(), what="rate")
        return to_decimal(value, what=t)
    if t == "int":
        d = to_decimal(value, what="integer")
        if d != d.to_integral_value():
            raise ValueError(f"expected a whole number, got {value!r}")
        return Decimal(int(d))
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, Decimal)) and value in (0, 1):
            return bool(value)
        s = str(value).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise ValueError(f"expected true/false (或 是/否), got {value!r}")
    if t == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a date like 2023-02-25, got {value!r}") from None
    if t == "text":
        return str(value)
    if t == "enum":
        s = str(value).strip()
        if spec.values and s not in spec.values:
            close = difflib.get_close_matches(s, spec.values, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{s!r} is not one of {spec.values}{hint}")
        return s
    if t == "set":
        if isinstance(value, str):
            items = [p.strip() for p in value.replace("；", ";").replace("、", ";").replace(",", ";").split(";")]
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = [str(p).strip() for p in value]
        else:
            raise ValueError(f"expected a list of values, got {value!r}")
        items = [p for p in items if p]
        if spec.values:
            bad = [p for p in items if p not in spec.values]
            if bad:
                raise ValueError(f"{bad} not among allowed values {spec.values}")
        return tuple(dict.fromkeys(items))
    raise ValueError(f"unknown field type {t}")  # pragma: no cover


class EntitySchema:
    """Registry: entity type → field name → FieldSpec."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[str, FieldSpec]] = {t: {} for t in ENTITY_TYPES}
        #: (entity type, field) → the string values rules test it against (e.g. the titles in `"…" in titles_new`)
        self.vocabulary: dict[tuple[str, str], set[str]] = {}

    def vocabulary_warnings(self, entity_type: str, fields: dict[str, object]) -> list[str]:
        """Values of text/set fields that no rule ever tests for — almost always a misspelt title.

        A warning, not an error: a register may hold titles no current rule uses. Without it, a typo in
        "国家级专精特新“小巨人”企业" would silently make every matching rule 'not eligible'.
        """
        out = []
        for name, value in fields.items():
            # `titles` and `titles_new` (held / first obtained this year) share one vocabulary
            base = name[:-4] if name.endswith("_new") else name
            vocab = self.vocabulary.get((entity_type, base), set()) | self.vocabulary.get((entity_type, base + "_new"), set())
            if not vocab or value is None:
                continue
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if isinstance(v, str) and v not in vocab:
                    close = difflib.get_close_matches(v, sorted(vocab), n=1, cutoff=0.6)
                    hint = f"，是否为“{close[0]}”？" if close else ""
                    out.append(f"{name}：“{v}”不是任何规则使用的取值{hint}（可用取值见 zhengce fields --values {name}）")
        return out

    def add(self, entity_type: str, name: str, spec: FieldSpec, source: str) -> None:
        from zhengce.errors import RulePackError

        if entity_type not in self.fields:
            raise RulePackError(source, f"unknown entity type {entity_type!r}; use one of {list(ENTITY_TYPES)}")
        if name in RESERVED:
            raise RulePackError(source, f"'{name}' is reserved and cannot be declared as a field", field=name)
        if not name.isidentifier():
            raise RulePackError(source, "field names must be identifiers (letters, digits, _)", field=name)
        existing = self.fields[entity_type].get(name)
        if existing is not None:
            if not existing.same_meaning(spec):
                raise RulePackError(
                    source,
                    f"{entity_type}.{name} is already defined in {existing.defined_in} as {existing.type}"
                    f"{' ' + str(existing.values) if existing.values else ''}; a second, different definition is ambiguous",
                    field=name,
                )
            return
        self.fields[entity_type][name] = spec.model_copy(update={"defined_in": source})

    def get(self, entity_type: str, name: str) -> FieldSpec | None:
        return self.fields.get(entity_type, {}).get(name)

    def suggest(self, entity_type: str, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.fields.get(entity_type, {})), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def coerce_record(
        self, entity_type: str, raw: dict, *, source: str = "", record: str | int | None = None, strict: bool = True
    ) -> dict[str, object]:
        """Validate and normalise one record's fields. Unknown fields are errors when strict (typos lose data)."""
        specs = self.fields[entity_type]
        out: dict[str, object] = {}
        for key, value in raw.items():
            if key in RESERVED:
                continue
            spec = specs.get(key)
            if spec is None:
                if strict:
                    raise EntityError(
                        f"unknown {entity_type} field{self.suggest(entity_type, key)}; see docs/entities.md",
                        source, record, key,
                    )
                continue
            try:
                out[key] = coerce(spec, value)
            except ValueError as exc:
                raise EntityError(f"{exc} ({spec.label}, {spec.type}{', ' + spec.unit if spec.unit else ''})",
                                  source, record, key) from None
        return out
