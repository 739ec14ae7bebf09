"""The rule-pack format: one YAML file per source document (named by its 文号) under policies/.

These pydantic models *are* the schema (``zhengce rules schema`` exports it as JSON Schema to docs/).
A pack file has three parts: ``document`` (what and when), ``fields`` (entity fields it introduces) and
``rules`` (one per computable clause), plus ``not_encoded`` (clauses deliberately left out, with a reason).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zhengce.entities.schema import ENTITY_TYPES, FieldSpec

Kind = Literal["entitlement", "maximum", "eligibility", "charge"]
Delivery = Literal["免申即享", "快申快享", "依申请"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Repeal(_Strict):
    date: date
    by: str = Field(description="文号 (or title) of the decision that repealed the document")
    lines: tuple[int, int] | None = None


class GroupCap(_Strict):
    """A cap over the sum of several rules' amounts for one entity (e.g. 原则上不超过上年度企业地方贡献)."""

    id: str
    catalog: list[str] = Field(default_factory=list, description="inventory clause ids this cap encodes")
    label: str = Field(description="the cap as the text states it")
    limit: str = Field(description="expression giving the limit in 元, e.g. local_contribution_prev_year")
    rules: list[str] | Literal["all"] = Field(default="all", description="rule ids it covers ('all' = the whole document)")
    entity: str = Field(default="enterprise", description="entity whose fields the limit reads; its child entities' awards count too")
    lines: tuple[int, int] | None = None
    interpretation: str | None = None


class Document(_Strict):
    doc_no: str = Field(description="文号 as normalised, e.g. 威政办发〔2023〕5号")
    doc_no_printed: str | None = Field(default=None, description="文号 as printed where it differs (e.g. [2023])")
    title: str
    issuers: list[str]
    seed: str = Field(description="seed file name the line numbers refer to")
    lines: tuple[int, int]
    catalog: str | None = Field(default=None, description="catalog document id, e.g. 002/D04")
    signed: date | None = None
    effective: date | None = None
    expires: date | None = Field(default=None, description="有效期至 (inclusive)")
    validity_note: str | None = Field(default=None, description="how effective/expiry were read when not printed plainly")
    repealed: Repeal | None = None
    group_caps: list[GroupCap] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates_in_order(self):
        if self.effective and self.expires and self.expires < self.effective:
            raise ValueError(f"expires {self.expires} is before effective {self.effective}")
        return self


class Condition(_Strict):
    id: str = Field(description="short stable id within the rule, e.g. revenue")
    label: str = Field(description="the condition in the text's words, e.g. 基期营业收入100亿元(含)以上")
    expr: str = Field(description="expression that must be true")


class Cap(_Strict):
    label: str = Field(description="the cap as the text states it, e.g. 单个项目奖励金额不超过500万元")
    expr: str = Field(description="limit in 元 (expression)")
    lines: tuple[int, int] | None = None


class TableRow(_Strict):
    when: str = Field(description="condition selecting this row (first match wins — DMN hit policy FIRST)")
    amount: str = Field(description="amount expression for this row")
    label: str | None = None


class Bracket(_Strict):
    above: str = Field(description="lower bound of the band (exclusive unless first band)")
    upto: str | None = Field(default=None, description="upper bound (inclusive); none = open")
    rate: str = Field(description="rate applied to the part of the base inside the band")


class AmountSpec(_Strict):
    """Exactly one of: formula, rate, per_step, table, progressive. A plain string amount is a formula."""

    formula: str | None = None
    rate: str | None = Field(default=None, description="rate × base: the rate, e.g. 10%")
    base: str | None = Field(default=None, description="rate × base: the base expression in 元")
    each: str | None = Field(default=None, description="per step: amount per step")
    steps: str | None = Field(default=None, description="per step: number of steps (expression)")
    table: list[TableRow] | None = None
    default: str | None = Field(default=None, description="table: amount when no row matches (default: not eligible)")
    progressive: list[Bracket] | None = Field(default=None, description="累进: bands over 'base'")

    @model_validator(mode="after")
    def _exactly_one(self):
        shapes = {
            "formula": self.formula is not None,
            "rate": self.rate is not None or self.base is not None and self.progressive is None,
            "per_step": self.each is not None or self.steps is not None,
            "table": self.table is not None,
            "progressive": self.progressive is not None,
        }
        chosen = [k for k, v in shapes.items() if v]
        if len(chosen) != 1:
            raise ValueError(f"amount needs exactly one of formula / rate+base / each+steps / table / progressive+base; got {chosen or 'none'}")
        if shapes["rate"] and (self.rate is None or self.base is None):
            raise ValueError("a rate amount needs both 'rate' and 'base'")
        if shapes["per_step"] and (self.each is None or self.steps is None):
            raise ValueError("a per-step amount needs both 'each' and 'steps'")
        if shapes["progressive"] and self.base is None:
            raise ValueError("a progressive amount needs 'base'")
        return self

    @property
    def shape(self) -> str:
        if self.formula is not None:
            return "formula"
        if self.table is not None:
            return "table"
        if self.progressive is not None:
            return "progressive"
        if self.each is not None:
            return "per_step"
        return "rate"


