"""The per-entity evaluator: (pack, entity, as_of) → Report with amounts, kinds, traces and near-misses.

Order of work for one rule (the bulk backends follow the same order):
1. validity at as_of (document effective/expiry, rule window, repeal) — else ``not_in_force``;
2. conditions (Kleene logic): any false → ``not_eligible`` (+ near-misses); any unknown → ``undetermined``;
3. amount expression, then each cap in order (min), then quantise to 分 (ROUND_HALF_UP);
4. per entity: stacking groups (就高: the highest amount counts; ties → the more specific rule), then group caps
   (e.g. 原则上不超过上年度企业地方贡献) over the rules they cover.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from zhengce.engine.nearmiss import Explainer
from zhengce.engine.results import CapTrace, GroupCapResult, Report, RuleResult
from zhengce.entities.model import Entity
from zhengce.expr import ast as A
from zhengce.expr.interp import compile_expr
from zhengce.expr.parser import to_text
from zhengce.money import format_quantity, quantize_yuan
from zhengce.rules.amounts import describe
from zhengce.rules.loader import CompiledRule, Pack


def validity_reason(cr: CompiledRule, as_of: date) -> str | None:
    """None when the rule is in force at as_of, else the reason in Chinese."""
    doc = cr.document
    vf, vt = cr.valid_from, cr.valid_to
    if doc.repealed is not None and as_of >= doc.repealed.date:
        return f"已于{doc.repealed.date.isoformat()}被{doc.repealed.by}废止"
    if vf is not None and as_of < vf:
        return f"尚未生效（自{vf.isoformat()}起施行）"
    if vt is not None and as_of > vt:
        return f"已失效（有效期至{vt.isoformat()}）"
    return None


def in_force(cr: CompiledRule, as_of: date) -> bool:
    return validity_reason(cr, as_of) is None


class Evaluator:
    """Holds per-pack caches (explainer, compiled group caps); reuse it across entities."""

    def __init__(self, pack: Pack):
        self.pack = pack
        self.explainer = Explainer(pack.params, self._unit_of_any)
        self._cond_texts: dict[tuple[str, str], str] = {}
        self._cond_fields: dict[tuple[str, str], tuple[str, ...]] = {}
        for cr in pack.rules:
            for cid, _label, node in cr.conditions:
                self._cond_texts[(cr.id, cid)] = to_text(node)
                self._cond_fields[(cr.id, cid)] = tuple(sorted(A.fields_of(node)))
        self._gc_fns = [(doc, gc, compile_expr(node, pack.params)) for doc, gc, node in pack.group_caps]
        self._unit_cache: dict[str, str | None] = {}

    def _unit_of_any(self, name: str) -> str | None:
        if name not in self._unit_cache:
            unit = None
            for flds in self.pack.schema.fields.values():
                if name in flds:
                    unit = flds[name].unit
                    break
            self._unit_cache[name] = unit
        return self._unit_cache[name]

    # ------------------------------------------------------------------
    def evaluate(self, entity: Entity, as_of: date, *, trace: bool = True) -> Report:
        results: list[RuleResult] = []
        self._evaluate_one(entity, as_of, results, trace)
        for child in entity.children:
            self._evaluate_one(child, as_of, results, trace)
        _apply_stacking(results)
        gcs = self._apply_group_caps(entity, as_of, results)
        return Report(entity.type, entity.id, entity.name, as_of, results, gcs, list(entity.warnings))

    def _evaluate_one(self, entity: Entity, as_of: date, out: list[RuleResult], trace: bool) -> None:
        env = dict(entity.fields)
        env["as_of"] = as_of
        for cr in self.pack.rules_for(entity.type):
            out.append(self.evaluate_rule(cr, env, entity.id, as_of, trace))

    def _meta_for(self, cr: CompiledRule):
        """Per-rule data precomputed once: validity bounds and, per condition, text, fields, closure, explain plan."""
        meta = cr.engine_meta
        if meta is None:
            rep = cr.document.repealed.date if cr.document.repealed else None
            conds = tuple(
                (cid, label, self._cond_texts[(cr.id, cid)], self._cond_fields[(cr.id, cid)], fn,
                 self.explainer._plan(node, True))
                for (cid, label, node), fn in zip(cr.conditions, cr.cond_fns, strict=True)
            )
            meta = cr.engine_meta = (cr.valid_from, cr.valid_to, rep, conds)
        return meta

    def evaluate_rule(self, cr: CompiledRule, env: dict, entity_id: str, as_of: date, trace: bool = True) -> RuleResult:
        rule = cr.rule
        res = RuleResult(cr, entity_id)
        vf, vt, rep, conds = self._meta_for(cr)
        if (vf is not None and as_of < vf) or (vt is not None and as_of > vt) or (rep is not None and as_of >= rep):
            res.reason = validity_reason(cr, as_of)
            return res
        failed = unknown = False
        vals = []
        for cid, _label, _text, _flds, fn, _plan in conds:
            v = fn(env)
            if v is None:
                unknown = True
            elif v is False:
                failed = True
            elif v is not True:
                raise TypeError(f"rule {rule.id}: condition {cid} gave {v!r}, not true/false")
            vals.append(v)
        if trace:  # the condition trace and near-misses are built from (env, values) when first read
            res.set_trace(env, vals, conds)
        if failed:
            res.status, res.eligible = "not_eligible", False
            return res
        if unknown:
            res.status = "undetermined"
            missing = set()
            for (_cid, _label, _text, flds, _fn, _plan), v in zip(conds, vals, strict=True):
                if v is None:
                    missing.update(f for f in flds if env.get(f) is None)
            res.missing_fields = sorted(missing)
            res.reason = "缺少数据：" + "、".join(res.missing_fields) if missing else "条件无法判定"
            return res
        res.status, res.eligible = "eligible", True
        if cr.amount_fn is None:  # eligibility-only rule: the text states no amount
            return res
        amount = cr.amount_fn(env)
        if amount is None:
            res.missing_fields = sorted(f for f in A.fields_of(cr.amount) if env.get(f) is None)
            res.reason = "符合条件，但计算金额缺少数据：" + "、".join(res.missing_fields)
            return res
        if not isinstance(amount, Decimal):
            raise TypeError(f"rule {rule.id}: amount gave {amount!r}, not a number")
        amount = max(amount, Decimal(0))
        res.uncapped = amount
        steps = [self._arithmetic(cr, env, amount)] if trace else []
        for (label, _node), fn in zip(cr.caps, cr.cap_fns, strict=True):
            limit = fn(env)
            if limit is None:
                res.caps.append(CapTrace(label, None, False))
                missing = sorted(f for f in A.fields_of(_node) if env.get(f) is None)
                res.missing_fields.extend(missing)
                res.reason = f"上限“{label}”缺少数据：" + "、".join(missing)
                continue
            binding = limit < amount
            res.caps.append(CapTrace(label, limit, binding))
            if binding:
                amount = limit
                if trace:
                    steps.append(f"受“{label}”限制 → {_yuan(limit)}")
        res.amount = quantize_yuan(amount)
        if trace:
            res.arithmetic = "；".join(steps)
        if rule.funding:
            res.funding = _split(res.amount, rule.funding)
        return res

    def _arithmetic(self, cr: CompiledRule, env: dict, amount: Decimal) -> str:
        """'10% × equipment_investment（equipment_investment = 6200万元）= 620万元' — the formula with its inputs."""
        used = sorted(A.fields_of(cr.amount))
        inputs = "，".join(f"{f} = {format_quantity(env[f], self._unit_of_any(f)) if isinstance(env.get(f), Decimal) else env.get(f)}"
                          for f in used if f != "as_of")
        return f"{describe(cr.rule.amount)}{'（' + inputs + '）' if inputs else ''} = {_yuan(amount)}"

    def _apply_group_caps(self, entity: Entity, as_of: date, results: list[RuleResult]) -> list[GroupCapResult]:
        """Caps over the sum of several rules' amounts for one entity (e.g. 原则上不超过上年度企业地方贡献).

        - A cap covers the counting results of its document — including an award paid under another document
          for the same measure (its stacking-group losers name this document): the same award is bound by both
          documents' totals, whichever document pays it.
        - Caps apply one after another, narrower first (explicit rule lists before 'all', then file order);
          a binding cap scales its results down pro rata (exact to 分, the remainder on the last result), so a
          later, wider cap sees what is left and no reduction is counted twice.
        """
        out: list[GroupCapResult] = []
        if not self._gc_fns:
            return out
        env = dict(entity.fields)
        env["as_of"] = as_of
        # doc_no → results that count (eligible, with an amount, not superseded, not a charge), in result order
        paid: dict[str, list[RuleResult]] = {}
        also: dict[int, dict[str, set[str]]] = {}  # winner → {document of a rule it superseded: those rule ids}
        winners = {}
        for r in results:
            if (r.status == "eligible" and r.amount is not None and r.rule.rule.kind != "charge"
                    and r.rule.rule.beneficiary is None):
                if r.superseded_by is None:
                    paid.setdefault(r.rule.document.doc_no, []).append(r)
                    winners[(r.entity_id, r.rule.rule.id)] = r
        for r in results:
            if r.superseded_by is not None and r.status == "eligible":
                w = winners.get((r.entity_id, r.superseded_by))
                if w is not None and r.rule.document.doc_no != w.rule.document.doc_no:
                    also.setdefault(id(w), {}).setdefault(r.rule.document.doc_no, set()).add(r.rule.rule.id)
                    if w not in paid.setdefault(r.rule.document.doc_no, []):
                        paid[r.rule.document.doc_no].append(w)
        if not paid:
            return out
        effective = {id(r): r.amount for lst in paid.values() for r in lst}
        order = sorted(range(len(self._gc_fns)), key=lambda i: (self._gc_fns[i][1].rules == "all", i))
        for i in order:
            doc, gc, fn = self._gc_fns[i]
            if gc.entity != entity.type or doc.doc_no not in paid:
                continue
            covered = [r for r in paid[doc.doc_no] if gc.rules == "all" or r.rule.rule.id in gc.rules
                       or any(lost in gc.rules for lost in also.get(id(r), {}).get(doc.doc_no, ()))]
            if not covered:
                continue
            total = sum((effective[id(r)] for r in covered), Decimal(0))
            limit = fn(env)
            if isinstance(limit, Decimal):
                limit = quantize_yuan(max(limit, Decimal(0)))
            binding = limit is not None and total > limit
            if binding:
                _scale_down(covered, effective, total, limit)
            for r in covered:
                r.group_caps.append(f"{doc.doc_no}#{gc.id}")
            out.append(GroupCapResult(gc.id, doc.doc_no, gc.label, limit, total, limit if binding else total, binding,
                                      [r.rule.rule.id for r in covered], gc.interpretation))
        for lst in paid.values():
            for r in lst:
                if effective[id(r)] != r.amount:
                    r.capped_amount = effective[id(r)]
        return out


def _scale_down(covered: list[RuleResult], effective: dict[int, Decimal], total: Decimal, limit: Decimal) -> None:
    """Pro-rata reduction of the covered results to sum exactly to ``limit``.

    Exact integer 分 arithmetic (the bulk backend does the same): part = round_half_up(e × limit / total);
    the last result takes the remainder so the parts add up to the limit to the 分.
    """
    t, lim = int(total * 100), int(limit * 100)
    remaining = lim
    for r in covered[:-1]:
        e = int(effective[id(r)] * 100)
        part = (2 * e * lim + t) // (2 * t) if t else 0
        effective[id(r)] = Decimal(part) / 100
        remaining -= part
    effective[id(covered[-1])] = Decimal(remaining) / 100


def _yuan(v: Decimal) -> str:
    """Money in the text's habit: 万元 when it is a whole number of 万元 or more, else 元."""
    if abs(v) >= 10_000:
        return format_quantity(v, "万元")
    return format_quantity(quantize_yuan(v), None) + "元"


