"""The per-entity evaluator (zhengce.engine.evaluate) run row by row over a typed register frame, with its
results in the bulk result shape — the reference the vectorised and Spark backends are tested against, and
backend (a) of the benchmark."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from zhengce.bulk.compiler import NUMERIC_TYPES, SCALES
from zhengce.bulk.plan import LONG_SCHEMA, BulkResult, Plan
from zhengce.engine.evaluate import Evaluator
from zhengce.entities.model import Entity
from zhengce.entities.schema import EntitySchema


def row_values(rec: dict, schema: EntitySchema, entity_type: str) -> dict[str, object]:
    """Typed-frame row → the per-entity evaluator's value types (Decimal, bool, date, str, tuple)."""
    specs = schema.fields[entity_type]
    env: dict[str, object] = {}
    for k, v in rec.items():
        spec = specs.get(k)
        if spec is None or v is None:
            continue
        t = spec.type
        if t in NUMERIC_TYPES:
            env[k] = Decimal(v).scaleb(-SCALES[t])
        elif t == "set":
            env[k] = tuple(v)
        else:
            env[k] = v
    return env


def entities(frame: pl.DataFrame, schema: EntitySchema, entity_type: str) -> list[Entity]:
    return [Entity(entity_type, rec["id"], row_values(rec, schema, entity_type), record=rec["_row"])
            for rec in frame.iter_rows(named=True)]


def evaluate_reference(plan: Plan, frame: pl.DataFrame, as_of: date | None = None) -> BulkResult:
    """Run zhengce.engine.evaluate.Evaluator on every row; return results shaped like Plan.evaluate's."""
    as_of = as_of or plan.as_of
    ev = Evaluator(plan.pack)
    index = {rp.cr.id: rp.index for rp in plan.rules}
    kinds = {rp.cr.id: rp.cr.rule.kind for rp in plan.rules}
    long, gcs, tots = [], [], []
    stats = {i: [0, 0, 0, 0] for i in index.values()}
    for ent in entities(frame, plan.pack.schema, plan.entity_type):
        rep = ev.evaluate(ent, as_of, trace=False)
        row = ent.record
        any_el = False
        for r in rep.results:
            if r.status == "not_in_force":
                continue
            i = index[r.rule_id]
            s = stats[i]
            if r.status == "eligible":
                any_el = True
                s[0] += 1
                fen = None if r.amount is None else int(r.amount * 100)
                if fen is None:
                    s[3] += 1
                long.append((row, ent.id, i, fen, None if r.superseded_by is None else index[r.superseded_by],
                             r.counts))
            elif r.status == "not_eligible":
                s[1] += 1
            else:
                s[2] += 1
        for g in rep.group_caps:
            gcs.append((row, ent.id, g.id, g.doc_no, None if g.limit is None else int(g.limit * 100),
                        int(g.total_before * 100), int(g.total_after * 100), g.binding))
        if any_el:
            t = rep.totals()
            tots.append((row, ent.id, int(t["entitlement"] * 100), int(t["maximum"] * 100),
                         int(t["group_cap_reduction"] * 100), int(t["overall_upper_bound"] * 100),
                         int(t.get("charge", 0) * 100), int(t.get("third_party", 0) * 100)))
    del kinds
    return _frames(long, gcs, tots, stats, frame.height)


SORT_KEYS = {"long": ["_row", "rule"], "totals": ["_row"], "group_caps": ["_row", "doc_no", "cap_id"],
             "stats": ["rule"]}


def canonical(res: BulkResult) -> dict[str, pl.DataFrame]:
    """The result tables in one column order and row order, for exact comparison between backends."""
    cols = {"long": ["_row", "rule", "amount_fen", "superseded_by", "counts"],
            "totals": ["_row", "id", "entitlement_fen", "maximum_fen", "group_cap_reduction_fen", "overall_fen",
                       "charge_fen", "third_party_fen"],
            "group_caps": ["_row", "id", "cap_id", "doc_no", "limit_fen", "total_before_fen", "total_after_fen",
                           "binding"],
            "stats": ["rule", "eligible", "not_eligible", "undetermined", "amount_unknown"]}
    out = {}
    for name, keys in SORT_KEYS.items():
        df = getattr(res, name).select(cols[name])
        out[name] = df.with_columns([pl.col(c).cast(pl.Int64) for c in df.columns
                                     if df.schema[c].is_integer()]).sort(keys)
    return out


def differences(a: BulkResult, b: BulkResult, limit: int = 5) -> list[str]:
    """Human-readable differences between two results (empty when identical)."""
    ca, cb = canonical(a), canonical(b)
    out = []
    for name in SORT_KEYS:
        x, y = ca[name], cb[name]
        if x.equals(y):
            continue
        only_x = x.join(y, on=x.columns, how="anti", nulls_equal=True)
        only_y = y.join(x, on=y.columns, how="anti", nulls_equal=True)
        out.append(f"{name}: {x.height} vs {y.height} rows; only in first:\n{only_x.head(limit)}\n"
                   f"only in second:\n{only_y.head(limit)}")
    return out


