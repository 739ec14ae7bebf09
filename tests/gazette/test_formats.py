"""Formats the seeds do not contain: other cities' 文号 styles, Chinese-numeral dates, 文号 above the title,
joint issuers on one line, 有效期X年, 废止 decisions in prose and in tables, a single document without a TOC."""

from __future__ import annotations

from datetime import date

import pytest

from zhengce.gazette import normalize_docno, parse_date, parse_text, parse_year
from zhengce.gazette.dates import find_validity
from zhengce.gazette.docno import find_docnos


@pytest.mark.parametrize(("printed", "normalized"), [
    ("京政发〔2023〕12号", "京政发〔2023〕12号"),
    ("沪府办发（2022）3号", "沪府办发〔2022〕3号"),
    ("粤府【2021】 5号", "粤府〔2021〕5号"),
    ("苏政发[2020] 101 号", "苏政发〔2020〕101号"),
    ("浙政办发［２０１９］７号", "浙政办发〔2019〕7号"),
    ("成府发(2018)第9号", "成府发〔2018〕9号"),
    ("深府规〔2024〕1号", "深府规〔2024〕1号"),
])
def test_docno_styles(printed, normalized):
    assert normalize_docno(printed) == normalized


def test_docno_in_running_text_stops_at_words():
    found = find_docnos("按照市政府印发的杭政函〔2022〕45号和《关于…的通知》（国办发〔2019〕43号）执行")
    assert [d.normalized for d in found] == ["杭政函〔2022〕45号", "国办发〔2019〕43号"]
    broken = find_docnos("二〇二〇年八月六日(威政任〔2020〕\n7号)".replace("\n", ""))
    assert broken[0].normalized == "威政任〔2020〕7号"


@pytest.mark.parametrize(("text", "expected"), [
    ("2023年7月13日", date(2023, 7, 13)),
    ("2 0 2 3 年 3 月 1 日", date(2023, 3, 1)),
    ("二〇一一年三月三十日", date(2011, 3, 30)),
    ("二○○五年十二月一日", date(2005, 12, 1)),
    ("二OO六年一月二十日", date(2006, 1, 20)),
    ("二零一九年十月十日", date(2019, 10, 10)),
    ("2023年2月30日", None),
])
def test_dates(text, expected):
    assert parse_date(text) == expected


def test_year_only_dates():
    assert parse_year("二○○五年") == 2005 and parse_year("二OO六年") == 2006


def test_validity_clauses():
    v = find_validity("本办法自2021年1月1日起施行，有效期5年。", None)
    assert (v.effective, v.expires) == (date(2021, 1, 1), date(2025, 12, 31))  # effective + 5 years − 1 day
    v = find_validity("本规定自印发之日起施行，有效期至2025年6月30日。", date(2023, 5, 4))
    assert (v.effective, v.expires) == (date(2023, 5, 4), date(2025, 6, 30))
    v = find_validity("有效期自2020年8月30日至2021年8月29日。", None)
    assert (v.effective, v.expires) == (date(2020, 8, 30), date(2021, 8, 29))
    v = find_validity("本意见自二〇二二年一月一日起实施，有效期两年。", None)
    assert (v.effective, v.expires) == (date(2022, 1, 1), date(2023, 12, 31))


CHENGDU = """成都市人民政府办公厅文件

成办发〔2022〕18号

成都市人民政府办公厅关于印发《成都市促进中小企业发展若干措施》的通知

各区（市）县政府，市政府各部门：
　　《成都市促进中小企业发展若干措施》已经市政府同意，现印发给你们，请认真贯彻执行。

附件：1.成都市中小企业名录
2.申报表

成都市人民政府办公厅
二〇二二年三月十五日

成都市促进中小企业发展若干措施

第一条　为促进中小企业发展，制定本措施。
第二条　对首次认定的专精特新企业，给予最高50万元奖励。
（一）申报主体应在本市注册；
（二）上年度营业收入不低于1000万元。
第二条　重复编号的条款。
第四条　本措施自2022年4月1日起施行，有效期3年。
"""


