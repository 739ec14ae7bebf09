"""An enterprise register run together with its child registers (projects, loans …): caps that cover both.

Two caps of the pack cover an enterprise's own rules *and* its projects' (威政办发〔2023〕5号 and 7号: 奖励原则上不超过
企业上年度地方贡献): the engine sums the enterprise's and its children's awards against the enterprise's limit.
A run of either register alone cannot (the enterprise run lists them in ``caps_partial``, a child run reports them
per owner as needs-review). Given the child registers as well (``zhengce batch --children project=…``), each
enterprise chunk is evaluated with the children of its enterprises: the child plan first (the children's own owner
caps applied as in a child run; the rows under a shared cap exported with their order keys), then the enterprise
plan with those rows joined to their owner's — one pro-rata scale-down per family in the engine's order, each side
booking its own reduction. Statuses, amounts before caps and stacking never depend on the family. Children whose
owner is not in the enterprise register (or is a bad record) are evaluated at the end, their shared caps left as
needs-review; rows without an owner id are bad records. Child registers are read whole (they are usually far
smaller than the enterprise register). The children's own caps run before the shared ones; the engine orders caps
by (explicit list before 'all', pack order), which is the same here because every child-only cap of the pack has an
explicit rule list (a child-only 'all' cap placed after a shared cap in the pack would need this order revisited). ``tests/bulk/test_families.py`` checks every result against the
per-entity engine evaluating each enterprise with its projects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

from zhengce.bulk.plan import BulkResult, Plan, compile_plan
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
    file: dict | None = None  # how a CSV/Excel child register was read (encoding, sheet): runner.source_file


def load_children(pack: Pack, cfg) -> list[ChildRegister]:
    """Read and validate each child register whole (its own column mapping; rows without an owner id are bad
    records)."""
    from zhengce.bulk.runner import (
        _owner_required,
        child_source,
        column_map,
        display_source,
        iter_chunks,
        source_file,
    )

    out = []
    for ctype, src in cfg.children.items():
        if ctype not in pack.schema.fields:
            raise ValueError(f"--children {ctype}={display_source(src)}：没有主体类型 {ctype!r}"
                             f"（可用：{'、'.join(pack.schema.fields)}）")
        source, table = child_source(ctype, src)
        ccfg = dataclasses.replace(cfg, source=source, entity_type=ctype, table=table, chunk_size=2**62, children={},
                                   columns={}, id_column="id")
        cmap = column_map(pack, ccfg)
        if cfg.owner_column not in cmap.fields:
            raise ValueError(f"子表 {display_source(src)} 没有所属企业编号列 {cfg.owner_column!r}（用 --owner-column 指定）")
        frames = []
        for _k, off, load in iter_chunks(ccfg):
            raw = load()
            if cmap.renames:
                raw = raw.rename({h: f for h, f in cmap.renames.items() if h in raw.columns})
            nz = normalize(raw, pack.schema, ctype, row_offset=off, keep=(cfg.owner_column,), units=cmap.units)
            frames.append(_owner_required(nz, cfg.owner_column))
        if frames:
            frame = pl.concat([n.frame for n in frames]).with_columns(pl.col(cfg.owner_column).cast(pl.Utf8))
            errors = pl.concat([n.errors for n in frames])
        else:  # an empty child register
            from zhengce.bulk.runner import _no_errors

            frame = pl.DataFrame(schema={"_row": pl.Int64, "id": pl.Utf8, cfg.owner_column: pl.Utf8})
            errors = _no_errors()
        plan = compile_plan(pack, ctype, cfg.as_of, owner_column=cfg.owner_column)
        out.append(ChildRegister(ctype, display_source(src), plan, frame, errors,
                                 {"renamed": cmap.renames, "units": cmap.units, "ignored": cmap.ignored},
                                 source_file(source, table)))
    return out


def shared_caps(plan: Plan) -> list[str]:
    """'doc_no#cap_id' of the enterprise caps that also cover child rules."""
    return [f"{c['doc_no']}#{c['cap_id']}" for c in plan.partial_caps]


def _is_shared(joint: list[str]) -> pl.Expr:
    return pl.concat_str([pl.col("doc_no"), pl.lit("#"), pl.col("cap_id")]).is_in(joint)


def evaluate_with_children(plan: Plan, frame: pl.DataFrame, children: list[ChildRegister], owner_column: str,
                           owners: pl.Series | None = None
                           ) -> tuple[BulkResult | None, dict[str, tuple[pl.DataFrame, BulkResult]], int]:
    """One enterprise chunk (``frame``) with the children of its enterprises: each child type evaluated by its
    plan (its own owner caps applied), then the enterprise plan with the children's rows under the shared caps
    — one pro-rata scale-down per family over the enterprise's and its children's covered rows, in the engine's
    order (the enterprise's rows, then each child's, by child type as the entity loader nests them and register
    order; stacking winners from other documents last), each side booking its own reduction. With ``owners``
    (the orphans): the children of those owner ids only, their shared caps left as needs-review. Returns the
    enterprise result (None for orphans), per child type its rows and result, and the number of families
    (enterprises with children under a shared cap)."""
    from zhengce.entities.schema import CHILD_KEYS

    ids = frame["id"] if owners is None else owners
    joint = shared_caps(plan)
    kids: dict[str, tuple[pl.DataFrame, BulkResult]] = {}
    ext_parts = []
    type_order = {t: i for i, t in enumerate(CHILD_KEYS.values())}
    keys = pl.DataFrame({owner_column: ids.cast(pl.Utf8)}).unique()
    for ch in children:  # a semi-join (a 500k-id list literal in is_in cost ~0.2 s a chunk), register order kept
        sub = ch.frame.join(keys, on=owner_column, how="semi", maintain_order="left")
        cres = ch.plan.evaluate(sub)
        kids[ch.type] = (sub, cres)
        for key, rows in cres.shared.items():
            if key in joint and rows.height:
                ext_parts.append(rows.with_columns(pl.lit(key).alias("key"), pl.lit(ch.type).alias("type"),
                                                   pl.lit(type_order.get(ch.type, 99), dtype=pl.Int64).alias("t")))
    if owners is not None:
        return None, kids, 0
    if not ext_parts:
        return plan.evaluate(frame), kids, 0
    ext = pl.concat(ext_parts)
    # one buffer slot per child result row (a row covered by both shared caps is scaled by both, in turn)
    slots = ext.select("type", "lidx", "eff").unique(["type", "lidx"], maintain_order=True) \
        .with_row_index("xid").with_columns(pl.col("xid").cast(pl.Int64))
    # a child belongs to one enterprise: with a repeated id (bad data) its first row is the owner, never both
    positions = pl.DataFrame({"owner": frame["id"], "__e": pl.int_range(frame.height, eager=True, dtype=pl.Int64)}) \
        .unique("owner", keep="first", maintain_order=True)
    ext = ext.join(slots.select("type", "lidx", "xid"), on=["type", "lidx"]) \
        .join(positions, on="owner").with_columns(seq=1 + pl.col("t") * 2**32 + pl.col("p"))
    ext_eff = slots["eff"].to_numpy().copy()
    res = plan.evaluate(frame, external=({k: g for (k,), g in ext.partition_by("key", as_dict=True).items()},
                                         ext_eff))
    new = slots.with_columns(pl.Series("new", ext_eff, dtype=pl.Int64))
    drop = _is_shared(joint)
    for ch in children:
        sub, cres = kids[ch.type]
        mine = new.filter(pl.col("type") == ch.type)
        if mine.height:
            cres = _with_amounts(cres, mine["lidx"].to_numpy(), mine["new"].to_numpy())
        # the shared caps are computed in the enterprise's group_caps now, not left as needs-review here
        kids[ch.type] = (sub, dataclasses.replace(cres, group_caps=cres.group_caps.filter(~drop)))
    return res, kids, ext["owner"].n_unique()


def _with_amounts(res: BulkResult, lidx, amounts) -> BulkResult:
    """A child result with new amounts after caps at long rows ``lidx``; totals' reductions from them."""
    long = res.long
    eff = long["capped_fen"].fill_null(long["amount_fen"]).fill_null(0).to_numpy().copy()
    eff[lidx] = amounts
    amt = long["amount_fen"]
    capped = pl.Series("capped_fen", eff, dtype=pl.Int64)
    long = long.with_columns(pl.when(capped != amt).then(capped).otherwise(None).alias("capped_fen"))
    red = long.filter(pl.col("counts") & pl.col("capped_fen").is_not_null()).group_by("_row").agg(
        (pl.col("amount_fen") - pl.col("capped_fen")).sum().alias("__red"))
    tot = res.totals.join(red, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("__red").fill_null(0).alias("group_cap_reduction_fen")).drop("__red")
    tot = tot.with_columns((pl.col("entitlement_fen") + pl.col("maximum_fen") - pl.col("group_cap_reduction_fen"))
                           .alias("overall_fen"))
    return dataclasses.replace(res, long=long, totals=tot)


def orphan_owners(children: list[ChildRegister], enterprise_ids: pl.Series, owner_column: str) -> pl.Series:
    """Owner ids of child rows whose owner is not in the enterprise register."""
    all_owners = pl.concat([ch.frame[owner_column] for ch in children if ch.frame.height] or
                           [pl.Series([], dtype=pl.Utf8)]).unique().to_frame("o")
    return all_owners.join(enterprise_ids.cast(pl.Utf8).to_frame("o"), on="o", how="anti").sort("o")["o"]

