"""Every document of seeds 000, 002 and 003 with the expected values from /work/shared/spec/catalog_*.md.

Columns: index, 文号, title (the catalog's form: 000 → 关于… subject, 002 → full header title, 003 → the instrument's
own title for 印发 notices), issuers, signed, effective, expiry, first line, last line.
Where the catalog and the text disagree the text wins; each such case is noted inline.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.gazette.seedutil import parsed
from zhengce.gazette.text import nospace

D = date
SEED_000 = [
    (1, "威政发〔2023〕5号", "关于强化科技创新支撑国家创新型城市建设的实施意见", ["威海市人民政府"], D(2023, 7, 13), D(2023, 7, 13), D(2028, 7, 12), 63, 204),
    (2, "威政字〔2023〕40号", "关于印发威海市建设国家创新型城市实施方案的通知", ["威海市人民政府"], D(2023, 7, 16), None, None, 206, 559),
    (3, "威政办发〔2023〕12号", "关于进一步发挥农业信贷担保作用推动农业农村高质量发展的实施意见", ["威海市人民政府办公室"], D(2023, 7, 13), D(2023, 7, 13), D(2028, 7, 12), 561, 666),
    (4, "威政办发〔2023〕15号", "关于印发数字威海建设2023年工作要点的通知", ["威海市人民政府办公室"], D(2023, 8, 19), None, None, 668, 930),
    (5, "威政办字〔2023〕27号", "关于印发威海市加快推进电商产业高质量发展工作方案的通知", ["威海市人民政府办公室"], D(2023, 8, 17), None, None, 932, 1004),
    (6, "威政办字〔2023〕25号", "关于印发贯彻落实《威海市气瓶安全管理条例》工作方案的通知", ["威海市人民政府办公室"], D(2023, 7, 27), None, None, 1006, 1082),
    (7, "威民发〔2023〕17号", "关于印发《威海市公办养老机构入住评估轮候办法（试行）》的通知", ["威海市民政局"], D(2023, 7, 18), D(2023, 7, 18), D(2024, 12, 31), 1084, 1200),
    (8, "威医保发〔2023〕33号", "关于印发《威海市公立医疗机构医疗服务项目价格（2023年版）》的通知",
     ["威海市医疗保障局", "威海市卫生健康委员会", "威海市市场监督管理局"], D(2023, 7, 28), D(2023, 9, 1), D(2028, 8, 31), 1202, 1252),
    (9, "威教发〔2023〕5号", "关于印发《威海市校外培训机构信用管理办法（试行）》的通知",
     ["威海市教育局", "威海市文化和旅游局", "威海市体育局"], D(2023, 8, 9), D(2023, 9, 10), D(2025, 9, 9), 1254, 1334),
    (10, "威公通〔2023〕35号", "关于印发《威海市建设项目交通影响评价实施办法》的通知",
     ["威海市公安局", "威海市财政局", "威海市自然资源和规划局", "威海市住房和城乡建设局", "威海市行政审批服务局"],
     D(2023, 8, 7), D(2023, 9, 7), D(2028, 9, 6), 1336, 1483),
    # catalog: effective "自本决定发布之日起" (publication date not printed) → no effective date is invented
    (11, "威政发〔2023〕6号", "关于废止部分市政府规范性文件的决定", ["威海市人民政府"], D(2023, 7, 14), None, None, 1485, 1511),
    (12, "威政发〔2023〕7号", "关于命名“威海工匠”的决定", ["威海市人民政府"], D(2023, 8, 24), None, None, 1513, 1580),
    (13, "威政字〔2023〕41号", "关于公布第七批市级非物质文化遗产代表性项目名录的通知", ["威海市人民政府"], D(2023, 7, 20), None, None, 1582, 1681),
    (14, "威政字〔2023〕46号", "关于公布部分威海市历史建筑的通知", ["威海市人民政府"], D(2023, 8, 19), None, None, 1683, 1720),
    (15, "威金监发〔2023〕25号", "关于印发《威海市高层次人才保险实施办法》的通知", ["中共威海市委组织部", "威海市地方金融监督管理局"],
     D(2023, 8, 9), D(2023, 8, 9), D(2027, 8, 9), 1722, 1791),
]
_FIN = ["威海市财政局", "威海市地方金融监督管理局", "威海市科学技术局", "威海市工业和信息化局", "威海市市场监督管理局",
        "中国银行保险监督管理委员会威海监管分局"]
_AGRI = ["威海市财政局", "威海市发展和改革委员会", "威海市农业农村局", "威海市海洋发展局", "威海市地方金融监管局", "威海市林业局",
         "威海银保监分局"]
_OFFICE = ["威海市人民政府办公室"]
SEED_002 = [
    (1, "威发〔2023〕3号", "中共威海市委 威海市人民政府关于进一步健全激励机制推动经济高质量发展的意见", ["中共威海市委", "威海市人民政府"], D(2023, 2, 26), None, None, 69, 276),
    (2, "威政办发〔2023〕1号", "威海市人民政府办公室关于印发威海市2023年促消费政策措施的通知", _OFFICE, D(2023, 1, 20), None, None, 278, 357),
    (3, "威政办发〔2023〕3号", "威海市人民政府办公室关于促进体育产业高质量发展的实施意见", _OFFICE, D(2023, 2, 15), D(2023, 2, 15), D(2028, 2, 14), 359, 465),
    (4, "威政办发〔2023〕5号", "威海市人民政府办公室关于印发威海市促进企业扩张激励办法(试行)的通知", _OFFICE, D(2023, 2, 25), D(2023, 2, 25), D(2024, 12, 31), 467, 547),
    (5, "威政办发〔2023〕6号", "威海市人民政府办公室印发关于进一步加强财源建设的若干措施(试行)的通知", _OFFICE, D(2023, 2, 25), D(2023, 2, 25), D(2024, 12, 31), 549, 625),
    (6, "威政办发〔2023〕7号", "威海市人民政府办公室印发关于支持先进制造业强市建设的若干政策的通知", _OFFICE, D(2023, 2, 25), D(2023, 2, 25), D(2026, 2, 24), 627, 707),
    (7, "威政办发〔2023〕8号", "威海市人民政府办公室关于印发威海市“拨投贷保”联动支持科技创新管理办法(试行)的通知", _OFFICE, D(2023, 2, 25), D(2023, 2, 25), D(2024, 2, 24), 709, 857),
    (8, "威政办发〔2023〕9号", "威海市人民政府办公室印发关于推动特色产业园区发展的若干政策(试行)的通知", _OFFICE, D(2023, 3, 17), D(2023, 3, 17), D(2025, 3, 16), 859, 920),
    (9, "威财金〔2023〕2号", "关于修订《威海市科技支行贷款财政补助专项资金管理办法》的通知", _FIN, D(2023, 3, 1), D(2023, 3, 1), D(2027, 10, 10), 922, 1066),
    (10, "威财金〔2023〕11号", "关于印发《威海市地方优势特色农产品保险奖补实施细则》的通知", _AGRI, D(2023, 3, 1), D(2023, 3, 1), D(2024, 12, 31), 1068, 1187),
    (11, "威商务发〔2023〕1号", "威海市商务局 威海市财政局印发《关于支持商务发展的政策措施》的通知", ["威海市商务局", "威海市财政局"], D(2023, 1, 11), D(2023, 1, 11), D(2025, 12, 31), 1189, 1260),
    # catalog: issuer not stated; no 文号, no date
    (12, None, "推动经济高质量发展“1+N”政策文件解读", [], None, None, None, 1262, 1310),
]
_GOV = ["威海市人民政府"]
SEED_003 = [
    (1, "威政发〔2020〕6号", "威海市鼓励金融业发展奖励办法", _GOV, D(2020, 8, 18), D(2020, 8, 18), D(2025, 8, 17), 50, 120),
    (2, "威政发〔2020〕7号", "威海市无偿献血管理办法", _GOV, D(2020, 8, 18), D(2020, 11, 1), D(2025, 10, 31), 122, 262),
    (3, "威政发〔2020〕8号", "关于完善公共卫生体系的实施意见", _GOV, D(2020, 8, 18), None, None, 264, 349),
    (4, "威政字〔2020〕48号", "威海市自然资源统一确权登记总体工作方案", _GOV, D(2020, 8, 26), None, None, 351, 439),
    (5, "威政字〔2020〕49号", "关于公布市级政务服务事项中介服务项目清单的通知", _GOV, D(2020, 8, 30), None, None, 441, 688),
    (6, "威政办发〔2020〕5号", "威海市推进工业互联网和人工智能加快发展实施方案", _OFFICE, D(2020, 8, 13), None, None, 690, 774),
    # catalog writes 威海市新型智慧城市（建设）三年行动计划: "建设" is only in the TOC (L28); header and body omit it
    (7, "威政办字〔2020〕48号", "威海市新型智慧城市三年行动计划（2020—2022年）", _OFFICE, D(2020, 8, 12), None, None, 776, 1045),
    (8, "威政办字〔2020〕50号", "威海市在养禁食陆生野生动物后续处置工作方案", _OFFICE, D(2020, 8, 22), None, None, 1047, 1178),
    (9, "威政办字〔2020〕51号", "威海市告知承诺和容缺办理工作规程（试行）", _OFFICE, D(2020, 8, 30), D(2020, 8, 30), D(2021, 8, 29), 1180, 1282),
    (10, "威发改发〔2020〕227号", "关于对“亩产效益”评价企业试行差别化价格政策的通知", ["威海市发展和改革委员会"], D(2020, 7, 18), D(2020, 7, 18), D(2022, 2, 28), 1284, 1320),
    (11, "威市监发〔2020〕56号", "威海市知识产权质押融资风险补偿实施办法",
     ["威海市市场监督管理局", "威海市财政局", "威海市地方金融监督管理局", "中国人民银行威海市中心支行", "中国银行保险监督管理委员会威海监管分局"],
     D(2020, 7, 22), D(2020, 8, 23), D(2023, 8, 22), 1322, 1408),
    # catalog: lines 1410–1415; the file has a 1416th (unterminated) line that continues the list, so the text wins
    (12, "威政任〔2020〕7号", "威海市人民政府任免的工作人员名单", _GOV, D(2020, 8, 6), None, None, 1410, 1416),
]


def _norm(s: str | None) -> str:
    return nospace(s or "").translate(str.maketrans("()", "（）"))


def _check(prefix: str, expected: list) -> None:
    src = parsed(prefix)
    assert len(src.documents) == len(expected), [d.title for d in src.documents]
    for (idx, doc_no, title, issuers, signed, eff, exp, start, end), doc in zip(expected, src.documents, strict=True):
        where = f"seed {prefix} D{idx:02d}"
        assert doc.index == idx, where
        assert doc.doc_no == doc_no, where
        assert _norm(title) in {_norm(doc.title), _norm(doc.subject), _norm(doc.instrument)}, (where, doc.title, doc.instrument)
        assert doc.issuers == issuers, where
        assert (doc.signed, doc.effective, doc.expires) == (signed, eff, exp), where
        assert (doc.start, doc.end) == (start, end), where


@pytest.mark.parametrize(("prefix", "expected"), [("000", SEED_000), ("002", SEED_002), ("003", SEED_003)])
def test_every_document_of_the_seed(prefix, expected):
    _check(prefix, expected)


def test_printed_docno_kept_alongside_normalised():
    docs = {d.doc_no: d for d in parsed("000").documents}
    assert docs["威政办发〔2023〕15号"].doc_no_printed == "威政办发〔2023〕15 号"
    d3 = {d.doc_no: d for d in parsed("003").documents}
    assert d3["威市监发〔2020〕56号"].doc_no_printed == "威市监发〔2020〕56 号"
    assert d3["威政办字〔2020〕51号"].toc_doc_no_printed == "威政办字[2020]51号"


def test_toc_vs_header_docno_mismatch_found():
    f = [x for x in parsed("000").findings if x.code == "toc-docno-mismatch"]
    assert len(f) == 1 and f[0].line == 15 and "威政办发〔2023〕5号" in f[0].message and f[0].doc_key == "威政发〔2023〕5号"
    styles = {x.doc_key for x in parsed("002").findings if x.code == "toc-docno-style"}
    assert "威政办发〔2023〕9号" in styles


def test_toc_title_variant_found():
    f = [x for x in parsed("003").findings if x.code == "toc-title-mismatch"]
    assert [x.doc_key for x in f] == ["威政办字〔2020〕48号"]


def test_recipients_and_registration():
    d = parsed("000").documents[0]
    assert d.recipients == ["各区市人民政府", "国家级开发区管委", "综保区管委", "南海新区管委", "市政府各部门、单位"]
    assert parsed("002").documents[0].recipients == []  # the 意见 of 市委/市政府 has no 主送
    multi = parsed("000").documents[12]  # 主送 broken over three lines
    assert multi.recipients[-1] == "市政府各部门、单位"
    assert parsed("003").documents[0].registration_no == "WHCR—2020—0010006"


def test_single_document_files():
    draft = parsed("001").documents
    assert len(draft) == 1 and draft[0].doc_no is None and draft[0].draft
    plan = parsed("004").documents
    assert len(plan) == 1 and plan[0].dated == "2021-08" and not plan[0].draft
