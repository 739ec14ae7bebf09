"""A compiled bulk plan: every rule of one entity type, in force at one as-of date, as polars expressions;
and the evaluation of a typed register chunk into long-format results.

Same order of work as zhengce.engine.evaluate (the reference semantics):
validity at as_of (rules not in force are skipped and counted) → conditions (Kleene; false → not_eligible,
unknown → undetermined) → amount → max(amount, 0) → caps in order (a cap with an unknown limit is skipped)
→ quantise to 分 ROUND_HALF_UP → per entity: stacking groups (就高; ties → more conditions, then pack order) → group
caps over the rules they cover → totals (entitlement, maximum, group-cap reduction, overall upper bound).

Only eligible rows leave the rule (long format): ``_row, id, rule, amount_fen``; not-eligible and
undetermined are counted per rule.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl

from zhengce.bulk.compiler import (
    I64_MAX,
    Compiler,
    Context,
    Num,
    Rat,
    Unsupported,
    _cast,
    _select,
    align,
    cmp_exprs,
    lit_int,
    mul,
    never_negative,
    num_from_decimal,
    set_mask_columns,
    with_aligned,
)
from zhengce.bulk.compiler import round_half_up as _rhu
from zhengce.bulk.compiler import to_fen as _to_fen
from zhengce.engine.evaluate import Evaluator, validity_reason
from zhengce.expr import ast as A
from zhengce.money import to_decimal
from zhengce.rules.loader import CompiledRule, Pack

_PROFILE = os.environ.get("ZHENGCE_BULK_PROFILE") == "1"
_T = [0.0]


def _tick(label: str) -> None:
    """Stage timings on stderr when ZHENGCE_BULK_PROFILE=1 (for tuning; off by default)."""
    if _PROFILE:
        now = time.perf_counter()
        if label:
            print(f"  [bulk] {label}: {now - _T[0]:.3f}s", file=sys.stderr)
        _T[0] = now


LONG_SCHEMA = {"_row": pl.Int64, "id": pl.Utf8, "rule": pl.UInt32, "amount_fen": pl.Int64}


@dataclass
class RulePlan:
    index: int  # position among the entity's rules (pack order): the stacking tie-break
    cr: CompiledRule
    conds: list[pl.Expr]
    amount: pl.Expr | None  # Int64 分 after max(·,0), caps and rounding; None for eligibility-only rules
    fallback: str | None = None  # reason the rule runs on the per-entity evaluator instead

    @property
    def id(self) -> str:
        return self.cr.id


@dataclass
class GroupCapPlan:
    id: str
    doc_no: str
    label: str
    rules: list[int]  # rule indexes it covers
    limit: pl.Expr | None  # Int64 分 (quantised max(limit, 0)); None → fallback
    node: A.Node = None
    whole_document: bool = True  # 'all' caps apply after caps with an explicit rule list


@dataclass
class OwnerCapPlan:
    """A cap of the owning entity (e.g. 20万元 per enterprise and year) over rules of this child type: applied
    per owner across the owner's child rows of a chunk, as the engine does for an enterprise and its children."""
    id: str
    doc_no: str
    label: str
    owner_type: str
    rules: list[int]  # rule indexes of this (child) type it covers
    limit_fen: int | None  # constant limit, quantised max(limit, 0); None when ``review`` is set
    review: str | None = None  # why it cannot be computed from a child register (reported, never applied)
    whole_document: bool = True


@dataclass
class BulkResult:
    long: pl.DataFrame  # eligible rows: _row, id, rule, amount_fen, superseded_by (rule index), counts
    totals: pl.DataFrame  # per entity with at least one eligible result
    group_caps: pl.DataFrame
    stats: pl.DataFrame  # per rule: eligible, not_eligible, undetermined, amount_unknown
    rows: int
    #: child registers: per owner cap that needs the owner's fields ('doc_no#cap_id'), the rows it covers —
    #: long index ``lidx``, ``owner``, chunk position ``p``, order keys ``cls``/``ordk``, amount after the
    #: narrower caps ``eff`` — so an enterprise run with its children can apply it (zhengce.bulk.families)
    shared: dict[str, pl.DataFrame] = field(default_factory=dict)


