"""The fused numba kernel (zhengce.bulk.kernel) gives exactly the results of polars and of the per-entity engine.

Three levels: the translator operator by operator (random frames full of nulls, against polars evaluating the
same expressions); whole plans on synthetic registers (every BulkResult table equal to the polars backend's, and
no difference from the engine); random registers with threshold edges (hypothesis, against the engine).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhengce.bulk import kernel
from zhengce.bulk.plan import compile_plan
from zhengce.bulk.reference import differences, evaluate_reference
from zhengce.bulk.register import normalize
from zhengce.bulk.synth import synth_chunk

pytestmark = pytest.mark.skipif(not kernel.AVAILABLE, reason="numba is not installed (pip install 'zhengce[kernel]')")

c = pl.col
# (conditions, amount) pairs covering every construct the translator knows, nulls everywhere
CASES = [
    ([c("p") & c("q")], c("a")),
    ([c("p") | c("q"), c("a") > c("b")], c("a") - c("b")),
    ([~c("p")], c("a") * 3 + c("b") - 7),
    ([pl.any_horizontal(c("p"), c("q"), c("a") >= 0)], c("a") // c("b")),  # by zero → null
    ([c("a").is_null() | c("b").is_not_null()], c("a") // 7),
    ([], pl.when(c("p")).then(c("a")).when(c("q")).then(c("b")).otherwise(None)),  # a null predicate → next
    ([c("a") != 0], c("a").clip(-5, 5)),
    ([c("b") <= 3], c("b").clip(lower_bound=0)),
    ([], pl.max_horizontal(c("a"), c("b"))),  # nulls ignored
    ([], pl.min_horizontal(c("a"), c("b"), pl.lit(2, dtype=pl.Int64))),
    ([], pl.coalesce(c("a"), c("b"), pl.lit(0, dtype=pl.Int64))),
    ([c("d") + pl.duration(days=30) < pl.lit(dt.date(2023, 3, 1))], c("d").dt.year().cast(pl.Int64)),
    ([c("d") - pl.duration(days=1) >= pl.lit(dt.date(2020, 1, 1))], pl.lit(5, dtype=pl.Int64)),
    ([(c("m") & 4) != 0], (c("m") & 6).cast(pl.Int64)),  # set-mask bits
    ([c("p") == c("q")], c("p").cast(pl.Int64) + c("q").cast(pl.Int64)),
    ([pl.lit(None, dtype=pl.Boolean) | c("p")], pl.lit(None, dtype=pl.Int64)),
    ([c("p") & pl.lit(True)], None),  # eligibility only
]


def _rules(cases):
    doc = SimpleNamespace(doc_no="测试〔2023〕1号")
    return [SimpleNamespace(index=i, id=f"r{i}", fallback=None, conds=conds, amount=amount,
                            cr=SimpleNamespace(document=doc)) for i, (conds, amount) in enumerate(cases)]


def _frame(rows):
    """The rows as a frame whose null slots hold garbage (Arrow leaves them undefined: a kernel that reads a value
    without its validity would see 1s, True and 2021-01-01 here, not zeros)."""
    import pyarrow as pa

    n = len(rows)
    cols = {}
    for j, (name, typ, junk) in enumerate([("a", pa.int64(), 13), ("b", pa.int64(), -3), ("p", pa.bool_(), True),
                                           ("q", pa.bool_(), True), ("d", pa.date32(), 18628),
                                           ("m", pa.int64(), 7)]):
        vals = [r[j] for r in rows]
        valid = np.array([v is not None for v in vals])
        if typ == pa.date32():
            vals = [(v - dt.date(1970, 1, 1)).days if v is not None else None for v in vals]
        data = [v if v is not None else junk for v in vals]
        full = pa.array(data, type=typ if typ != pa.date32() else pa.int32())
        bits = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
        cols[name] = pa.Array.from_buffers(typ, n, [bits, full.buffers()[1]], null_count=int((~valid).sum()))
    return pl.from_arrow(pa.table(cols))


def _expected(frame, cases):
    """Per rule: polars' own status (Kleene AND of the conditions) and amount where eligible."""
    cols = []
    for i, (conds, amount) in enumerate(cases):
        ok = pl.lit(True)
        for x in conds:
            ok = ok & x
        cols.append(ok.alias(f"s{i}"))
        if amount is not None:
            cols.append(pl.when(ok).then(amount).cast(pl.Int64).alias(f"a{i}"))
    return frame.select(cols)


ints = st.one_of(st.none(), st.integers(-20, 20), st.sampled_from([0, 2**40, -(2**40)]))
bools = st.one_of(st.none(), st.booleans())
dates = st.one_of(st.none(), st.dates(dt.date(1999, 12, 1), dt.date(2024, 3, 1)))
row = st.tuples(ints, ints, bools, bools, dates, st.one_of(st.none(), st.integers(0, 7)))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.lists(row, min_size=1, max_size=300), cut=st.integers(0, 9))
def test_translator_matches_polars_operator_by_operator(rows, cut):
    """Statuses, counts, eligible rows and amounts of every case equal polars' on random frames; the frame is
    sliced at a random offset and made of two chunks, so bitmaps start mid-byte and columns are chunked."""
    frame = _frame(rows)
    frame = pl.concat([frame, frame], rechunk=False).slice(min(cut, len(rows) - 1))
    ker = kernel.build(_rules(CASES), frame.schema)
    assert not ker.untranslated, ker.untranslated
    want = _expected(frame, CASES)
    cnt, (rule, pos, amt, known) = ker.evaluate(frame)
    wide = ker.wide(frame)
    for r, (_conds, amount) in enumerate(CASES):
        s = want[f"s{r}"]
        assert list(cnt[r]) == [int((s == False).sum()), int(s.sum()), s.null_count()], r  # noqa: E712
        sel = rule == r
        assert pos[sel].tolist() == s.fill_null(False).arg_true().to_list(), r
        if amount is not None:
            a = want[f"a{r}"]
            got = pl.Series(np.where(known[sel], amt[sel], 0)).to_list()
            assert [x if k else None for x, k in zip(got, known[sel], strict=True)] == a.filter(s.fill_null(False)).to_list(), r
            assert wide[r].to_list() == a.to_list(), r
        else:
            assert not known[sel].any() and r not in wide


