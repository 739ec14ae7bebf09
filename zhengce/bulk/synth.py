"""A synthetic, realistic Weihai enterprise register, deterministic for a seed (demos, tests, benchmarks).

Distributions (rough shapes of a prefecture-level city's market-entity register, not real data):
- 9 区市/开发区 with weights by economic size; 16 industries, ~40% industrial;
- revenue lognormal (median ≈ 600万元, long tail to a few 百亿 enterprises), growth ~ N(6%, 18%);
- local contribution 0.4–3% of revenue, R&D 0–6% (≈55% report none), employees lognormal;
- titles with realistic prevalence (高新技术企业 ≈3%, 科技型中小企业 ≈5%, 专精特新中小企业 ≈1.5%,
  专精特新“小巨人”企业 ≈0.15%) plus every title string the pack's rules test for (rare);
- every field the pack declares gets a value of its type; ≈1% of pack fields are missing (unknown);
- thresholds hit at realistic rates: for ≈2% of rows a field the rules compare with a literal is set
  exactly at, or one unit either side of, that literal (so edges are exercised, as in real data
  where round numbers cluster).

Columns are typed for Parquet: money Decimal(18,2), rates Decimal(12,6), ints Int64, dates Date,
sets List(Utf8). CSV output writes sets as 'a;b' and decimals as plain text.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from zhengce.expr import ast as A
from zhengce.rules.loader import Pack

DISTRICTS = ["环翠区", "文登区", "荣成市", "乳山市", "火炬高技术产业开发区", "经济技术开发区", "临港经济技术开发区",
             "南海新区", "综合保税区"]
DISTRICT_W = [0.22, 0.15, 0.17, 0.10, 0.13, 0.12, 0.07, 0.03, 0.01]
INDUSTRIES = [("装备制造", True), ("医疗器械及医药", True), ("新材料", True), ("电子信息", True),
              ("食品加工", True), ("纺织服装", True), ("轮胎橡胶", True), ("海洋食品", True),
              ("船舶与海工装备", True), ("软件和信息技术服务", False), ("批发零售", False), ("建筑业", False),
              ("交通运输", False), ("住宿餐饮", False), ("文化旅游", False), ("现代物流", False)]
INDUSTRY_W = [0.09, 0.04, 0.05, 0.05, 0.06, 0.05, 0.02, 0.04, 0.02, 0.06, 0.25, 0.08, 0.05, 0.07, 0.04, 0.03]
TITLES = {"高新技术企业": 0.03, "科技型中小企业": 0.05, "专精特新中小企业": 0.015, "专精特新“小巨人”企业": 0.0015,
          "创新型中小企业": 0.02, "省级企业技术中心": 0.004, "瞪羚企业": 0.002}
NAME_WORDS = list("华海威泰宏远鑫盛恒昌荣信达瑞丰安鼎联发广汇新隆源嘉明德誉晟")


def _literal_strings(pack: Pack) -> dict[str, set[str]]:
    """Strings the rules look for in each set/enum field ('"高新技术企业" in titles')."""
    out: dict[str, set[str]] = defaultdict(set)
    for cr in pack.rules:
        nodes = [n for _, _, n in cr.conditions] + ([cr.amount] if cr.amount is not None else [])
        for root in nodes:
            for n in A.walk(root):
                if isinstance(n, A.In) and isinstance(n.container, A.Field) and isinstance(n.item, A.Literal) \
                        and isinstance(n.item.value, str):
                    out[n.container.name].add(n.item.value)
                if isinstance(n, A.Call) and n.func == "count_in" and isinstance(n.args[0], A.Field):
                    for it in n.args[1].items if isinstance(n.args[1], A.ListLit) else ():
                        if isinstance(it, A.Literal) and isinstance(it.value, str):
                            out[n.args[0].name].add(it.value)
    return out


def _thresholds(pack: Pack, entity_type: str) -> dict[str, list[Decimal]]:
    out: dict[str, set[Decimal]] = defaultdict(set)
    for cr in pack.rules_for(entity_type):
        for _, _, root in cr.conditions:
            for n in A.walk(root):
                if isinstance(n, A.Compare):
                    for f, lit in ((n.left, n.right), (n.right, n.left)):
                        if isinstance(f, A.Field) and isinstance(lit, A.Literal) and isinstance(lit.value, Decimal):
                            out[f.name].add(lit.value)
    return {k: sorted(v) for k, v in out.items()}


def _decimal_array(values: np.ndarray, valid: np.ndarray | None, precision: int, scale: int) -> pa.Array:
    """int64 unscaled values → Arrow decimal128 without going through Python objects."""
    v = values.astype(np.int64)
    words = np.empty(len(v) * 2, dtype=np.int64)
    words[0::2] = v
    words[1::2] = v >> 63
    buf = pa.py_buffer(words.tobytes())
    mask = None
    if valid is not None and not valid.all():
        mask = pa.array(valid).buffers()[1]
        nulls = int((~valid).sum())
        return pa.Array.from_buffers(pa.decimal128(precision, scale), len(v), [mask, buf], null_count=nulls)
    return pa.Array.from_buffers(pa.decimal128(precision, scale), len(v), [None, buf])


def synth_chunk(pack: Pack, n: int, seed: int, start: int = 0) -> pa.Table:
    """Rows ``start .. start+n`` of the register for ``seed`` (chunks are independent and reproducible)."""
    rng = np.random.default_rng([seed, start])
    schema = pack.schema.fields["enterprise"]
    cols: dict[str, pa.Array] = {}
    idx = np.arange(start, start + n)
    cols["id"] = pa.array(np.char.add("91371000MA", np.char.zfill(idx.astype(str), 8)))
    w1 = rng.integers(0, len(NAME_WORDS), n)
    w2 = rng.integers(0, len(NAME_WORDS), n)
    ind = rng.choice(len(INDUSTRIES), n, p=np.array(INDUSTRY_W) / sum(INDUSTRY_W))
    ind_names = np.array([i for i, _ in INDUSTRIES])[ind]
    words = np.array(NAME_WORDS)
    cols["name"] = pa.array(np.char.add(np.char.add(np.char.add("威海", words[w1]), words[w2]),
                                        np.char.add(ind_names, "有限公司")))
    cols["district"] = pa.array(np.array(DISTRICTS)[rng.choice(len(DISTRICTS), n, p=DISTRICT_W)])
    cols["industry"] = pa.array(ind_names)
    industrial = np.array([b for _, b in INDUSTRIES])[ind] & (rng.random(n) < 0.9)
    cols["is_industrial"] = pa.array(industrial)
    # revenue in 分: lognormal, median ≈ 600万元; a few reach 百亿
    rev = np.exp(rng.normal(np.log(6e6), 1.9, n)) * np.where(industrial, 2.0, 1.0)
    rev = np.minimum(rev, 8e11)
    rev_fen = np.round(rev * 100).astype(np.int64)
    growth = np.round(rng.normal(0.06, 0.18, n), 4)  # scale 4 as a fraction
    growth = np.maximum(growth, -0.9)
    prev_fen = np.round(rev_fen / (1 + growth)).astype(np.int64)
    g2 = np.round(rng.normal(0.05, 0.15, n), 4)
    g2 = np.maximum(g2, -0.9)
    base_fen = np.round(prev_fen / (1 + np.maximum(g2, -0.5)) ** rng.integers(0, 3, n)).astype(np.int64)
    peak_fen = np.maximum(prev_fen, np.round(prev_fen * rng.uniform(0.6, 1.3, n))).astype(np.int64)
    above = industrial & (rev_fen >= 2000_0000_00)  # 规上工业: 主营收入 2000万元
    cols["is_above_scale"] = pa.array(above | (~industrial & (rev_fen >= 5000_0000_00)))
    small = rev_fen < 40_000_0000_00
    cols["is_sme"] = pa.array(small | (rng.random(n) < 0.02))
    cols["is_small_micro"] = pa.array(rev_fen < 2_0000_0000_00)
    days = rng.integers(0, (date(2023, 6, 30) - date(1990, 1, 1)).days, n)
    cols["registered_date"] = pa.array((np.datetime64("1990-01-01") + days).astype("datetime64[D]"))
    cols["employees"] = pa.array(np.maximum(1, np.round(np.exp(rng.normal(2.3, 1.3, n)))).astype(np.int64))
    contrib = np.round(rev_fen * rng.uniform(0.004, 0.03, n)).astype(np.int64)
    rd = np.where(rng.random(n) < 0.45, np.round(rev_fen * rng.uniform(0, 0.06, n)), 0).astype(np.int64)
    money = {"revenue": rev_fen, "revenue_prev_year": prev_fen, "revenue_base": base_fen,
             "revenue_peak_before": peak_fen, "local_contribution_prev_year": contrib,
             "tax_paid": np.round(contrib * rng.uniform(1.6, 2.6, n)).astype(np.int64), "rd_expense": rd}
    rates = {"revenue_growth": np.round(growth * 1e6).astype(np.int64),
             "revenue_growth_prev_year": np.round(g2 * 1e6).astype(np.int64)}
    # titles
    lits = _literal_strings(pack)
    hi = industrial | (rng.random(n) < 0.3)
    held: list[list[str]] = [[] for _ in range(n)]
    new: list[list[str]] = [[] for _ in range(n)]
    for t, p in TITLES.items():
        for i in np.nonzero(rng.random(n) < p * np.where(hi, 1.6, 0.4))[0]:
            held[i].append(t)
            if rng.random() < 0.2:
                new[i].append(t)
    for fld, target, p in (("titles", held, 0.004), ("titles_new", new, 0.002)):
        for t in sorted(lits.get(fld, ())):
            if t in TITLES:
                continue
            for i in np.nonzero(rng.random(n) < p)[0]:
                target[i].append(t)
                if fld == "titles_new" and t not in held[i]:
                    held[i].append(t)
    cols["titles"] = pa.array(held, type=pa.list_(pa.string()))
    cols["titles_new"] = pa.array(new, type=pa.list_(pa.string()))
    # every other declared field (core and pack)
    thr = _thresholds(pack, "enterprise")
    for name, spec in schema.items():
        if name in cols or name in money or name in rates:
            continue
        t = spec.type
        missing = rng.random(n) < 0.01
        # pack fields describe rare facts (a recognition, a fee paid, a project): mostly false / zero
        if t == "bool":
            p = 0.01 if name.startswith(("is_", "has_", "registered")) else 0.004
            cols[name] = pa.array(rng.random(n) < p, mask=missing)
        elif t == "int":
            v = np.where(rng.random(n) < 0.05, rng.poisson(1.5, n) + 1, 0).astype(np.int64)
            if "year" in name:
                v = np.where(rng.random(n) < 0.1, rng.integers(0, 6, n), 0).astype(np.int64)
            cols[name] = _edge_int(rng, v, thr.get(name), missing)
        elif t == "money":
            v = np.round(np.exp(rng.normal(np.log(3e5), 1.8, n)) * 100).astype(np.int64)
            money[name] = np.where(missing | (rng.random(n) > 0.03), 0, v)
            cols[name + "__missing"] = pa.array(missing)
        elif t == "rate":
            rates[name] = np.round(rng.normal(0.05, 0.12, n) * 1e4).astype(np.int64) * 100
        elif t == "number":
            v = np.round(np.exp(rng.normal(2, 1.5, n)) * 100).astype(np.int64) * 100  # scale 4
            cols[name] = _decimal_array(_edge(rng, v, thr.get(name), 4), ~missing, 18, 4)
        elif t == "date":
            d = rng.integers(0, (date(2024, 12, 31) - date(2015, 1, 1)).days, n)
            cols[name] = pa.array((np.datetime64("2015-01-01") + d).astype("datetime64[D]"), mask=missing)
        elif t == "enum":
            vals = spec.values or ["—"]
            cols[name] = pa.array(np.array(vals)[rng.integers(0, len(vals), n)], mask=missing)
        elif t == "text":
            cols[name] = pa.array([None] * n, type=pa.string())
        elif t == "set":
            vocab = sorted(set(spec.values or []) | lits.get(name, set()))
            lst = [[] for _ in range(n)]
            for v in vocab:
                for i in np.nonzero(rng.random(n) < 0.02)[0]:
                    lst[i].append(v)
            cols[name] = pa.array(lst, type=pa.list_(pa.string()))
    for name, v in money.items():
        miss = cols.pop(name + "__missing", None)
        valid = None if miss is None else ~np.asarray(miss.to_numpy(zero_copy_only=False))
        cols[name] = _decimal_array(_edge(rng, v, thr.get(name), 2), valid, 18, 2)
    for name, v in rates.items():
        cols[name] = _decimal_array(_edge(rng, v, thr.get(name), 6), None, 12, 6)
    order = ["id", "name"] + [c for c in schema if c in cols] + [c for c in cols if c not in schema and c not in
                                                                 ("id", "name")]
    return pa.table({c: cols[c] for c in order})


def _edge(rng, v: np.ndarray, thresholds: list[Decimal] | None, scale: int) -> np.ndarray:
    """Put ≈2% of values exactly at a rule threshold, or one unit (1分 / 0.0001%) either side."""
    if not thresholds:
        return v
    n = len(v)
    pick = np.nonzero(rng.random(n) < 0.02)[0]
    if len(pick) == 0:
        return v
    ts = np.array([int(t.scaleb(scale)) for t in thresholds], dtype=np.int64)
    v = v.copy()
    v[pick] = ts[rng.integers(0, len(ts), len(pick))] + rng.integers(-1, 2, len(pick))
    return v


def _edge_int(rng, v, thresholds, missing) -> pa.Array:
    v = _edge(rng, v, thresholds, 0)
    return pa.array(v, mask=missing)


def write_register(pack: Pack, n: int, path: Path, *, seed: int = 0, chunk: int = 500_000, progress=None) -> Path:
    """Write ``n`` rows to ``path`` (.parquet or .csv), chunk by chunk."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for start in range(0, n, chunk):
            t = synth_chunk(pack, min(chunk, n - start), seed, start)
            if path.suffix == ".csv":
                df = pl.from_arrow(t).with_columns(
                    [pl.col(c).list.join(";") for c, dt in pl.from_arrow(t.slice(0, 0)).schema.items()
                     if isinstance(dt, pl.List)])
                with open(tmp, "ab" if start else "wb") as fh:
                    df.write_csv(fh, include_header=start == 0)
            else:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, t.schema, compression="zstd")
                writer.write_table(t, row_group_size=min(chunk, 250_000))
            if progress:
                progress(min(chunk, n - start))
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return path
