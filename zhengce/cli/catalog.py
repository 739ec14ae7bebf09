"""`zhengce ingest | search | show | diff | lint`: the policy catalog from the shell (docs/catalog.md)."""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zhengce.cli import app
from zhengce.errors import ZhengceError

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

DbOpt = Annotated[Path | None, typer.Option("--db", help="目录数据库（默认 ~/.local/share/zhengce/catalog.db 或 $ZHENGCE_DB）")]
JsonOpt = Annotated[bool, typer.Option("--json", help="输出 JSON（结构见 docs/catalog.md）")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="状态计算日期 YYYY-MM-DD（默认今天）")]
PoliciesOpt = Annotated[Path | None, typer.Option("--policies", help="规则包目录（默认仓库 policies/）")]
STATUS_CN = {"draft": "草案", "not_yet_effective": "尚未施行", "in_force": "有效", "expired": "已失效（到期）",
             "repealed": "已废止", "superseded_version": "旧版本"}


def _out(payload) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")


def _fail(exc: Exception, code: int = 2):
    err.print(f"[bold red]错误[/]: {exc}")
    raise typer.Exit(code)


def _date(text: str | None, opt: str = "--as-of") -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(ValueError(f"{opt}: expected a date like 2023-06-01, got {text!r}"))


def _open(db: Path | None):
    from zhengce.catalog import Catalog

    try:
        return Catalog(db)
    except ZhengceError as exc:
        _fail(exc)


