"""The evaluator on the real pack and on a small synthetic pack: validity, caps, stacking, group caps, traces."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import POLICIES
from zhengce.engine.evaluate import evaluate
from zhengce.entities.loader import entity_from_mapping
from zhengce.rules.loader import load_pack

D = Decimal

def mini_pack(tmp_path, body: str):
    root = tmp_path / "policies"
    (root / "weihai").mkdir(parents=True)
    shutil.copytree(POLICIES / "entities", root / "entities")
    shutil.copytree(POLICIES / "parameters", root / "parameters")
    (root / "weihai" / "测试发〔2023〕1号.yaml").write_text(textwrap.dedent(body), encoding="utf-8")
    return load_pack(root)


GOOD = """
document:
  doc_no: 测试发〔2023〕1号
  title: 测试文件
  issuers: [测试机关]
  seed: test.txt
  lines: [1, 50]
  effective: 2023-01-01
  expires: 2023-12-31
  repealed: {date: 2023-10-01, by: 测试发〔2023〕9号}
  group_caps:
    - {id: lc, label: 原则上不超过上年度企业地方贡献, limit: local_contribution_prev_year, rules: all}
rules:
  - id: t-01
    title: 比例补助
    article: 一
    lines: [2, 2]
    quote: 按研发费用10%补助，最高300万元。
    entity: enterprise
    kind: maximum
    conditions:
      - {id: rd, label: 研发费用1000万元以上, expr: rd_expense >= 1000万元}
    amount: {rate: 10%, base: rd_expense}
    caps: [{label: 最高300万元, expr: 300万元}]
    funding: {市级: 30%, 区市: 70%}
  - id: t-02
    title: 高企奖励
    article: 二
    lines: [3, 3]
    quote: 新认定高新技术企业奖励20万元。
    entity: enterprise
    kind: entitlement
    conditions:
      - {id: hte, label: 新认定高新技术企业, expr: '"高新技术企业" in titles_new'}
    amount: 20万元
    stacking_group: g
  - id: t-03
    title: 小巨人奖励
    article: 三
    lines: [4, 4]
    quote: 新认定小巨人奖励30万元。
    entity: enterprise
    kind: entitlement
    conditions:
      - {id: xjr, label: 新认定小巨人, expr: '"小巨人" in titles_new'}
    amount: 30万元
    stacking_group: g
  - id: t-04
    title: 台阶奖励
    article: 四
    lines: [5, 5]
    quote: 每跨越一个百亿台阶奖励1000万元。
    entity: enterprise
    kind: entitlement
    conditions:
      - {id: base, label: 基期100亿元以上, expr: revenue_base >= 100亿元}
    amount: {each: 1000万元, steps: floor(revenue / 100亿元) - floor(revenue_base / 100亿元)}
