"""The vectorised backend gives bit-identical results to the per-entity evaluator (zhengce.engine.evaluate)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhengce.bulk.compiler import SCALES
from zhengce.bulk.plan import compile_plan
from zhengce.bulk.reference import differences, evaluate_reference
from zhengce.bulk.register import normalize
from zhengce.bulk.synth import _thresholds, synth_chunk
from zhengce.expr import ast as A

AS_OF = [date(2021, 6, 1), date(2023, 9, 1), date(2024, 12, 31), date(2025, 3, 1)]


def _check(pack, raw: pl.DataFrame, as_of: date, force_fallback: bool = False):
    nz = normalize(raw, pack.schema, "enterprise")
    plan = compile_plan(pack, "enterprise", as_of, force_fallback=force_fallback)
    got = plan.evaluate(nz.frame)
    want = evaluate_reference(plan, nz.frame)
    diff = differences(got, want)
    assert not diff, "\n".join(diff)
    return plan, got


def test_synthetic_register_agrees_at_several_dates(bulk_pack):
    raw = pl.from_arrow(synth_chunk(bulk_pack, 3000, seed=11))
    for d in AS_OF:
        plan, got = _check(bulk_pack, raw, d)
        assert not plan.fallback_rules, [(r.id, r.fallback) for r in plan.fallback_rules]


def test_fallback_path_agrees(bulk_pack):
    raw = pl.from_arrow(synth_chunk(bulk_pack, 300, seed=5))
    _check(bulk_pack, raw, date(2023, 9, 1), force_fallback=True)


# ---------------------------------------------------------------- hypothesis: random registers with edges
def _edge_values(pack) -> dict[str, list[Decimal]]:
    """Every literal a rule compares a field with, and one smallest unit either side of it."""
    out = {}
    for name, ts in _thresholds(pack, "enterprise").items():
        spec = pack.schema.fields["enterprise"].get(name)
        if spec is None or spec.type not in SCALES:
            continue
        unit = Decimal(1).scaleb(-SCALES[spec.type])
        vals = set()
        for t in ts:
            t = t.quantize(unit) if t == t.quantize(unit) else t
            vals.update({t, t + unit, t - unit})
        out[name] = sorted(v for v in vals if v == v.quantize(unit))
    return out


def _set_values(pack) -> dict[str, list[str]]:
    lits: dict[str, set[str]] = {}
    for cr in pack.rules_for("enterprise"):
        for node in [n for _, _, n in cr.conditions] + ([cr.amount] if cr.amount is not None else []):
            for n in A.walk(node):
                if isinstance(n, A.In) and isinstance(n.container, A.Field) and isinstance(n.item, A.Literal):
                    lits.setdefault(n.container.name, set()).add(n.item.value)
                if isinstance(n, A.Call) and n.func == "count_in" and isinstance(n.args[1], A.ListLit):
                    lits.setdefault(n.args[0].name, set()).update(
                        i.value for i in n.args[1].items if isinstance(i, A.Literal))
    return {k: sorted(v) for k, v in lits.items()}


def _record(pack, edges, sets):
    specs = pack.schema.fields["enterprise"]

    def value(name, spec):
        t = spec.type
        if t in SCALES:
            unit = Decimal(1).scaleb(-SCALES[t])
            hi = {"money": 10**10, "number": 10**6, "rate": 5, "int": 12}[t]
            choices = [st.integers(-2, 10**6 if t != "int" else 12).map(lambda i, u=unit: Decimal(i) * u),
                       st.integers(0, hi).map(Decimal), st.just(Decimal(0))]
            if t != "int":
                choices.append(st.integers(-10**4, hi * 10**SCALES[t]).map(lambda i, u=unit: Decimal(i) * u))
            if name in edges:
                choices.append(st.sampled_from(edges[name]))
            return st.one_of(*choices).map(str)
        if t == "bool":
            return st.sampled_from(["true", "false", "是", "否"])
        if t == "date":
            return st.dates(date(2015, 1, 1), date(2026, 12, 31)).map(date.isoformat)
        if t == "enum":
            return st.sampled_from(spec.values or ["x"])
        if t == "set":
            vocab = sorted(set(sets.get(name, [])) | set(spec.values or [])) or ["a"]
            return st.lists(st.sampled_from(vocab), max_size=4).map(";".join)
        return st.text("abc", max_size=3)

    return st.fixed_dictionaries({name: st.one_of(st.none(), value(name, spec)) if spec.type != "set"
                                  else value(name, spec) for name, spec in specs.items()})


_PACK = {}


def _strategy():
    from tests.conftest import POLICIES
    from zhengce.rules.loader import load_pack

    if "p" not in _PACK:
        p = load_pack(POLICIES)
        _PACK["p"] = (p, _record(p, _edge_values(p), _set_values(p)))
    return _PACK["p"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_registers_with_threshold_edges(data):
    pack, rec = _strategy()
    rows = data.draw(st.lists(rec, min_size=1, max_size=40))
    as_of = data.draw(st.sampled_from(AS_OF))
    names = list(pack.schema.fields["enterprise"])
    raw = pl.DataFrame({n: [r[n] for r in rows] for n in names}, schema={n: pl.Utf8 for n in names})
    _check(pack, raw, as_of)


def test_unknowns_and_zero_division_are_undetermined_not_eligible(bulk_pack):
    """An all-missing register: every rule with conditions is undetermined or not eligible, never an error."""
    raw = pl.DataFrame({"id": ["a", "b"], "revenue": [None, "0"]}, schema={"id": pl.Utf8, "revenue": pl.Utf8})
    plan, got = _check(bulk_pack, raw, date(2023, 9, 1))
    assert got.stats["eligible"].sum() + got.stats["not_eligible"].sum() + got.stats["undetermined"].sum() \
        == 2 * len(plan.rules)


def test_group_caps_in_order_pro_rata_and_across_documents(bulk_pack):
    """The engine's group-cap semantics, on registers built to make them bind: two caps in one document
    (narrower first, pro rata), an award paid under another document still bound by this one's cap, and
    remainders that need the last row to absorb them."""
    rows = []
    for i, lc in enumerate(["1800万元", "350万元", "0.03元", "1万元", "123456.78元", None]):
        rows.append({"id": f"E{i}", "is_industrial": True, "revenue_base": "230亿元", "revenue": "415亿元",
                     "revenue_peak_before": "380亿元", "local_contribution_prev_year": lc,
                     "titles_new": "省级制造业创新中心牵头企业;国家级跨行业跨领域工业互联网平台",
                     "has_industrialized_key_tech": True, "revenue_growth": "7%"})
    raw = pl.DataFrame(rows)
    for d in (date(2023, 12, 1), date(2025, 6, 30)):
        plan, got = _check(bulk_pack, raw, d)
        if d.year == 2023:
            assert got.group_caps.filter(pl.col("binding")).height >= 4


def test_wide_amounts_agree_with_the_per_entity_evaluator(bulk_pack):
    """Plan.amounts (one column per rule, before stacking and group caps) holds exactly the per-entity
    evaluator's eligible amounts: same rows, same 分, null wherever the rule is not eligible or unknown."""
    raw = pl.from_arrow(synth_chunk(bulk_pack, 2000, seed=21))
    nz = normalize(raw, bulk_pack.schema, "enterprise")
    for d in (date(2023, 9, 1), date(2025, 3, 1)):
        plan = compile_plan(bulk_pack, "enterprise", d)
        wide = plan.amounts(nz.frame)
        assert wide.height == nz.frame.height
        got = wide.unpivot(index="_row", variable_name="rule_id", value_name="amount_fen") \
            .drop_nulls("amount_fen").sort("_row", "rule_id")
        ids = pl.DataFrame({"rule": [rp.index for rp in plan.rules], "rule_id": [rp.id for rp in plan.rules]},
                           schema={"rule": pl.UInt32, "rule_id": pl.Utf8})
        ref = evaluate_reference(plan, nz.frame).long.drop_nulls("amount_fen").join(ids, on="rule") \
            .select("_row", "rule_id", "amount_fen").sort("_row", "rule_id")
        assert got.height > 500 and got.equals(ref)
