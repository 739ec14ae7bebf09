"""zhengce batch: bad records go to the error file, reruns are idempotent, CSV and Parquet agree."""

from __future__ import annotations

from datetime import date

import polars as pl
from typer.testing import CliRunner

from zhengce.bulk.runner import RunConfig, run_batch
from zhengce.bulk.synth import synth_chunk, write_register


def test_batch_errors_resume_idempotent(bulk_pack, tmp_path):
    reg = tmp_path / "reg.csv"
    write_register(bulk_pack, 1200, reg, seed=3)
    df = pl.read_csv(reg, infer_schema=False)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("abc")).otherwise(pl.col("revenue")).alias("revenue"),
        pl.when(pl.int_range(pl.len()) == 9).then(pl.lit("不存在区")).otherwise(pl.col("district")).alias("district"))
    df.write_csv(reg)
    cfg = RunConfig(source=str(reg), out=tmp_path / "runs", run_id="t", as_of=date(2023, 9, 1), chunk_size=500)
    rep = run_batch(bulk_pack, cfg)
    assert rep.chunks_total == 3 and rep.chunks_skipped == 0
    errs = pl.read_parquet(rep.run_dir / "errors" / "*.parquet").sort("_row")
    assert errs.select("_row", "field").rows() == [(5, "revenue"), (10, "district")]
    assert rep.summary["rows_valid"] == 1198 and rep.summary["bad_records"] == 2
    ent = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet")
    assert not ent["_row"].is_in([5, 10]).any()
    # interrupted run: drop one chunk's outputs, rerun → only that chunk is recomputed, nothing duplicated
    (rep.run_dir / "stats" / "part-00001.parquet").unlink()
    rep2 = run_batch(bulk_pack, cfg)
    assert rep2.chunks_skipped == 2
    ent2 = pl.read_parquet(rep2.run_dir / "entitlements" / "*.parquet")
    assert ent2.sort("_row", "rule_id").equals(ent.sort("_row", "rule_id"))
    rep3 = run_batch(bulk_pack, cfg)
    assert rep3.chunks_skipped == 3 and rep3.summary == rep.summary


def test_parquet_and_csv_inputs_agree(bulk_pack, tmp_path):
    t = pl.from_arrow(synth_chunk(bulk_pack, 800, seed=4))
    t.write_parquet(tmp_path / "r.parquet")
    t.with_columns([pl.col(c).list.join(";") for c, d in t.schema.items() if isinstance(d, pl.List)]) \
        .write_csv(tmp_path / "r.csv")
    out = {}
    for ext in ("parquet", "csv"):
        cfg = RunConfig(source=str(tmp_path / f"r.{ext}"), out=tmp_path / "runs", run_id=ext,
                        as_of=date(2023, 9, 1))
        rep = run_batch(bulk_pack, cfg)
        out[ext] = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet").drop("run_id").sort("_row", "rule_id")
    assert out["parquet"].equals(out["csv"])