def test_untranslatable_expressions_stay_on_polars():
    frame = pl.DataFrame({"t": ["x", None], "a": [1, 2], "big": [1, 2]}, schema={"t": pl.Utf8, "a": pl.Int64,
                                                                                   "big": pl.Int128})
    cases = [([c("t") == "x"], c("a")), ([], c("big") * 2), ([c("a") > 1], c("a"))]
    ker = kernel.build(_rules(cases), frame.schema)
    assert ker.rules == [2]
    assert "String" in ker.untranslated["r0"] and "Int128" in ker.untranslated["r1"]


@pytest.fixture(scope="module")
def register(bulk_pack):
    raw = pl.from_arrow(synth_chunk(bulk_pack, 4000, seed=17))
    return normalize(raw, bulk_pack.schema, "enterprise").frame


@pytest.mark.parametrize("as_of", [dt.date(2023, 9, 1), dt.date(2025, 3, 1)])
def test_whole_pack_on_the_kernel_equals_polars_and_the_engine(bulk_pack, register, as_of):
    plan = compile_plan(bulk_pack, "enterprise", as_of)
    plan.backend = "polars"
    want = plan.evaluate(register)
    wide_want = plan.amounts(register)
    plan.backend = "kernel"
    got = plan.evaluate(register)
    report = plan.kernel_report(plan.prepare(register))
    assert len(report["kernel"]) >= 0.9 * len(plan.rules), report["why"]
    assert set(report["polars"]) == set(report["why"])  # every rule left on polars says why
    keys = {"long": ["_row", "rule"], "totals": ["_row"], "group_caps": ["_row", "cap_id"], "stats": ["rule"]}
    for name, k in keys.items():
        a, b = getattr(got, name).sort(k), getattr(want, name).sort(k)
        assert a.equals(b), name
    assert got.long.height > 10_000 and got.group_caps["binding"].sum() > 0
    assert plan.amounts(register).equals(wide_want)
    small = register.head(600)
    diff = differences(plan.evaluate(small), evaluate_reference(plan, small))
    assert not diff, "\n".join(diff)


def test_chunked_register_with_offsets_equals_one_chunk(bulk_pack, register):
    """A register read in pieces (several chunks, a slice starting mid-byte) gives the same results."""
    plan = compile_plan(bulk_pack, "enterprise", dt.date(2023, 9, 1))
    plan.backend = "kernel"
    pieces = pl.concat([register.slice(0, 1237), register.slice(1237, 2000), register.slice(3237)], rechunk=False)
    assert pieces["revenue"].n_chunks() == 3
    a = plan.evaluate(pieces.slice(5)).long.sort("_row", "rule")
    b = plan.evaluate(register.slice(5).rechunk()).long.sort("_row", "rule")
    assert a.equals(b)


def test_auto_backend_uses_polars_for_small_chunks_and_says_when_numba_is_missing(bulk_pack, register,
                                                                                 monkeypatch):
    plan = compile_plan(bulk_pack, "enterprise", dt.date(2023, 9, 1))
    assert not plan.use_kernel(kernel.KERNEL_MIN_ROWS - 1) and plan.use_kernel(kernel.KERNEL_MIN_ROWS)
    plan.evaluate(register.head(50))
    assert not plan._kernels  # nothing built for a small chunk
    monkeypatch.setenv("ZHENGCE_BACKEND", "polars")
    assert not plan.use_kernel(10**7)
    monkeypatch.setenv("ZHENGCE_BACKEND", "kernel")
    assert plan.use_kernel(1)
    monkeypatch.setattr(kernel, "AVAILABLE", False)
    plan.backend = "kernel"
    with pytest.raises(RuntimeError, match="numba"):
        plan.use_kernel(1)
    plan.backend = "auto"
    monkeypatch.delenv("ZHENGCE_BACKEND")
    assert not plan.use_kernel(10**7)
    assert "numba" in plan.kernel_report()["why"]["*"]


def test_random_registers_with_threshold_edges_on_the_kernel():
    """The hypothesis registers of test_equivalence (every threshold literal and one unit either side), on the
    kernel, against the per-entity engine."""
    from tests.bulk.test_equivalence import _strategy

    pack, rec = _strategy()
    names = list(pack.schema.fields["enterprise"])

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(rec, min_size=1, max_size=40))
    def check(rows):
        raw = pl.DataFrame({n: [r[n] for r in rows] for n in names}, schema={n: pl.Utf8 for n in names})
        frame = normalize(raw, pack.schema, "enterprise").frame
        plan = compile_plan(pack, "enterprise", dt.date(2023, 9, 1))
        plan.backend = "kernel"
        diff = differences(plan.evaluate(frame), evaluate_reference(plan, frame))
        assert not diff, "\n".join(diff)

    check()