def _load_pack(policies: Path | None, quiet: bool = False):
    try:
        from zhengce.rules.loader import load_pack

        return load_pack(policies)
    except (ZhengceError, ImportError) as exc:
        if not quiet:
            err.print(f"[yellow]注意[/]: 规则包未加载（{exc}）")
        return None


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*.txt") if x.is_file()))
        else:
            out.append(p)
    return out


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="公报/文件的纯文本（.txt，UTF-8 或 GBK）；目录则读取其中全部 .txt")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """读取公报文本，拆分文件，写入政策目录（重复导入同一文本不产生变化；文本变化则产生新版本）。"""
    cat = _open(db)
    t0 = time.perf_counter()
    results = [cat.ingest_path(p) for p in _files(paths)]
    elapsed = time.perf_counter() - t0
    failed = [r for r in results if r.error]
    if as_json:
        _out({"db": str(cat.path), "elapsed_ms": round(elapsed * 1000, 1),
              "sources": [{"path": r.path, "error": r.error, "findings": r.findings, "documents": r.documents}
                          for r in results]})
    else:
        for r in results:
            if r.error:
                err.print(f"[bold red]无法导入[/] {r.error}")
                continue
            t = Table(title=f"{r.path}：{len(r.documents)} 件文件", expand=True, show_lines=False)
            for col in ("#", "文号", "标题", "发文机关", "成文日期", "施行 → 有效期至", "条款", "导入"):
                t.add_column(col, overflow="fold")
            for d in r.documents:
                t.add_row(str(d["index"]), d["doc_no"] or "—", d["title"] or "（无标题）", "、".join(d["issuers"]) or "—",
                          d["signed"] or d["dated"] or "—", f"{d['effective'] or '—'} → {d['expires'] or '—'}",
                          str(d["article_count"]), {"new": "新增", "new-version": f"新版本 v{d['version']}",
                                                    "unchanged": "未变", "restored": "恢复旧版"}.get(d["action"], d["action"]))
            console.print(t)
            for f in r.findings:
                console.print(f"  [yellow]{f['code']}[/] 第{f['line']}行：{f['message']}")
        console.print(f"用时 {elapsed:.2f} 秒，目录：{cat.path}")
    cat.close()
    if failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="检索词（空格分隔多个词，须同时出现；少于3个字的词用模糊匹配）")] = "",
    issuer: Annotated[str | None, typer.Option("--issuer", help="发文机关（包含即可，如 财政局）")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="成文日期起 YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="成文日期止 YYYY-MM-DD")] = None,
    doc_type: Annotated[str | None, typer.Option("--type", help="文种，如 办法、通知、实施意见")] = None,
    status: Annotated[str | None, typer.Option("--status", help="in_force / expired / repealed / draft / not_yet_effective")] = None,
    doc_no: Annotated[str | None, typer.Option("--doc-no", help="文号（任意括号写法）")] = None,
    as_of: AsOfOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """全文检索政策条文（中文，支持发文机关、日期、文种、状态、文号筛选）。"""
    from zhengce.catalog.search import Filters
    from zhengce.catalog.search import search as run

    if status and status not in STATUS_CN:
        _fail(ValueError(f"--status: one of {', '.join(STATUS_CN)}"))
    cat = _open(db)
    f = Filters(issuer, _date(date_from, "--from"), _date(date_to, "--to"), doc_type, status, doc_no,
                _date(as_of) or date.today())
    t0 = time.perf_counter()
    hits = run(cat, query, f, limit)
    ms = (time.perf_counter() - t0) * 1000
    if as_json:
        _out({"query": query, "as_of": f.as_of.isoformat(), "elapsed_ms": round(ms, 2), "hits": [h.to_dict() for h in hits]})
    else:
        t = Table(title=f"「{query}」：{len(hits)} 条（{ms:.1f} ms）", expand=True)
        for col in ("文号/编号", "条款", "行", "状态", "摘录"):
            t.add_column(col, overflow="fold")
        for h in hits:
            t.add_row(h.doc.doc_no or h.doc.key, h.article_path or "（正文）",
                      f"{h.lines[0]}-{h.lines[1]}" if h.lines else "", STATUS_CN.get(h.status, h.status), h.snippet)
        console.print(t)
    cat.close()


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="文号（如 威政办发〔2023〕7号，括号写法不限）、编号 key[@v版本] 或标题片段")],
    as_of: AsOfOpt = None,
    db: DbOpt = None,
    policies: PoliciesOpt = None,
    no_rules: Annotated[bool, typer.Option("--no-rules", help="不加载规则包")] = False,
    as_json: JsonOpt = False,
) -> None:
    """显示一件文件：元数据、状态、引用关系，以及逐条条文与据其编码的规则（条文与代码对照）。"""
    from zhengce.catalog.citations import rules_by_article

    cat = _open(db)
    day = _date(as_of) or date.today()
    try:
        doc = cat.get(ref)
    except ZhengceError as exc:
        _fail(exc)
    pack = None if no_rules else _load_pack(policies, quiet=as_json)
    by_art = rules_by_article(cat, doc, pack) if pack is not None and doc.doc_no in pack.documents else {}
    arts = cat.articles(doc.id)
    refs = cat.references(doc.id)
    cited_by = cat.cited_by(doc)
    if as_json:
        payload = doc.to_dict(day)
        payload["references"] = refs
        payload["cited_by"] = cited_by
        payload["tables"] = cat.tables(doc.id)
        payload["articles"] = [
            {"path": a["path"], "kind": a["kind"], "label": a["label"], "heading": a["heading"], "depth": a["depth"],
             "lines": [a["start_line"], a["end_line"]], "text": a["text"],
             "rules": [_rule_json(cr, c) for cr, c in by_art.get(a["path"], [])]} for a in arts]
        unplaced = [_rule_json(cr, c) for cr, c in by_art.get("?", [])]
        payload["unresolved_rules"] = unplaced
        _out(payload)
        cat.close()
        return
    st = doc.status(day)
    console.rule(f"[bold]{doc.title or doc.key}[/]")
    rows = [("文号", f"{doc.doc_no or '—'}" + (f"（印作 {doc.doc_no_printed}）" if doc.doc_no_printed and doc.doc_no_printed != doc.doc_no else "")
             + (f"；目录作 {doc.toc_doc_no_printed}" if doc.toc_doc_no_printed and doc.toc_doc_no_printed != doc.doc_no_printed else "")),
            ("发文机关", "、".join(doc.issuers) or "—"), ("主送", "，".join(doc.recipients) or "—"),
            ("成文日期", str(doc.signed or doc.dated or "—")),
            ("施行 / 有效期至", f"{doc.effective or '—'} / {doc.expires or '—'}" + (f"（{doc.validity_note}）" if doc.validity_note else "")),
            ("状态", f"{STATUS_CN.get(st, st)}（{day}）" + "".join(f"；{r.on} 被 {r.by} 废止" for r in doc.repeals)),
            ("来源", f"{doc.source} 第{doc.start}–{doc.end}行，版本 v{doc.version}" + (f"；草案/旧稿对应 {doc.version_of}" if doc.version_of else ""))]
    for k, v in rows:
        console.print(f"[bold]{k}[/]：{v}")
    if doc.attachments:
        console.print("[bold]附件[/]：" + "；".join(f"{a['label']} {a['title']}" + ("" if a["present"] else "（正文未收录）") for a in doc.attachments))
    if refs:
        console.print("[bold]引用[/]：")
        for r in refs:
            name = (f"《{r['title']}》" if r["title"] else "") + (r["doc_no_printed"] or "")
            console.print(f"  第{r['line']}行 {r['kind']} {name} → {r['resolved'] or '[dim]目录中无此文件[/]'}")
    if cited_by:
        console.print("[bold]被引用[/]：" + "；".join(f"{c['key']}（{c['kind']}，第{c['line']}行）" for c in cited_by))
    t = Table(title="条文与规则对照" if by_art else "条文", expand=True, show_lines=True)
    t.add_column("条款", overflow="fold", ratio=1)
    t.add_column("条文", overflow="fold", ratio=5)
    if by_art:
        t.add_column("规则（代码）", overflow="fold", ratio=3)
    for a in arts:
        label = "  " * a["depth"] + a["path"] + f"\n[dim]L{a['start_line']}–{a['end_line']}[/]"
        row = [label, a["text"] or a["heading"]]
        if by_art:
            row.append("\n".join(_rule_text(cr, c) for cr, c in by_art.get(a["path"], [])))
        t.add_row(*row)
    console.print(t)
    if by_art.get("?"):
        console.print("[red]未能对应条文的规则[/]：" + "；".join(f"{cr.rule.id}：{c.problem}" for cr, c in by_art["?"]))
    cat.close()


