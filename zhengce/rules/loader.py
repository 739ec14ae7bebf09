"""Load and validate rule packs: YAML → pydantic models → parsed, type-checked, compiled rules.

Every error names the file, the rule id and the field, and says what to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from zhengce.entities.schema import EntitySchema, FieldSpec
from zhengce.errors import ExpressionError, RulePackError
from zhengce.expr import ast as A
from zhengce.expr.interp import compile_expr
from zhengce.expr.parser import parse
from zhengce.parameters import ParameterSet, load_parameters
from zhengce.rules.amounts import amount_ast
from zhengce.rules.model import Document, GroupCap, PackFile, Rule

try:  # the C loader is ~10× faster on big packs
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader


class _Loader(_BaseLoader):
    """Safe YAML loader that rejects duplicate keys (PyYAML silently keeps the last one, losing data)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` — merged keys may be overridden on purpose
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)

BUILTIN_FIELDS = {"as_of"}


def default_policy_root() -> Path:
    env = os.environ.get("ZHENGCE_POLICIES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "policies", here / "data" / "policies"):
        if candidate.is_dir():
            return candidate
    return here.parent / "policies"


@dataclass
class CompiledRule:
    """A rule ready to run: its model, document, ASTs (for every backend) and closures (per-entity backend)."""

    rule: Rule
    document: Document
    file: str
    conditions: list[tuple[str, str, A.Node]]  # (id, label, ast)
    amount: A.Node | None
    caps: list[tuple[str, A.Node]]  # (label, ast)
    fields: set[str]
    params: set[str]
    # compiled closures
    cond_fns: list = field(default_factory=list, repr=False)
    amount_fn: object = None
    cap_fns: list = field(default_factory=list, repr=False)
    engine_meta: tuple | None = field(default=None, repr=False)  # the evaluator's per-rule cache

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def valid_from(self):
        return self.rule.valid_from or self.document.effective

    @property
    def valid_to(self):
        return self.rule.valid_to or self.document.expires


@dataclass
class Pack:
    """Every loaded document and rule, the merged entity schema and the dated parameters."""

    root: Path
    documents: dict[str, Document] = field(default_factory=dict)
    files: dict[str, PackFile] = field(default_factory=dict)
    rules: list[CompiledRule] = field(default_factory=list)
    schema: EntitySchema = field(default_factory=EntitySchema)
    params: ParameterSet = field(default_factory=ParameterSet)
    group_caps: list[tuple[Document, GroupCap, A.Node]] = field(default_factory=list)

    def rule(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def rules_for(self, entity_type: str) -> list[CompiledRule]:
        cache = self.__dict__.setdefault("_by_type", {})
        if entity_type not in cache:
            cache[entity_type] = [r for r in self.rules if r.rule.entity == entity_type]
        return cache[entity_type]


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulePackError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RulePackError(str(path), f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def _pydantic_error(path: Path, data: object, exc: ValidationError) -> RulePackError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    rule_id = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        try:
            rule_id = data["rules"][loc[1]].get("id") or f"#{loc[1] + 1}"
        except Exception:  # noqa: BLE001 - best effort for the message only
            rule_id = f"#{loc[1] + 1}"
        loc = loc[2:]
    fld = ".".join(str(p) for p in loc) or None
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown key (typo?) — see docs/rule-pack.md"
    return RulePackError(str(path), msg + more, rule_id=rule_id, field=fld)


def read_pack_file(path: Path) -> PackFile:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise RulePackError(str(path), "a rule pack must be a mapping with 'document' and 'rules'")
    try:
        return PackFile.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(path, data, exc) from None


def _parse(path: Path, rule_id: str | None, fld: str, source: str) -> A.Node:
    try:
        return parse(source)
    except ExpressionError as exc:
        raise RulePackError(str(path), f"bad expression: {exc}", rule_id=rule_id, field=fld) from None


def _check_fields(path, rule_id, fld, node, entity_type, schema: EntitySchema, params: ParameterSet):
    for name in A.fields_of(node):
        if name in BUILTIN_FIELDS:
            continue
        if schema.get(entity_type, name) is None:
            raise RulePackError(
                str(path),
                f"expression uses unknown {entity_type} field {name!r}{schema.suggest(entity_type, name)}; "
                f"declare it under 'fields: {entity_type}:' or in policies/entities/core.yaml",
                rule_id=rule_id, field=fld,
            )
    for p in A.params_of(node):
        if p not in params:
            raise RulePackError(str(path), f"unknown parameter {p!r} (policies/parameters/)", rule_id=rule_id, field=fld)


def pack_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.yaml") if not p.name.endswith(".cases.yaml")
                  and not ({"entities", "parameters", "inventory", "scenarios"} & set(p.relative_to(root).parts)))


def load_pack(root: Path | str | None = None, files: list[Path] | None = None) -> Pack:
    """Load every pack under ``root`` (default: the repo's policies/)."""
    root = Path(root) if root is not None else default_policy_root()
    if not root.is_dir():
        raise RulePackError(str(root), "policy directory not found (set ZHENGCE_POLICIES or pass --policies)")
    pack = Pack(root=root, params=load_parameters(root / "parameters"))

    core = root / "entities" / "core.yaml"
    if core.exists():
        data = _read_yaml(core) or {}
        for etype, flds in data.items():
            for name, spec in (flds or {}).items():
                try:
                    pack.schema.add(etype, name, FieldSpec.model_validate(spec), str(core))
                except ValidationError as exc:
                    raise RulePackError(str(core), exc.errors()[0]["msg"], field=f"{etype}.{name}") from None

    parsed: list[tuple[Path, PackFile]] = []
    for path in files if files is not None else pack_files(root):
        pf = read_pack_file(path)
        expected = pf.document.doc_no
        if path.stem != expected:
            raise RulePackError(str(path), f"file must be named after its 文号: {expected}.yaml", field="document.doc_no")
        if expected in pack.documents:
            raise RulePackError(str(path), f"document {expected} is defined twice ({pack.files[expected]})")
        pack.documents[expected] = pf.document
        pack.files[expected] = pf
        for etype, flds in pf.fields.items():
            for name, spec in flds.items():
                pack.schema.add(etype, name, spec, str(path))
        parsed.append((path, pf))

    seen: dict[str, str] = {}
    for path, pf in parsed:
        doc = pf.document
        ids_here = {r.id for r in pf.rules}
        for rule in pf.rules:
            if rule.id in seen:
                raise RulePackError(str(path), f"duplicate rule id (also in {seen[rule.id]})", rule_id=rule.id)
            seen[rule.id] = str(path)
            pack.rules.append(_compile_rule(path, doc, rule, pack))
        for gc in doc.group_caps:
            node = _parse(path, None, f"document.group_caps.{gc.id}.limit", gc.limit)
            if gc.rules != "all":
                missing = [r for r in gc.rules if r not in ids_here]
                if missing:
                    raise RulePackError(str(path), f"group cap {gc.id} names unknown rules {missing}",
                                        field=f"document.group_caps.{gc.id}.rules")
            _check_fields(path, None, f"document.group_caps.{gc.id}.limit", node, gc.entity, pack.schema, pack.params)
            gc_node = node
            pack.group_caps.append((doc, gc, gc_node))
    for cr in pack.rules:
        _collect_vocabulary(cr, pack.schema)
    return pack


def _collect_vocabulary(cr: CompiledRule, schema: EntitySchema) -> None:
    """Record the string values each text/set field is tested against (see EntitySchema.vocabulary_warnings)."""
    nodes = [n for _, _, n in cr.conditions] + [n for _, n in cr.caps] + ([cr.amount] if cr.amount is not None else [])
    et = cr.rule.entity

    def add(field: A.Node, values) -> None:
        if isinstance(field, A.Field):
            spec = schema.get(et, field.name)
            if spec is not None and spec.type in ("set", "text"):
                schema.vocabulary.setdefault((et, field.name), set()).update(
                    v.value for v in values if isinstance(v, A.Literal) and isinstance(v.value, str))

    for root in nodes:
        for n in A.walk(root):
            if isinstance(n, A.In):
                if isinstance(n.container, A.Field):
                    add(n.container, [n.item])
                elif isinstance(n.container, A.ListLit):
                    add(n.item, n.container.items)
            elif isinstance(n, A.Call) and n.func == "count_in" and isinstance(n.args[1], A.ListLit):
                add(n.args[0], n.args[1].items)
            elif isinstance(n, A.Compare) and n.op in ("==", "!="):
                add(n.left, [n.right])
                add(n.right, [n.left])


def _compile_rule(path: Path, doc: Document, rule: Rule, pack: Pack) -> CompiledRule:
    et = rule.entity
    conds = []
    seen_ids = set()
    for i, c in enumerate(rule.conditions):
        if c.id in seen_ids:
            raise RulePackError(str(path), f"duplicate condition id {c.id!r}", rule_id=rule.id, field=f"conditions[{i}].id")
        seen_ids.add(c.id)
        node = _parse(path, rule.id, f"conditions.{c.id}.expr", c.expr)
        _check_fields(path, rule.id, f"conditions.{c.id}.expr", node, et, pack.schema, pack.params)
        conds.append((c.id, c.label, node))
    amount = None
    if rule.amount is not None:
        try:
            amount = amount_ast(rule.amount)
        except ExpressionError as exc:
            raise RulePackError(str(path), f"bad expression: {exc}", rule_id=rule.id, field="amount") from None
        _check_fields(path, rule.id, "amount", amount, et, pack.schema, pack.params)
    caps = []
    for i, cap in enumerate(rule.caps):
        node = _parse(path, rule.id, f"caps[{i}].expr", cap.expr)
        _check_fields(path, rule.id, f"caps[{i}].expr", node, et, pack.schema, pack.params)
        caps.append((cap.label, node))
    nodes = [n for _, _, n in conds] + [n for _, n in caps] + ([amount] if amount is not None else [])
    flds = set().union(*(A.fields_of(n) for n in nodes)) if nodes else set()
    prm = set().union(*(A.params_of(n) for n in nodes)) if nodes else set()
    cr = CompiledRule(rule=rule, document=doc, file=str(path), conditions=conds, amount=amount, caps=caps,
                      fields=flds, params=prm)
    cr.cond_fns = [compile_expr(n, pack.params) for _, _, n in conds]
    cr.amount_fn = compile_expr(amount, pack.params) if amount is not None else None
    cr.cap_fns = [compile_expr(n, pack.params) for _, n in caps]
    return cr

