"""Evaluation results: per rule (status, amount, kind, trace, near-misses) and per entity (totals, group caps).

``to_json`` is the stable, documented output schema (docs/output-schema.md, version in SCHEMA_VERSION).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from zhengce.engine.nearmiss import NearMiss
from zhengce.money import quantize_yuan

SCHEMA_VERSION = "1.0"
NEAR_MISS_GAP = Decimal("0.2")  # a near-miss: every failed minimum missed by at most 20% of the threshold


def dec(v: Decimal | None) -> str | None:
    return None if v is None else format(quantize_yuan(v), "f")


def jv(v: object) -> object:
    """JSON-safe value: Decimal → string (exact), date → ISO, tuple → list."""
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, tuple):
        return [jv(x) for x in v]
    return v


@dataclass(slots=True)
class ConditionTrace:
    id: str
    label: str
    expr: str
    result: bool | None
    values: dict[str, object]

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "expr": self.expr, "result": self.result,
                "values": {k: jv(v) for k, v in self.values.items()}}


@dataclass(slots=True)
class CapTrace:
    label: str
    limit: Decimal | None
    binding: bool

    def to_json(self) -> dict:
        return {"label": self.label, "limit_yuan": dec(self.limit), "binding": self.binding}


class RuleResult:
    """One rule's outcome for one entity. Static facts (title, citation, kind …) are read from the rule itself."""

    __slots__ = ("rule", "entity_id", "status", "eligible", "amount", "uncapped", "arithmetic", "_conditions", "caps",
                 "_near_misses", "missing_fields", "reason", "funding", "superseded_by", "group_caps", "_trace",
                 "capped_amount")

    def __init__(self, rule, entity_id: str, status: str = "not_in_force", eligible: bool | None = None):
        self.rule = rule  # a CompiledRule: .rule (the model) and .document
        self.entity_id = entity_id
        self.status = status  # eligible | not_eligible | undetermined | not_in_force
        self.eligible = eligible
        self.amount: Decimal | None = None  # after caps, quantised to 分; for 'maximum' this is the maximum
        self.uncapped: Decimal | None = None
        self.arithmetic: str | None = None
        self._conditions: list[ConditionTrace] | None = None
        self.caps: list[CapTrace] = []
        self._near_misses: list[NearMiss] | None = None
        self._trace: tuple | None = None
        self.missing_fields: list[str] = []
        self.reason: str | None = None  # why not in force / why undetermined
        self.funding: dict[str, Decimal] | None = None
        self.superseded_by: str | None = None
        self.group_caps: list[str] = []
        self.capped_amount: Decimal | None = None  # the amount left after binding group caps (None: not reduced)

    def set_trace(self, env: dict, values: list, conds: tuple) -> None:
        """Keep what the trace is made of; ConditionTrace/NearMiss objects are built on first read.

        ``env`` is the entity's field snapshot for this evaluation (never mutated afterwards), ``values`` the
        condition outcomes, ``conds`` the rule's precompiled (id, label, text, fields, closure, explain plan).
        """
        self._trace = (env, values, conds)

    @property
    def conditions(self) -> list[ConditionTrace]:
        if self._conditions is None:
            self._conditions = []
            if self._trace is not None:
                env, values, conds = self._trace
                self._conditions = [ConditionTrace(cid, label, text, v, {f: env.get(f) for f in flds})
                                    for (cid, label, text, flds, _fn, _plan), v in zip(conds, values, strict=True)]
        return self._conditions

    @property
    def near_misses(self) -> list[NearMiss]:
        if self._near_misses is None:
            self._near_misses = []
            if self._trace is not None and self.status == "not_eligible":
                env, values, conds = self._trace
                for (cid, label, _t, _f, _fn, plan), v in zip(conds, values, strict=True):
                    if v is False:
                        plan(env, self._near_misses, cid, label)
        return self._near_misses

    def __repr__(self) -> str:
        return f"RuleResult({self.rule_id}, {self.entity_id}, {self.status}, {self.amount})"

    # static facts, from the rule
    rule_id = property(lambda self: self.rule.rule.id)
    title = property(lambda self: self.rule.rule.title)
    article = property(lambda self: self.rule.rule.article)
    lines = property(lambda self: self.rule.rule.lines)
    quote = property(lambda self: self.rule.rule.quote)
    kind = property(lambda self: self.rule.rule.kind)
    per = property(lambda self: self.rule.rule.per)
    beneficiary = property(lambda self: self.rule.rule.beneficiary)
    entity_type = property(lambda self: self.rule.rule.entity)
    interpretations = property(lambda self: self.rule.rule.interpretations)
    stacking_group = property(lambda self: self.rule.rule.stacking_group)
    doc_no = property(lambda self: self.rule.document.doc_no)
    doc_title = property(lambda self: self.rule.document.title)
    seed = property(lambda self: self.rule.document.seed)

    @property
    def counts(self) -> bool:
        """Whether the amount counts towards the entity's totals."""
        return (self.status == "eligible" and self.amount is not None and self.superseded_by is None
                and self.rule.rule.beneficiary is None)

    @property
    def is_near_miss(self) -> bool:
        """Not eligible, but every failed condition is a minimum (≥, ＞) the entity misses by 20% or less.

        Failed maxima (“不超过”, or “首次” read as 'never reached before') are reported with their gap but do not make
        a near-miss: the entity cannot grow towards them.
        """
        if self.status != "not_eligible" or not self.near_misses:
            return False
        return all(n.op in (">=", ">") and n.relative_gap is not None and n.relative_gap <= NEAR_MISS_GAP
                   for n in self.near_misses)

    def to_json(self) -> dict:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "doc_no": self.doc_no,
            "doc_title": self.doc_title,
            "article": self.article,
            "lines": list(self.lines),
            "seed": self.seed,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "status": self.status,
            "eligible": self.eligible,
            "kind": self.kind,
            "amount_yuan": dec(self.amount),
            "uncapped_amount_yuan": dec(self.uncapped),
            "amount_after_group_caps_yuan": dec(self.capped_amount if self.capped_amount is not None else self.amount),
            "arithmetic": self.arithmetic,
            "caps_applied": [c.to_json() for c in self.caps],
            "conditions": [c.to_json() for c in self.conditions],
            "near_misses": [n.to_json() for n in self.near_misses],
            "near_miss": self.is_near_miss,
            "missing_fields": self.missing_fields,
            "reason": self.reason,
            "interpretations": self.interpretations,
            "funding": None if self.funding is None else {k: dec(v) for k, v in self.funding.items()},
            "stacking_group": self.stacking_group,
            "superseded_by": self.superseded_by,
            "group_caps": self.group_caps,
            "per": self.per,
            "beneficiary": self.beneficiary,
            "quote": self.quote,
        }


