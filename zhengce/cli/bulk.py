"""`zhengce batch` (免申即享 over a whole register) and `zhengce synth` (a synthetic Weihai register)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhengce.cli import app
from zhengce.cli.check import PoliciesOpt, _load, _parse_date, fail

console = Console(highlight=False, soft_wrap=True)


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    return f"{fen / 100:,.2f}"


def _pairs(values: list[str] | None, option: str, form: str) -> dict[str, str]:
    """'a=b' option values as a dict; anything else stops with exit code 2 and the expected form."""
    out = {}
    for v in values or []:
        k, sep, x = v.partition("=")
        if not sep or not k.strip() or not x.strip():
            fail(ValueError(f"{option} {v!r}：写成 {form}"))
        out[k.strip()] = x.strip()
    return out


@app.command()
def batch(
    register: Annotated[str, typer.Argument(help="登记册：.parquet / .csv / .xlsx 文件（Excel 读第一个工作表），或配合 --table 的数据库连接 URL")],
    out: Annotated[Path, typer.Option("--out", "-o", help="输出目录（其下按 run id 建子目录）")] = Path("runs"),
    run_id: Annotated[str | None, typer.Option("--run-id", help="运行编号；同一编号重跑只补未完成的分块")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="测算基准日 YYYY-MM-DD（默认今天）")] = None,
    entity: Annotated[str, typer.Option("--entity", help="登记册的主体类型")] = "enterprise",
    table: Annotated[str | None, typer.Option("--table", help="从数据库表读取（REGISTER 为 SQLAlchemy URL）")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet 或 csv")] = "parquet",
    db: Annotated[str | None, typer.Option("--db", help="结果同时写入该数据库（SQLAlchemy URL）")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="每块行数（默认 50 万行：约 2 GB 峰值内存）")] = 500_000,
    keep: Annotated[str, typer.Option("--keep", help="随结果带出的登记册列（逗号分隔）")] = "name,district,industry",
    owner_column: Annotated[str, typer.Option(
        "--owner-column", help="子表登记册（贷款、项目）中所属企业编号的列：按企业适用合计上限，分块不拆分同一企业")] = "owner_id",
    column_map: Annotated[list[str] | None, typer.Option(
        "--map", help="列映射 表头=字段（可多次）：优先于自动识别（字段名、中文名称、表头中的单位如“营业收入（万元）”）")] = None,
    children: Annotated[list[str] | None, typer.Option(
        "--children", help="子表登记册 类型=文件 或 类型=数据库URL#表名（可多次），如 --children project=projects.parquet、"
                           "--children project=sqlite:///registers.db#projects："
                           "同时覆盖企业与其项目的合计上限（上年度地方贡献）按企业连同子表一并核算")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON：运行信息与 summary.json 的内容（不显示进度条）")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """批量测算（免申即享）：整本登记册 × 全部有效规则 → 享受清单（长表）、汇总与错误记录。"""
    from zhengce.bulk.runner import RunConfig, count_rows, run_batch

    pack = _load(policies)
    day = _parse_date(as_of)
    rid = run_id or f"{Path(register).stem if not table else table}-{day.isoformat()}"
    if fmt not in ("parquet", "csv"):
        fail(ValueError("--format: parquet or csv"))
    mapping = _pairs(column_map, "--map", "表头=字段，如 --map 营业收入（万元）=revenue")
    kids = _pairs(children, "--children", "类型=文件 或 类型=数据库URL#表名，如 --children project=projects.parquet")
    cfg = RunConfig(source=register, out=out, run_id=rid, as_of=day, entity_type=entity, chunk_size=chunk_size,
                    fmt=fmt, table=table, db=db, keep=tuple(k for k in keep.split(",") if k),
                    owner_column=owner_column, columns=mapping, children=kids)
    from sqlalchemy.exc import SQLAlchemyError

    input_errors = (ValueError, OSError, SQLAlchemyError)  # a missing file or table, a bad name, a bad URL
    try:
        total = count_rows(cfg)
    except input_errors as exc:
        fail(exc)
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]测算"), BarColumn(), MofNCompleteColumn(), TextColumn("行"),
                  TimeElapsedColumn(), console=console, transient=False, disable=as_json) as prog:
        task = prog.add_task("rows", total=total)
        skipped = []

        def progress(k: int, rows: int) -> None:
            if rows < 0:
                skipped.append(k)
                if total:
                    prog.update(task, advance=min(chunk_size, total - k * chunk_size))
            else:
                prog.update(task, advance=rows)

        try:
            rep = run_batch(pack, cfg, progress)
        except input_errors as exc:
            fail(exc)
    dt = time.perf_counter() - t0
    s = rep.summary
    if as_json:
        import json

        typer.echo(json.dumps({"run_id": rid, "run_dir": str(rep.run_dir), "chunks_total": rep.chunks_total,
                               "chunks_skipped": rep.chunks_skipped, "rows": rep.rows, "seconds": round(dt, 3),
                               "summary": s}, ensure_ascii=False, indent=2))
        return
    console.print(f"运行 [bold]{rid}[/] → {rep.run_dir}  （{rep.chunks_total} 块，跳过已完成 {rep.chunks_skipped} 块，"
                  f"本次处理 {rep.rows:,} 行，用时 {dt:.1f} 秒）")
    console.print(f"基准日 {s['as_of']}；有效规则 {s['rules_in_force']} 条，不在有效期 {len(s['rules_not_in_force'])} 条，"
                  f"其他主体类型 {s['rules_other_entity_types']} 条；逐行回退 {len(s['rules_on_fallback'])} 条")
    console.print(f"有效记录 {s['rows_valid']:,}；错误记录 {s['bad_records']:,}（{s['error_rows']:,} 处，"
                  f"见 {rep.run_dir / 'errors'}）")
    if s.get("encoding") == "excel":
        others = s.get("other_sheets") or []
        console.print(f"Excel 工作表：{s['sheet']}" + (f"；[yellow]未读取的其他工作表：{'、'.join(others)}[/]"
                                                       if others else ""))
    elif s.get("encoding") not in (None, "utf-8"):
        console.print(f"编码：{s['encoding'].upper()}（按此编码读取，非 UTF-8）")
    cols = s.get("columns", {})
    if cols.get("renamed"):
        units = cols.get("units", {})
        console.print("列映射：" + "；".join(f"{h} → {f}" + (f"（单位 {units[f]}）" if f in units else "")
                                         for h, f in cols["renamed"].items()))
    if cols.get("ignored"):
        console.print(f"[yellow]未识别的列（未使用，可用 --map 指定）：{'、'.join(cols['ignored'])}[/]")
    if cols.get("missing"):
        miss = list(cols["missing"].items())
        shown = "、".join(f"{f}（{n} 条规则）" for f, n in miss[:8]) + (f" 等 {len(miss)} 个" if len(miss) > 8 else "")
        console.print(f"[yellow]登记册缺少的字段（读取它们的规则只能“待补数据”）：{shown}[/]")
    for g in s.get("owner_caps", []):
        how = f"按所属企业适用（上限 {_yuan(g['limit_fen'])} 元）" if g["applied"] else f"需人工复核：{g['review']}"
        console.print(f"企业合计上限 {g['doc_no']}#{g['cap_id']}：{how}")
    for ctype, cs in s.get("children", {}).items():
        ct = cs["totals"]
        enc = (f"，工作表 {cs['sheet']}" if cs.get("encoding") == "excel" else
               f"，{cs['encoding'].upper()} 编码" if cs.get("encoding") not in (None, "utf-8") else "")
        console.print(f"子表 {ctype}（{cs['source']}{enc}）：有效记录 {cs['rows_valid']:,}；错误记录 {cs['bad_records']:,}；"
                      f"享受主体 {ct['entities_with_awards'] or 0:,}；确定金额 {_yuan(ct['entitlement_fen'])} 元；"
                      f"最高限额 {_yuan(ct['maximum_fen'])} 元；总额上限核减 {_yuan(ct['group_cap_reduction_fen'])} 元"
                      f"（结果见 {rep.run_dir / ctype}）")
    if "families_reevaluated" in s:
        console.print(f"企业连同子表一并核算合计上限：{s['families_reevaluated']:,} 家")
    for g in s.get("caps_partial", []):
        kids = "、".join(f"{k} {v} 条" for k, v in g["also_covers"].items())
        console.print(f"[yellow]合计上限 {g['doc_no']}#{g['cap_id']} 还覆盖子表规则（{kids}）：本次只计本登记册的规则，"
                      "需与子表结果一并复核[/]")
    t = s["totals"]
    console.print(f"享受主体 {t['entities_with_awards'] or 0:,} 家；确定金额 {_yuan(t['entitlement_fen'])} 元；"
                  f"最高限额 {_yuan(t['maximum_fen'])} 元；总额上限核减 {_yuan(t['group_cap_reduction_fen'])} 元；"
                  f"合计上限 {_yuan(t['overall_fen'])} 元；需缴纳（加价/收费，不计入奖补）{_yuan(t['charge_fen'])} 元")
    for title, key, col in (("按政策文件", "by_policy", "doc_no"), ("按区市/开发区", "by_district", "district"),
                            ("按责任部门（牵头）", "by_department", "department")):
        rows = s[key]
        if not rows:
            continue
        tb = Table(title=title, show_lines=False)
        tb.add_column(col)
        tb.add_column("性质")
        tb.add_column("笔数", justify="right")
        tb.add_column("金额（元）", justify="right")
        for r in rows:
            tb.add_row("（未列明）" if r[col] is None else str(r[col]), r["kind"], f"{r['awards']:,}",
                       _yuan(r["amount_fen"]))
        console.print(tb)
    if s["by_funding"]:
        tb = Table(title="资金分担")
        tb.add_column("层级")
        tb.add_column("金额（元）", justify="right")
        for r in s["by_funding"]:
            tb.add_row(r["level"], _yuan(r["amount_fen"]))
        console.print(tb)


@app.command()
def synth(
    n: Annotated[int, typer.Option("--n", help="企业数")] = 10_000,
    out: Annotated[Path, typer.Option("--out", "-o", help=".parquet 或 .csv")] = Path("register.parquet"),
    seed: Annotated[int, typer.Option("--seed", help="随机种子（同一种子同一结果）")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（行数、文件、种子、用时）")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """生成模拟的威海市企业登记册（区市、行业、营收/税收/研发分布、高企/专精特新等称号），供演示和基准测试。"""
    from zhengce.bulk.synth import write_register

    pack = _load(policies)
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]生成"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=as_json) as prog:
        task = prog.add_task("rows", total=n)
        write_register(pack, n, out, seed=seed, progress=lambda k: prog.update(task, advance=k))
    if as_json:
        import json

        typer.echo(json.dumps({"rows": n, "out": str(out), "seed": seed,
                               "seconds": round(time.perf_counter() - t0, 3)}, ensure_ascii=False))
        return
    console.print(f"已生成 {n:,} 家企业 → {out}（种子 {seed}，{time.perf_counter() - t0:.1f} 秒）")