def _apply_stacking(results: list[RuleResult]) -> None:
    """就高不重复: within one stacking group (per entity), only the highest amount counts.

    On equal amounts the more specific rule (more conditions — lex specialis, usually the implementing measure that
    also fixes the funding split) wins; on a full tie, the first in pack order.
    """
    best: dict[tuple[str, str], RuleResult] = {}
    grouped: list[tuple[tuple[str, str], RuleResult]] = []
    for r in results:
        if r.status != "eligible" or r.amount is None:
            continue
        group = r.rule.rule.stacking_group
        if group is None:
            continue
        key = (r.entity_id, group)
        grouped.append((key, r))
        cur = best.get(key)
        if cur is None or r.amount > cur.amount or (
            r.amount == cur.amount and len(r.rule.conditions) > len(cur.rule.conditions)
        ):
            best[key] = r
    for key, r in grouped:
        winner = best[key]
        if winner is not r:
            r.superseded_by = winner.rule.rule.id


def _split(amount: Decimal, shares: dict[str, str]) -> dict[str, Decimal]:
    """Split an amount by shares; the last share takes the rounding remainder so parts add up exactly."""
    from zhengce.money import to_decimal

    out: dict[str, Decimal] = {}
    keys = list(shares)
    rest = amount
    for k in keys[:-1]:
        part = quantize_yuan(amount * to_decimal(shares[k]))
        out[k] = part
        rest -= part
    out[keys[-1]] = rest
    return out


_EVALUATORS: dict[int, Evaluator] = {}


def evaluate(pack: Pack, entity: Entity, as_of: date, *, trace: bool = True) -> Report:
    """Evaluate one entity (and its children) against every rule of the pack, as of a date."""
    ev = _EVALUATORS.get(id(pack))
    if ev is None or ev.pack is not pack:
        ev = _EVALUATORS[id(pack)] = Evaluator(pack)
    return ev.evaluate(entity, as_of, trace=trace)
