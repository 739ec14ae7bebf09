"""CSV registers in the encodings bureaus save them in: UTF-8 (with or without a BOM) and GB18030/GBK (Excel on
Chinese Windows). The same register in each gives the same results; a file in neither stops with the line of the
first bad byte — never a lossy read (polars' utf8-lossy had turned every GBK header and name into U+FFFD)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from typer.testing import CliRunner

from zhengce import encoding
from zhengce.bulk.runner import RunConfig, run_batch
from zhengce.bulk.synth import synth_chunk
from zhengce.entities import spreadsheets

AS_OF = date(2023, 9, 1)


def _register(pack, n=400, seed=9) -> str:
    """A bureau-style register as CSV text: Chinese headers, Chinese names and districts, titles as text."""
    t = pl.from_arrow(synth_chunk(pack, n, seed=seed))
    flat = t.with_columns([pl.col(c).list.join(";") for c, d in t.schema.items() if isinstance(d, pl.List)])
    flat = flat.rename({"id": "统一社会信用代码", "name": "企业名称", "district": "所在区市"})
    return flat.write_csv()


def _run(pack, path, rid, tmp_path, **kw):
    rep = run_batch(pack, RunConfig(source=str(path), out=tmp_path / "runs", run_id=rid, as_of=AS_OF,
                                    chunk_size=150, **kw))
    ent = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet").drop("run_id") \
        .with_columns(pl.col(pl.Enum).cast(pl.Utf8)).sort("entity_id", "rule_id")
    return rep, ent


def test_gbk_and_bom_registers_read_like_utf8(bulk_pack, tmp_path):
    text = _register(bulk_pack)
    (tmp_path / "utf8.csv").write_bytes(text.encode("utf-8"))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    ref, want = _run(bulk_pack, tmp_path / "utf8.csv", "u", tmp_path)
    assert ref.summary["encoding"] == "utf-8" and ref.summary["bad_records"] == 0
    assert want.height > 300 and "荣成市" in set(want["district"].to_list())
    for name in ("bom.csv", "gbk.csv"):
        rep, got = _run(bulk_pack, tmp_path / name, name[:3], tmp_path)
        assert got.equals(want), name
        assert rep.summary["columns"]["renamed"]["所在区市"] == "district"
        assert not rep.summary["columns"]["ignored"]
    assert rep.summary["encoding"] == "gb18030"
    # the CLI says so
    from zhengce.cli import app

    r = CliRunner().invoke(app, ["batch", str(tmp_path / "gbk.csv"), "--as-of", "2023-09-01", "--run-id", "cli",
                                 "-o", str(tmp_path / "runs")])
    assert r.exit_code == 0 and "GB18030" in r.output and "所在区市 → district" in r.output, r.output


def test_gbk_child_register(bulk_pack, tmp_path):
    ent = pl.from_arrow(synth_chunk(bulk_pack, 60, seed=2))
    flat = ent.with_columns([pl.col(c).list.join(";") for c, d in ent.schema.items() if isinstance(d, pl.List)])
    flat.write_csv(tmp_path / "ent.csv")
    ids = ent["id"].to_list()
    proj = pl.DataFrame({"项目编号": [f"P{i}" for i in range(20)], "owner_id": ids[:20],
                         "项目类型": ["智能化改造"] * 20, "equipment_investment": ["600万元"] * 20,
                         "项目所在区市": ["环翠区"] * 20}).rename({"项目编号": "id"})
    (tmp_path / "proj.csv").write_bytes(proj.write_csv().encode("utf-8"))
    (tmp_path / "proj-gbk.csv").write_bytes(proj.write_csv().encode("gb18030"))
    reps = [run_batch(bulk_pack, RunConfig(source=str(tmp_path / "ent.csv"), out=tmp_path / "runs", run_id=r,
                                           as_of=AS_OF, children={"project": str(tmp_path / f)}))
            for r, f in (("u", "proj.csv"), ("g", "proj-gbk.csv"))]
    a, b = (pl.read_parquet(r.run_dir / "project" / "entitlements" / "*.parquet").drop("run_id").sort("entity_id", "rule_id")
            for r in reps)
    assert a.height >= 20 and a.equals(b)
    assert [r.summary["children"]["project"]["encoding"] for r in reps] == ["utf-8", "gb18030"]
    assert reps[1].summary["children"]["project"]["columns"]["renamed"]["项目所在区市"] == "district"


def test_a_file_in_neither_encoding_stops_with_its_line(bulk_pack, tmp_path, monkeypatch):
    # the bad byte lies far beyond the first block read: the whole file is checked, not a sample
    monkeypatch.setattr(encoding, "_BLOCK", 64)
    good = "统一社会信用代码,营业收入\n" + "".join(f"9137{i:014d},{i}\n" for i in range(50))
    data = good.encode("utf-8") + b"91370000000000099X,\xff\xfe12\n"
    (tmp_path / "bad.csv").write_bytes(data)
    with pytest.raises(ValueError, match="第 52 行"):
        encoding.text_encoding(tmp_path / "bad.csv")
    # a multi-byte character cut off by the end of the file is bad too
    (tmp_path / "cut.csv").write_bytes(good.encode("utf-8") + "威".encode()[:2])
    with pytest.raises(ValueError, match="不是有效的 UTF-8"):
        encoding.text_encoding(tmp_path / "cut.csv")
    # … and so is one corrupt byte after Chinese UTF-8 text, though GB18030 would decode the whole file
    corrupt = good.encode("utf-8") + b"9137,\xb0\xa1\n"  # 啊 in GBK: one row pasted from another file
    (tmp_path / "corrupt.csv").write_bytes(corrupt)
    corrupt.decode("gb18030")  # (it would: GB18030 takes almost any byte sequence)
    with pytest.raises(ValueError, match="不是有效的 UTF-8"):
        encoding.text_encoding(tmp_path / "corrupt.csv")
    # a GBK file whose first non-ASCII byte is where UTF-8 fails is GB18030
    (tmp_path / "gbk.csv").write_bytes(good.encode("gbk"))
    assert encoding.text_encoding(tmp_path / "gbk.csv") == "gb18030"
    from zhengce.cli import app

    r = CliRunner().invoke(app, ["batch", str(tmp_path / "bad.csv"), "--as-of", "2023-09-01", "--run-id", "x",
                                 "-o", str(tmp_path / "runs")])
    out = " ".join(r.output.split())  # the console wraps long lines
    assert r.exit_code == 2 and "第 52 行" in out and "UTF-8" in out
    assert not (tmp_path / "runs" / "x" / "entitlements").exists()  # nothing half-written


def test_excel_register_reads_like_csv(bulk_pack, tmp_path):
    """An .xlsx export (numbers as numeric cells, dates as date cells, a second sheet of notes): the same
    entitlements as the CSV of the same register; the sheet read and the sheet not read are in the summary."""
    import datetime as dt

    t = pl.from_arrow(synth_chunk(bulk_pack, 300, seed=12))
    flat = t.with_columns([pl.col(c).list.join(";") for c, d in t.schema.items() if isinstance(d, pl.List)])
    flat = flat.rename({"id": "统一社会信用代码", "name": "企业名称", "district": "所在区市"})
    flat.write_csv(tmp_path / "r.csv")
    # numeric cells for money in 元 and counts, booleans as 是/否, dates as date cells
    cells = flat.with_columns(
        [pl.col(c).cast(pl.Float64) for c, d in flat.schema.items() if d == pl.Decimal]
        + [pl.when(pl.col(c)).then(pl.lit("是")).when(~pl.col(c)).then(pl.lit("否")).alias(c)
           for c, d in flat.schema.items() if d == pl.Boolean])
    import xlsxwriter

    with xlsxwriter.Workbook(tmp_path / "r.xlsx") as wb:
        cells.write_excel(wb, worksheet="企业登记册")
        pl.DataFrame({"说明": ["口径：考核年度"]}).write_excel(wb, worksheet="说明")
    _, want = _run(bulk_pack, tmp_path / "r.csv", "csv", tmp_path)
    rep, got = _run(bulk_pack, tmp_path / "r.xlsx", "xlsx", tmp_path)
    assert rep.summary["bad_records"] == 0 and want.height > 200
    assert got.equals(want)
    assert (rep.summary["encoding"], rep.summary["sheet"], rep.summary["other_sheets"]) == ("excel", "企业登记册", ["说明"])
    # a date cell reads as the date
    (tmp_path / "d.xlsx").unlink(missing_ok=True)
    pl.DataFrame({"id": ["A"], "d": [dt.date(2023, 9, 1)]}).write_excel(tmp_path / "d.xlsx")
    assert pl.read_csv(spreadsheets.readable(tmp_path / "d.xlsx").path)["d"].to_list() == ["2023-09-01"]
    # the CLI names the sheets; a damaged workbook is a clear error
    from zhengce.cli import app

    r = CliRunner().invoke(app, ["batch", str(tmp_path / "r.xlsx"), "--as-of", "2023-09-01", "--run-id", "cli",
                                 "-o", str(tmp_path / "runs")])
    assert r.exit_code == 0 and "企业登记册" in r.output and "说明" in r.output, r.output
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "broken.xlsx"), "--as-of", "2023-09-01", "--run-id", "b",
                                 "-o", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "Excel" in " ".join(r.output.split()), r.output


def test_per_entity_check_reads_an_excel_file(pack, tmp_path):
    from zhengce.entities.loader import load_entities
    from zhengce.errors import EntityError

    pl.DataFrame({"统一社会信用代码": ["A1"], "企业名称": ["甲公司"], "营业收入（万元）": [1_200_000.0],
                  "是否工业企业": ["是"]}).write_excel(tmp_path / "e.xlsx")
    (e,) = load_entities(tmp_path / "e.xlsx", pack.schema)
    assert (e.id, e.name, e.fields["is_industrial"]) == ("A1", "甲公司", True)
    assert str(e.fields["revenue"]) in ("12000000000", "12000000000.00")  # 120亿元 in 元
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(EntityError, match="Excel"):
        load_entities(tmp_path / "bad.xlsx", pack.schema)
