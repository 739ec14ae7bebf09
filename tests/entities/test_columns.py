"""Register headers as bureaus write them (中文名称, units in headers) resolve to schema fields — for the per-entity
CSV loader and `zhengce batch` alike."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zhengce.entities.columns import resolve_columns
from zhengce.entities.loader import load_entities
from zhengce.errors import EntityError


def test_headers_by_name_label_label_base_and_unit(pack):
    s = pack.schema
    cm = resolve_columns(s, "enterprise", [
        "统一社会信用代码", "企业名称", "所在区市/开发区", "营业收入（万元）", "营业收入增速（%）", "revenue_base",
        "营业收入增速（考核年度的前一年）(%)", "是否工业企业", "从业人员数", "备注"])
    assert cm.fields["统一社会信用代码"] == "id" and cm.fields["企业名称"] == "name"
    assert cm.fields["所在区市/开发区"] == "district"  # the label exactly
    # 营业收入 is the label 营业收入（考核年度） without its qualifier, and the only field with that base
    assert cm.fields["营业收入（万元）"] == "revenue" and cm.units["revenue"] == "万元"
    # 营业收入增速 is the base of two labels (this year's and last year's growth): never guessed, reported
    assert "营业收入增速（%）" in cm.ignored
    assert cm.fields["营业收入增速（考核年度的前一年）(%)"] == "revenue_growth_prev_year"
    assert cm.units["revenue_growth_prev_year"] == "%"
    assert cm.fields["是否工业企业"] == "is_industrial"
    assert cm.fields["revenue_base"] == "revenue_base" and "revenue_base" not in cm.units
    assert cm.fields["从业人员数"] == "employees"
    assert "备注" in cm.ignored  # names no field: reported, not dropped silently
    assert cm.source_of("revenue") == "营业收入（万元）"


def test_explicit_mapping_wins_and_bad_mappings_are_named(pack):
    s = pack.schema
    cm = resolve_columns(s, "enterprise", ["营收（亿元）", "编号", "营业收入增速（%）"],
                         {"营收（亿元）": "revenue", "营业收入增速（%）": "revenue_growth"})
    assert cm.fields == {"营收（亿元）": "revenue", "编号": "id", "营业收入增速（%）": "revenue_growth"}
    assert cm.units == {"revenue": "亿元", "revenue_growth": "%"}
    with pytest.raises(ValueError, match="没有字段 'revenu'.*revenue"):
        resolve_columns(s, "enterprise", ["营收"], {"营收": "revenu"})
    with pytest.raises(ValueError, match="没有列 '营业额'"):
        resolve_columns(s, "enterprise", ["营收"], {"营业额": "revenue"})
    with pytest.raises(ValueError, match="'revenue' 和 '营业收入（万元）' 都对应字段 revenue"):
        resolve_columns(s, "enterprise", ["revenue", "营业收入（万元）"])


def test_per_entity_csv_reads_chinese_headers_and_header_units(pack, tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("统一社会信用代码,企业名称,营业收入（万元）,营业收入增速（考核年度，同比）（%）,是否工业企业\n"
                 "91371000X,华东精工,920000,12.5,是\n"
                 "91371000Y,半岛科技,3亿元,0.08,否\n", encoding="utf-8")
    a, b = load_entities(p, pack.schema)
    assert (a.id, a.name) == ("91371000X", "华东精工")
    assert a.fields["revenue"] == Decimal("9200000000")  # 920000 万元 = 92亿元, in 元
    assert a.fields["revenue_growth"] == Decimal("0.125")  # 12.5 under a % header
    assert b.fields["revenue"] == Decimal("300000000")  # a value's own unit beats the header's
    assert b.fields["revenue_growth"] == Decimal("0.0008")  # 0.08 %
    assert a.fields["is_industrial"] is True and b.fields["is_industrial"] is False


def test_per_entity_csv_duplicate_columns_is_a_clear_error(pack, tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("id,revenue,营业收入（亿元）\nE1,1,2\n", encoding="utf-8")
    with pytest.raises(EntityError, match="都对应字段 revenue"):
        load_entities(p, pack.schema)


def test_one_alternative_of_an_a_or_b_label(pack):
    """'所在区市' (or '开发区') is one alternative of the label 所在区市/开发区: mapped when only one field of the type
    has it; the project type's own 项目所在区市/开发区 does not collide with the enterprise's."""
    s = pack.schema
    cm = resolve_columns(s, "enterprise", ["统一社会信用代码", "所在区市"])
    assert cm.fields["所在区市"] == "district"
    cm = resolve_columns(s, "project", ["id", "项目所在区市", "项目类型"])
    assert cm.fields["项目所在区市"] == "district" and cm.fields["项目类型"] == "project_types"
    # an alternative two fields share is never guessed (a schema with two 'A/B' labels sharing A)
    from zhengce.entities.schema import EntitySchema, FieldSpec

    two = EntitySchema()
    two.fields["enterprise"] = {"a": FieldSpec(type="text", label="区市/开发区"),
                                "b": FieldSpec(type="text", label="区市/园区")}
    cm = resolve_columns(two, "enterprise", ["区市", "园区"])
    assert "区市" in cm.ignored and cm.fields["园区"] == "b"
