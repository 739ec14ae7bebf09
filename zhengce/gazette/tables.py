"""Tables in plain text: tab-separated rows (one row per line), or one cell per line (each cell on its own
tab-prefixed line, as some PDF/Word exports produce). Rows and columns are kept; cell-per-line tables are
regrouped into rows using their serial-number column when there is one."""

from __future__ import annotations

import re

from zhengce.gazette.model import Table

SERIAL_RE = re.compile(r"^[*★☆]?\s*(\d{1,3})$")


def _cells(line: str) -> list[str]:
    cells = [c.strip() for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def find_tables(numbered: list[tuple[int, str]]) -> list[Table]:
    """Tables from (line number, text-with-tabs) pairs. A table is a run of tab lines; blank lines and short
    tab-less continuation fragments (a cell wrapped onto its own line) may sit inside it."""
    tables: list[Table] = []
    run: list[tuple[int, str]] = []
    gap = 0

    def flush():
        nonlocal run
        tab_lines = [(n, s) for n, s in run if "\t" in s]
        if len(tab_lines) >= 2 or (tab_lines and len(_cells(tab_lines[0][1])) >= 3):
            tables.append(_build(run))
        run = []

    for no, line in numbered:
        if "\t" in line:
            run.append((no, line))
            gap = 0
        elif run and (not line.strip() or (len(line.strip()) <= 12 and not line.strip().endswith("。"))):
            if line.strip():
                run.append((no, line))
            gap += 1
            if gap > 3:
                flush()
                gap = 0
        else:
            if run:
                flush()
            gap = 0
    if run:
        flush()
    return tables


def _build(run: list[tuple[int, str]]) -> Table:
    start, end = run[0][0], max(n for n, s in run if "\t" in s)
    tab_lines = [(n, s) for n, s in run if "\t" in s]
    single = sum(1 for _, s in tab_lines if len([c for c in s.split("\t") if c.strip()]) <= 1)
    if single / len(tab_lines) >= 0.7:
        return _cell_per_line(run, start, end)
    rows: list[list[str]] = []
    for _n, s in run:
        if "\t" in s:
            cells = _cells(s)
            if cells:
                rows.append(cells)
        elif rows and s.strip():  # wrapped cell text
            rows[-1][-1] += s.strip()
    header: list[str] = []
    if rows and not any(SERIAL_RE.match(c) for c in rows[0][:3]) and not any(c[:1].isdigit() for c in rows[0][1:]):
        header = rows[0]
        rows = rows[1:]
    return Table(start, end, rows, header)


def _cell_per_line(run: list[tuple[int, str]], start: int, end: int) -> Table:
    cells: list[str] = []
    for _n, s in run:
        if "\t" in s:
            cells.append(s.replace("\t", " ").strip())
        elif s.strip() and cells:
            cells[-1] += s.strip()
    serial_at: list[int] = []
    expect = 1
    for i, c in enumerate(cells):
        m = SERIAL_RE.match(c)
        if m and int(m.group(1)) == expect:
            serial_at.append(i)
            expect += 1
    if len(serial_at) < 2:
        return Table(start, end, [[c] for c in cells if c])
    starts = [max(i - 1, 0) for i in serial_at]
    header = [c for c in cells[: starts[0]] if c]
    rows = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(cells)
        rows.append(cells[s:e])
    return Table(start, end, rows, header)


def indicator_rows(table: Table) -> dict[int, tuple[str, list[str], str]]:
    """Serial number → (indicator name, values, marker) for tables with a serial column (指标表)."""
    out: dict[int, tuple[str, list[str], str]] = {}
    for row in table.rows:
        for i, c in enumerate(row[:3]):
            m = SERIAL_RE.match(c)
            if m and i + 1 < len(row):
                name = row[i + 1]
                marker = "*" if c[:1] in "*★☆" or name.endswith(("*", "★")) else ""
                n = int(m.group(1))
                if n not in out:
                    out[n] = (name.rstrip("*★"), [v for v in row[i + 2:] if v], marker)
                break
    return out


def numbering_findings(table: Table) -> list:
    """Serial-number column checks: a number used twice (info: often a row continued across a page break) or a
    skipped number (warning)."""
    from zhengce.gazette.model import Finding

    out = []
    prev = None
    for row in table.rows:
        m = SERIAL_RE.match(row[0]) if row else None
        if not m:
            continue
        n = int(m.group(1))
        if prev is not None:
            if n == prev:
                out.append(Finding("table-duplicate-number", "info", table.start,
                                   f"table at line {table.start}: row number {n} used twice"))
            elif n > prev + 1:
                out.append(Finding("table-missing-number", "warning", table.start,
                                   f"table at line {table.start}: row numbers jump from {prev} to {n}"))
        prev = n
    return out
