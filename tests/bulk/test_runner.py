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
    assert (tmp_path / "runs" / "x" / "entitlements" / "part-00000.csv").exists()