def test_cli_synth_and_batch(tmp_path):
    from zhengce.cli import app

    r = CliRunner().invoke(app, ["synth", "--n", "300", "--seed", "1", "--out", str(tmp_path / "s.parquet")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "s.parquet"), "--as-of", "2023-09-01", "--run-id", "x",
                                 "-o", str(tmp_path / "runs"), "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "有效记录 300" in r.output
    assert "None" not in r.output  # a rule without a responsible unit shows as （未列明）
    assert (tmp_path / "runs" / "x" / "entitlements" / "part-00000.csv").exists()


def test_entitlement_table_matches_a_join_on_the_rule_table(bulk_pack, tmp_path):
    """The fast table (Enum columns gathered by rule index, numpy ordering) equals the plain join of the long
    results with the rule table, row for row, and is already in rule order (the rule table's), then _row."""
    from zhengce.bulk.plan import compile_plan
    from zhengce.bulk.register import normalize
    from zhengce.bulk.runner import META_COLUMNS, entitlement_table

    t = pl.from_arrow(synth_chunk(bulk_pack, 3000, seed=11))
    frame = normalize(t, bulk_pack.schema, "enterprise").frame
    plan = compile_plan(bulk_pack, "enterprise", date(2023, 9, 1))
    res = plan.evaluate(frame)
    ent = entitlement_table(plan, res.long, frame, "rid", ("district",))
    assert ent.height == res.long.height > 1000
    assert all(isinstance(ent.schema[c], pl.Enum) for c in META_COLUMNS)
    rt = plan.rule_table()
    want = (res.long.join(rt, on="rule", how="left")
            .join(rt.select(pl.col("rule").alias("superseded_by"), pl.col("rule_id").alias("superseded_by_rule")),
                  on="superseded_by", how="left")
            .join(frame.select("_row", pl.col("id").alias("entity_id"), "district"), on="_row", how="left")
            .sort("rule", "_row")
            .select("_row", "entity_id", "district", *META_COLUMNS, "amount_fen", "counts", "superseded_by_rule"))
    got = ent.select("_row", "entity_id", "district", *META_COLUMNS, "amount_fen", "counts", "superseded_by_rule") \
        .with_columns(pl.col(*META_COLUMNS, "superseded_by_rule", "district").cast(pl.Utf8))
    assert got.equals(want)  # same rows in the same order: rule by rule (pack order), then by _row
    assert ent["rule_id"].cast(pl.Utf8).unique(maintain_order=True).to_list() == \
        [r for r in rt["rule_id"].to_list() if r in set(ent["rule_id"].cast(pl.Utf8).to_list())]
    assert (ent["run_id"].cast(pl.Utf8) == "rid").all() and (ent["status"].cast(pl.Utf8) == "eligible").all()


def test_run_writes_rule_table_and_summary_by_strings(bulk_pack, tmp_path):
    t = pl.from_arrow(synth_chunk(bulk_pack, 600, seed=5))
    t.write_parquet(tmp_path / "r.parquet")
    rep = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "r.parquet"), out=tmp_path / "runs", run_id="m",
                                         as_of=date(2023, 9, 1), chunk_size=250))
    rules = pl.read_parquet(rep.run_dir / "rules.parquet")
    ent = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet")
    assert set(ent["rule_id"].cast(pl.Utf8)) <= set(rules["rule_id"])
    joined = ent.with_columns(pl.col("rule_id").cast(pl.Utf8)).join(rules.select("rule_id", "citation"),
                                                                    on="rule_id", suffix="_r")
    assert (joined["citation"].cast(pl.Utf8) == joined["citation_r"]).all()
    by_policy = rep.summary["by_policy"]
    assert by_policy and all(isinstance(r["doc_no"], str) for r in by_policy)
    assert [(r["doc_no"], r["kind"]) for r in by_policy] == sorted((r["doc_no"], r["kind"]) for r in by_policy)
    # the two 'local-contribution' caps also cover project rules (威政办发〔2023〕5号 and 7号): an enterprise
    # register alone sums the enterprise's own rules, and the summary says so instead of staying silent
    partial = {(c["doc_no"], c["cap_id"]): c["also_covers"] for c in rep.summary["caps_partial"]}
    assert partial[("威政办发〔2023〕5号", "local-contribution")] == {"project": 4}
    assert partial[("威政办发〔2023〕7号", "local-contribution")]["project"] == 4
    assert all("子表" in c["note"] for c in rep.summary["caps_partial"])


def test_summary_from_rollups_equals_a_scan_of_the_results(bulk_pack, tmp_path):
    """The summary is built from per-chunk rollups; it must equal the sums over the written entitlement and
    totals parts (3 chunks, Parquet and CSV)."""
    t = pl.from_arrow(synth_chunk(bulk_pack, 1500, seed=8))
    t.write_parquet(tmp_path / "r.parquet")
    for fmt in ("parquet", "csv"):
        rep = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "r.parquet"), out=tmp_path / "runs",
                                             run_id=fmt, as_of=date(2023, 9, 1), chunk_size=500, fmt=fmt))
        read = pl.read_parquet if fmt == "parquet" else (lambda p: pl.read_csv(p, infer_schema_length=None))
        ent = read(rep.run_dir / "entitlements" / f"*.{fmt}").with_columns(pl.col("doc_no", "kind").cast(pl.Utf8))
        counted = ent.filter(pl.col("counts"))
        want = counted.group_by("doc_no", "kind").agg(pl.len().alias("awards"), pl.col("amount_fen").sum()) \
            .sort("doc_no", "kind").to_dicts()
        assert rep.summary["by_policy"] == want
        tot = read(rep.run_dir / "totals" / f"*.{fmt}")
        assert rep.summary["totals"]["entities_with_awards"] == tot.height
        assert rep.summary["totals"]["overall_fen"] == tot["overall_fen"].sum()
        assert sum(r["amount_fen"] for r in rep.summary["by_funding"]) == counted["amount_fen"].sum()


