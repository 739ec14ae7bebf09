"""The performance paths give the same answers as the plain ones: typed fast paths in normalize vs the
reason-derived flags, chunked evaluation vs one pass, the pipelined runner vs the results of evaluate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from zhengce.bulk.compiler import MAX_ABS, SCALES
from zhengce.bulk.plan import compile_plan
from zhengce.bulk.register import normalize
from zhengce.bulk.synth import synth_chunk


def _frame_equal(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.columns == b.columns and a.equals(b)


def test_typed_fast_paths_match_reference_flags(bulk_pack):
    specs = bulk_pack.schema.fields["enterprise"]
    money = next(n for n, s in specs.items() if s.type == "money")
    rate = next(n for n, s in specs.items() if s.type == "rate")
    intf = next(n for n, s in specs.items() if s.type == "int")
    mb, ib = MAX_ABS["money"], MAX_ABS["int"]
    n = 12
    raw = pl.DataFrame({
        "id": [f"e{i}" for i in range(n)],
        # money as Decimal(18, 2) (in range, at the bound, beyond), as Decimal(18, 4) with excess decimals
        money: pl.Series([Decimal("1.50"), Decimal(mb), Decimal(mb) + 1, -Decimal(mb) - 1, None, Decimal("0.01"),
                          Decimal(0), Decimal(-mb), Decimal("7"), None, Decimal("3.10"), Decimal("2")],
                         dtype=pl.Decimal(18, 2)),
        rate: pl.Series([Decimal("0.1234567"), Decimal("0.5"), None, Decimal("1000.0000001"), Decimal("1000"),
                          Decimal("-1000"), Decimal("0.000001"), Decimal("0.0000010"), Decimal("2"), Decimal("1001"),
                          Decimal("-1000.000001"), Decimal("0")], dtype=pl.Decimal(18, 7)),
        intf: pl.Series([ib, ib + 1, -ib, -ib - 1, None, 0, 5, -(2**63), 2**63 - 1, 1, 2, 3], dtype=pl.Int64),
    })
    enum = next(n for n, s in specs.items() if s.type == "enum" and s.values)
    ok = specs[enum].values[0]
    raw = raw.with_columns(pl.Series(enum, [ok, "不存在的取值", None, ok, ok, ok, ok, ok, ok, ok, ok, ok]))
    variants = (raw, raw.with_columns(pl.col(intf).cast(pl.Int32, strict=False)),
                raw.with_columns(pl.col(enum).replace({"不存在的取值": ok})),  # all valid: no enum flag at all
                raw.with_columns(pl.col(enum).replace({ok: f" {ok} "})),  # needs stripping: the generic path
                raw.with_columns(pl.col(enum).replace({"不存在的取值": "  "})))  # blank → unknown
    for df in variants:
        fast = normalize(df, bulk_pack.schema, "enterprise")
        slow = normalize(df, bulk_pack.schema, "enterprise", _fast=False)
        assert _frame_equal(fast.frame, slow.frame)
        assert _frame_equal(fast.errors, slow.errors)
        assert fast.errors.height > 0  # the edges really produce bad records
    assert SCALES["money"] == 2


def test_synthetic_normalize_fast_equals_reference(bulk_pack):
    raw = pl.from_arrow(synth_chunk(bulk_pack, 2000, seed=3))
    fast = normalize(raw, bulk_pack.schema, "enterprise")
    slow = normalize(raw, bulk_pack.schema, "enterprise", _fast=False)
    assert _frame_equal(fast.frame, slow.frame) and _frame_equal(fast.errors, slow.errors)


def test_chunked_equals_whole(bulk_pack):
    raw = pl.from_arrow(synth_chunk(bulk_pack, 5000, seed=21))
    frame = normalize(raw, bulk_pack.schema, "enterprise").frame
    plan = compile_plan(bulk_pack, "enterprise", date(2023, 9, 1))
    whole = plan.evaluate(frame)
    parts = plan.evaluate_chunked(frame, chunk_rows=1234)
    key = ["_row", "rule"]
    assert _frame_equal(whole.long.sort(key), parts.long.sort(key))
    assert _frame_equal(whole.totals.sort("_row"), parts.totals.sort("_row"))
    gk = ["_row", "doc_no", "cap_id"]
    assert _frame_equal(whole.group_caps.sort(gk), parts.group_caps.sort(gk))
    assert _frame_equal(whole.stats, parts.stats)
    assert whole.rows == parts.rows