def evaluate_reference_owned(plan: Plan, frame: pl.DataFrame, owner_column: str | None = None,
                             as_of: date | None = None) -> BulkResult:
    """The oracle for a child register (loans, projects) with owner caps: one owner entity (no fields of its
    own) per owner id, its children the owner's rows in frame order, each evaluated by the per-entity engine
    with its children. Child results only; totals per child row (the reduction of the owner's binding caps
    booked on the rows it came from), owner caps keyed by owner id and the owner's first row."""
    as_of = as_of or plan.as_of
    oc = owner_column or plan.owner_column
    ev = Evaluator(plan.pack)
    index = {rp.cr.id: rp.index for rp in plan.rules}
    caps = {(g.doc_no, g.id) for g in plan.owner_caps}
    owner_type = plan.owner_caps[0].owner_type if plan.owner_caps else "enterprise"
    groups: dict[str, list[Entity]] = {}
    for ent, owner in zip(entities(frame, plan.pack.schema, plan.entity_type), frame[oc].cast(pl.Utf8).to_list(),
                          strict=True):
        groups.setdefault(owner, []).append(ent)
    long, gcs, tots = [], [], []
    stats = {i: [0, 0, 0, 0] for i in index.values()}
    for owner, children in groups.items():
        rep = ev.evaluate(Entity(owner_type, owner, {}, children=children), as_of, trace=False)
        rows = {c.id: c.record for c in children}
        per_row: dict[int, list[int]] = {}
        for r in rep.results:
            if r.rule.rule.entity != plan.entity_type or r.status == "not_in_force":
                continue
            i, row = index[r.rule_id], rows[r.entity_id]
            s = stats[i]
            if r.status != "eligible":
                s[1 if r.status == "not_eligible" else 2] += 1
                continue
            s[0] += 1
            fen = None if r.amount is None else int(r.amount * 100)
            s[3] += fen is None
            capped = None if r.capped_amount is None else int(r.capped_amount * 100)
            long.append((row, r.entity_id, i, fen, None if r.superseded_by is None else index[r.superseded_by],
                         r.counts, capped))
            t = per_row.setdefault(row, {"entitlement": 0, "maximum": 0, "charge": 0, "third": 0, "red": 0})
            if r.counts:
                t[r.kind] = t.get(r.kind, 0) + fen
                t["red"] += 0 if capped is None else fen - capped
            elif fen is not None and r.superseded_by is None:  # eligible third-party money (beneficiary)
                t["third"] += fen
        ids = {c.record: c.id for c in children}
        for row, t in per_row.items():
            tots.append((row, ids[row], t["entitlement"], t["maximum"], t["red"],
                         t["entitlement"] + t["maximum"] - t["red"], t["charge"], t["third"]))
        first = children[0].record
        for g in rep.group_caps:
            if (g.doc_no, g.id) in caps:
                gcs.append((first, owner, g.id, g.doc_no, None if g.limit is None else int(g.limit * 100),
                            int(g.total_before * 100), int(g.total_after * 100), g.binding))
    return _frames(long, gcs, tots, stats, frame.height, capped=True)


def _frames(long, gcs, tots, stats, n: int, capped: bool = False) -> BulkResult:
    """The oracle's rows as the bulk result frames (same schemas and order as Plan.evaluate)."""
    extra = {"capped_fen": pl.Int64} if capped else {}
    long_df = pl.DataFrame(long, schema={**LONG_SCHEMA, "superseded_by": pl.UInt32, "counts": pl.Boolean, **extra},
                           orient="row").sort("_row", "rule")
    gc_df = pl.DataFrame(gcs, schema={"_row": pl.Int64, "id": pl.Utf8, "cap_id": pl.Utf8, "doc_no": pl.Utf8,
                                      "limit_fen": pl.Int64, "total_before_fen": pl.Int64,
                                      "total_after_fen": pl.Int64, "binding": pl.Boolean},
                         orient="row").sort("_row", "doc_no", "cap_id")
    tot_df = pl.DataFrame(tots, schema={"_row": pl.Int64, "id": pl.Utf8, "entitlement_fen": pl.Int64,
                                        "maximum_fen": pl.Int64, "group_cap_reduction_fen": pl.Int64,
                                        "overall_fen": pl.Int64, "charge_fen": pl.Int64,
                                        "third_party_fen": pl.Int64}, orient="row").sort("_row")
    st = pl.DataFrame([(i, *v) for i, v in stats.items()],
                      schema={"rule": pl.UInt32, "eligible": pl.Int64, "not_eligible": pl.Int64,
                              "undetermined": pl.Int64, "amount_unknown": pl.Int64}, orient="row").sort("rule")
    return BulkResult(long_df, tot_df, gc_df, st, n)