def test_red_header_docno_above_title_and_chinese_date():
    src = parse_text(CHENGDU, "cd.txt")
    assert len(src.documents) == 1
    d = src.documents[0]
    assert d.doc_no == "成办发〔2022〕18号"
    assert d.issuers == ["成都市人民政府办公厅"]
    assert d.instrument == "成都市促进中小企业发展若干措施"
    assert d.recipients == ["各区（市）县政府", "市政府各部门"]
    assert d.signed == date(2022, 3, 15)
    assert (d.effective, d.expires) == (date(2022, 4, 1), date(2025, 3, 31))
    assert [a.title for a in d.attachments] == ["成都市中小企业名录", "申报表"]
    paths = [n.path for n in d.articles()]
    assert paths[:4] == ["第一条", "第二条", "第二条(一)", "第二条(二)"]
    codes = {(f.code, f.line) for f in d.findings}
    assert ("duplicate-number", 22) in codes and ("missing-number", 23) in codes


JOINT = """广州市发展和改革委员会 广州市财政局 广州市工业和信息化局
关于开展2024年度节能专项资金申报工作的通知

穗发改〔2024〕77号

各区发展改革局、财政局、工业和信息化局：

根据《广州市节能专项资金管理办法》（穗府办规〔2021〕9号）和《节约能源法》，现将有关事项通知如下。

一、支持范围
（一）节能改造项目，按投资额的20%给予补助，最高不超过200万元。
（三）合同能源管理项目。

广州市发展和改革委员会
广州市财政局
广州市工业和信息化局
2024年3月8日
"""


def test_joint_issuers_on_one_line_and_references():
    d = parse_text(JOINT, "gz.txt").documents[0]
    assert d.issuers == ["广州市发展和改革委员会", "广州市财政局", "广州市工业和信息化局"]
    assert d.subject == "关于开展2024年度节能专项资金申报工作的通知"
    assert d.signed == date(2024, 3, 8)
    basis = [r for r in d.references if r.kind == "basis"]
    assert ("穗府办规〔2021〕9号", "广州市节能专项资金管理办法") in {(r.doc_no, r.title) for r in basis}
    assert any(f.code == "missing-number" for f in d.findings)  # (一) → (三)


REPEAL_PROSE = """西安市人民政府关于废止部分规范性文件的决定
市政发〔2021〕3号

各区县人民政府，市人民政府各工作部门：
经清理，市政府决定废止《西安市道路管理办法》（市政发〔2010〕12号）、《西安市停车场管理规定》（市政发〔2012〕8号）。
本决定自发布之日起施行。

西安市人民政府
2021年5月10日
"""

REPEAL_TABLE = """杭州市人民政府关于废止和宣布失效部分文件的决定

杭政〔2019〕9号

各区、县（市）人民政府，市政府各部门：
市政府决定废止下列文件。

杭州市人民政府
2019年9月1日

序号\t文件名称\t文号
1\t杭州市出租汽车管理办法\t杭政〔2005〕3号
2\t杭州市某某暂行规定\t杭政办〔2008〕21号 公布、杭政〔2012〕4号修改
"""


def test_repeal_decision_in_prose():
    d = parse_text(REPEAL_PROSE, "xa.txt").documents[0]
    assert d.doc_no == "市政发〔2021〕3号" and d.signed == date(2021, 5, 10)
    targets = {r.doc_no for r in d.references if r.kind in ("repeals", "supersedes")}
    assert targets == {"市政发〔2010〕12号", "市政发〔2012〕8号"}
    assert d.effective == date(2021, 5, 10)  # 自发布之日起施行 → the signing date


def test_repeal_decision_table_targets_and_amending_act():
    d = parse_text(REPEAL_TABLE, "hz.txt").documents[0]
    rep = [r for r in d.references if r.kind == "repeals"]
    assert [r.doc_no for r in rep] == ["杭政〔2005〕3号", "杭政办〔2008〕21号"]
    assert rep[0].title == "杭州市出租汽车管理办法"
    assert not any(r.doc_no == "杭政〔2012〕4号" and r.kind in ("repeals", "supersedes") for r in d.references)
    assert d.tables and d.tables[0].header == ["序号", "文件名称", "文号"]