@dataclass
class GroupCapResult:
    id: str
    doc_no: str
    label: str
    limit: Decimal | None
    total_before: Decimal
    total_after: Decimal
    binding: bool
    rules: list[str]
    interpretation: str | None

    def to_json(self) -> dict:
        return {"id": self.id, "doc_no": self.doc_no, "label": self.label, "limit_yuan": dec(self.limit),
                "total_before_yuan": dec(self.total_before), "total_after_yuan": dec(self.total_after),
                "binding": self.binding, "rules": self.rules, "interpretation": self.interpretation}


@dataclass
class Report:
    entity_type: str
    entity_id: str
    entity_name: str | None
    as_of: date
    results: list[RuleResult]
    group_caps: list[GroupCapResult] = field(default_factory=list)
    input_warnings: list[str] = field(default_factory=list)

    def by_status(self, status: str) -> list[RuleResult]:
        return [r for r in self.results if r.status == status]

    def totals(self) -> dict[str, Decimal]:
        """Sum of firm entitlements and of maximums, after stacking groups and group caps."""
        firm = sum((r.amount for r in self.results if r.counts and r.kind == "entitlement"), Decimal(0))
        maxi = sum((r.amount for r in self.results if r.counts and r.kind == "maximum"), Decimal(0))
        charge = sum((r.amount for r in self.results if r.counts and r.kind == "charge"), Decimal(0))
        third = sum((r.amount for r in self.results if r.status == "eligible" and r.amount is not None
                     and r.superseded_by is None and r.beneficiary is not None), Decimal(0))
        reduction = sum((g.total_before - g.total_after for g in self.group_caps if g.binding), Decimal(0))
        return {"entitlement": firm, "maximum": maxi, "group_cap_reduction": reduction,
                "overall_upper_bound": firm + maxi - reduction, "charge": charge, "third_party": third}

    def to_json(self, include_all: bool = True) -> dict:
        t = self.totals()
        results = self.results if include_all else [r for r in self.results if r.status != "not_in_force"]
        return {
            "schema_version": SCHEMA_VERSION,
            "entity": {"type": self.entity_type, "id": self.entity_id, "name": self.entity_name},
            "as_of": self.as_of.isoformat(),
            "summary": {
                "eligible": len(self.by_status("eligible")),
                "not_eligible": len(self.by_status("not_eligible")),
                "undetermined": len(self.by_status("undetermined")),
                "not_in_force": len(self.by_status("not_in_force")),
                "near_misses": sum(1 for r in self.results if r.is_near_miss),
                "entitlement_total_yuan": dec(t["entitlement"]),
                "maximum_total_yuan": dec(t["maximum"]),
                "group_cap_reduction_yuan": dec(t["group_cap_reduction"]),
                "overall_upper_bound_yuan": dec(t["overall_upper_bound"]),
                "charge_total_yuan": dec(t["charge"]),
                "third_party_total_yuan": dec(t["third_party"]),
            },
            "input_warnings": self.input_warnings,
            "group_caps": [g.to_json() for g in self.group_caps],
            "results": [r.to_json() for r in results],
        }
