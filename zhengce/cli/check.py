"""`zhengce check`, `zhengce rules …`, `zhengce cases` and `zhengce coverage`: the rule engine from the shell."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zhengce.cli import app
from zhengce.errors import ZhengceError

rules_app = typer.Typer(help="查看规则包中的规则。", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

PoliciesOpt = Annotated[Path | None, typer.Option("--policies", help="规则包目录（默认：仓库 policies/ 或 $ZHENGCE_POLICIES）")]

KIND_LABEL = {"entitlement": "确定金额", "maximum": "最高限额（需审核）", "eligibility": "资格（未定金额）",
              "charge": "需缴纳（加价/收费）"}
STATUS_LABEL = {"eligible": "符合", "not_eligible": "不符合", "undetermined": "待补充数据", "not_in_force": "不在有效期"}


def fail(exc: Exception) -> None:
    err_console.print(f"[bold red]错误[/]: {exc}")
    raise typer.Exit(2)


def _load(policies: Path | None):
    from zhengce.rules.loader import load_pack

    try:
        return load_pack(policies)
    except ZhengceError as exc:
        fail(exc)


def _parse_date(text: str | None) -> date:
    if text is None:
        return date.today()  # the CLI is the one place 'today' is allowed: the engine always takes as_of
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(ValueError(f"--as-of: expected a date like 2023-06-01, got {text!r}"))


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="实体文件（YAML/JSON/CSV，或 Excel 工作簿的第一个工作表）")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="评估日期 YYYY-MM-DD（默认今天）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（docs/output-schema.md）")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="同时列出不符合、不在有效期的规则")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """对一个（或多个）企业/项目/贷款等实体，列出适用政策、金额、条件依据与差距。"""
    from zhengce.engine.evaluate import evaluate
    from zhengce.entities.loader import load_entities

    pack = _load(policies)
    day = _parse_date(as_of)
    try:
        entities = load_entities(file, pack.schema)
    except ZhengceError as exc:
        fail(exc)
    reports = [evaluate(pack, e, day) for e in entities]
    global _SCHEMA
    _SCHEMA = pack.schema
    if as_json:
        payload = [r.to_json() for r in reports]
        sys.stdout.write(json.dumps(payload[0] if len(payload) == 1 else payload, ensure_ascii=False, indent=2) + "\n")
        return
    for rep in reports:
        _print_report(rep, show_all)


_SCHEMA = None


def _field_label(entity_type: str, name: str) -> str:
    spec = _SCHEMA.get(entity_type, name) if _SCHEMA is not None else None
    return f"{spec.label}（{name}）" if spec else name


def _print_report(rep, show_all: bool) -> None:
    from zhengce.money import format_quantity, format_yuan

    console.rule(f"[bold]{rep.entity_name or rep.entity_id}[/]（{rep.entity_id}） 评估日期 {rep.as_of.isoformat()}")
    for w in rep.input_warnings:
        console.print(f"[yellow]输入提示[/] {w}")
    eligible = [r for r in rep.results if r.status == "eligible" and r.kind != "charge" and r.beneficiary is None]
    third = [r for r in rep.results if r.status == "eligible" and r.beneficiary is not None]
    charges = [r for r in rep.results if r.status == "eligible" and r.kind == "charge"]
    t = Table(title="符合条件的政策", show_lines=False, expand=True)
    for col in ("规则", "政策条款", "金额", "性质", "依据"):
        t.add_column(col, overflow="fold")
    for r in eligible:
        amount = format_yuan(r.amount) if r.amount is not None else ("—" if r.kind == "eligibility" else "待补数据")
        notes = []
        if r.superseded_by:
            notes.append(f"就高不重复：按 {r.superseded_by} 计")
        for c in r.caps:
            if c.binding:
                notes.append(f"受上限：{c.label}")
        if r.group_caps:
            notes.append("计入以下文件的总额上限：" + "、".join(dict.fromkeys(g.split("#")[0] for g in r.group_caps)))
        title = r.title + ("\n[dim]" + "；".join(notes) + "[/]" if notes else "")
        t.add_row(r.rule_id, title, amount, KIND_LABEL[r.kind], f"{r.doc_no} {r.article}（L{r.lines[0]}-{r.lines[1]}）")
    console.print(t)

    tot = rep.totals()
    console.print(f"确定金额合计：[bold]{format_yuan(tot['entitlement'])}[/]；"
                  f"最高限额合计（需审核）：[bold]{format_yuan(tot['maximum'])}[/]")
    if charges:
        ct = Table(title="适用的加价/收费（企业需缴纳，不计入奖补）", expand=True)
        for col in ("规则", "政策条款", "金额", "依据"):
            ct.add_column(col, overflow="fold")
        for r in charges:
            ct.add_row(r.rule_id, r.title, format_yuan(r.amount), f"{r.doc_no} {r.article}（L{r.lines[0]}-{r.lines[1]}）")
        console.print(ct)
        console.print(f"需缴纳合计：[bold]{format_yuan(tot['charge'])}[/]")
    if third:
        tt = Table(title="支付给第三方的款项（如贷款银行、担保机构；不计入本实体合计）", expand=True)
        for col in ("规则", "政策条款", "收款方", "金额", "依据"):
            tt.add_column(col, overflow="fold")
        for r in third:
            tt.add_row(r.rule_id, r.title, r.beneficiary, format_yuan(r.amount) if r.amount is not None else "—",
                       f"{r.doc_no} {r.article}（L{r.lines[0]}-{r.lines[1]}）")
        console.print(tt)
    for g in rep.group_caps:
        if g.binding:
            console.print(f"[yellow]总额上限[/] {g.doc_no}：{g.label} —— 上限 {format_yuan(g.limit)}，"
                          f"合计 {format_yuan(g.total_before)} → {format_yuan(g.total_after)}")
        elif g.limit is None:
            console.print(f"[yellow]总额上限无法判定[/] {g.doc_no}：{g.label}（缺少数据）")

    near, seen_groups = [], {}
    for r in rep.results:  # one row per measure: the same award in several documents shares a stacking group
        if not r.is_near_miss:
            continue
        key = (r.entity_id, r.stacking_group) if r.stacking_group else None
        if key and key in seen_groups:
            seen_groups[key].append(r.rule_id)
            continue
        near.append(r)
        if key:
            seen_groups[key] = []
    also = {id(r): seen_groups.get((r.entity_id, r.stacking_group), []) for r in near if r.stacking_group}
    if near:
        nt = Table(title="接近满足（差距在20%以内）", expand=True)
        for col in ("规则", "政策条款", "差距", "依据"):
            nt.add_column(col, overflow="fold")
        for r in near:
            gaps = "；".join(_gap_text(n, format_quantity) for n in r.near_misses)
            others = also.get(id(r))
            nt.add_row(r.rule_id + (f"\n[dim]同一事项：{'、'.join(others)}[/]" if others else ""), r.title, gaps,
                       f"{r.doc_no} {r.article}")
        console.print(nt)

    undetermined = rep.by_status("undetermined")
    if undetermined:
        ut = Table(title="可能适用，但缺少数据", expand=True)
        for col in ("规则", "政策条款", "缺少字段"):
            ut.add_column(col, overflow="fold")
        for r in undetermined[:40]:
            ut.add_row(r.rule_id, r.title, "、".join(_field_label(r.entity_type, f) for f in r.missing_fields))
        console.print(ut)
        if len(undetermined) > 40:
            console.print(f"……另有 {len(undetermined) - 40} 条（--json 查看全部）")
    if show_all:
        ot = Table(title="不符合 / 不在有效期", expand=True)
        for col in ("规则", "政策条款", "状态", "原因"):
            ot.add_column(col, overflow="fold")
        for r in rep.results:
            if r.status in ("not_eligible", "not_in_force"):
                why = r.reason or "；".join(f"{n.label}（{n.expr}，实际 {n.actual}）" for n in r.near_misses)
                ot.add_row(r.rule_id, r.title, STATUS_LABEL[r.status], why)
        console.print(ot)
    s = rep.to_json()["summary"]
    console.print(f"[dim]符合 {s['eligible']} · 不符合 {s['not_eligible']}（其中接近满足 {s['near_misses']}） · "
                  f"待补数据 {s['undetermined']} · 不在有效期 {s['not_in_force']}[/]")


def _gap_text(n, fmt) -> str:
    op = {">=": "≥", ">": "＞", "<=": "≤", "<": "＜"}.get(n.op, n.op)
    word = "还差" if n.op in (">=", ">") else "超出"
    return f"{n.label}：需 {op} {fmt(n.required, n.unit)}，现为 {fmt(n.actual, n.unit)}，{word} {fmt(n.gap, n.unit)}"


@rules_app.command("list")
def rules_list(
    doc: Annotated[str | None, typer.Option("--doc", help="只列出该文号的规则")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """列出规则：编号、文号、条款、性质、金额。"""
    from zhengce.rules.amounts import describe

    pack = _load(policies)
    rows = [cr for cr in pack.rules if doc is None or cr.document.doc_no == doc]
    if as_json:
        out = [{"rule_id": cr.id, "title": cr.rule.title, "doc_no": cr.document.doc_no, "article": cr.rule.article,
                "lines": list(cr.rule.lines), "entity": cr.rule.entity, "kind": cr.rule.kind,
                "amount": describe(cr.rule.amount) if cr.rule.amount is not None else None} for cr in rows]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    t = Table(title=f"规则 {len(rows)} 条", expand=True)
    for col in ("规则", "文号", "条款", "对象", "性质", "标题", "金额"):
        t.add_column(col, overflow="fold")
    for cr in rows:
        r = cr.rule
        t.add_row(r.id, cr.document.doc_no, r.article, r.entity, KIND_LABEL[r.kind], r.title,
                  describe(r.amount) if r.amount is not None else "—")
    console.print(t)


@rules_app.command("show")
def rules_show(rule_id: str, policies: PoliciesOpt = None) -> None:
    """显示一条规则：原文、条件、金额、上限、解释说明。"""
    from zhengce.rules.amounts import describe

    pack = _load(policies)
    try:
        cr = pack.rule(rule_id)
    except KeyError:
        fail(KeyError(f"no rule {rule_id!r}; see `zhengce rules list`"))
    r, d = cr.rule, cr.document
    console.print(f"[bold]{r.id}[/] {r.title}")
    console.print(f"依据：{d.doc_no}《{d.title}》{r.article}，{d.seed} 第{r.lines[0]}-{r.lines[1]}行")
    console.print(f"原文：{r.quote}")
    console.print(f"对象：{r.entity}    性质：{KIND_LABEL[r.kind]}    有效期：{cr.valid_from} 至 {cr.valid_to or '未规定'}")
    for c in r.conditions:
        console.print(f"  条件 {c.id}：{c.label}    [dim]{c.expr}[/]")
    if r.amount is not None:
        console.print(f"  金额：{describe(r.amount)}")
    for c in r.caps:
        console.print(f"  上限：{c.label}    [dim]{c.expr}[/]")
    if r.funding:
        console.print("  资金分担：" + "，".join(f"{k} {v}" for k, v in r.funding.items()))
    if r.stacking_group:
        console.print(f"  就高不重复组：{r.stacking_group}")
    for i in r.interpretations:
        console.print(f"  [yellow]解释[/]：{i}")


@rules_app.command("schema")
def rules_schema() -> None:
    """输出规则包的 JSON Schema。"""
    from zhengce.rules.model import PackFile

    sys.stdout.write(json.dumps(PackFile.model_json_schema(), ensure_ascii=False, indent=2) + "\n")


@app.command()
def cases(policies: PoliciesOpt = None) -> None:
    """运行全部规则用例（policies/**/*.cases.yaml）和整体情景（policies/scenarios/），列出不通过的。"""
    from zhengce.engine.evaluate import Evaluator
    from zhengce.rules import cases as C

    pack = _load(policies)
    ev = Evaluator(pack)
    suites = [(p, C.load_cases, C.run_case, lambda c: f"{c.name} ({c.rule})") for p in C.case_files(pack.root)]
    suites += [(p, C.load_scenarios, C.run_scenario, lambda s: s.name) for p in C.scenario_files(pack.root)]
    total = bad = 0
    for path, load, run, name in suites:
        try:
            items = load(path)
        except ZhengceError as exc:
            fail(exc)
        for item in items:
            total += 1
            try:
                problems = run(pack, item, ev, str(path))
            except ZhengceError as exc:
                problems = [str(exc)]
            if problems:
                bad += 1
                console.print(f"[red]FAIL[/] {path.name} · {name(item)}: " + "; ".join(problems))
    console.print(f"{total - bad}/{total} 用例通过（含整体情景）")
    if bad:
        raise typer.Exit(1)


@app.command()
def coverage(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    details: Annotated[bool, typer.Option("--details", help="逐条列出每个条款的状态")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="有未说明的条款时返回非零")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """每个文件的可计算条款：已编码、已测试、不编码（附理由）、未说明。"""
    from zhengce.coverage import compute, totals

    pack = _load(policies)
    try:
        docs = compute(pack)
    except ZhengceError as exc:
        fail(exc)
    tot = totals(docs)
    if as_json:
        sys.stdout.write(json.dumps({"totals": tot, "documents": [d.to_json() for d in docs]},
                                    ensure_ascii=False, indent=2) + "\n")
    else:
        t = Table(title="可计算条款覆盖情况", expand=True)
        for col in ("文号", "目录", "可计算条款", "已编码", "已测试", "不编码", "未说明", "编码率", "非计算项"):
            t.add_column(col, overflow="fold")
        for d in docs:
            n = d.computable
            pct = f"{100 * d.count('encoded') / n:.0f}%" if n else ("无清单" if not d.clauses else "—")
            t.add_row(d.doc_no, d.catalog or "", str(n), str(d.count("encoded")), str(d.tested),
                      str(d.count("not_encoded")), str(d.count("unaccounted")), pct, str(d.count("not_computable")))
        t.add_row("合计", "", str(tot["clauses"]), str(tot["encoded"]), str(tot["tested"]), str(tot["not_encoded"]),
                  str(tot["unaccounted"]), f"{tot['encoded_pct']}%" if tot["clauses"] else "—",
                  str(tot["not_computable"]), style="bold")
        console.print(t)
        console.print(f"清单 {tot['items']} 项，已说明 {tot['accounted_pct']}%（已编码、注明不编码理由或非计算项）；"
                      f"可计算条款编码率 {tot['encoded_pct']}%（占全部清单项 {tot['encoded_pct_of_all_items']}%）")
        for d in docs:
            if details or d.count("unaccounted"):
                for c in d.clauses:
                    if details or c.status == "unaccounted":
                        mark = {"encoded": "✓", "not_encoded": "—", "not_computable": "·", "unaccounted": "✗"}[c.status]
                        extra = ", ".join(c.rules) if c.rules else (c.reason or "未编码也未说明理由")
                        console.print(f"  {mark} {d.doc_no} {c.id} {c.article} L{c.lines[0]}-{c.lines[1]} {c.summary} [dim]{extra}[/]")
            if d.untracked_rules:
                console.print(f"  [yellow]清单外规则[/] {d.doc_no}: {', '.join(d.untracked_rules)}")
    if strict and (tot["unaccounted"] or tot["documents_without_inventory"]):
        raise typer.Exit(1)


@app.command()
def fields(
    entity: Annotated[str | None, typer.Option("--entity", help="只列出该实体类型")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="输出 docs/entities.md 的内容")] = False,
    values: Annotated[str | None, typer.Option("--values", help="列出规则对该字段使用的取值（如 titles_new）")] = None,
    policies: PoliciesOpt = None,
) -> None:
    """实体输入字段：名称、类型、单位（核心字段 + 各规则包声明的字段）。"""
    from zhengce.entities.docs import render_markdown

    pack = _load(policies)
    if values:
        rows = sorted((et, v) for (et, name), vs in pack.schema.vocabulary.items() if name == values for v in vs)
        if not rows:
            fail(ValueError(f"no rule tests field {values!r} against fixed values"))
        for et, v in rows:
            console.print(f"{et}.{values}  {v}")
        return
    if markdown:
        sys.stdout.write(render_markdown(pack.schema) + "\n")
        return
    t = Table(title="实体字段", expand=True)
    for col in ("实体", "字段", "名称", "类型", "单位"):
        t.add_column(col, overflow="fold")
    for etype, flds in pack.schema.fields.items():
        if entity and etype != entity:
            continue
        for name in sorted(flds):
            f = flds[name]
            t.add_row(etype, name, f.label, f.type, f.unit or "")
    console.print(t)
