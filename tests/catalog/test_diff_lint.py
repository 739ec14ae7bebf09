"""Version diff (draft 001 vs issued 威政字〔2023〕40号) and the linter, against the catalog's expected findings."""

from __future__ import annotations

from datetime import date

from zhengce.catalog.diff import counterpart, diff
from zhengce.catalog.lint import lint


def _indicators(rep):
    return {i["no"]: i for i in rep.indicators}


def test_draft_vs_issued_indicator_table(cat):
    issued = cat.get("威政字〔2023〕40号")
    draft = counterpart(cat, issued)
    assert draft is not None and draft.key == "001_7e2b54dae55196d6#1"
    rep = diff(cat, draft, issued)
    ind = _indicators(rep)
    # catalog_001_004 C2: 5 changed cells + 1 typo fix
    assert ind[2]["cells"] == [{"column": 1, "a": "2.36", "b": "2.39"}, {"column": 2, "a": "2.40", "b": "2.48"}]
    assert ind[6]["cells"] == [{"column": 1, "a": "17.4", "b": "17.2"}]
    assert ind[26]["cells"] == [{"column": 3, "a": "36", "b": "37"}, {"column": 4, "a": "36", "b": "38"}]
    assert ind[19]["cells"] == [{"column": 4, "a": "3..5", "b": "3.5"}]
    assert ind[12]["name_b"].startswith("万人有效发明专利拥有量")
    assert all(not i.get("cells") for n, i in ind.items() if n not in (2, 4, 6, 19, 26))
    assert ind[2]["marker_a"] == ind[2]["marker_b"] == "*"


def test_draft_vs_issued_articles(cat):
    issued = cat.get("威政字〔2023〕40号")
    rep = diff(cat, cat.get("001_7e2b54dae55196d6#1"), issued)
    assert [x["path"] for x in rep.removed] == ["五(三)"]  # the 3-phase schedule became 2 phases
    assert "三(六)4(8)" in {x["path"] for x in rep.added}  # + 新能源 cluster
    changed = {c.path: c for c in rep.changed}
    basis = changed["一(一)"]  # baseline facts moved from 2021 to 2022 data
    assert "3463.93亿元" in basis.numbers_removed and "3408.18亿元" in basis.numbers_added
    assert rep.similarity > 0.8


def test_responsible_unit_changes(cat):
    rep = diff(cat, cat.get("001_7e2b54dae55196d6#1"), cat.get("威政字〔2023〕40号"))
    moved = {c.path: (c.units_removed, c.units_added) for c in rep.changed if c.units_removed or c.units_added}
    assert moved, "responsible-unit changes are reported"
    # catalog C5: (七)1 市委组织部 → 市工业和信息化局
    assert any("市工业和信息化局" in add for _rem, add in moved.values())


def test_lint_reports_expected_problems(cat):
    items = lint(cat, date(2024, 1, 1))
    by = {}
    for i in items:
        by.setdefault(i.code, []).append(i)
    toc = by["toc-docno-mismatch"]
    assert [(i.source[:3], i.line, i.doc) for i in toc] == [("000", 15, "威政发〔2023〕5号")]
    assert {(i.source[:3], i.line) for i in by["missing-number"]} >= {("002", 801)}  # 威政办发〔2023〕8号 no 第十一条
    assert {(i.source[:3], i.line) for i in by["duplicate-number"]} >= {("002", 847)}  # 第十五条 twice
    assert {(i.doc, i.line) for i in by["table-missing-number"]} >= {("威政办字〔2020〕48号", 901)}  # 附件1: no 6
    assert ("威政办字〔2020〕48号", 28) in {(i.doc, i.line) for i in by["toc-title-mismatch"]}
    absent = {(i.doc, i.line) for i in by["cited-absent"]}
    assert ("威金监发〔2023〕25号", 1739) in absent  # 威发〔2023〕5号 is not in the corpus
    incons = [i for i in by["inconsistent-number"] if i.doc == "威政办字〔2020〕48号"]
    assert any(i.line == 838 and "200项" in i.message for i in incons)  # 掌上办 300 vs 附件1 200
    assert all(i.line for i in items if i.code != "draft")


def test_lint_flags_expired_citation(tmp_path):
    from zhengce.catalog import Catalog
    from zhengce.gazette.parser import parse_text

    old = "某市人民政府关于甲的意见\n\n某政发〔2018〕1号\n\n各县：\n一、内容。\n本意见自2018年1月1日起施行，有效期至2019年12月31日。\n\n某市人民政府\n2018年1月1日\n"
    new = ("某市人民政府关于乙的通知\n\n某政发〔2021〕2号\n\n各县：\n根据《某市人民政府关于甲的意见》（某政发〔2018〕1号），制定本通知。\n"
           "一、对企业给予最高不超过50万元奖励。\n\n某市人民政府\n2021年3月1日\n")
    with Catalog(tmp_path / "c.db") as c:
        c.ingest_parsed(parse_text(old, "a.txt"))
        c.ingest_parsed(parse_text(new, "b.txt"))
        items = [i for i in lint(c, date(2021, 6, 1)) if i.code == "cites-expired"]
        assert len(items) == 1 and items[0].doc == "某政发〔2021〕2号" and items[0].line == 6