def _rule_json(cr, c) -> dict:
    r = cr.rule
    amount = r.amount if isinstance(r.amount, str) or r.amount is None else r.amount.model_dump(exclude_none=True)
    return {"id": r.id, "title": r.title, "kind": r.kind, "article": r.article, "lines": list(r.lines),
            "amount": amount, "conditions": [{"id": x.id, "label": x.label, "expr": x.expr} for x in r.conditions],
            "citation_ok": c.ok, "problem": c.problem}


def _rule_text(cr, c) -> str:
    r = cr.rule
    from zhengce.rules.amounts import describe

    try:
        amount = describe(r.amount)
    except Exception:  # noqa: BLE001 - display only
        amount = str(r.amount)
    conds = "；".join(f"{x.expr}" for x in r.conditions)
    flag = "" if c.ok else f"\n[red]{c.problem}[/]"
    return f"[bold]{r.id}[/] {r.title}（{r.kind}）\n[cyan]if[/] {conds or 'true'}\n[cyan]amount[/] {amount or '—'}{flag}"


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="文件 A（文号、key 或 key@v版本）")],
    b: Annotated[str | None, typer.Argument(help="文件 B；省略时与其上一版本/对应草案比较")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """比较同一文件的两个版本（如草案与印发稿）：增删条款、数字变化、指标表、责任单位。"""
    from zhengce.catalog.diff import counterpart
    from zhengce.catalog.diff import diff as run

    cat = _open(db)
    try:
        da = cat.get(a)
        if b is None:
            db_ = counterpart(cat, da)
            if db_ is None:
                _fail(ValueError(f"{da.key} has no other version or linked draft; give B explicitly"))
            da, db_ = db_, da
        else:
            db_ = cat.get(b)
    except ZhengceError as exc:
        _fail(exc)
    rep = run(cat, da, db_)
    if as_json:
        _out(rep.to_dict())
        cat.close()
        return
    console.rule(f"[bold]A[/] {da.key} v{da.version}（{da.source}）  →  [bold]B[/] {db_.key} v{db_.version}（{db_.source}）")
    console.print(f"相似度 {rep.similarity:.2f}；新增条款 {len(rep.added)}，删除条款 {len(rep.removed)}，修改条款 {len(rep.changed)}")
    for x in rep.removed:
        console.print(f"[red]− {x['path']}[/] {x['heading']}（A 第{x['lines'][0]}行）")
    for x in rep.added:
        console.print(f"[green]+ {x['path']}[/] {x['heading']}（B 第{x['lines'][0]}行）")
    for ch in rep.changed:
        bits = []
        if ch.numbers_removed or ch.numbers_added:
            bits.append(f"数字 {'、'.join(ch.numbers_removed) or '—'} → {'、'.join(ch.numbers_added) or '—'}")
        if ch.units_removed or ch.units_added:
            bits.append("责任单位 " + "".join(f" −{u}" for u in ch.units_removed) + "".join(f" +{u}" for u in ch.units_added))
        if ch.heading_a != ch.heading_b:
            bits.append(f"标题「{ch.heading_a}」→「{ch.heading_b}」")
        if bits:
            console.print(f"[yellow]~ {ch.path}[/]（A {ch.lines_a[0]} / B {ch.lines_b[0]}）" + "；".join(bits))
    if rep.indicators:
        t = Table(title="指标表变化", expand=True)
        for col in ("序号", "指标（A → B）", "A", "B"):
            t.add_column(col, overflow="fold")
        for i in rep.indicators:
            name = i["name_a"] if i["name_a"] == i["name_b"] else f"{i['name_a']} → {i['name_b']}"
            t.add_row(str(i["no"]), name, " / ".join(i["values_a"] or []), " / ".join(i["values_b"] or []))
        console.print(t)
    cat.close()


@app.command()
def lint(
    as_of: AsOfOpt = None,
    db: DbOpt = None,
    policies: PoliciesOpt = None,
    no_rules: Annotated[bool, typer.Option("--no-rules", help="不检查规则包")] = False,
    severity: Annotated[str, typer.Option("--severity", help="最低级别 error / warning / info")] = "info",
    as_json: JsonOpt = False,
) -> None:
    """检查目录与规则包：目录/文号不一致、条款序号重复或缺失、引用缺失或已失效、有上限的资金条款无规则、数字前后不一致。"""
    from zhengce.catalog.lint import SEVERITY_ORDER
    from zhengce.catalog.lint import lint as run

    if severity not in SEVERITY_ORDER:
        _fail(ValueError("--severity: error / warning / info"))
    cat = _open(db)
    day = _date(as_of) or date.today()
    pack = None if no_rules else _load_pack(policies, quiet=as_json)
    items = [i for i in run(cat, day, pack) if SEVERITY_ORDER[i.severity] <= SEVERITY_ORDER[severity]]
    if as_json:
        _out({"as_of": day.isoformat(), "count": len(items), "items": [i.to_dict() for i in items]})
    else:
        colour = {"error": "red", "warning": "yellow", "info": "dim"}
        for i in items:
            console.print(f"[{colour[i.severity]}]{i.severity:7}[/] {i.source or '-'}:{i.line or '-'} "
                          f"[bold]{i.code}[/] {i.doc or ''} {i.message}")
        counts = {s: sum(1 for i in items if i.severity == s) for s in SEVERITY_ORDER}
        console.print(f"共 {len(items)} 项：error {counts['error']}，warning {counts['warning']}，info {counts['info']}")
    cat.close()
    if any(i.severity == "error" for i in items):
        raise typer.Exit(1)