def test_kept_columns_enum_in_entitlements_text_in_totals(bulk_pack, tmp_path):
    t = pl.from_arrow(synth_chunk(bulk_pack, 400, seed=9))
    t.write_parquet(tmp_path / "r.parquet")
    rep = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "r.parquet"), out=tmp_path / "runs", run_id="k",
                                         as_of=date(2023, 9, 1)))
    ent = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet")
    tot = pl.read_parquet(rep.run_dir / "totals" / "*.parquet")
    assert isinstance(ent.schema["district"], pl.Enum) and "name" not in ent.columns and "industry" not in ent.columns
    assert {"name", "district", "industry"} <= set(tot.columns)
    j = ent.select("_row", pl.col("district").cast(pl.Utf8)).join(tot.select("_row", "district"), on="_row",
                                                                  suffix="_t")
    assert j.height == ent.height and (j["district"] == j["district_t"]).all()
    assert {r["district"] for r in rep.summary["by_district"]} <= set(t["district"].drop_nulls())


def test_group_caps_table_keeps_binding_and_unknown_limits(bulk_pack, tmp_path):
    from zhengce.bulk.plan import compile_plan
    from zhengce.bulk.register import normalize

    t = pl.from_arrow(synth_chunk(bulk_pack, 3000, seed=13))
    t.write_parquet(tmp_path / "r.parquet")
    rep = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "r.parquet"), out=tmp_path / "runs", run_id="g",
                                         as_of=date(2023, 9, 1)))
    gc = pl.read_parquet(rep.run_dir / "group_caps" / "*.parquet")
    res = compile_plan(bulk_pack, "enterprise", date(2023, 9, 1)).evaluate(
        normalize(t, bulk_pack.schema, "enterprise").frame)
    want = res.group_caps.filter(pl.col("binding") | pl.col("limit_fen").is_null())
    assert res.group_caps.height > want.height > 0 and gc.height == want.height
    assert gc.sort("_row", "cap_id").select("_row", "cap_id", "total_after_fen").equals(
        want.sort("_row", "cap_id").select("_row", "cap_id", "total_after_fen"))


