"""Malformed rule packs and entity files fail with errors that name the file, the rule or record, and the field."""

from __future__ import annotations

import pytest

from tests.engine.test_evaluate import GOOD, mini_pack
from zhengce.entities.loader import load_entities
from zhengce.errors import EntityError, RulePackError


def broken(tmp_path, old, new):
    assert old in GOOD, old
    return mini_pack(tmp_path, GOOD.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("rd_expense >= 1000万元}", "rd_expnse >= 1000万元}", ["rule t-01", "conditions.rd.expr", "unknown enterprise field 'rd_expnse'", "did you mean 'rd_expense'"]),
        ("rd_expense >= 1000万元}", "rd_expense >= }", ["rule t-01", "conditions.rd.expr", "bad expression", "expected a value"]),
        ("kind: maximum", "kind: maybe", ["rule t-01", "field 'kind'", "maximum"]),
        ("    quote: 按研发费用10%补助，最高300万元。\n", "", ["rule t-01", "field 'quote'", "required field is missing"]),
        ("funding: {市级: 30%, 区市: 70%}", "funding: {市级: 30%, 区市: 60%}", ["rule t-01", "add up to 100%"]),
        ("id: t-02", "id: t-01", ["rule t-01", "duplicate rule id"]),
        ("    article: 一\n", "    article: 一\n    amout: 1\n", ["rule t-01", "amout", "unknown key"]),
        ("lines: [2, 2]", "lines: [9, 2]", ["rule t-01", "lines", "start ≤ end"]),
        ("entity: enterprise\n    kind: maximum", "entity: company\n    kind: maximum", ["rule t-01", "unknown entity type 'company'"]),
        ("expires: 2023-12-31", "expires: 2022-12-31", ["document", "before effective"]),
        ("doc_no: 测试发〔2023〕1号", "doc_no: 测试发〔2023〕2号", ["must be named after its 文号"]),
        ("amount: 20万元", "amount: 20万元 +", ["rule t-02", "amount", "bad expression"]),
        ("rules: all", "rules: [t-99]", ["group cap lc names unknown rules"]),
    ],
)
def test_malformed_rule_files(tmp_path, old, new, expect):
    with pytest.raises(RulePackError) as exc:
        broken(tmp_path, old, new)
    msg = str(exc.value)
    assert "测试发〔2023〕1号.yaml" in msg or "policies" in msg
    for part in expect:
        assert part in msg, msg


def test_bad_yaml_names_the_line(tmp_path):
    with pytest.raises(RulePackError, match=r"not valid YAML at line \d+"):
        mini_pack(tmp_path, GOOD + "\n  - id: [unclosed\n")


def test_conflicting_field_definitions(tmp_path):
    body = GOOD.replace("rules:\n", "fields:\n  enterprise:\n    revenue: {type: int, label: x}\nrules:\n", 1)
    with pytest.raises(RulePackError, match="already defined"):
        mini_pack(tmp_path, body)


@pytest.fixture()
def good(tmp_path):
    return mini_pack(tmp_path, GOOD)


@pytest.mark.parametrize(
    ("content", "suffix", "expect"),
    [
        ("id: A\nrevnue: 5亿元\n", ".yaml", ["record A", "field 'revnue'", "did you mean 'revenue'"]),
        ("id: A\nrevenue: 五亿\n", ".yaml", ["field 'revenue'", "cannot read", "营业收入"]),
        ("id: A\ndistrict: 火星区\n", ".yaml", ["field 'district'", "not one of"]),
        ("id: A\nregistered_date: 2023/02/30\n", ".yaml", ["field 'registered_date'", "expected a date"]),
        ("id: A\nis_industrial: maybe\n", ".yaml", ["field 'is_industrial'", "true/false"]),
        ("id: A\ntype: company\n", ".yaml", ["field 'type'", "unknown entity type"]),
        ("", ".yaml", ["file is empty"]),
        ("{bad json", ".json", ["not valid JSON"]),
        ("id,revenue\nA,5亿元\nB,abc\n", ".csv", ["line 3", "field 'revenue'"]),
        ("id,revenue\nA,5亿元,extra\n", ".csv", ["line 2", "more cells than the header"]),
        ("id: A\nprojects: {x: 1}\n", ".yaml", ["'projects' must be a list"]),
        ("id: A\nprojects:\n  - {id: P1, equipment_investment: lots}\n", ".yaml", ["projects[1]", "equipment_investment"]),
    ],
)
def test_malformed_entity_files(good, tmp_path, content, suffix, expect):
    f = tmp_path / f"e{suffix}"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(EntityError) as exc:
        load_entities(f, good.schema)
    msg = str(exc.value)
    assert str(f) in msg
    for part in expect:
        assert part in msg, msg


def test_binary_and_missing_files(good, tmp_path):
    f = tmp_path / "x.yaml"
    f.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(EntityError, match="binary"):
        load_entities(f, good.schema)
    with pytest.raises(EntityError, match="file not found"):
        load_entities(tmp_path / "nope.yaml", good.schema)


def test_gbk_entity_file_is_read(good, tmp_path):
    f = tmp_path / "gbk.yaml"
    f.write_bytes("id: A\nname: 威海测试\nrevenue: 5亿元\n".encode("gbk"))
    (e,) = load_entities(f, good.schema)
    assert e.name == "威海测试" and str(e.fields["revenue"]) == "500000000"


def test_entity_units_and_types(good, tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("id: A\nrevenue: 92亿元\nrevenue_growth: 6.5%\nrd_expense: 1200000\ntitles: 高新技术企业、专精特新中小企业\n"
                 "is_industrial: 是\n", encoding="utf-8")
    (e,) = load_entities(f, good.schema)
    from decimal import Decimal

    assert e.fields["revenue"] == Decimal("9200000000")
    assert e.fields["revenue_growth"] == Decimal("0.065")
    assert e.fields["titles"] == ("高新技术企业", "专精特新中小企业")
    assert e.fields["is_industrial"] is True


def test_cli_reports_errors_without_traceback(tmp_path):
    from typer.testing import CliRunner

    from zhengce.cli import app

    f = tmp_path / "bad.yaml"
    f.write_text("id: A\nrevnue: 5亿元\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["check", str(f), "--as-of", "2023-06-01"])
    assert res.exit_code == 2
    assert "revnue" in res.output and "Traceback" not in res.output


def test_unknown_title_gets_a_did_you_mean_warning(pack, tmp_path):
    from datetime import date

    from zhengce.engine.evaluate import evaluate

    f = tmp_path / "t.yaml"
    f.write_text("id: T\ntitles_new: [国家级制造业创新中心, 国家级制造业创新中心牵头企业]\n", encoding="utf-8")
    (e,) = load_entities(f, pack.schema)
    assert len(e.warnings) == 1 and "是否为“国家级制造业创新中心牵头企业”" in e.warnings[0]
    rep = evaluate(pack, e, date(2023, 6, 30))
    assert rep.to_json()["input_warnings"] == e.warnings


def test_duplicate_yaml_keys_are_rejected(tmp_path):
    # PyYAML would silently keep the last value: a rule's second 'amount' would replace the first unseen
    body = GOOD.replace("    amount: 20万元\n", "    amount: 20万元\n    amount: 30万元\n", 1)
    with pytest.raises(RulePackError, match=r"duplicate key 'amount' \(first at line \d+\)"):
        mini_pack(tmp_path, body)