class Service(_Strict):
    """The policy item's service elements (政策兑现要素)."""

    responsible: list[str] = Field(default_factory=list, description="责任单位")
    delivery: Delivery | None = Field(default=None, description="兑现方式")
    application_window: str | None = Field(default=None, description="申报时间")
    materials: list[str] = Field(default_factory=list, description="申报材料")
    time_limit: str | None = Field(default=None, description="办理时限")


class Case(_Strict):
    """A worked example: inputs → expected outcome. Lives in <文号>.cases.yaml beside the pack."""

    name: str
    rule: str
    as_of: date
    entity: dict = Field(description="entity fields (type defaults to the rule's entity)")
    eligible: bool | None = Field(description="true / false / null (undetermined: data missing)")
    amount: str | None = Field(default=None, description="expected amount (e.g. '1000万元'); omitted = not checked")
    kind: Kind | None = None
    status: Literal["eligible", "not_eligible", "undetermined", "not_in_force"] | None = None
    failed: list[str] | None = Field(default=None, description="ids of the conditions expected to fail")
    binding_cap: bool | None = Field(default=None, description="whether some cap is expected to bind")
    note: str | None = None


class ScenarioExpectation(_Strict):
    eligible: bool | None = None
    status: Literal["eligible", "not_eligible", "undetermined", "not_in_force"] | None = None
    amount: str | None = None
    superseded_by: str | None = None
    entity_id: str | None = Field(default=None, description="for child entities (projects, loans …)")


class Scenario(_Strict):
    """A whole-entity worked example: the entity (with its projects/loans) against the whole pack.

    Exercises what single-rule cases cannot: stacking groups across documents, group caps, child entities, totals.
    """

    name: str
    as_of: date
    entity: dict
    expect: dict[str, ScenarioExpectation] = Field(default_factory=dict, description="rule id → expected outcome")
    totals: dict[Literal["entitlement", "maximum", "group_cap_reduction", "overall_upper_bound", "charge", "third_party"], str] = Field(
        default_factory=dict, description="expected report totals (e.g. overall_upper_bound: 800万元)")
    note: str | None = None


class Rule(_Strict):
    id: str = Field(description="stable id, e.g. wh-2023-5-01")
    title: str = Field(description="short Chinese name, e.g. 冲击千亿目标百亿台阶奖励")
    article: str = Field(description="article/clause as printed, e.g. 二(一)")
    lines: tuple[int, int] = Field(description="seed line range of the clause")
    quote: str = Field(description="the operative sentence(s), verbatim")
    catalog: list[str] = Field(default_factory=list, description="catalog rule ids this rule encodes, e.g. D04-R01")
    entity: str = Field(description=f"entity type: one of {ENTITY_TYPES}")
    kind: Kind = Field(description="entitlement (text fixes the amount) / maximum (不超过/最高: a cap needing review) / "
                    "eligibility (no amount stated) / charge (the entity pays: 加价, 收费 — never counted as a benefit)")
    conditions: list[Condition] = Field(default_factory=list)
    amount: str | AmountSpec | None = None
    caps: list[Cap] = Field(default_factory=list)
    per: str | None = Field(default=None, description="what one amount is for: 一次性 / 每年 / 每个项目 …")
    beneficiary: str | None = Field(
        default=None,
        description="who receives the amount when it is not the entity itself (e.g. 贷款银行, 担保机构): "
                    "reported apart, never added to the entity's totals or group caps")
    funding: dict[str, str] | None = Field(default=None, description="funding split, e.g. {市级: 20%, 区市: 80%}")
    stacking_group: str | None = Field(default=None, description="rules in one group pay only the highest (就高不重复)")
    valid_from: date | None = None
    valid_to: date | None = None
    interpretations: list[str] = Field(default_factory=list, description="every ambiguity this rule resolves, in writing")
    service: Service | None = None

    @field_validator("entity")
    @classmethod
    def _entity_known(cls, v: str) -> str:
        if v not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {v!r}; use one of {list(ENTITY_TYPES)}")
        return v

    @field_validator("lines")
    @classmethod
    def _lines_order(cls, v):
        if v[0] > v[1] or v[0] < 1:
            raise ValueError(f"line range {v} must be start ≤ end, both ≥ 1")
        return v

    @model_validator(mode="after")
    def _kind_matches_amount(self):
        if self.kind == "eligibility" and (self.amount is not None or self.caps):
            raise ValueError("kind 'eligibility' means the text states no amount: drop 'amount'/'caps' or change kind")
        if self.kind != "eligibility" and self.amount is None:
            raise ValueError(f"kind {self.kind!r} needs an 'amount'")
        if self.funding:
            from zhengce.money import to_decimal

            total = sum(to_decimal(v, what=f"funding share {k}") for k, v in self.funding.items())
            if total != 1:
                raise ValueError(f"funding shares must add up to 100%, they add up to {total * 100}%")
        return self


class NotEncoded(_Strict):
    catalog: list[str] = Field(default_factory=list)
    article: str
    lines: tuple[int, int]
    reason: str


class PackFile(_Strict):
    document: Document
    fields: dict[str, dict[str, FieldSpec]] = Field(default_factory=dict, description="entity type → field → spec")
    rules: list[Rule] = Field(default_factory=list)
    not_encoded: list[NotEncoded] = Field(default_factory=list)
