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


def _same_as_reference(bulk_pack, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    fast = normalize(df, bulk_pack.schema, "enterprise")
    slow = normalize(df, bulk_pack.schema, "enterprise", _fast=False)
    assert _frame_equal(fast.frame, slow.frame)
    assert _frame_equal(fast.errors, slow.errors)
    return fast.frame, fast.errors


def _typed_numbers(bulk_pack, n: int = 50) -> tuple[pl.DataFrame, dict[str, str]]:
    """A clean typed chunk (Parquet-like): ints, Decimals at, above and below the bulk scale, all in range."""
    specs = bulk_pack.schema.fields["enterprise"]
    first = {t: [k for k, s in specs.items() if s.type == t] for t in ("money", "rate", "number", "int")}
    names = {"m2": first["money"][0], "m4": first["money"][1], "r0": first["rate"][0], "r6": first["rate"][1],
             "num": first["number"][0], "i64": first["int"][0], "i32": first["int"][1]}
    df = pl.DataFrame({
        "id": [f"e{i}" for i in range(n)],
        names["m2"]: pl.Series([Decimal(i) / 100 - Decimal(7) for i in range(n)], dtype=pl.Decimal(18, 2)),
        names["m4"]: pl.Series([Decimal(i * 100) / 10_000 for i in range(n)], dtype=pl.Decimal(18, 4)),  # no residue
        names["r0"]: pl.Series([Decimal(i % 7) for i in range(n)], dtype=pl.Decimal(10, 0)),
        names["r6"]: pl.Series([Decimal(i) / 10**6 for i in range(n)], dtype=pl.Decimal(12, 6)),
        names["num"]: pl.Series([None] * n, dtype=pl.Decimal(18, 4)),  # all unknown
        names["i64"]: pl.Series(range(-n, n, 2), dtype=pl.Int64),
        names["i32"]: pl.Series(range(n), dtype=pl.Int32),
    })
    return df, names


def test_number_stats_path_flags_exactly_the_bad_record(bulk_pack):
    from zhengce.bulk.register import _typed_fast

    df, names = _typed_numbers(bulk_pack)
    specs = bulk_pack.schema.fields["enterprise"]
    frame, errors = _same_as_reference(bulk_pack, df)
    assert frame.height == df.height and errors.height == 0
    fast, _ = _typed_fast(df, specs, list(names.values()))
    assert all(fast[c][1] is None for c in names.values())  # clean: no per-row flag at all
    mb, rb = MAX_ABS["money"], MAX_ABS["rate"]
    one_bad = {  # (column, value) put into row 17: exactly that record must go to the errors
        "m2": [Decimal(mb) + Decimal("0.01"), -Decimal(mb) - Decimal("0.01")],
        "m4": [Decimal("1.2345"), Decimal("-0.0001"), Decimal(mb) + Decimal("0.0100")],
        "r0": [Decimal(rb + 1), Decimal(-rb - 1)],
        "r6": [Decimal(rb) + Decimal("0.000001"), Decimal("-1000.000001")],
        "num": [Decimal(MAX_ABS["number"]) + 1],
        "i64": [MAX_ABS["int"] + 1, -MAX_ABS["int"] - 1, -(2**63), 2**63 - 1],
        "i32": [-(2**31)],
    }
    for key, values in one_bad.items():
        c = names[key]
        for v in values:
            if key == "i32" and MAX_ABS["int"] >= 2**31:
                continue
            bad = df.with_columns(df[c].scatter(17, v))
            frame, errors = _same_as_reference(bulk_pack, bad)
            assert errors["_row"].to_list() == [18] and errors["field"].to_list() == [c], (c, v)
            assert frame.height == df.height - 1
            assert _typed_fast(bad, specs, [c])[0][c][1] is not None
    # edges: exactly at the bound is fine; an empty chunk
    at = df.with_columns(df[names["m2"]].scatter(3, Decimal(mb)), df[names["i64"]].scatter(4, -MAX_ABS["int"]))
    assert _same_as_reference(bulk_pack, at)[1].height == 0
    assert _same_as_reference(bulk_pack, df.head(0))[0].height == 0


def test_decimal_beyond_its_precision_takes_the_generic_path(bulk_pack):
    """A Decimal(18, 2) from Arrow is not checked against its precision: a physical value beyond Int64 must be
    reported (out of range), not wrapped (2**64 + 5 would wrap to a harmless-looking 5)."""
    import pyarrow as pa

    df, names = _typed_numbers(bulk_pack, 4)
    v = 2**64 + 5
    data = b"".join(int(x).to_bytes(16, "little", signed=True) for x in (1, v, -v, 5))
    arr = pa.Array.from_buffers(pa.decimal128(18, 2), 4, [None, pa.py_buffer(data)])
    df = df.with_columns(pl.from_arrow(arr).alias(names["m2"]))
    frame, errors = _same_as_reference(bulk_pack, df)
    assert errors["_row"].to_list() == [2, 3] and frame["_row"].to_list() == [1, 4]


def test_set_fast_path_matches_reference(bulk_pack):
    specs = bulk_pack.schema.fields["enterprise"]
    closed = next(n for n, s in specs.items() if s.type == "set" and s.values)
    free = next(n for n, s in specs.items() if s.type == "set" and not s.values)
    a, b = specs[closed].values[:2]
    clean = [[a], [], None, [b, a], [a], [b]]
    variants = {
        "clean": clean,
        "duplicates": [[a, a], [], None, [b, a], [a], [b]],  # a pair: the shortest list that can repeat
        "duplicate in three": [[a], [], None, [b, a, b], [a], [b]],
        "unknown value": [[a], ["不存在的奖"], None, [b, "x"], [a], [b]],
        "unknown and duplicate": [[a, "x", "x"], [], None, [b, b], [a], [b]],
        "padding": [[f" {a}"], [], None, [b, a], [a], [b]],
        "blank item": [[a, ""], [], None, [" "], [a], [b]],
        "null item": [[a, None], [], None, [None], [a], [b]],
    }
    for label, closed_vals in variants.items():
        df = pl.DataFrame({"id": [f"e{i}" for i in range(6)],
                           closed: pl.Series(closed_vals, dtype=pl.List(pl.Utf8)),
                           free: pl.Series(closed_vals, dtype=pl.List(pl.Utf8))})
        frame, errors = _same_as_reference(bulk_pack, df)
        bad_rows = sorted(set(errors["_row"].to_list()))
        expected = {"unknown value": [2, 4], "unknown and duplicate": [1]}.get(label, [])
        assert bad_rows == expected, label
        if label.startswith("duplicate"):  # len() counts items: the duplicates are gone
            assert frame[closed].list.len().to_list() == [1, 0, None, 2, 1, 1]


def test_chunked_register_matches_reference(bulk_pack):
    """Chunked input (a multi-batch Parquet read): aligned chunks are kept, misaligned ones are merged first."""
    df, _ = _typed_numbers(bulk_pack, 40)
    aligned = pl.concat([df.slice(0, 15), df.slice(15, 25)], rechunk=False)
    assert aligned.n_chunks() == 2
    frame, _ = _same_as_reference(bulk_pack, aligned)
    assert frame["_row"].to_list() == list(range(1, 41))
    c = df.columns[1]
    misaligned = aligned.with_columns(pl.concat([df[c].slice(0, 7), df[c].slice(7, 33)], rechunk=False))
    frame2, _ = _same_as_reference(bulk_pack, misaligned)
    assert _frame_equal(frame, frame2)
    with_blank_ids = aligned.with_columns(pl.when(pl.col("id") == "e3").then(None).otherwise(pl.col("id")).alias("id"))
    frame3, _ = _same_as_reference(bulk_pack, with_blank_ids)
    assert frame3["id"][3] == "enterprise-4"


def test_prepared_frame_columns_are_chunked_alike(bulk_pack):
    """A multi-chunk register (one chunk per Parquet row group) keeps all columns — including the set masks
    and row positions the plan adds — chunked alike; otherwise polars copies the frame on every query."""
    from zhengce.bulk.plan import compile_plan

    raw = pl.from_arrow(synth_chunk(bulk_pack, 900, seed=2))
    parts = [normalize(raw.slice(o, 300), bulk_pack.schema, "enterprise", row_offset=o).frame for o in (0, 300, 600)]
    frame = pl.concat(parts, rechunk=False)
    assert frame.n_chunks() == 3
    plan = compile_plan(bulk_pack, "enterprise", date(2023, 9, 1))
    prepared = plan.prepare(frame)
    lens = {tuple(s.chunk_lengths()) for s in prepared.get_columns()}
    assert lens == {(300, 300, 300)}
    assert any(c.startswith("__set_") for c in prepared.columns) and "__p" in prepared.columns
    assert plan.evaluate(frame).long.equals(plan.evaluate(frame.rechunk()).long)
