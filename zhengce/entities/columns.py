"""Register headers → schema fields, as a real register is written.

A register exported by a bureau names its columns in Chinese and often puts the unit in the header
("营业收入（万元）", "研发投入(亿元)", "营业收入增速（%）") with bare numbers below. ``resolve_columns`` maps each
header to a field of the entity type — by field name, by an explicit mapping, by the field's label, or by the
label without its qualifier when that is unambiguous ('是否' before a yes/no label is allowed), or one
alternative of an 'A/B' label when only one field has it ('所在区市' for 所在区市/开发区) — and records the
header's unit (a trailing （万元）/（%）…): a number written without a
unit in that column is in the header's unit. Headers that name no field are returned, never dropped silently.
One definition for the per-entity CSV loader and the bulk runner.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from zhengce.entities.schema import EntitySchema

#: units a header may carry (the same words the value parsers read)
HEADER_UNITS = ("万元", "亿元", "元", "万", "亿", "%", "‰", "bp", "基点")
#: common register headers for the record id and name (used when the register has no ``id`` / ``name`` column)
ID_HEADERS = ("统一社会信用代码", "社会信用代码", "信用代码", "企业编号", "编号", "ID")
NAME_HEADERS = ("企业名称", "单位名称", "名称")
_PAREN = re.compile(r"^(.*?)\s*[（(]\s*([^（）()]*?)\s*[）)]\s*$")


@dataclass
class ColumnMap:
    """How a register's headers read: ``fields`` header → field (every resolved header, renamed or not),
    ``units`` field → unit written in its header, ``ignored`` headers that name no field of the type."""

    fields: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    @property
    def renames(self) -> dict[str, str]:
        return {h: f for h, f in self.fields.items() if h != f}

    def source_of(self, name: str) -> str | None:
        """The header that feeds field ``name``."""
        for h, f in self.fields.items():
            if f == name:
                return h
        return None


def _split_unit(header: str) -> tuple[str, str | None]:
    """'营业收入（万元）' → ('营业收入', '万元'); a header without a trailing unit → (header, None)."""
    m = _PAREN.match(header)
    if m and m.group(2) in HEADER_UNITS:
        return m.group(1).strip(), m.group(2)
    return header.strip(), None


def _base(label: str) -> str:
    """A label without its trailing qualifiers: '营业收入（考核年度）' → '营业收入'."""
    while True:
        m = _PAREN.match(label)
        if not m:
            return label.strip()
        label = m.group(1)


def resolve_columns(schema: EntitySchema, entity_type: str, headers: list[str],
                    mapping: dict[str, str] | None = None, *, id_column: str = "id",
                    passthrough: tuple[str, ...] = ("_row", "type", "owner_id")) -> ColumnMap:
    """Map ``headers`` to fields of ``entity_type``. ``mapping`` (header → field) wins over everything else;
    a mapping to an unknown field, or two headers for one field, is an error naming them."""
    specs = schema.fields[entity_type]
    mapping = dict(mapping or {})
    for h, f in mapping.items():
        if f not in specs and f not in ("id", "name", *passthrough):
            near = difflib.get_close_matches(f, list(specs), n=1)
            hint = f"（是否为 {near[0]}？）" if near else ""
            raise ValueError(f"列映射 {h}={f}：{entity_type} 没有字段 {f!r}{hint}")
        if h not in headers:
            raise ValueError(f"列映射 {h}={f}：登记册没有列 {h!r}（有：{'、'.join(headers[:12])}…）")
    by_label = {s.label: n for n, s in specs.items()}
    bases: dict[str, list[str]] = {}
    alts: dict[str, list[str]] = {}  # 'A/B' labels: a header naming one alternative ('所在区市' of 所在区市/开发区)
    for n, s in specs.items():
        bases.setdefault(_base(s.label), []).append(n)
        pieces = [x.strip() for x in _base(s.label).split("/")]
        if len(pieces) > 1:
            for x in pieces:
                if x:
                    alts.setdefault(x, []).append(n)
    out = ColumnMap()
    taken: dict[str, str] = {}

    def take(h: str, f: str, unit: str | None) -> None:
        if f in taken:
            raise ValueError(f"列 {taken[f]!r} 和 {h!r} 都对应字段 {f}（{specs[f].label if f in specs else f}）："
                             "请删去一列，或用 --map 指定")
        taken[f] = h
        out.fields[h] = f
        if unit is not None and f in specs and specs[f].type in ("money", "number", "rate", "int"):
            out.units[f] = unit

    rest = []
    for h in headers:
        if h in mapping:
            take(h, mapping[h], _split_unit(h)[1])
        elif h in specs or h in passthrough or h in (id_column, "name"):
            take(h, "id" if h == id_column else h, None)
        else:
            rest.append(h)
    for h in rest:
        text, unit = _split_unit(h)
        f = by_label.get(h) or by_label.get(text)
        if f is None and len(bases.get(text, [])) == 1:
            f = bases[text][0]
        if f is None and len(alts.get(text, [])) == 1 and text not in bases:
            f = alts[text][0]
        if f is None and text.startswith("是否"):  # '是否工业企业' for the yes/no field 工业企业
            g = by_label.get(text[2:]) or (bases[text[2:]][0] if len(bases.get(text[2:], [])) == 1 else None)
            f = g if g is not None and specs[g].type == "bool" else None
        if f is None and text in specs:  # 'revenue（万元）'
            f = text
        if f is None and "id" not in taken and (h in ID_HEADERS or text in ID_HEADERS):
            f = "id"
        if f is None and "name" not in taken and (h in NAME_HEADERS or text in NAME_HEADERS):
            f = "name"
        if f is None:
            out.ignored.append(h)
            continue
        take(h, f, unit if by_label.get(h) is None else None)
    return out