@dataclass
class Plan:
    pack: Pack
    entity_type: str
    as_of: date
    rules: list[RulePlan]
    not_in_force: list[tuple[CompiledRule, str]]
    group_caps: list[GroupCapPlan]
    fields: set[str]
    other_entity_rules: int
    set_literals: dict[str, list[str]] = field(default_factory=dict)
    owner_caps: list[OwnerCapPlan] = field(default_factory=list)
    owner_column: str = "owner_id"
    #: caps of this entity type over its own rules that also cover rules of its child types (loans, projects) in
    #: force: a register of this type alone sees only its own rules' share, so the summary says so
    partial_caps: list[dict] = field(default_factory=list)
    _evaluator: Evaluator | None = field(default=None, repr=False)
    _external: tuple | None = field(default=None, repr=False)  # during evaluate: children's covered rows
    _shared_out: dict = field(default_factory=dict, repr=False)  # during evaluate: rows of shared owner caps

    @property
    def fallback_rules(self) -> list[RulePlan]:
        return [r for r in self.rules if r.fallback]

    def rule_table(self) -> pl.DataFrame:
        """Static metadata per rule index (joined onto results when writing)."""
        rows = []
        for rp in self.rules:
            r, d = rp.cr.rule, rp.cr.document
            rows.append({
                "rule": rp.index, "rule_id": r.id, "title": r.title, "doc_no": d.doc_no, "article": r.article,
                "lines": f"{r.lines[0]}-{r.lines[1]}", "kind": r.kind, "stacking_group": r.stacking_group,
                "department": (r.service.responsible[0] if r.service and r.service.responsible else None),
                "delivery": (r.service.delivery if r.service else None),
                "funding": json.dumps(r.funding, ensure_ascii=False) if r.funding else None,
                "citation": f"{d.doc_no} {r.article}（第{r.lines[0]}–{r.lines[1]}行，{d.seed}）",
            })
        schema = {"rule": pl.UInt32, "rule_id": pl.Utf8, "title": pl.Utf8, "doc_no": pl.Utf8, "article": pl.Utf8,
                  "lines": pl.Utf8, "kind": pl.Utf8, "stacking_group": pl.Utf8, "department": pl.Utf8,
                  "delivery": pl.Utf8, "funding": pl.Utf8, "citation": pl.Utf8}
        return pl.DataFrame(rows, schema=schema)

    # ------------------------------------------------------------------------------------------------
    def evaluate(self, frame: pl.DataFrame, external: tuple[dict[str, pl.DataFrame], np.ndarray] | None = None
                 ) -> BulkResult:
        """Evaluate a typed chunk (see zhengce.bulk.register). Rows must have unique ``_row``.

        ``external``: covered rows of this chunk's entities that live in child registers, per cap
        ('doc_no#cap_id' → frame of ``xid``, ``__e`` (the owner's position in ``frame``), ``cls``, ``seq``,
        ``ordk``) and their amounts (indexed by ``xid``, rewritten in place when a cap binds): such a cap is
        applied over the entity's rows and its children's together, as the engine does for an enterprise with
        children (see zhengce.bulk.families)."""
        _tick("")
        self._external = external
        frame = self.prepare(frame)
        fast = [rp for rp in self.rules if not rp.fallback]
        n = frame.height
        _tick("masks")
        # 1. conditions once per rule: the Kleene AND of the conditions *is* the status
        #    (true → eligible, false → some condition fails, null → undetermined)
        flags = [_all(rp.conds).alias(f"__k{rp.index}") for rp in fast if rp.conds]
        lf = frame.lazy().with_columns(flags).collect().lazy() if flags else frame.lazy()
        # eligible = true count (sum ignores nulls), undetermined = null count (bitmap metadata), the rest false
        counts = lf.select([x for rp in fast if rp.conds for x in (
            pl.col(f"__k{rp.index}").sum().cast(pl.Int64).alias(f"el{rp.index}"),
            pl.col(f"__k{rp.index}").null_count().cast(pl.Int64).alias(f"un{rp.index}"))]) \
            .collect().row(0, named=True) if flags else {}
        _tick("conditions")
        # 2. eligible rows with their amounts (defined_for: amounts only where the conditions hold)
        parts = []
        for rp in fast:
            q = lf.filter(pl.col(f"__k{rp.index}")) if rp.conds else lf
            amt = rp.amount if rp.amount is not None else pl.lit(None, dtype=pl.Int64)
            parts.append(q.select("__p", pl.lit(rp.index, dtype=pl.UInt32).alias("rule"),
                                  amt.cast(pl.Int64).alias("amount_fen")))
        # collect_all: the per-rule queries are planned and run together (cheaper than one big concat plan)
        long = pl.concat(pl.collect_all(parts), how="vertical") if parts else \
            pl.DataFrame(schema={"__p": pl.UInt32, "rule": pl.UInt32, "amount_fen": pl.Int64})
        del lf
        _tick("amounts")
        stat_rows = []
        for rp in fast:
            el = counts.get(f"el{rp.index}", n) if rp.conds else n
            un = counts.get(f"un{rp.index}", 0) if rp.conds else 0
            stat_rows.append((rp.index, el, n - el - un, un))
        # 3. fallback rules: the per-entity evaluator, row by row
        fb = self.fallback_rules
        if fb:
            fl, fs = self._fallback(frame, fb)
            long = pl.concat([long, fl], how="vertical")
            stat_rows.extend(fs)
        stats = pl.DataFrame(stat_rows, schema={"rule": pl.UInt32, "eligible": pl.Int64, "not_eligible": pl.Int64,
                                                "undetermined": pl.Int64}, orient="row")
        # eligible rows whose amount needs missing data, per rule (an exact count by rule index)
        nrules = max([rp.index for rp in self.rules], default=0) + 1
        unknown = np.bincount(long["rule"].filter(long["amount_fen"].is_null()).to_numpy(), minlength=nrules)
        stats = stats.with_columns(pl.Series("amount_unknown", unknown[stats["rule"].to_numpy()], dtype=pl.Int64)) \
            .sort("rule")
        _tick("stats")
        self._shared_out = {}
        long, totals, gcs = self._per_entity(frame, long)
        shared, self._shared_out, self._external = self._shared_out, {}, None
        return BulkResult(long, totals, gcs, stats, n, shared)

    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The columns the plan reads (missing fields as unknown), set masks and the row position ``__p``,
        all chunked alike (see compiler.with_aligned): the plan's own input form (``amounts(..., prepared=True)``
        takes it as is, e.g. to time the computation apart from the input preparation)."""
        from zhengce.bulk.register import ensure_fields

        frame = ensure_fields(frame, self.pack.schema, self.entity_type, self.fields)
        owner = []
        if self.owner_caps:
            oc = self.owner_column
            if oc not in frame.columns:
                caps = "、".join(f"{g.doc_no}#{g.id}" for g in self.owner_caps)
                raise ValueError(f"register of {self.entity_type} has no owner column {oc!r}: the caps {caps} "
                                 f"apply per {self.owner_caps[0].owner_type} over its {self.entity_type} rows "
                                 "(pass the column holding the owner's id)")
            if frame[oc].null_count():
                bad = frame.filter(pl.col(oc).is_null())["_row"].head(5).to_list()
                raise ValueError(f"owner column {oc!r} is empty in rows {bad}: each row needs its owner's id")
            owner = [pl.col(oc).cast(pl.Utf8).alias("__owner")]
        frame = frame.select("_row", "id", *sorted(c for c in self.fields if c in frame.columns and c != "id"),
                             *owner)
        if len({tuple(frame.get_column(c).chunk_lengths()) for c in frame.columns}) > 1:
            frame = frame.rechunk()
        frame = set_mask_columns(frame, self.set_literals)
        return with_aligned(frame, [pl.Series("__p", np.arange(frame.height, dtype=np.uint32))])

    def amounts(self, frame: pl.DataFrame, *, prepared: bool = False) -> pl.DataFrame:
        """Wide per-rule amounts: one Int64 分 column per rule with an amount, named by rule id — the amount
        after caps where the rule's conditions hold, null where they fail or are unknown (or the amount needs
        missing data). Each rule on its own: no stacking, no group caps (``evaluate`` does those). One parallel
        select; the shape OpenFisca and a spreadsheet model give, for dashboards and rule-by-rule comparison."""
        if self.fallback_rules:
            raise Unsupported(f"{len(self.fallback_rules)} rule(s) need the per-entity fallback; use evaluate()")
        if not prepared:
            frame = self.prepare(frame)
        cols = [(pl.when(_all(rp.conds)).then(rp.amount) if rp.conds else rp.amount).cast(pl.Int64).alias(rp.id)
                for rp in self.rules if rp.amount is not None]
        return frame.select(pl.col("_row"), *cols)

    def evaluate_chunked(self, frame: pl.DataFrame, chunk_rows: int = 250_000) -> BulkResult:
        """``evaluate`` over slices of ``chunk_rows`` rows, combined: identical results (entities never span
        rows; with owner caps an owner's rows never span slices), lower peak memory (per-rule flags, masks and numpy temporaries live for one slice only)."""
        if frame.height <= chunk_rows:
            return self.evaluate(frame)
        if self.owner_caps and self.owner_column in frame.columns:  # an owner's rows stay in one slice
            bounds = chunk_bounds(frame[self.owner_column], chunk_rows, scattered="one")
        else:
            bounds = [(off, chunk_rows) for off in range(0, frame.height, chunk_rows)]
        return combine_results([(off, self.evaluate(frame.slice(off, ln))) for off, ln in bounds])

    def _per_entity(self, frame: pl.DataFrame, long: pl.DataFrame):
        """Stacking, group caps and totals per entity. Rows are addressed by position ``__p`` in the chunk, so
        per-entity sums are exact int64 scatter-adds (numpy) instead of hash group-bys."""
        n = frame.height
        nrules = max([rp.index for rp in self.rules], default=0) + 1
        m = len(long)
        p = long["__p"].to_numpy()  # uint32 positions (zero-copy)
        rule = long["rule"].to_numpy()
        known = long["amount_fen"].is_not_null().to_numpy()
        amt = long["amount_fen"].fill_null(0).to_numpy()
        # rows of each rule, as contiguous slices (the long frame is built rule by rule; sort if not)
        if m and not bool(np.all(rule[1:] >= rule[:-1])):
            srt = np.argsort(rule.astype(np.int16 if nrules < 2**15 else np.int64), kind="stable")
            long = long[srt]
            p, rule, known, amt = p[srt], rule[srt], known[srt], amt[srt]
        bounds = np.searchsorted(rule, np.arange(nrules + 1, dtype=rule.dtype))  # same dtype: no 4M-row cast
        # stacking (就高不重复): per (entity, group) the highest amount wins; equal amounts: the more specific rule
        # (more conditions), then pack order — as evaluate._apply_stacking. One pass per group over its rules'
        # rows in pack order (each rule has at most one row per entity), keeping the current winner's row.
        groups: dict[str, list[RulePlan]] = {}
        for rp in self.rules:
            if rp.cr.rule.stacking_group:
                groups.setdefault(rp.cr.rule.stacking_group, []).append(rp)
        ncond = np.zeros(nrules, dtype=np.int64)
        for rp in self.rules:
            ncond[rp.index] = len(rp.cr.conditions)
        sup = np.full(m, -1, dtype=np.int32)  # rule index of the winner that supersedes the row
        sup_row = np.full(m, -1, dtype=np.int32 if m < 2**31 else np.int64)  # the winner's row (group caps)
        best = np.empty(n, dtype=np.int64)
        for _name, rps in sorted(groups.items()):
            members = []
            best.fill(-1)
            for rp in sorted(rps, key=lambda r: r.index):
                lo, hi = bounds[rp.index], bounds[rp.index + 1]
                if lo == hi:
                    continue
                idx = lo + np.flatnonzero(known[lo:hi])
                if not len(idx):
                    continue
                members.append(idx)
                pp = p[idx]
                cur = best[pp]
                has = cur >= 0
                ca = amt[np.where(has, cur, 0)]
                na = amt[idx]
                win = ~has | (na > ca) | ((na == ca) & (ncond[rp.index] > ncond[rule[np.where(has, cur, 0)]]))
                best[pp[win]] = idx[win]
            if len(members) < 2:  # a single rule with rows: every row wins
                continue
            for idx in members:
                w = best[p[idx]]
                lose = w != idx
                if lose.any():
                    li = idx[lose]
                    sup_row[li] = w[lose]
                    sup[li] = rule[w[lose]]
        benef = np.zeros(nrules, dtype=bool)
        for rp in self.rules:
            benef[rp.index] = rp.cr.rule.beneficiary is not None
        win_or_free = known & (sup < 0)
        third = win_or_free & benef[rule]
        cnt = win_or_free & ~benef[rule]
        long = long.with_columns(pl.Series("superseded_by", sup, dtype=pl.Int32).cast(pl.UInt32, strict=False),
                                 pl.Series("counts", cnt, dtype=pl.Boolean))
        _tick("stacking")
        kind_of = np.zeros(nrules, dtype=np.int8)
        for rp in self.rules:
            kind_of[rp.index] = {"entitlement": 1, "maximum": 2, "charge": 3}.get(rp.cr.rule.kind, 0)
        # per-kind sums (kind is per rule, so a kind's rows are its rules' slices): exact scatter-adds by entity
        # position; third-party money (beneficiary rules) apart. (One combined 4n-bin scatter was slower: its
        # output alone is 4 chunk-sized arrays.)
        sums = {}
        for code, name in ((1, "entitlement_fen"), (2, "maximum_fen"), (3, "charge_fen")):
            sel = np.zeros(m, dtype=bool)
            for r in np.flatnonzero(kind_of == code):
                sel[bounds[r]:bounds[r + 1]] = cnt[bounds[r]:bounds[r + 1]]
            sums[name] = _exact_sum_by(p[sel], amt[sel], n)
        sums["third_party_fen"] = _exact_sum_by(p[third], amt[third], n) if third.any() else np.zeros(n, np.int64)
        reduction, gc_frames, eff = self._group_caps(frame, long, p, rule, amt, sup_row, cnt, kind_of, nrules,
                                                     bounds)
        _tick("group caps")
        rows_np = frame["_row"].to_numpy()
        ids = frame["id"]

        def with_keys(df: pl.DataFrame) -> pl.DataFrame:
            pp = df["__p"].to_numpy()
            return df.with_columns(pl.Series("_row", rows_np[pp], dtype=pl.Int64), ids.gather(pp).alias("id"))

        gc_cols = ("_row", "id", "cap_id", "doc_no", "limit_fen", "total_before_fen", "total_after_fen", "binding")
        gcs = pl.concat([(with_keys(g) if "__p" in g.columns else g).select(gc_cols) for g in gc_frames],
                        how="vertical") if gc_frames else pl.DataFrame(schema={"_row": pl.Int64, "id": pl.Utf8, "cap_id": pl.Utf8,
                                                   "doc_no": pl.Utf8, "limit_fen": pl.Int64,
                                                   "total_before_fen": pl.Int64, "total_after_fen": pl.Int64,
                                                   "binding": pl.Boolean})
        anyres = np.zeros(n, dtype=bool)
        anyres[p] = True
        pos = np.nonzero(anyres)[0]
        tot = pl.DataFrame({"__p": pl.Series(pos, dtype=pl.UInt32),
                            **{k2: v[pos] for k2, v in sums.items()},
                            "group_cap_reduction_fen": reduction[pos]})
        tot = with_keys(tot).with_columns(
            overall_fen=pl.col("entitlement_fen") + pl.col("maximum_fen") - pl.col("group_cap_reduction_fen"))
        tot = tot.select("_row", "id", "entitlement_fen", "maximum_fen", "charge_fen", "third_party_fen",
                         "group_cap_reduction_fen", "overall_fen")
        # capped_fen: the amount after group caps where a binding cap changed it (the engine's capped_amount)
        capped = pl.Series("capped_fen", eff, dtype=pl.Int64)
        long = long.with_columns(pl.Series("_row", rows_np[p], dtype=pl.Int64),
                                 pl.when(pl.lit(capped) != pl.col("amount_fen")).then(pl.lit(capped))
                                 .otherwise(None).alias("capped_fen")) \
            .select("__p", "_row", "rule", "amount_fen", "superseded_by", "counts", "capped_fen")
        _tick("totals")
        return long, tot, gcs

    def _group_caps(self, frame, long, p, rule, amt, sup_row, cnt, kind_of, nrules, rule_bounds):
        """Group caps exactly as evaluate.Evaluator._apply_group_caps, vectorised over the chunk.

        Rows that count (not charges, not third-party) are covered by their document's caps; a stacking winner
        from another document is also covered by the caps of the documents whose rules it superseded. Caps apply
        narrower first (explicit rule lists, then 'all'; then pack order); a binding cap scales the covered
        amounts down pro rata in integer 分 (half up; Int128 so e × limit cannot overflow), the last covered row
        of the entity — in the engine's result order — taking the remainder. Then the owner caps (see
        ``_owner_caps``). Returns the reduction per position, the cap frames and the amounts after all caps.
        """
        n = frame.height
        reduction = np.zeros(n, dtype=np.int64)
        gc_frames = []
        eff = amt.copy()  # covered rows are always paid rows; binding caps rewrite their entries
        ext, ext_eff = self._external or ({}, None)
        if not (self.group_caps or self.owner_caps) or (not len(long) and not ext):
            return reduction, gc_frames, eff
        doc_names = sorted({rp.cr.document.doc_no for rp in self.rules})
        doc_of = np.full(nrules, -1, dtype=np.int64)
        for rp in self.rules:
            doc_of[rp.index] = doc_names.index(rp.cr.document.doc_no)
        paid = cnt & (kind_of[rule] != 3)
        # cross-document stacking: loser row → winner row (when the winner counts and sits in another document);
        # kept as two parallel arrays over the (few) losers, not as chunk-sized arrays
        losers = np.flatnonzero(sup_row >= 0)
        w = sup_row[losers]
        ok = paid[w] & (doc_of[rule[w]] != doc_of[rule[losers]])
        loser_rows, loser_win = losers[ok], w[ok]
        always = {k for k, gp in enumerate(self.group_caps) if f"{gp.doc_no}#{gp.id}" in ext}
        for gp, rows, cls, ordk in _caps_in_order(self.group_caps, nrules, rule_bounds, paid, rule, loser_rows,
                                                  loser_win, always):
            x = ext.get(f"{gp.doc_no}#{gp.id}")
            if x is not None and x.height:  # with the children's covered rows: one buffer, engine order
                m, own = len(eff), len(rows)
                buf = np.concatenate([eff, ext_eff])
                rows = np.concatenate([rows.astype(np.int64), m + x["xid"].to_numpy()])
                ent = np.concatenate([p[rows[:own]].astype(np.int64), x["__e"].to_numpy().astype(np.int64)])
                cls = np.concatenate([cls, x["cls"].to_numpy().astype(np.int8)])
                seq = np.concatenate([np.zeros(own, dtype=np.int64), x["seq"].to_numpy().astype(np.int64)])
                ordk = np.concatenate([ordk, x["ordk"].to_numpy().astype(np.int64)])
            else:
                buf, own = eff, len(rows)
                ent = p[rows].astype(np.int64)
                seq = ent
            total, pos = _totals_by(ent, buf[rows], n)
            if gp.limit is not None:  # the limit on the covered entities' rows only
                need = A.fields_of(gp.node) | {c for c in frame.columns if c.startswith("__set_")} | {"__p"}
                lim = frame.select(pl.col([c for c in frame.columns if c in need]).gather(pos)) \
                    .select(gp.limit.cast(pl.Int64).alias("limit_fen"))["limit_fen"]
            else:
                need = A.fields_of(gp.node)
                sub = frame.select([c for c in frame.columns if c in need or c.startswith("__set_")
                                    or c in ("__p", "id", "_row")])[pos]
                lim = self._fallback_group_cap(sub, gp)["limit_fen"].cast(pl.Int64)
            lim_known = lim.is_not_null().to_numpy()
            lim_np = lim.fill_null(0).to_numpy()
            tot_pos = total[pos]
            binding = lim_known & (tot_pos > lim_np)
            if binding.any():
                limit_of = np.zeros(n, dtype=np.int64)
                limit_of[pos[binding]] = lim_np[binding]
                isbind = np.zeros(n, dtype=bool)
                isbind[pos[binding]] = True
                if buf is eff:
                    _scale_down(eff, rows, ent, cls, seq, ordk, isbind, limit_of, total, n)
                    reduction[pos[binding]] += tot_pos[binding] - lim_np[binding]
                else:  # each side books its own share; the children's new amounts go back to the caller
                    before = buf[rows[:own]].copy()
                    _scale_down(buf, rows, ent, cls, seq, ordk, isbind, limit_of, total, n)
                    np.add.at(reduction, ent[:own], before - buf[rows[:own]])
                    eff[:] = buf[:len(eff)]
                    ext_eff[:] = buf[len(eff):]
            after = np.where(binding, lim_np, tot_pos)
            g = pl.DataFrame({"__p": pl.Series(pos, dtype=pl.UInt32), "limit_fen": lim,
                              "total_before_fen": pl.Series(tot_pos, dtype=pl.Int64),
                              "total_after_fen": pl.Series(after, dtype=pl.Int64),
                              "binding": pl.Series(binding, dtype=pl.Boolean)})
            gc_frames.append(g.with_columns(cap_id=pl.lit(gp.id), doc_no=pl.lit(gp.doc_no)))
        if self.owner_caps:
            self._owner_caps(frame, p, rule, eff, paid, nrules, rule_bounds, loser_rows, loser_win, reduction,
                             gc_frames)
        return reduction, gc_frames, eff

    def _owner_caps(self, frame, p, rule, eff, paid, nrules, rule_bounds, loser_rows, loser_win, reduction,
                    gc_frames) -> None:
        """Caps of the owner (``__owner``) over this child type's rows, per owner, as the engine applies them to
        an enterprise whose children are the owner's rows of the chunk: covered = counting rows of the covered
        rules; binding when the total exceeds the limit; pro rata in 分, the remainder on the last covered row
        in the engine's result order (children in chunk order, each child's rules in pack order, then outside
        stacking winners). The reduction is booked on each child row (its amount minus its capped amount), so
        sums of the totals by owner are right. A cap with ``review`` set is reported with an unknown limit.
        The caller keeps all rows of one owner in one chunk (see runner.chunk_bounds)."""
        n = frame.height
        owner = frame["__owner"]
        codes = owner.rank("dense").cast(pl.Int64).to_numpy() - 1  # owner index per position
        ng = int(codes.max()) + 1 if n else 0
        uniq, first = np.unique(codes, return_index=True)
        first_p = np.zeros(ng, dtype=np.int64)
        first_p[uniq] = first  # each owner's first row in the chunk: the group_caps row key
        rows_np = frame["_row"].to_numpy()
        for gp, rows, cls, ordk in _caps_in_order(self.owner_caps, nrules, rule_bounds, paid, rule, loser_rows,
                                                  loser_win):
            pr = p[rows].astype(np.int64)
            grp = codes[pr]
            total, gpos = _totals_by(grp, eff[rows], ng)
            tot = total[gpos]
            if gp.limit_fen is None:
                lim = pl.Series("limit_fen", [None] * len(gpos), dtype=pl.Int64)
                binding = np.zeros(len(gpos), dtype=bool)
                # rows for an enterprise run with its children to apply this cap (amounts after narrower caps)
                self._shared_out[f"{gp.doc_no}#{gp.id}"] = pl.DataFrame({
                    "lidx": pl.Series(rows, dtype=pl.Int64), "owner": owner.gather(pr),
                    "p": pl.Series(pr, dtype=pl.Int64), "cls": pl.Series(cls, dtype=pl.Int8),
                    "ordk": pl.Series(ordk, dtype=pl.Int64), "eff": pl.Series(eff[rows], dtype=pl.Int64)})
            else:
                lim = pl.Series("limit_fen", np.full(len(gpos), gp.limit_fen, dtype=np.int64))
                binding = tot > gp.limit_fen
            if binding.any():
                limit_of = np.zeros(ng, dtype=np.int64)
                limit_of[gpos[binding]] = gp.limit_fen
                isbind = np.zeros(ng, dtype=bool)
                isbind[gpos[binding]] = True
                before = eff[rows].copy()
                _scale_down(eff, rows, grp, cls, pr, ordk, isbind, limit_of, total, ng)
                sel = isbind[grp]
                np.add.at(reduction, pr[sel], before[sel] - eff[rows[sel]])
            after = np.where(binding, gp.limit_fen or 0, tot)
            fp = first_p[gpos]
            gc_frames.append(pl.DataFrame({
                "_row": pl.Series(rows_np[fp], dtype=pl.Int64), "id": owner.gather(fp),
                "cap_id": pl.Series([gp.id] * len(gpos), dtype=pl.Utf8),
                "doc_no": pl.Series([gp.doc_no] * len(gpos), dtype=pl.Utf8), "limit_fen": lim,
                "total_before_fen": pl.Series(tot, dtype=pl.Int64),
                "total_after_fen": pl.Series(after, dtype=pl.Int64),
                "binding": pl.Series(binding, dtype=pl.Boolean)}))

    # -------------------------------------------------------------------------------- fallback path
    def _evaluator_(self) -> Evaluator:
        if self._evaluator is None:
            self._evaluator = Evaluator(self.pack)
        return self._evaluator

    def _envs(self, frame: pl.DataFrame, names: set[str]):
        from zhengce.bulk.reference import row_values

        cols = ["__p", "id", *sorted(n for n in names if n in frame.columns)]
        for rec in frame.select(cols).iter_rows(named=True):
            env = row_values(rec, self.pack.schema, self.entity_type)
            env["as_of"] = self.as_of
            yield rec["__p"], rec["id"], env

    def _fallback(self, frame: pl.DataFrame, rules: list[RulePlan]):
        ev = self._evaluator_()
        names = set().union(*(rp.cr.fields for rp in rules))
        out, stats = [], {rp.index: [0, 0, 0] for rp in rules}
        for row, eid, env in self._envs(frame, names):
            for rp in rules:
                res = ev.evaluate_rule(rp.cr, env, eid, self.as_of, trace=False)
                s = stats[rp.index]
                if res.status == "eligible":
                    s[0] += 1
                    out.append((row, eid, rp.index, None if res.amount is None else int(res.amount * 100)))
                elif res.status == "not_eligible":
                    s[1] += 1
                else:
                    s[2] += 1
        return (pl.DataFrame(out, schema={"__p": pl.UInt32, "id": pl.Utf8, "rule": pl.UInt32,
                                          "amount_fen": pl.Int64}, orient="row").drop("id"),
                [(i, a, b, c) for i, (a, b, c) in stats.items()])

    def _fallback_group_cap(self, frame: pl.DataFrame, gp: GroupCapPlan) -> pl.DataFrame:
        from zhengce.expr.interp import compile_expr
        from zhengce.money import quantize_yuan

        fn = compile_expr(gp.node, self.pack.params)
        rows = []
        for row, _eid, env in self._envs(frame, A.fields_of(gp.node)):
            v = fn(env)
            rows.append((row, int(quantize_yuan(max(v, Decimal(0))) * 100) if isinstance(v, Decimal) else None))
        return pl.DataFrame(rows, schema={"__p": pl.UInt32, "limit_fen": pl.Int64}, orient="row")


def combine_results(parts: list[tuple[int, BulkResult]]) -> BulkResult:
    """One result from chunk results ((row offset of the chunk, result), in order). Entities never span chunks
    (one row per entity; with owner caps the caller keeps an owner's rows in one chunk), so stacking, group caps and totals per chunk are the whole-frame ones; ``__p`` is
    shifted by the chunk's offset and the per-rule counts are summed."""
    if not parts:
        raise ValueError("no chunk results")
    long = pl.concat([r.long.with_columns((pl.col("__p").cast(pl.Int64) + off).cast(pl.UInt32).alias("__p"))
                      for off, r in parts], how="vertical")
    stats = pl.concat([r.stats for _, r in parts]).group_by("rule", maintain_order=True).agg(
        pl.col("eligible", "not_eligible", "undetermined", "amount_unknown").sum()).sort("rule")
    return BulkResult(long, pl.concat([r.totals for _, r in parts]), pl.concat([r.group_caps for _, r in parts]),
                      stats, sum(r.rows for _, r in parts))


def chunk_bounds(owners: pl.Series, size: int, *, scattered: str = "raise") -> list[tuple[int, int]]:
    """(offset, length) chunks of about ``size`` rows that never split an owner: a boundary moves forward to
    the next change of owner. Needs the rows of each owner to be contiguous (a register sorted or grouped by
    owner). When they are not and the register is longer than one chunk: ``scattered="raise"`` names the owner
    and rows (a silent whole-register chunk could exhaust memory on a production register), ``"one"`` makes
    one chunk of everything (for frames already in memory). Empty owner ids stick to the preceding owner (they
    are bad records anyway)."""
    n = len(owners)
    if n == 0:
        return []
    o = owners.cast(pl.Utf8).fill_null(strategy="forward").fill_null(strategy="backward")
    change = (o != o.shift(1)).fill_null(True).to_numpy()
    if n > size:
        starts = np.flatnonzero(change)
        run_owner = o.gather(starts)
        if run_owner.n_unique() != len(starts):
            if scattered == "one":
                return [(0, n)]
            dup = run_owner.filter(run_owner.is_duplicated())[0]
            rows = (np.flatnonzero((o == dup).to_numpy()) + 1)[:6].tolist()
            raise ValueError(f"owner {dup!r} has rows that are not together (rows {rows}, 1-based): a register "
                             f"of child records is chunked by owner, so sort or group it by owner, or use a chunk "
                             f"size of at least {n} rows to read it in one chunk")
    out, off = [], 0
    while off < n:
        end = min(off + size, n)
        while end < n and not change[end]:
            end += 1
        out.append((off, end - off))
        off = end
    return out


def _caps_in_order(caps, nrules: int, rule_bounds, paid, rule, loser_rows, loser_win, always=()):
    """(cap, covered rows, cls, order keys) for each cap that covers any row (or is in ``always``: it has rows
    elsewhere), narrower caps first (explicit rule lists before 'all', then pack order) — the engine's order,
    shared by entity and owner caps."""
    for k in sorted(range(len(caps)), key=lambda k: (caps[k].whole_document, k)):
        rows, cls, ordk = _covered(caps[k].rules, nrules, rule_bounds, paid, rule, loser_rows, loser_win)
        if len(rows) or k in always:
            yield caps[k], rows, cls, ordk


def _covered(rules: list[int], nrules: int, rule_bounds, paid, rule, loser_rows, loser_win):
    """A cap's covered rows (long-frame indexes) and their order keys: its rules' paid rows (``cls`` 0, ordered
    by rule), then each stacking winner from another document that superseded a covered rule (``cls`` 1, once,
    ordered by its lowest such loser rule) — the engine's order within one entity."""
    in_cap = np.zeros(nrules, dtype=bool)
    in_cap[rules] = True
    # the cap's own rows: its rules' row slices (the long frame is in rule order), paid rows only
    own = np.concatenate([np.arange(rule_bounds[r], rule_bounds[r + 1]) for r in sorted(rules)]
                         + [np.zeros(0, dtype=np.int64)])
    own = own[paid[own]]
    sel_v = in_cap[rule[loser_rows]]
    via, via_win = loser_rows[sel_v], loser_win[sel_v]
    if len(via):  # each outside winner once, ordered by its first (lowest-index) loser
        vo = np.lexsort((rule[via], via_win))
        wr, lr = via_win[vo], rule[via][vo]
        first = np.ones(len(wr), dtype=bool)
        first[1:] = wr[1:] != wr[:-1]
        via_rows, via_ord = wr[first], lr[first].astype(np.int64)
    else:
        via_rows = via_ord = np.zeros(0, dtype=np.int64)
    rows = np.concatenate([own.astype(np.int64), via_rows])
    cls = np.concatenate([np.zeros(len(own), np.int8), np.ones(len(via_rows), np.int8)])
    ordk = np.concatenate([rule[own].astype(np.int64), via_ord])
    return rows, cls, ordk


def _scale_down(eff, rows, grp, cls, pos, ordk, isbind, limit_of, total, ng) -> None:
    """evaluate._scale_down over the covered rows of binding groups: part = round_half_up(e × limit / total)
    in integer 分 (Int128: e × limit cannot overflow), the last row of each group in the engine's order
    (own rows before outside winners, then entity position, then rule) taking the remainder. Writes ``eff``."""
    sel = isbind[grp]
    r_b, g_b = rows[sel], grp[sel]
    srt = np.lexsort((ordk[sel], pos[sel], cls[sel], g_b))
    r_b, g_b = r_b[srt], g_b[srt]
    last = np.ones(len(r_b), dtype=bool)
    last[:-1] = g_b[:-1] != g_b[1:]
    part = pl.DataFrame({"e": eff[r_b], "l": limit_of[g_b], "t": total[g_b]}).select(
        ((2 * pl.col("e").cast(pl.Int128) * pl.col("l").cast(pl.Int128) + pl.col("t").cast(pl.Int128))
         // (2 * pl.col("t").cast(pl.Int128))).cast(pl.Int64).alias("part"))["part"].to_numpy().copy()
    others = _exact_sum_by(g_b[~last], part[~last], ng)
    part[last] = limit_of[g_b[last]] - others[g_b[last]]
    eff[r_b] = part


def _totals_by(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A cap's covered amounts summed per key (entity position or owner) and the keys that have any."""
    has = np.zeros(n, dtype=bool)
    has[keys] = True
    return _exact_sum_by(keys, values, n), np.flatnonzero(has)


def _exact_sum_by(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``values`` per key in [0, n): bincount (fast) when every partial sum is an exact
    float64 integer (all values ≥ 0 and their grand total < 2**53 分), else np.add.at (exact, slower)."""
    if not len(values):
        return np.zeros(n, dtype=np.int64)
    if values.min() >= 0 and float(values.sum(dtype=np.float64)) < 2**52:  # margin for the float sum's rounding
        return np.rint(np.bincount(keys, weights=values.astype(np.float64), minlength=n)).astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, keys, values)
    return out


def _all(es: list[pl.Expr]) -> pl.Expr:
    e = es[0]
    for x in es[1:]:
        e = e & x
    return e


def _any(es: list[pl.Expr]) -> pl.Expr:
    e = es[0]
    for x in es[1:]:
        e = e | x
    return e


def _amount_expr(comp: Compiler, cr: CompiledRule) -> pl.Expr | None:
    """max(amount, 0), then each cap (an unknown limit is skipped), then 分 half up. A null amount stays null;
    a null limit (``x > null`` is null → otherwise) is ignored, which is exactly the engine's rule. Literal
    amounts and caps are folded here rather than evaluated per row; max(·, 0) is dropped where the amount can
    never be negative, and merged with a first constant cap into one clamp (see ``_clamp``)."""
    if cr.amount is None:
        return None
    amt: Num | Rat = comp.number(cr.amount)
    zero = num_from_decimal(Decimal(0))
    pending_floor = False  # max(amount, 0) still to apply to an integer amount (merged into a constant cap)
    if isinstance(amt, Num) and amt.const is not None:
        amt = _const(max(amt.const, 0), amt.scale)
    elif never_negative(cr.amount):
        pass  # max(amount, 0) is a no-op (e.g. a tier table of non-negative amounts)
    elif isinstance(amt, Num):
        pending_floor = True
    else:
        a, z = cmp_exprs(amt, zero)
        amt = _select([((a < z), zero)], amt)  # max(amount, 0), unknown stays unknown
    nonneg = True  # the amount is known to be >= 0 (true until a cap that might be negative applies)
    for _label, node in cr.caps:
        lim = comp.number(node)
        const_ok = isinstance(lim, Num) and lim.const is not None and lim.const >= 0
        if isinstance(amt, Num) and isinstance(lim, Num):
            a, li = align(amt, lim)  # a positive rescale commutes with max(·, 0)
            if a.const is not None and li.const is not None:
                capped = _const(min(a.const, li.const), a.scale)
            else:
                bound = max(a.bound, li.bound)
                ea, el = _cast(a, bound), _cast(li, bound)
                if li.const is not None:  # constant limit: one clamp (with the pending floor)
                    capped = Num(_clamp(ea, 0 if pending_floor else None, el), a.scale, bound)
                else:
                    if pending_floor:
                        ea = _clamp(ea, 0, None)
                    capped = Num(pl.when(ea > el).then(el).otherwise(ea), a.scale, bound)
                pending_floor = False
        else:
            if pending_floor:
                amt = Num(_clamp(amt.expr, 0, None), amt.scale, amt.bound)
                pending_floor = False
            lo, am = cmp_exprs(lim, amt)
            capped = _select([(lo.is_not_null() & (lo < am), lim)], amt)
        if nonneg and const_ok and isinstance(capped, Num) and capped.const is None:
            # amount >= 0 here, so min(amount, c) lies in [0, c]: a tighter bound keeps Int64 分 possible
            c = lim.const * 10 ** (capped.scale - lim.scale)
            capped = Num(capped.expr, capped.scale, min(capped.bound, c))
        amt = capped
        nonneg = nonneg and const_ok
    if pending_floor:
        amt = Num(_clamp(amt.expr, 0, None), amt.scale, amt.bound)
    if nonneg and isinstance(amt, Num) and amt.const is None and amt.scale > 2:
        f = 10 ** (amt.scale - 2)  # half up on a value known to be >= 0: one branch
        amt = Num((amt.expr + f // 2) // f, 2, amt.bound // f + 1)
    return _to_fen(amt)


def _clamp(e: pl.Expr, lo: int | None, hi: pl.Expr | None) -> pl.Expr:
    """min(max(e, lo), hi) with nulls kept. A bare column gets one ``when`` chain (~3× faster than polars'
    ``clip`` on a column); a computed expression gets ``clip``, which evaluates it once (a ``when`` chain
    repeats it in every branch: max-then-cap as nested ``when`` took ~2× clip's time)."""
    if e.meta.is_column():
        w = pl.when(e < lo).then(lo) if lo is not None else None
        if hi is not None:
            w = pl.when(e > hi).then(hi) if w is None else w.when(e > hi).then(hi)
        return w.otherwise(e) if w is not None else e
    return e.clip(lower_bound=lo, upper_bound=hi)


def _const(v: int, scale: int) -> Num:
    n = lit_int(v) if v >= 0 else Num(pl.lit(v, dtype=pl.Int64 if -v <= I64_MAX else pl.Int128), 0, -v, v)
    return Num(n.expr, scale, abs(v), v)


def compile_plan(pack: Pack, entity_type: str, as_of: date, *, force_fallback: bool = False,
                 owner_column: str = "owner_id") -> Plan:
    """Compile every rule of ``entity_type`` that is in force at ``as_of``; for a child type also the caps of
    its owner over these rules (``owner_caps``: the register then needs ``owner_column``)."""
    ftypes = {name: spec.type for name, spec in pack.schema.fields[entity_type].items()}
    comp = Compiler(Context(ftypes, as_of, pack.params))
    rules, nif = [], []
    fields: set[str] = set()
    for i, cr in enumerate(pack.rules_for(entity_type)):
        reason = validity_reason(cr, as_of)
        if reason is not None:
            nif.append((cr, reason))
            continue
        fields |= cr.fields - {"as_of"}
        try:
            if force_fallback:
                raise Unsupported("forced")
            conds = [comp.boolean(node) for _, _, node in cr.conditions]
            amount = _amount_expr(comp, cr)
            rules.append(RulePlan(i, cr, conds, amount))
        except Unsupported as exc:
            rules.append(RulePlan(i, cr, [], None, fallback=str(exc)))
    gcs = []
    idx = {rp.cr.id: rp.index for rp in rules}
    for doc, gc, node in pack.group_caps:
        if gc.entity != entity_type:
            continue
        covered = [rp.index for rp in rules if rp.cr.document.doc_no == doc.doc_no and rp.cr.rule.kind != "charge"
                   and (gc.rules == "all" or rp.cr.id in gc.rules)]
        fields |= A.fields_of(node) - {"as_of"}
        try:
            lim = comp.number(node)
            zero = num_from_decimal(Decimal(0))
            a, z = cmp_exprs(lim, zero)
            lim = _select([((a < z), zero)], lim)
            limit = _to_fen(lim)
        except Unsupported:
            limit = None
        gcs.append(GroupCapPlan(gc.id, doc.doc_no, gc.label, covered, limit, node, gc.rules == "all"))
    del idx
    other = sum(1 for cr in pack.rules if cr.rule.entity != entity_type)
    partial = []
    for doc, gc, _node in pack.group_caps:
        if gc.entity != entity_type:
            continue
        others: dict[str, int] = {}
        for cr in pack.rules:
            if (cr.document.doc_no == doc.doc_no and cr.rule.entity != entity_type and cr.rule.kind != "charge"
                    and (gc.rules == "all" or cr.id in gc.rules) and validity_reason(cr, as_of) is None):
                others[cr.rule.entity] = others.get(cr.rule.entity, 0) + 1
        own = [g for g in gcs if g.id == gc.id and g.doc_no == doc.doc_no and g.rules]
        if others and own:  # caps over child rules only are applied in the child register's run (owner caps)
            partial.append({"cap_id": gc.id, "doc_no": doc.doc_no, "also_covers": dict(sorted(others.items()))})
    return Plan(pack, entity_type, as_of, rules, nif, gcs, fields, other, comp.set_literals,
                _owner_caps(pack, entity_type, as_of, rules), owner_column, partial)


def _owner_caps(pack: Pack, entity_type: str, as_of: date, rules: list[RulePlan]) -> list[OwnerCapPlan]:
    """Caps of another entity type (the owner) that cover rules of ``entity_type``. Exact from a child
    register only when the limit is a constant and every rule the cap covers (in force) is of this type;
    otherwise the cap is kept with ``review`` (reported per owner with an unknown limit, never applied)."""
    from zhengce.expr.interp import compile_expr
    from zhengce.money import quantize_yuan

    out = []
    for doc, gc, node in pack.group_caps:
        if gc.entity == entity_type:
            continue
        covered = [rp.index for rp in rules if rp.cr.document.doc_no == doc.doc_no and rp.cr.rule.kind != "charge"
                   and (gc.rules == "all" or rp.cr.id in gc.rules)]
        if not covered:
            continue
        review, limit = None, None
        others = sorted({cr.rule.entity for cr in pack.rules if cr.document.doc_no == doc.doc_no
                         and cr.rule.entity != entity_type and cr.rule.kind != "charge"
                         and (gc.rules == "all" or cr.id in gc.rules) and validity_reason(cr, as_of) is None})
        owner_fields = sorted(A.fields_of(node) - {"as_of"})
        if owner_fields:
            review = f"上限读取{gc.entity}字段 {'、'.join(owner_fields)}，{entity_type} 登记册无法计算"
        elif others:
            review = f"同时覆盖 {'、'.join(others)} 规则，{entity_type} 登记册只有部分结果"
        else:
            v = compile_expr(node, pack.params)({"as_of": as_of})
            if isinstance(v, Decimal):
                limit = int(quantize_yuan(max(v, Decimal(0))) * 100)
            else:
                review = "上限无法计算"
        out.append(OwnerCapPlan(gc.id, doc.doc_no, gc.label, gc.entity, covered, limit, review, gc.rules == "all"))
    return out


def funding_parts(amount_fen: pl.Expr, shares: dict[str, str]) -> list[tuple[str, pl.Expr]]:
    """Split like engine._split: each share but the last rounded half up to 分, the last takes the rest."""
    keys = list(shares)
    out, rest = [], amount_fen
    for k in keys[:-1]:
        sh = num_from_decimal(to_decimal(shares[k]))
        part = _rhu(mul(Num(amount_fen, 2, 10**17), sh), 2).expr.cast(pl.Int64)
        out.append((k, part))
        rest = rest - part
    out.append((keys[-1], rest))
    return out
