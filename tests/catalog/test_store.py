"""Store: idempotent re-ingest, new versions on changed text, lookup by any 文号 spelling, status by date,
repeal and supersession, draft ↔ issued linking."""

from __future__ import annotations

from datetime import date

import pytest

from tests.catalog.seedutil import seed_files
from zhengce.catalog import Catalog, DocumentNotFound
from zhengce.gazette.parser import parse_text


def test_all_seed_documents_stored(cat):
    docs = cat.documents()
    assert len(docs) == 15 + 1 + 12 + 12 + 1
    assert len({d.key for d in docs}) == len(docs)


def test_reingest_is_idempotent(tmp_path):
    files = seed_files()
    with Catalog(tmp_path / "c.db") as c:
        first = c.ingest_path(files[0])
        n_rows = c.db.execute("SELECT count(*) FROM documents").fetchone()[0]
        n_fts = c.db.execute("SELECT count(*) FROM fts").fetchone()[0]
        again = c.ingest_path(files[0])
        assert {d["action"] for d in first.documents} == {"new"}
        assert {d["action"] for d in again.documents} == {"unchanged"}
        assert c.db.execute("SELECT count(*) FROM documents").fetchone()[0] == n_rows
        assert c.db.execute("SELECT count(*) FROM fts").fetchone()[0] == n_fts


def test_changed_text_creates_a_new_version(tmp_path):
    text = seed_files()[2].read_text(encoding="utf-8")
    with Catalog(tmp_path / "c.db") as c:
        c.ingest_parsed(parse_text(text, "002.txt"))
        changed = text.replace("单个企业补助最高不超过300万元", "单个企业补助最高不超过400万元")
        assert changed != text
        res = c.ingest_parsed(parse_text(changed, "002-v2.txt"))
        actions = {d["doc_no"]: (d["action"], d["version"]) for d in res.documents}
        assert actions["威政办发〔2023〕7号"] == ("new-version", 2)
        assert actions["威政办发〔2023〕5号"] == ("unchanged", 1)
        assert [v.version for v in c.versions("威政办发〔2023〕7号")] == [1, 2]
        assert c.get("威政办发〔2023〕7号").version == 2
        assert c.get("威政办发〔2023〕7号@v1").status(date(2023, 6, 1)) == "superseded_version"
        # re-wrapping lines or changing spaces is not a new version
        rewrapped = changed.replace("，", "，\n", 3)
        res = c.ingest_parsed(parse_text(rewrapped.replace("各区市人民政府", "各区市人民政府 "), "002-v3.txt"))
        assert all(d["action"] == "unchanged" for d in res.documents if d["doc_no"] == "威政办发〔2023〕7号")


@pytest.mark.parametrize("ref", ["威政办发〔2023〕9号", "威政办发[2023]9号", "威政办发（2023）9 号", "特色产业园区发展的若干政策"])
def test_lookup_by_any_spelling(cat, ref):
    assert cat.get(ref).doc_no == "威政办发〔2023〕9号"


def test_unknown_document(cat):
    with pytest.raises(DocumentNotFound, match="no document"):
        cat.get("京政发〔2099〕1号")


def test_status_for_any_date(cat):
    d = cat.get("威政发〔2023〕5号")  # 2023-07-13 → 2028-07-12
    assert d.status(date(2023, 7, 12)) == "not_yet_effective"
    assert d.status(date(2023, 7, 13)) == "in_force"
    assert d.status(date(2028, 7, 12)) == "in_force"  # expiry date is inclusive
    assert d.status(date(2028, 7, 13)) == "expired"
    assert cat.get("威政办字〔2020〕51号").status(date(2022, 1, 1)) == "expired"
    assert cat.get("001_7e2b54dae55196d6#1").status(date(2023, 1, 1)) == "draft"


def test_repeal_decision_marks_targets_repealed(cat):
    idx = cat.repeal_index()
    expected = ["威政发〔2012〕47号", "威政发〔2014〕24号", "威政办发〔2014〕27号", "威政发〔2014〕34号", "威政发〔2000〕45号",
                "威政发〔2007〕60号", "威政发〔2017〕2号", "威政发〔2018〕8号", "威政办发〔2021〕4号"]
    for dn in expected:
        reps = [r for r in idx[dn] if r.kind == "repeals"]
        assert reps and reps[0].by == "威政发〔2023〕6号" and reps[0].on == date(2023, 7, 14), dn
    assert "威政发〔2015〕31号" not in idx  # the amending act named in 'X公布、Y修改' is not repealed


def test_supersession_clauses(cat):
    idx = cat.repeal_index()
    assert [(r.by, r.on) for r in idx["威政发〔2017〕24号"]] == [("威政发〔2020〕6号", date(2020, 8, 18))]
    assert [(r.by, r.on) for r in idx["威财金〔2019〕11号"]] == [("威财金〔2023〕2号", date(2023, 3, 1))]
    assert [(r.by, r.on) for r in idx["威人组发〔2020〕12号"]] == [("威金监发〔2023〕25号", date(2023, 8, 9))]
    assert {r.by for r in idx["威工信发〔2020〕14号"]} == {"威政办发〔2023〕7号"}


def test_repealed_status_when_target_is_ingested_later(tmp_path):
    old = """威海市人民政府关于调整义务兵优待金标准有关问题的通知

威政发〔2012〕47号

各区市人民政府：
一、提高标准。

威海市人民政府
2012年12月25日
"""
    with Catalog(tmp_path / "c.db") as c:
        c.ingest_path(seed_files()[0])
        c.ingest_parsed(parse_text(old, "old.txt"))
        d = c.get("威政发〔2012〕47号")
        assert d.status(date(2023, 7, 13)) == "in_force"
        assert d.status(date(2023, 7, 14)) == "repealed"


def test_draft_is_linked_to_issued_document(cat):
    draft = cat.get("001_7e2b54dae55196d6#1")
    assert draft.draft and draft.version_of == "威政字〔2023〕40号"


def test_references_resolve_within_corpus(cat):
    d = cat.get("威政字〔2023〕40号")
    refs = {(r["doc_no"], r["resolved"]) for r in cat.references(d.id)}
    assert ("威政发〔2023〕5号", "威政发〔2023〕5号") in refs
    assert ("国发〔2022〕18号", None) in refs
    by = cat.cited_by(cat.get("威政发〔2023〕5号"))
    assert {"key": "威政字〔2023〕40号", "kind": "basis", "line": 557} in by