def _pg_url() -> str | None:
    """The local PostgreSQL (trust auth, database test) when reachable with psycopg installed, else None."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text

        url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        with create_engine(url, connect_args={"connect_timeout": 3}).connect() as c:
            c.execute(text("SELECT 1"))
        return url
    except Exception:
        return None


def _sql_roundtrip(bulk_pack, tmp_path, url: str, tag: str):
    """Register in a SQL table → batch (3 chunks) with --db output → same results as from Parquet; a rerun of
    the same run id writes nothing twice."""
    from sqlalchemy import create_engine, text

    t = pl.from_arrow(synth_chunk(bulk_pack, 1200, seed=17))
    t.write_parquet(tmp_path / "r.parquet")
    flat = t.with_columns([pl.col(c).list.join(";") for c, d in t.schema.items() if isinstance(d, pl.List)])
    if url.startswith("sqlite"):  # SQLite has no exact decimal type: money is stored as text, parsed exactly
        flat = flat.with_columns(pl.col(pl.Decimal).cast(pl.Utf8))
    eng = create_engine(url)
    table = f"reg_{tag}"
    with eng.begin() as c:
        for name in (table, "zhengce_entitlements", "zhengce_totals", "zhengce_group_caps", "zhengce_errors",
                     "zhengce_rollup", "zhengce_stats"):
            c.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    flat.write_database(table, url, if_table_exists="replace")
    cfg = RunConfig(source=url, table=table, out=tmp_path / "runs", run_id=f"sql-{tag}", as_of=date(2023, 9, 1),
                    chunk_size=500, db=url)
    rep = run_batch(bulk_pack, cfg)
    assert rep.chunks_total == 3 and rep.rows == 1200
    ref = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "r.parquet"), out=tmp_path / "runs",
                                         run_id=f"pq-{tag}", as_of=date(2023, 9, 1), chunk_size=500))
    key = ["entity_id", "rule_id"]
    got = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet").drop("run_id", "_row") \
        .with_columns(pl.col(pl.Enum).cast(pl.Utf8)).sort(key)
    want = pl.read_parquet(ref.run_dir / "entitlements" / "*.parquet").drop("run_id", "_row") \
        .with_columns(pl.col(pl.Enum).cast(pl.Utf8)).sort(key)
    assert got.equals(want)
    with eng.connect() as c:
        n_db = c.execute(text("SELECT COUNT(*) FROM zhengce_entitlements WHERE run_id = :r"),
                         {"r": cfg.run_id}).scalar_one()
        s_db = c.execute(text("SELECT SUM(amount_fen) FROM zhengce_entitlements WHERE run_id = :r AND counts"),
                         {"r": cfg.run_id}).scalar_one()
    assert n_db == got.height and int(s_db) == got.filter("counts")["amount_fen"].sum()
    # the loaded rows are the written rows, value for value (bulk load: COPY on PostgreSQL, executemany on SQLite)
    cols = ["entity_id", "rule_id", "title", "citation", "amount_fen", "capped_fen", "counts", "superseded_by_rule"]
    with eng.connect() as c:
        db = pl.read_database(text("SELECT * FROM zhengce_entitlements WHERE run_id = :r"), c,
                              execute_options={"parameters": {"r": cfg.run_id}}, infer_schema_length=None)
    db = db.with_columns(pl.col("counts").cast(pl.Boolean)).select(cols).sort(key)
    assert db.equals(got.select(cols))
    # rerun after losing one chunk's files: that chunk is recomputed and replaced in the database, not added
    (rep.run_dir / "stats" / "part-00001.parquet").unlink()
    rep2 = run_batch(bulk_pack, cfg)
    assert rep2.chunks_skipped == 2
    with eng.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM zhengce_entitlements WHERE run_id = :r"),
                         {"r": cfg.run_id}).scalar_one() == n_db


def test_sqlite_table_source_and_db_output(bulk_pack, tmp_path):
    _sql_roundtrip(bulk_pack, tmp_path, f"sqlite:///{tmp_path / 'reg.db'}", "lite")


def test_postgresql_table_source_and_db_output(bulk_pack, tmp_path):
    import pytest

    url = _pg_url()
    if url is None:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 (database test) or psycopg not available")
    _sql_roundtrip(bulk_pack, tmp_path, url, "pg")


def test_sql_table_name_is_checked(bulk_pack, tmp_path):
    import pytest

    cfg = RunConfig(source=f"sqlite:///{tmp_path / 'x.db'}", table='reg"; DROP TABLE x; --', out=tmp_path / "runs",
                    run_id="bad", as_of=date(2023, 9, 1))
    with pytest.raises(ValueError, match="not a plain SQL"):
        run_batch(bulk_pack, cfg)


def test_entitlements_carry_the_amount_after_group_caps(bulk_pack, tmp_path):
    """capped_fen is the award after a binding group cap (null where no cap changed it); per entity the capped
    awards sum to the totals' overall amount."""
    t = pl.from_arrow(synth_chunk(bulk_pack, 3000, seed=13))
    t.write_parquet(tmp_path / "r.parquet")
    rep = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "r.parquet"), out=tmp_path / "runs", run_id="c",
                                         as_of=date(2023, 9, 1)))
    ent = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet")
    tot = pl.read_parquet(rep.run_dir / "totals" / "*.parquet")
    changed = ent.filter(pl.col("capped_fen").is_not_null())
    assert changed.height > 0 and (changed["capped_fen"] < changed["amount_fen"]).all()
    paid = ent.filter(pl.col("counts") & (pl.col("kind").cast(pl.Utf8).is_in(["entitlement", "maximum"]))) \
        .group_by("_row").agg(pl.coalesce("capped_fen", "amount_fen").sum().alias("after"))
    j = paid.join(tot.select("_row", "overall_fen"), on="_row")
    assert j.height == paid.height and (j["after"] == j["overall_fen"]).all()


def test_cli_batch_input_errors_are_clean(tmp_path):
    """A missing register file, a missing SQL table or a bad table name: one error line and exit code 2, not a
    traceback."""
    from zhengce.cli import app

    runs = str(tmp_path / "runs")
    cases = [["batch", str(tmp_path / "missing.parquet")],
             ["batch", f"sqlite:///{tmp_path / 'none.db'}", "--table", "enterprises"],
             ["batch", f"sqlite:///{tmp_path / 'none.db'}", "--table", "a;b"]]
    for args in cases:
        r = CliRunner().invoke(app, [*args, "--as-of", "2023-09-01", "-o", runs])
        assert r.exit_code == 2, (args, r.output, r.exception)
        assert not isinstance(r.exception, (ValueError, OSError)), r.exception