def test_supersession_clause():
    text = """某某市财政局关于印发《某某市专项资金管理办法》的通知

某财发〔2023〕5号

各县财政局：
现印发给你们。

某某市财政局
2023年4月1日

某某市专项资金管理办法

第一条 本办法自2023年5月1日起施行。《某某市专项资金管理暂行办法》（某财发〔2018〕2号）同时废止。
"""
    d = parse_text(text, "x.txt").documents[0]
    sup = [r for r in d.references if r.kind == "supersedes"]
    assert [(r.doc_no, r.title) for r in sup] == [("某财发〔2018〕2号", "某某市专项资金管理暂行办法")]
    assert d.effective == date(2023, 5, 1)


def test_issue_with_toc_and_broken_lines():
    text = """某某市人民政府公报
目 录
某某市人民政府关于加强
安全生产工作的意见
(某政发[2022]1号) (3)
某某市人民政府任免名单 (9)

某某市人民政府
关于加强安全生产
工作的意见

某政发〔2022〕1号

各县人民政府：
一、总体要求
（一）落实责任。
二、保障措施
某某市人民政府
2022年1月5日

某某市人民政府任免名单
二〇二二年一月六日(某政任〔2022〕
2号)
任命张三为某某局局长。
"""
    src = parse_text(text, "issue.txt")
    assert [(d.doc_no, d.subject) for d in src.documents] == [
        ("某政发〔2022〕1号", "关于加强安全生产工作的意见"), ("某政任〔2022〕2号", "某某市人民政府任免名单")]
    assert src.documents[1].signed == date(2022, 1, 6)
    assert [f.code for f in src.findings] == ["toc-docno-style"]
    assert [n.path for n in src.documents[0].articles()] == ["一", "一(一)", "二"]


def test_draft_without_number_or_date():
    d = parse_text("某某市数字经济发展规划（征求意见稿）\n\n一、发展基础\n内容。\n", "draft.txt").documents[0]
    assert d.draft and d.doc_no is None and d.subject == "某某市数字经济发展规划（征求意见稿）"


STATE_COUNCIL = """国务院关于印发
《新时代中小企业发展规划》的通知

国发〔2023〕12号

各省、自治区、直辖市人民政府，国务院各部委、各直属机构：

　　现将《新时代中小企业发展规划》印发给你们，请认真贯彻执行。

　　国务院

　　2023年6月1日

　　（此件公开发布）

新时代中小企业发展规划

　　一、总体要求
　　（一）指导思想。坚持稳中求进。
　　二、主要任务
　　本规划自印发之日起施行，有效期五年。
"""

GUANGDONG = """广东省人民政府文件

粤府〔2022〕87号　　　　　　　　签发人：王伟中

广东省人民政府关于进一步支持中小企业和个体工商户纾困发展的若干政策措施

各地级以上市人民政府，省政府各部门、各直属机构：
　　为贯彻落实党中央决策部署，制定以下政策措施。
　　一、加大财政支持。对符合条件的企业给予最高100万元补助。
　　本政策措施自印发之日起实施，有效期至2023年12月31日。

　　　　　　　　　　　　　　　　　　广东省人民政府
　　　　　　　　　　　　　　　　　　2022年10月8日
公开方式：主动公开
抄送：省委有关部委办。
广东省人民政府办公厅秘书处　　　　　　　　2022年10月9日印发
"""


def test_state_council_notice_with_indented_paragraphs():
    d = parse_text(STATE_COUNCIL, "gw.txt").documents[0]
    assert (d.doc_no, d.issuers, d.instrument) == ("国发〔2023〕12号", ["国务院"], "新时代中小企业发展规划")
    assert d.recipients == ["各省、自治区、直辖市人民政府", "国务院各部委、各直属机构"]
    assert (d.signed, d.effective, d.expires) == (date(2023, 6, 1), date(2023, 6, 1), date(2028, 5, 31))
    assert [n.path for n in d.articles()] == ["一", "一(一)", "二"]


def test_provincial_red_header_with_signer_and_print_line():
    d = parse_text(GUANGDONG, "gd.txt").documents[0]
    assert d.doc_no == "粤府〔2022〕87号" and d.issuers == ["广东省人民政府"]
    assert d.subject == "关于进一步支持中小企业和个体工商户纾困发展的若干政策措施"
    assert (d.signed, d.effective, d.expires) == (date(2022, 10, 8), date(2022, 10, 8), date(2023, 12, 31))
