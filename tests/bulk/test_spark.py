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


def test_spark_child_register_applies_owner_caps_like_the_local_backend(spark, bulk_pack, tmp_path):
    """Loans of 40 enterprises, rows shuffled across partitions and Arrow batches of 4 rows: Spark regroups them by
    owner and carries an owner's rows across batches, so each 20万元/year interest cap (威政发〔2023〕5号) binds
    exactly as in the local run — amounts after caps (capped_fen) equal to the 分."""
    import random

    from tests.bulk.test_owner_caps import AS_OF, OWNERS, _loan_rows
    from tests.conftest import POLICIES
    from zhengce.bulk.plan import compile_plan
    from zhengce.bulk.register import normalize
    from zhengce.bulk.spark import evaluate_spark

    owners = {f"{o}-{k}": ps for k in range(8) for o, ps in OWNERS.items()}
    rows = _loan_rows(owners)
    random.Random(5).shuffle(rows)
    rows.append({**rows[0], "id": "orphan", "owner_id": None})  # no owner: a bad record, never dropped silently
    raw = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]}).with_row_index("_row", offset=1) \
        .with_columns(pl.col("_row").cast(pl.Int64))
    path = tmp_path / "loans.parquet"
    raw.write_parquet(path)
    sdf = spark.read.parquet(str(path)).repartition(3)
    old = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "4")
    try:
        got = pl.from_arrow(evaluate_spark(sdf, as_of=AS_OF, entity_type="loan", policies=str(POLICIES)).toArrow())
        errs = pl.from_arrow(evaluate_spark(sdf, as_of=AS_OF, entity_type="loan", policies=str(POLICIES),
                                            errors=True).toArrow())
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", old)
    nz = normalize(raw.filter(pl.col("owner_id").is_not_null()), bulk_pack.schema, "loan", keep=("owner_id",))
    plan = compile_plan(bulk_pack, "loan", AS_OF)
    res = plan.evaluate(nz.frame)
    rt = plan.rule_table().select("rule", "rule_id")
    cols = ["_row", "rule_id", "amount_fen", "capped_fen", "counts"]
    want = res.long.join(rt, on="rule").select(cols).sort("_row", "rule_id")
    assert want["capped_fen"].is_not_null().sum() >= 8 * 3  # E1, E4 and E5 bind in every copy
    assert got.select(cols).sort("_row", "rule_id").equals(want)
    assert errs["_row"].to_list() == [len(rows)] and errs["field"].to_list() == ["owner_id"]


def test_spark_child_register_without_owner_column_is_refused(spark, bulk_pack, tmp_path):
    from tests.bulk.test_owner_caps import AS_OF, OWNERS, _loan_rows
    from tests.conftest import POLICIES
    from zhengce.bulk.spark import evaluate_spark

    rows = [{k: v for k, v in r.items() if k != "owner_id"} for r in _loan_rows(OWNERS)]
    path = tmp_path / "loans.parquet"
    pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]}).with_row_index("_row", offset=1).write_parquet(path)
    with pytest.raises(ValueError, match="no owner column 'owner_id'.*ip-pledge-annual-interest"):
        evaluate_spark(spark.read.parquet(str(path)), as_of=AS_OF, entity_type="loan", policies=str(POLICIES))


def test_spark_enterprise_with_project_register_equals_batch_children(spark, bulk_pack, tmp_path):
    """`evaluate_spark_family` (the registers as text, partitioned by family, 3-row Arrow batches) gives the
    same results as `zhengce batch --children`: shared caps per family, orphans and a bad enterprise's projects."""
    from tests.bulk.test_families import AS_OF, _registers
    from tests.conftest import POLICIES
    from zhengce.bulk.runner import RunConfig, run_batch
    from zhengce.bulk.spark import evaluate_spark_family

    _registers(bulk_pack, tmp_path)
    for name in ("ent", "proj"):  # the families' enterprises and a few others: every family spans batches
        df = pl.read_csv(tmp_path / f"{name}.csv", infer_schema=False)
        (df.head(16) if name == "ent" else df) \
            .with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64)) \
            .write_parquet(tmp_path / f"{name}.parquet")
    rep = run_batch(bulk_pack, RunConfig(source=str(tmp_path / "ent.parquet"), out=tmp_path / "runs", run_id="l",
                                         as_of=AS_OF, children={"project": str(tmp_path / "proj.parquet")}))
    cols = ["entity_id", "rule_id", "amount_fen", "capped_fen", "counts"]
    want = pl.concat([pl.read_parquet(d / "entitlements" / "*.parquet").select(cols).with_columns(
        pl.col("rule_id").cast(pl.Utf8)) for d in (rep.run_dir, rep.run_dir / "project")]).sort("entity_id", "rule_id")
    ent = spark.read.parquet(str(tmp_path / "ent.parquet")).repartition(3)
    proj = spark.read.parquet(str(tmp_path / "proj.parquet")).repartition(2)
    old = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "3")  # families carried across batches
    try:
        got = pl.from_arrow(evaluate_spark_family(ent, {"project": proj}, as_of=AS_OF,
                                                  policies=str(POLICIES)).toArrow())
        errs = pl.from_arrow(evaluate_spark_family(ent, {"project": proj}, as_of=AS_OF, policies=str(POLICIES),
                                                   errors=True).toArrow())
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", old)
    assert got.filter(pl.col("capped_fen").is_not_null() & (pl.col("entity_type") == "project")).height >= 3
    assert got.select(cols).sort("entity_id", "rule_id").equals(want)
    assert sorted(zip(errs["entity_type"], errs["field"], strict=True)) == [("enterprise", "district"),
                                                                            ("project", "owner_id")]
