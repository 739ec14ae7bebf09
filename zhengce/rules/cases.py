"""YAML cases beside each pack (<文号>.cases.yaml): worked examples that are the rules' specification.

Each case names a rule, an as-of date and the entity's fields, and states the expected outcome.
`run_case` evaluates the rule alone and returns a list of mismatches (empty = pass).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from zhengce.engine.evaluate import Evaluator
from zhengce.entities.loader import entity_from_mapping
from zhengce.errors import RulePackError
from zhengce.money import quantize_yuan, to_decimal
from zhengce.rules.loader import Pack, _read_yaml
from zhengce.rules.model import Case, Scenario

_CASES = TypeAdapter(list[Case])
_SCENARIOS = TypeAdapter(list[Scenario])


def case_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.cases.yaml"))


def load_cases(path: Path) -> list[Case]:
    data = _read_yaml(path)
    if data is None:
        return []
    if isinstance(data, dict) and "cases" in data:
        data = data["cases"]
    try:
        return _CASES.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        name = None
        if loc and isinstance(loc[0], int):
            try:
                name = data[loc[0]].get("name")
            except Exception:  # noqa: BLE001
                name = None
        raise RulePackError(str(path), err["msg"], rule_id=name and f"case {name!r}",
                            field=".".join(str(p) for p in loc[1:]) or None) from None


def run_case(pack: Pack, case: Case, evaluator: Evaluator | None = None, source: str = "") -> list[str]:
    ev = evaluator or Evaluator(pack)
    try:
        cr = pack.rule(case.rule)
    except KeyError:
        return [f"unknown rule {case.rule}"]
    raw = {"type": cr.rule.entity, "id": f"case:{case.name}", **case.entity}
    entity = entity_from_mapping(pack.schema, raw, source=source or "case", record=case.name)
    env = dict(entity.fields)
    env["as_of"] = case.as_of
    res = ev.evaluate_rule(cr, env, entity.id, case.as_of)
    problems = []
    if res.eligible != case.eligible:
        problems.append(f"eligible: expected {case.eligible}, got {res.eligible} (status {res.status}; {res.reason or ''}"
                        f"{'; failed ' + ', '.join(n.condition for n in res.near_misses) if res.near_misses else ''})")
    if case.status is not None and res.status != case.status:
        problems.append(f"status: expected {case.status}, got {res.status}")
    if case.amount is not None:
        want = quantize_yuan(to_decimal(case.amount, what="expected amount"))
        if res.amount != want:
            problems.append(f"amount: expected {want}, got {res.amount} ({res.arithmetic})")
    if case.kind is not None and res.kind != case.kind:
        problems.append(f"kind: expected {case.kind}, got {res.kind}")
    if case.failed is not None:
        got = sorted({c.id for c in res.conditions if c.result is False})
        if got != sorted(case.failed):
            problems.append(f"failed conditions: expected {sorted(case.failed)}, got {got}")
    if case.binding_cap is not None:
        binds = any(c.binding for c in res.caps)
        if binds != case.binding_cap:
            problems.append(f"binding cap: expected {case.binding_cap}, got {binds}")
    return problems


def scenario_files(root: Path) -> list[Path]:
    return sorted((root / "scenarios").glob("*.yaml"))


def load_scenarios(path: Path) -> list[Scenario]:
    data = _read_yaml(path)
    try:
        return _SCENARIOS.validate_python(data or [])
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RulePackError(str(path), err["msg"], field=".".join(str(p) for p in err["loc"]) or None) from None


def run_scenario(pack: Pack, sc: Scenario, evaluator: Evaluator | None = None, source: str = "") -> list[str]:
    ev = evaluator or Evaluator(pack)
    entity = entity_from_mapping(pack.schema, sc.entity, source=source or "scenario", record=sc.name)
    rep = ev.evaluate(entity, sc.as_of)
    problems = []
    for rule_id, want in sc.expect.items():
        hits = [r for r in rep.results if r.rule_id == rule_id and (want.entity_id is None or r.entity_id == want.entity_id)]
        if not hits:
            problems.append(f"{rule_id}: not evaluated for this entity (unknown rule or wrong entity type)")
            continue
        r = hits[0]
        if want.eligible is not None and r.eligible != want.eligible:
            problems.append(f"{rule_id}: eligible expected {want.eligible}, got {r.eligible} ({r.reason or r.status})")
        if want.status is not None and r.status != want.status:
            problems.append(f"{rule_id}: status expected {want.status}, got {r.status}")
        if want.amount is not None and r.amount != quantize_yuan(to_decimal(want.amount, what="amount")):
            problems.append(f"{rule_id}: amount expected {want.amount}, got {r.amount}")
        if want.superseded_by is not None and r.superseded_by != want.superseded_by:
            problems.append(f"{rule_id}: superseded_by expected {want.superseded_by}, got {r.superseded_by}")
    got = rep.totals()
    for key, text in sc.totals.items():
        want_total = quantize_yuan(to_decimal(text, what=f"totals.{key}"))
        if quantize_yuan(got[key]) != want_total:
            problems.append(f"totals.{key}: expected {want_total}, got {quantize_yuan(got[key])}")
    return problems
