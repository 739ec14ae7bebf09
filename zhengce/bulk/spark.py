"""Spark backend: the same compiled plan, run by Spark executors over Arrow batches (``mapInArrow``).

Spark distributes the register (partitions read in parallel from Parquet/JDBC, on one machine or a cluster);
inside each task the batch is normalised and evaluated by the very same polars plan the local backend uses,
so the two cannot drift apart. An enterprise is one record, so its stacking and group caps never cross a
partition. A child register (loans, projects) whose owner's caps cover its rules (20万元 of interest subsidy
per enterprise and year over all its loans) is repartitioned by the owner column and sorted within partitions,
and each task carries an owner's rows over from one Arrow batch to the next, so every owner's rows are
evaluated together — exactly as ``zhengce batch`` cuts its chunks between owners. ``evaluate_spark_family`` runs
an enterprise register with its child registers (``zhengce batch --children``): the registers as text in one
DataFrame, partitioned and sorted by family, each family carried whole across batches. Executors need
``pip install zhengce`` (or ship it with ``--py-files``) and the policy directory (``ZHENGCE_POLICIES``) —
see docs/bulk.md.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa

LONG_SCHEMA_DDL = ("_row long, entity_id string, rule_id string, doc_no string, kind string, amount_fen long, "
                   "capped_fen long, counts boolean, superseded_by_rule string")
ERROR_SCHEMA_DDL = "_row long, id string, field string, value string, reason string"


def _evaluate_batches(policies: str | None, entity_type: str, as_of: date, keep_errors: bool,
                      owner_column: str | None):
    def fn(batches):
        import polars as pl

        from zhengce.bulk.plan import compile_plan
        from zhengce.bulk.register import normalize
        from zhengce.bulk.runner import _owner_required
        from zhengce.rules.loader import load_pack

        pack = load_pack(policies)
        plan = compile_plan(pack, entity_type, as_of, owner_column=owner_column or "owner_id")
        rt = plan.rule_table().select("rule", "rule_id", "doc_no", "kind")
        sup = rt.select(pl.col("rule").alias("superseded_by"), pl.col("rule_id").alias("superseded_by_rule"))
        keep = (owner_column,) if owner_column else ()

        def run(raw: pl.DataFrame):
            nz = normalize(raw, pack.schema, entity_type, keep=keep)
            if owner_column:
                nz = _owner_required(nz, owner_column)  # a row with no owner id is a bad record
            if keep_errors:
                if nz.errors.height:
                    yield from nz.errors.to_arrow().to_batches()
                return
            if not nz.frame.height:
                return
            res = plan.evaluate(nz.frame)
            out = res.long.with_columns(nz.frame["id"].gather(res.long["__p"]).alias("entity_id")) \
                .join(rt, on="rule").join(sup, on="superseded_by", how="left") \
                .select("_row", "entity_id", "rule_id", "doc_no", "kind", "amount_fen", "capped_fen", "counts",
                        "superseded_by_rule")
            yield from out.to_arrow().to_batches()

        for raw in _whole_groups(batches, owner_column):  # owner runs: an owner's rows are never split
            yield from run(raw)
    return fn


def _whole_groups(batches, key: str | None):
    """Arrow batches → polars frames. With ``key`` (rows sorted by it), no key's rows are split between frames:
    the last key's rows of a batch are held back and put before the next batch's."""
    import polars as pl

    carry = None
    for b in batches:
        raw = pl.from_arrow(pa.Table.from_batches([b]))
        if key:
            if carry is not None:
                raw = pl.concat([carry, raw], how="vertical_relaxed")
            if not raw.height:
                continue
            last = raw[key][-1]
            held = pl.col(key).is_null() if last is None else pl.col(key).eq_missing(last)
            carry, raw = raw.filter(held), raw.filter(~held)
        if raw.height:
            yield raw
    if carry is not None and carry.height:
        yield carry


def evaluate_spark(df, *, as_of: date, entity_type: str = "enterprise", policies: str | None = None,
                   errors: bool = False, owner_column: str = "owner_id"):
    """Spark DataFrame of a register (needs a ``_row`` column: use ``with_row_numbers``) → entitlements
    (or, with ``errors=True``, the bad-record rows). ``capped_fen`` is the amount after binding group caps.
    For a child register whose owner's caps cover its rules, ``owner_column`` must hold the owner's id: the
    rows are then grouped by owner (any input order) and each owner's caps are applied over all its rows."""
    from zhengce.bulk.plan import compile_plan
    from zhengce.rules.loader import load_pack

    plan = compile_plan(load_pack(policies), entity_type, as_of, owner_column=owner_column)
    by_owner = None
    if plan.owner_caps:
        if owner_column not in df.columns:
            caps = "、".join(f"{g.doc_no}#{g.id}" for g in plan.owner_caps)
            raise ValueError(f"register of {entity_type} has no owner column {owner_column!r}: the caps {caps} "
                             f"apply per {plan.owner_caps[0].owner_type} over its {entity_type} rows "
                             "(pass owner_column=the column holding the owner's id)")
        by_owner = owner_column
        df = df.repartition(owner_column).sortWithinPartitions(owner_column, "_row")
    fn = _evaluate_batches(policies, entity_type, as_of, errors, by_owner)
    return df.mapInArrow(fn, ERROR_SCHEMA_DDL if errors else LONG_SCHEMA_DDL)


