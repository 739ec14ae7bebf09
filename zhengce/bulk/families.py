"""An enterprise register run together with its child registers (projects, loans …): caps that cover both.

Two caps of the pack cover an enterprise's own rules *and* its projects' (威政办发〔2023〕5号 and 7号: 奖励原则上不超过
企业上年度地方贡献): the engine sums the enterprise's and its children's awards against the enterprise's limit.
A run of either register alone cannot (the enterprise run lists them in ``caps_partial``, a child run reports them
per owner as needs-review). Given the child registers as well, ``zhengce batch --children project=…`` evaluates,
for each enterprise chunk, the children of those enterprises with the child plan (their own owner caps applied as
in a child run), and re-evaluates exactly — with the per-entity engine, the reference semantics — only the
*families* that have child awards under such a cap: their amounts after caps, totals and cap rows replace the
bulk ones. Statuses, amounts before caps and stacking never depend on the family, so nothing else changes.
Children whose owner is not in the enterprise register are evaluated at the end, their shared caps left as
needs-review. Child registers are read whole (they are usually far smaller than the enterprise register).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

from zhengce.bulk.plan import BulkResult, Plan, compile_plan
from zhengce.bulk.reference import evaluate_families
from zhengce.bulk.register import normalize
from zhengce.rules.loader import Pack


@dataclass
class ChildRegister:
    type: str
    source: str
    plan: Plan
    frame: pl.DataFrame  # typed rows, each with its owner's id in the owner column
    errors: pl.DataFrame  # bad records of the whole child register
    columns: dict  # how its headers were read (summary)


def load_children(pack: Pack, cfg) -> list[ChildRegister]:
    """Read and validate each child register whole (its own column mapping; rows without an owner id are bad
    records)."""
    from zhengce.bulk.runner import _owner_required, column_map, iter_chunks

    out = []
    for ctype, src in cfg.children.items():
        if ctype not in pack.schema.fields:
            raise ValueError(f"--children {ctype}={src}：没有主体类型 {ctype!r}（可用：{'、'.join(pack.schema.fields)}）")
        ccfg = dataclasses.replace(cfg, source=src, entity_type=ctype, table=None, chunk_size=2**62, children={},
                                   columns={}, id_column="id")
        cmap = column_map(pack, ccfg)
        if cfg.owner_column not in cmap.fields:
            raise ValueError(f"子表 {src} 没有所属企业编号列 {cfg.owner_column!r}（用 --owner-column 指定）")
        frames = []
        for _k, off, load in iter_chunks(ccfg):
            raw = load()
            if cmap.renames:
                raw = raw.rename({h: f for h, f in cmap.renames.items() if h in raw.columns})
            nz = normalize(raw, pack.schema, ctype, row_offset=off, keep=(cfg.owner_column,), units=cmap.units)
            frames.append(_owner_required(nz, cfg.owner_column))
        frame = pl.concat([n.frame for n in frames]) if frames else pl.DataFrame()
        errors = pl.concat([n.errors for n in frames]) if frames else pl.DataFrame()
        frame = frame.with_columns(pl.col(cfg.owner_column).cast(pl.Utf8))
        plan = compile_plan(pack, ctype, cfg.as_of, owner_column=cfg.owner_column)
        out.append(ChildRegister(ctype, src, plan, frame, errors,
                                 {"renamed": cmap.renames, "units": cmap.units, "ignored": cmap.ignored}))
    return out


def shared_caps(plan: Plan) -> list[str]:
    """'doc_no#cap_id' of the enterprise caps that also cover child rules."""
    return [f"{c['doc_no']}#{c['cap_id']}" for c in plan.partial_caps]


def _is_shared(joint: list[str]) -> pl.Expr:
    return pl.concat_str([pl.col("doc_no"), pl.lit("#"), pl.col("cap_id")]).is_in(joint)


def evaluate_with_children(pack: Pack, plan: Plan, frame: pl.DataFrame, res: BulkResult,
                           children: list[ChildRegister], owner_column: str, owners: pl.Series | None = None
                           ) -> tuple[BulkResult, dict[str, tuple[pl.DataFrame, BulkResult]], int]:
    """One enterprise chunk (``frame``, its bulk result ``res``) with the children of its enterprises (or, with
    ``owners``, of those owner ids: the orphans). Returns the enterprise result (families patched), per child
    type (its rows, its result) and the number of families re-evaluated."""
    ids = frame["id"] if owners is None else owners
    joint = shared_caps(plan)
    kids: dict[str, tuple[pl.DataFrame, BulkResult]] = {}
    fam: set[str] = set()
    for ch in children:
        sub = ch.frame.filter(pl.col(owner_column).is_in(ids.implode()))
        cres = ch.plan.evaluate(sub)
        kids[ch.type] = (sub, cres)
        if owners is None and joint and sub.height:
            rv = cres.group_caps.filter(pl.col("limit_fen").is_null() & _is_shared(joint))
            fam |= set(rv["id"].to_list())
    if not fam:
        return res, kids, 0
    fam_s = pl.Series(sorted(fam), dtype=pl.Utf8)
    owners_rows = frame.filter(pl.col("id").is_in(fam_s.implode()))
    kid_rows = {t: sub.filter(pl.col(owner_column).is_in(fam_s.implode())) for t, (sub, _r) in kids.items()}
    capped, gcs = evaluate_families(pack, plan.as_of, owners_rows, kid_rows, owner_column)
    res = _patched(res, plan, owners_rows["_row"], capped, "enterprise")
    mine = pl.DataFrame(gcs, schema={"_row": pl.Int64, "id": pl.Utf8, "cap_id": pl.Utf8, "doc_no": pl.Utf8,
                                     "limit_fen": pl.Int64, "total_before_fen": pl.Int64, "total_after_fen": pl.Int64,
                                     "binding": pl.Boolean}, orient="row")
    mine = mine.filter(_is_shared(joint))
    keep = ~(pl.col("_row").is_in(owners_rows["_row"].implode()) & _is_shared(joint))
    res = dataclasses.replace(res, group_caps=pl.concat([res.group_caps.filter(keep), mine.select(
        res.group_caps.columns).cast(res.group_caps.schema)]).sort("_row", "doc_no", "cap_id"))
    for ch in children:
        sub, cres = kids[ch.type]
        rows = sub.filter(pl.col(owner_column).is_in(fam_s.implode()))["_row"]
        cres = _patched(cres, ch.plan, rows, capped, ch.type)
        # the shared caps' needs-review rows of these owners are now computed, in the enterprise's group_caps
        drop = pl.col("id").is_in(fam_s.implode()) & _is_shared(joint)
        kids[ch.type] = (sub, dataclasses.replace(cres, group_caps=cres.group_caps.filter(~drop)))
    return res, kids, len(fam)


def _patched(res: BulkResult, plan: Plan, rows: pl.Series, capped: dict, etype: str) -> BulkResult:
    """The result with the amounts after caps of ``rows`` (entity rows of re-evaluated families) taken from the
    engine, and their totals' group-cap reduction and overall bound recomputed from them."""
    if not rows.len():
        return res
    index = {rp.id: rp.index for rp in plan.rules}
    fix = [(row, index[rid], fen) for (t, row, rid), fen in capped.items() if t == etype and rid in index]
    patch = pl.DataFrame(fix, schema={"_row": pl.Int64, "rule": pl.UInt32, "__new": pl.Int64}, orient="row")
    long = res.long.join(patch, on=["_row", "rule"], how="left", maintain_order="left")
    infam = pl.col("_row").is_in(rows.implode())
    long = long.with_columns(pl.when(infam).then(pl.col("__new")).otherwise(pl.col("capped_fen"))
                             .alias("capped_fen")).drop("__new")
    red = long.filter(infam & pl.col("counts") & pl.col("capped_fen").is_not_null()).group_by("_row").agg(
        (pl.col("amount_fen") - pl.col("capped_fen")).sum().alias("__red"))
    tot = res.totals.join(red, on="_row", how="left", maintain_order="left").with_columns(
        pl.when(infam).then(pl.col("__red").fill_null(0)).otherwise(pl.col("group_cap_reduction_fen"))
        .alias("group_cap_reduction_fen")).drop("__red")
    tot = tot.with_columns((pl.col("entitlement_fen") + pl.col("maximum_fen") - pl.col("group_cap_reduction_fen"))
                           .alias("overall_fen"))
    return dataclasses.replace(res, long=long, totals=tot)


def orphan_owners(children: list[ChildRegister], enterprise_ids: pl.Series, owner_column: str) -> pl.Series:
    """Owner ids of child rows whose owner is not in the enterprise register."""
    all_owners = pl.concat([ch.frame[owner_column] for ch in children if ch.frame.height] or
                           [pl.Series([], dtype=pl.Utf8)]).unique()
    return all_owners.filter(~all_owners.is_in(enterprise_ids.implode())).sort()


def empty_errors() -> pl.DataFrame:
    from zhengce.bulk.register import ERROR_SCHEMA

    return pl.DataFrame(schema=ERROR_SCHEMA)