"""


@pytest.fixture()
def good(tmp_path):
    return mini_pack(tmp_path, GOOD)


def ent(pack, **fields):
    return entity_from_mapping(pack.schema, {"id": "E1", **fields})


def test_validity_effective_expiry_and_repeal(good):
    e = ent(good, rd_expense="2000万元")
    assert evaluate(good, e, date(2022, 12, 31)).results[0].status == "not_in_force"
    assert "尚未生效" in evaluate(good, e, date(2022, 12, 31)).results[0].reason
    assert evaluate(good, e, date(2023, 9, 30)).results[0].status == "eligible"
    r = evaluate(good, e, date(2023, 10, 1)).results[0]
    assert r.status == "not_in_force" and "废止" in r.reason


def test_rate_cap_and_funding_split(good):
    r = evaluate(good, ent(good, rd_expense="2000万元"), date(2023, 6, 1)).results[0]
    assert r.amount == D("2000000.00") and not r.caps[0].binding
    assert r.funding == {"市级": D("600000.00"), "区市": D("1400000.00")}
    r = evaluate(good, ent(good, rd_expense="4000万元"), date(2023, 6, 1)).results[0]
    assert r.amount == D("3000000.00") and r.caps[0].binding and r.uncapped == D("4000000")
    assert "最高300万元" in r.arithmetic


def test_funding_split_adds_up_exactly(good):
    r = evaluate(good, ent(good, rd_expense="1000.01万元"), date(2023, 6, 1)).results[0]
    assert sum(r.funding.values()) == r.amount


def test_near_miss_reports_gap_in_text_units(good):
    r = evaluate(good, ent(good, rd_expense="920万元"), date(2023, 6, 1)).results[0]
    assert r.status == "not_eligible" and r.is_near_miss
    nm = r.near_misses[0]
    assert nm.field == "rd_expense" and nm.required == D("10000000") and nm.actual == D("9200000")
    assert nm.gap == D("800000") and nm.unit == "万元"
    js = r.to_json()["near_misses"][0]
    assert js["gap"] == "800000" and js["relative_gap"] == "0.0800"


def test_stacking_group_pays_the_highest_once(good):
    rep = evaluate(good, ent(good, titles_new=["高新技术企业", "小巨人"]), date(2023, 6, 1))
    by = {r.rule_id: r for r in rep.results}
    assert by["t-03"].superseded_by is None and by["t-02"].superseded_by == "t-03"
    assert rep.totals()["entitlement"] == D("300000")


def test_group_cap_limits_the_total_not_the_items(good):
    e = ent(good, rd_expense="2500万元", titles_new=["小巨人"], local_contribution_prev_year="200万元")
    rep = evaluate(good, e, date(2023, 6, 1))
    gc = rep.group_caps[0]
    assert gc.binding and gc.total_before == D("2800000") and gc.total_after == D("2000000")
    t = rep.totals()
    assert t["overall_upper_bound"] == D("2000000")
    assert rep.to_json()["summary"]["group_cap_reduction_yuan"] == "800000.00"


def test_group_cap_unknown_limit_is_reported(good):
    rep = evaluate(good, ent(good, titles_new=["小巨人"]), date(2023, 6, 1))
    assert rep.group_caps[0].limit is None and not rep.group_caps[0].binding


def test_per_step(good):
    r = [x for x in evaluate(good, ent(good, revenue_base="150亿元", revenue="420亿元"), date(2023, 6, 1)).results
         if x.rule_id == "t-04"][0]
    assert r.amount == D("30000000.00")


def test_undetermined_lists_missing_fields(good):
    r = evaluate(good, ent(good), date(2023, 6, 1)).results[0]
    assert r.status == "undetermined" and r.missing_fields == ["rd_expense"]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rd=st.decimals(min_value=0, max_value=10**10, places=2))
def test_amount_never_exceeds_cap_and_is_exact(good, rd):
    r = evaluate(good, ent(good, rd_expense=rd), date(2023, 6, 1)).results[0]
    if r.status == "eligible":
        assert D(0) <= r.amount <= D("3000000")
        assert r.amount == min(rd * D("0.1"), D("3000000")).quantize(D("0.01"), rounding=ROUND_HALF_UP)
        assert isinstance(r.amount, Decimal)
    else:
        assert rd < D("10000000")


def test_real_pack_sample_enterprise(pack):
    from zhengce.entities.loader import load_entities

    (e,) = load_entities(POLICIES.parent / "examples" / "enterprise.yaml", pack.schema)
    rep = evaluate(pack, e, date(2023, 6, 30))
    by = {r.rule_id: r for r in rep.results}
    assert by["zbf-2023-5-09"].amount == D("5000000.00") and by["zbf-2023-5-09"].kind == "maximum"
    assert by["zbf-2023-5-09"].caps[0].binding
    near = by["zbf-2023-5-02"]
    assert near.is_near_miss and near.near_misses[0].gap == D("800000000")
    js = rep.to_json()
    assert js["schema_version"] and js["results"][0]["doc_no"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_real_pack_amounts_respect_every_cap(pack, data):
    """Property over the whole pack: no reported amount exceeds any of its rule's caps; all amounts ≥ 0."""
    money = st.decimals(min_value=0, max_value=5 * 10**10, places=2)
    fields = {
        "revenue": data.draw(money), "revenue_base": data.draw(money), "revenue_peak_before": data.draw(money),
        "revenue_growth": data.draw(st.decimals(min_value=-1, max_value=2, places=4)),
        "local_contribution_prev_year": data.draw(money), "is_industrial": data.draw(st.booleans()),
        "projects": [{"id": "P", "equipment_investment": data.draw(money), "total_investment": data.draw(money),
                      "owner_is_target_enterprise": True, "owner_broke_100yi": True,
                      "project_types": ["新开工", "制造业", "新建"]}],
    }
    rep = evaluate(pack, entity_from_mapping(pack.schema, {"id": "X", **fields}), date(2023, 6, 30))
    for r in rep.results:
        if r.amount is not None:
            assert r.amount >= 0
            for c in r.caps:
                if c.limit is not None:
                    assert r.amount <= c.limit.quantize(D("0.01")), r.rule_id
    for g in rep.group_caps:
        assert g.total_after <= g.total_before