def with_row_numbers(df):
    """Add a stable 1-based ``_row`` (the record's position in the source) before distributing."""
    from pyspark.sql import functions as F

    return df.withColumn("_row", F.monotonically_increasing_id() + 1) if "_row" not in df.columns else df


def local_session(app: str = "zhengce", cores: int = 2):
    """A local-mode session whose Python workers run this interpreter (a worker started from ``python3`` on PATH
    may lack polars/pyarrow, e.g. outside the venv); PYSPARK_PYTHON, when set, wins."""
    import os
    import sys

    from pyspark.sql import SparkSession

    python = os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read when the context starts the workers
    return (SparkSession.builder.master(f"local[{cores}]").appName(app)
            .config("spark.pyspark.python", python)
            .config("spark.pyspark.driver.python", python)
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.shuffle.partitions", str(cores * 2))
            # Arrow batches of 250k rows: each evaluate has a fixed planning cost (~0.1 s for the whole pack), so
            # Spark's default 10k-row batches would spend most of the time planning
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "250000")
            .config("spark.ui.enabled", "false")
            .getOrCreate())


FAMILY_SCHEMA_DDL = "entity_type string, " + LONG_SCHEMA_DDL
FAMILY_ERROR_SCHEMA_DDL = "entity_type string, " + ERROR_SCHEMA_DDL