def test_register_with_chinese_headers_and_header_units_reads_like_field_names(bulk_pack, tmp_path):
    """A bureau's export: 统一社会信用代码/企业名称, labels as headers, revenue in 万元 under '营业收入（万元）' (text in
    CSV, Decimal in Parquet), growth in % under a header --map resolves, 是/否 under '是否工业企业', a column that
    names no field, and a field the register lacks — same entitlements as the field-named register; the summary
    names what was renamed, ignored and missing."""
    from decimal import Decimal

    t = pl.from_arrow(synth_chunk(bulk_pack, 800, seed=23)).drop("rd_expense")
    t.write_parquet(tmp_path / "ref.parquet")
    flat = t.with_columns([pl.col(c).list.join(";") for c, d in t.schema.items() if isinstance(d, pl.List)])
    wan = [None if v is None else v / Decimal(10_000) for v in t["revenue"].to_list()]
    pct = [None if v is None else v * 100 for v in t["revenue_growth"].to_list()]
    yes = [None if v is None else ("是" if v else "否") for v in t["is_industrial"].to_list()]
    cn = flat.drop("id", "name", "district", "revenue", "revenue_growth", "is_industrial").with_columns(
        pl.Series("统一社会信用代码", t["id"]), pl.Series("企业名称", t["name"]), pl.Series("所在区市/开发区", t["district"]),
        pl.Series("营业收入（万元）", [None if v is None else format(v, "f") for v in wan]),
        pl.Series("营业收入增速（%）", [None if v is None else format(v, "f") for v in pct]),
        pl.Series("是否工业企业", yes), pl.lit("—").alias("备注"))
    cn.write_csv(tmp_path / "cn.csv")
    typed = t.drop("id", "name", "district", "revenue", "revenue_growth").with_columns(
        pl.Series("统一社会信用代码", t["id"]), pl.Series("企业名称", t["name"]), pl.Series("所在区市/开发区", t["district"]),
        pl.Series("营业收入（万元）", wan, dtype=pl.Decimal(24, 6)),
        pl.Series("营业收入增速（%）", pct, dtype=pl.Decimal(18, 4)))
    typed.write_parquet(tmp_path / "cn.parquet")
    as_of, key = date(2023, 9, 1), ["entity_id", "rule_id"]

    def run(src, rid, **kw):
        rep = run_batch(bulk_pack, RunConfig(source=str(src), out=tmp_path / "runs", run_id=rid, as_of=as_of,
                                             chunk_size=300, **kw))
        ent = pl.read_parquet(rep.run_dir / "entitlements" / "*.parquet").drop("run_id") \
            .with_columns(pl.col(pl.Enum).cast(pl.Utf8)).sort(key)
        return rep, ent

    ref, want = run(tmp_path / "ref.parquet", "ref")
    m = {"营业收入增速（%）": "revenue_growth"}
    for src in ("cn.csv", "cn.parquet"):
        rep, got = run(tmp_path / src, src.replace(".", "-"), columns=m)
        assert rep.summary["bad_records"] == 0
        assert got.equals(want), src
        cols = rep.summary["columns"]
        assert cols["renamed"]["营业收入（万元）"] == "revenue" and cols["units"]["revenue"] == "万元"
        assert cols["renamed"]["统一社会信用代码"] == "id" and cols["renamed"]["所在区市/开发区"] == "district"
        assert cols["units"]["revenue_growth"] == "%"
        assert "rd_expense" in cols["missing"] and cols["missing"]["rd_expense"] >= 1
    assert rep.summary["columns"]["ignored"] == [] and "备注" in run(tmp_path / "cn.csv", "cn2", columns=m)[0] \
        .summary["columns"]["ignored"]
    assert ref.summary["columns"]["renamed"] == {} and "rd_expense" in ref.summary["columns"]["missing"]
    # the CLI states the mapping and what it could not use
    from zhengce.cli import app

    r = CliRunner().invoke(app, ["batch", str(tmp_path / "cn.csv"), "--as-of", "2023-09-01", "--run-id", "cli",
                                 "-o", str(tmp_path / "runs"), "--map", "营业收入增速（%）=revenue_growth"])
    assert r.exit_code == 0, r.output
    assert "营业收入（万元） → revenue（单位 万元）" in r.output and "备注" in r.output and "rd_expense" in r.output
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "cn.csv"), "--as-of", "2023-09-01", "--run-id", "bad",
                                 "-o", str(tmp_path / "runs"), "--map", "营业收入增速（%）=revenue_grwth"])
    assert r.exit_code == 2 and "revenue_grwth" in r.output and "revenue_growth" in r.output


def test_cli_batch_and_synth_json(tmp_path):
    """`--json` (as every command has): the run and its summary as JSON, nothing else on stdout."""
    import json

    from zhengce.cli import app

    r = CliRunner().invoke(app, ["synth", "--n", "300", "--seed", "2", "--out", str(tmp_path / "r.parquet"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) | {"seconds": 0} == {"rows": 300, "out": str(tmp_path / "r.parquet"), "seed": 2,
                                                      "seconds": 0}
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "r.parquet"), "--as-of", "2023-09-01", "--run-id", "j",
                                 "-o", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rows"] == 300 and out["run_id"] == "j" and out["summary"]["rows_valid"] == 300
    assert out["summary"] == json.loads((tmp_path / "runs" / "j" / "summary.json").read_text(encoding="utf-8"))
