"""Spark runs the same compiled plan (mapInArrow) and agrees with the local vectorised backend on a sample."""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest

pytestmark = pytest.mark.slow

if shutil.which("java") is None:
    pytest.skip("Java is not installed (Spark needs a JVM)", allow_module_level=True)
pyspark = pytest.importorskip("pyspark", reason="pip install zhengce[spark]")


@pytest.fixture(scope="module")
def spark():
    from zhengce.bulk.spark import local_session

    s = local_session("zhengce-test")
    yield s
    s.stop()


def test_spark_agrees_with_local_backend(spark, bulk_pack, tmp_path):
    from tests.conftest import POLICIES
    from zhengce.bulk.plan import compile_plan
    from zhengce.bulk.register import normalize
    from zhengce.bulk.spark import evaluate_spark
    from zhengce.bulk.synth import synth_chunk

    as_of = date(2023, 9, 1)
    t = synth_chunk(bulk_pack, 4000, seed=21)
    raw = pl.from_arrow(t).with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64))
    raw = raw.with_columns(pl.when(pl.col("_row") == 7).then(pl.lit("不存在的区")).otherwise(pl.col("district"))
                           .alias("district"))
    path = tmp_path / "reg.parquet"
    raw.write_parquet(path)
    sdf = spark.read.parquet(str(path)).repartition(3)
    got = pl.from_arrow(evaluate_spark(sdf, as_of=as_of, policies=str(POLICIES)).toArrow())
    errs = pl.from_arrow(evaluate_spark(sdf, as_of=as_of, policies=str(POLICIES), errors=True).toArrow())
    nz = normalize(raw, bulk_pack.schema, "enterprise")
    plan = compile_plan(bulk_pack, "enterprise", as_of)
    res = plan.evaluate(nz.frame)
    rt = plan.rule_table().select("rule", "rule_id")
    want = res.long.join(rt, on="rule").select("_row", "rule_id", "amount_fen", "counts").sort("_row", "rule_id")
    assert got.select("_row", "rule_id", "amount_fen", "counts").sort("_row", "rule_id").equals(want)
    assert errs["_row"].to_list() == [7] and errs["field"].to_list() == ["district"]
