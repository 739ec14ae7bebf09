"""Read entities from YAML, JSON or CSV with clear errors (source, record, field, reason).

An entity file holds one entity or a list of them. Each entity is a flat mapping::

    type: enterprise            # default: enterprise
    id: 91371000MA3C000001
    name: 威海某精密制造有限公司
    revenue: 92亿元             # money: number in 元, or a string with 元/万元/亿元
    revenue_growth: 6%          # rate: "6%" or 0.06
    titles: [高新技术企业]
    projects:                   # optional child entities (projects, loans, persons, institutions)
      - id: P1
        equipment_investment: 3000万元
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import yaml

from zhengce.entities.model import Entity
from zhengce.entities.schema import CHILD_KEYS, ENTITY_TYPES, EntitySchema
from zhengce.errors import EntityError

MAX_FILE_BYTES = 200 * 1024 * 1024


_BARE_NUMBER = re.compile(r"^[-+]?[0-9][0-9,]*(\.[0-9]+)?$")


def entity_from_mapping(schema: EntitySchema, raw: object, *, source: str = "", record: str | int | None = None,
                        default_type: str = "enterprise", strict: bool = True) -> Entity:
    if not isinstance(raw, dict):
        raise EntityError(f"an entity must be a mapping of field: value, got {type(raw).__name__}", source, record)
    etype = raw.get("type", default_type)
    if etype not in ENTITY_TYPES:
        raise EntityError(f"unknown entity type {etype!r}; use one of {list(ENTITY_TYPES)}", source, record, "type")
    eid = raw.get("id")
    if eid is None or str(eid).strip() == "":
        eid = f"{etype}-{record if record is not None else 1}"
    rec = f"{record} ({eid})" if record is not None else str(eid)
    fields = schema.coerce_record(etype, raw, source=source, record=rec, strict=strict)
    children: list[Entity] = []
    for key, ctype in CHILD_KEYS.items():
        items = raw.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise EntityError(f"'{key}' must be a list of {ctype} records", source, rec, key)
        for j, item in enumerate(items, 1):
            if isinstance(item, dict):
                item = {"type": ctype, **item}
            child = entity_from_mapping(schema, item, source=source, record=f"{rec}.{key}[{j}]", default_type=ctype,
                                        strict=strict)
            if child.type != ctype:
                raise EntityError(f"'{key}' holds {ctype} records, got type {child.type!r}", source, f"{rec}.{key}[{j}]", "type")
            child.fields.setdefault("owner_id", eid)
            children.append(child)
    name = raw.get("name")
    warnings = schema.vocabulary_warnings(etype, fields)
    for child in children:
        warnings.extend(f"{child.type} {child.id}：{w}" for w in child.warnings)
    return Entity(etype, str(eid), fields, None if name is None else str(name), children, source, record, warnings)


def _read_text(path: Path) -> str:
    if not path.exists():
        raise EntityError("file not found", str(path))
    if path.stat().st_size > MAX_FILE_BYTES:
        raise EntityError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB; use `zhengce batch` for registers", str(path))
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise EntityError("looks like a binary file, not YAML/JSON/CSV text", str(path))
    from zhengce.encoding import decode_bytes

    try:
        return decode_bytes(data, path.name)[0]
    except ValueError as exc:
        raise EntityError(str(exc), str(path)) from None


def load_entities(path: str | Path, schema: EntitySchema, *, default_type: str = "enterprise",
                  strict: bool = True) -> list[Entity]:
    """Load every entity in a YAML/JSON/CSV file or an Excel workbook (its first sheet, read like CSV). Raises
    EntityError on the first bad record."""
    from zhengce.entities.spreadsheets import EXCEL_SUFFIXES, readable

    path = Path(path)
    src = str(path)
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        if not path.exists():
            raise EntityError("file not found", src)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise EntityError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB; use `zhengce batch` for registers", src)
        try:
            text = readable(path).path.read_text(encoding="utf-8")
        except ValueError as exc:
            raise EntityError(str(exc), src) from None
        suffix = ".csv"
    else:
        text = _read_text(path)
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise EntityError("CSV has no header row", src)
        # headers as a register writes them (中文名称, units in headers): one reading with `zhengce batch`
        from zhengce.entities.columns import resolve_columns

        try:
            cmap = resolve_columns(schema, default_type, list(reader.fieldnames))
        except ValueError as exc:
            raise EntityError(str(exc), src) from None
        out = []
        for i, row in enumerate(reader, start=2):  # line 1 is the header
            if None in row:
                raise EntityError(f"row has more cells than the header ({len(reader.fieldnames)} columns)", src, f"line {i}")
            rec = {}
            for k, v in row.items():
                if v == "":
                    continue
                f = cmap.fields.get(k, k)
                unit = cmap.units.get(f)
                rec[f] = f"{v.strip()}{unit}" if unit and _BARE_NUMBER.match(v.strip()) else v
            out.append(entity_from_mapping(schema, rec, source=src, record=f"line {i}", default_type=default_type,
                                           strict=strict))
        return out
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise EntityError(f"not valid {'JSON' if suffix == '.json' else 'YAML'}: {exc}", src) from None
    if data is None:
        raise EntityError("file is empty", src)
    if isinstance(data, dict) and "entities" in data:
        data = data["entities"]
    items = data if isinstance(data, list) else [data]
    return [entity_from_mapping(schema, item, source=src, record=i if len(items) > 1 else None,
                                default_type=default_type, strict=strict)
            for i, item in enumerate(items, 1)]