def _family_batches(policies: str | None, as_of: date, child_types: list[str], owner_column: str,
                    keep_errors: bool):
    def fn(batches):
        import polars as pl

        from zhengce.bulk.families import ChildRegister, evaluate_with_children
        from zhengce.bulk.plan import compile_plan
        from zhengce.bulk.register import normalize
        from zhengce.bulk.runner import _owner_required
        from zhengce.rules.loader import load_pack

        pack = load_pack(policies)
        plan = compile_plan(pack, "enterprise", as_of, owner_column=owner_column)
        plans = {t: compile_plan(pack, t, as_of, owner_column=owner_column) for t in child_types}
        tables = {t: p.rule_table().select("rule", "rule_id", "doc_no", "kind") for t, p in
                  {"enterprise": plan, **plans}.items()}

        def long_of(etype, frame, res):
            rt = tables[etype]
            sup = rt.select(pl.col("rule").alias("superseded_by"), pl.col("rule_id").alias("superseded_by_rule"))
            return res.long.with_columns(frame["id"].gather(res.long["__p"]).alias("entity_id")) \
                .join(rt, on="rule").join(sup, on="superseded_by", how="left") \
                .select(pl.lit(etype).alias("entity_type"), "_row", "entity_id", "rule_id", "doc_no", "kind",
                        "amount_fen", "capped_fen", "counts", "superseded_by_rule")

        def run(raw: pl.DataFrame):
            parts = {t: raw.filter(pl.col("__type") == t).drop("__type", "__key") for t in ["enterprise", *child_types]}
            ent = normalize(parts["enterprise"], pack.schema, "enterprise")
            kids, errs = [], [ent.errors.with_columns(pl.lit("enterprise").alias("entity_type"))]
            for t in child_types:
                nz = _owner_required(normalize(parts[t], pack.schema, t, keep=(owner_column,)), owner_column)
                f = nz.frame.with_columns(pl.col(owner_column).cast(pl.Utf8))
                kids.append(ChildRegister(t, "", plans[t], f, nz.errors, {}))
                errs.append(nz.errors.with_columns(pl.lit(t).alias("entity_type")))
            if keep_errors:
                for e in errs:
                    if e.height:
                        yield from e.select("entity_type", *[c for c in e.columns if c != "entity_type"]) \
                            .to_arrow().to_batches()
                return
            res, out, _ = evaluate_with_children(plan, ent.frame, kids, owner_column)
            yield from long_of("enterprise", ent.frame, res).to_arrow().to_batches()
            known = ent.frame["id"]
            orphans = pl.concat([k.frame[owner_column] for k in kids] or [pl.Series([], dtype=pl.Utf8)]).unique()
            orphans = orphans.filter(~orphans.is_in(known.implode()))
            _, lost, _ = evaluate_with_children(plan, ent.frame.head(0), kids, owner_column, owners=orphans)
            for t in child_types:
                for group in (out, lost):
                    sub, cres = group[t]
                    if sub.height:
                        yield from long_of(t, sub, cres).to_arrow().to_batches()

        for raw in _whole_groups(batches, "__key"):  # a family's rows are never split between calls
            yield from run(raw)
    return fn


def evaluate_spark_family(enterprises, children: dict, *, as_of: date, policies: str | None = None,
                          owner_column: str = "owner_id", errors: bool = False):
    """An enterprise register with its child registers (Spark DataFrames with ``_row``; children carry the
    owner's id in ``owner_column``) → one long DataFrame of results (``entity_type`` names the register), with
    the caps that cover an enterprise and its children applied per family exactly as ``zhengce batch
    --children`` does. The registers are brought together as text (every column cast to string, lists joined
    with ';': the normaliser parses them as it parses CSV), partitioned by the family key (enterprise id / owner
    id) and sorted, each family evaluated whole (carried across Arrow batches). Children without a valid owner
    row are evaluated alone, their shared caps left as needs-review; ``errors=True`` gives the bad records."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    def as_text(df, etype: str, key: str):
        cols = []
        for f in df.schema.fields:
            c = F.col(f"`{f.name}`")
            if f.name == "_row":
                cols.append(c.cast("long").alias("_row"))
            elif isinstance(f.dataType, ArrayType):
                cols.append(F.concat_ws(";", c).alias(f.name))
            else:
                cols.append(c.cast("string").alias(f.name))
        return df.select(*cols, F.lit(etype).alias("__type"), F.col(f"`{key}`").cast("string").alias("__key"))

    parts = [as_text(enterprises, "enterprise", "id")]
    for t, df in children.items():
        if owner_column not in df.columns:
            raise ValueError(f"child register {t} has no owner column {owner_column!r}")
        parts.append(as_text(df, t, owner_column))
    allrows = parts[0]
    for p in parts[1:]:
        allrows = allrows.unionByName(p, allowMissingColumns=True)
    order = F.when(F.col("__type") == "enterprise", 0).otherwise(1)
    allrows = allrows.repartition("__key").sortWithinPartitions("__key", order, "__type", "_row")
    fn = _family_batches(policies, as_of, sorted(children), owner_column, errors)
    return allrows.mapInArrow(fn, FAMILY_ERROR_SCHEMA_DDL if errors else FAMILY_SCHEMA_DDL)
