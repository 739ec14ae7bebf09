"""The CLI commands end to end, with --json schemas (docs/catalog.md)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.catalog.seedutil import seed_files
from zhengce.cli import app

runner = CliRunner()


def _json(args):
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout), res.exit_code


def test_ingest_json(tmp_path):
    db = str(tmp_path / "c.db")
    out, code = _json(["ingest", str(seed_files()[0]), "--db", db, "--json"])
    assert code == 0
    docs = out["sources"][0]["documents"]
    assert len(docs) == 15
    d = docs[14]
    assert d["doc_no"] == "威金监发〔2023〕25号" and d["doc_no_printed"] == "威金监发〔2023〕25号"
    assert d["issuers"] == ["中共威海市委组织部", "威海市地方金融监督管理局"]
    assert (d["signed"], d["effective"], d["expires"]) == ("2023-08-09", "2023-08-09", "2027-08-09")
    assert d["article_count"] > 10 and d["recipients"] and d["action"] == "new"
    assert "威人组发〔2020〕12号" in d["cited_doc_nos"] and "关于实施威海英才工程助推高质量发展的意见" in d["cited_titles"]
    again, _ = _json(["ingest", str(seed_files()[0]), "--db", db, "--json"])
    assert {x["action"] for x in again["sources"][0]["documents"]} == {"unchanged"}


def test_ingest_bad_file_is_an_error_not_a_crash(tmp_path):
    bad = tmp_path / "bin.txt"
    bad.write_bytes(b"\x00\x01\x02" * 100)
    res = runner.invoke(app, ["ingest", str(bad), "--db", str(tmp_path / "c.db")])
    assert res.exit_code == 1 and "binary" in res.output


def test_search_show_diff_lint_json(seeded_db):
    db = str(seeded_db)
    out, _ = _json(["search", "科技支行", "--db", db, "--json", "--as-of", "2023-06-01"])
    assert out["hits"] and out["hits"][0]["doc_no"] == "威财金〔2023〕2号" and out["hits"][0]["status"] == "in_force"
    out, _ = _json(["show", "威政办发[2023]7号", "--db", db, "--json", "--as-of", "2023-06-01"])
    assert out["doc_no"] == "威政办发〔2023〕7号" and out["status"] == "in_force"
    arts = {a["path"]: a for a in out["articles"]}
    assert "一(一)" in arts and "按照不高于其设备投资额10%" in arts["一(一)"]["text"]
    if any(a["rules"] for a in out["articles"]):  # the pack for this document exists: rules sit beside their article
        assert all(r["citation_ok"] for a in out["articles"] for r in a["rules"])
        assert not out["unresolved_rules"]
    out, _ = _json(["diff", "威政字〔2023〕40号", "--db", db, "--json"])
    assert out["a"]["key"] == "001_7e2b54dae55196d6#1" and out["b"]["doc_no"] == "威政字〔2023〕40号"
    assert any(i["no"] == 26 for i in out["indicators_changed"])
    out, code = _json(["lint", "--db", db, "--json", "--as-of", "2024-01-01", "--no-rules"])
    assert code == 1  # the TOC 文号 mismatch is an error
    assert {"code", "severity", "doc", "source", "line", "message"} <= set(out["items"][0])


def test_show_text_output_and_unknown(seeded_db):
    res = runner.invoke(app, ["show", "威政发〔2023〕6号", "--db", str(seeded_db), "--no-rules"])
    assert res.exit_code == 0 and "关于废止部分市政府规范性文件的决定" in res.output
    res = runner.invoke(app, ["show", "京政发〔2099〕1号", "--db", str(seeded_db)])
    assert res.exit_code == 2 and "no document" in res.output
