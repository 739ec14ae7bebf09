"""Compare two versions of a document (e.g. a draft and the issued text): articles added/removed, changed
numbers, indicator-table rows, responsible units (责任单位/牵头单位) and headings.

Articles are aligned by their structural path (二(一)1); a path present on one side only is an added or removed
article. Numbers are compared as multisets of the figures with their units, so re-wording without changing a
figure is not reported as a number change.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from zhengce.catalog.store import Catalog, DocRecord
from zhengce.gazette.docno import find_docnos
from zhengce.gazette.model import Table
from zhengce.gazette.tables import indicator_rows
from zhengce.gazette.text import nospace

NUM_RE = re.compile(r"\d+(?:\.\d+)?\.?\d*\s*(?:%|‰|万元|亿元|元|万美元|万人|万平方米|平方米|家|个|件|人|项|条|所|处|亿|万|倍|年|天|次|名)?")
UNITS_RE = re.compile(r"[（(](?:责任单位|牵头单位|责任部门|配合单位|牵头部门)[:：]((?:[^（()）]|[（(][^（()）]*[）)])+)[）)]")
_YEAR = re.compile(r"^(?:19|20)\d\d年$")


def numbers(text: str) -> Counter:
    """Figures with their units; 文号 and bare years are not figures."""
    t = nospace(text)
    for d in reversed(find_docnos(t)):
        t = t[: d.start] + " " + t[d.end:]
    return Counter(m.group(0).replace(" ", "") for m in NUM_RE.finditer(t) if not _YEAR.match(m.group(0))
                   and not re.fullmatch(r"(?:19|20)\d\d", m.group(0)))


def units(text: str) -> set[str]:
    out: set[str] = set()
    for m in UNITS_RE.finditer(nospace(text)):
        out.update(u for u in re.split(r"[、，,；;]", m.group(1)) if u and "配合" not in u)
    return out


@dataclass
class ArticleChange:
    path: str
    heading_a: str
    heading_b: str
    lines_a: tuple[int, int]
    lines_b: tuple[int, int]
    similarity: float
    numbers_removed: list[str] = field(default_factory=list)
    numbers_added: list[str] = field(default_factory=list)
    units_removed: list[str] = field(default_factory=list)
    units_added: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "heading_a": self.heading_a, "heading_b": self.heading_b,
                "lines_a": list(self.lines_a), "lines_b": list(self.lines_b), "similarity": round(self.similarity, 3),
                "numbers_removed": self.numbers_removed, "numbers_added": self.numbers_added,
                "units_removed": self.units_removed, "units_added": self.units_added}


@dataclass
class DiffReport:
    a: DocRecord
    b: DocRecord
    similarity: float
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[ArticleChange] = field(default_factory=list)
    indicators: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        def side(d: DocRecord) -> dict:
            return {"key": d.key, "version": d.version, "doc_no": d.doc_no, "title": d.title, "source": d.source,
                    "lines": [d.start, d.end]}
        return {"a": side(self.a), "b": side(self.b), "similarity": round(self.similarity, 3),
                "articles_added": self.added, "articles_removed": self.removed,
                "articles_changed": [c.to_dict() for c in self.changed], "indicators_changed": self.indicators}


def _subtree_text(arts: list, i: int) -> str:
    """An article's own text (children are compared separately)."""
    return arts[i]["text"] or ""


def _with_children(arts: list, i: int, other: dict) -> str:
    """An article's text plus its sub-items that have no counterpart on the other side (when one version splits
    an item into sub-items, the responsible units move into them)."""
    depth = arts[i]["depth"]
    out = [arts[i]["text"] or ""]
    owners = {arts[i]["path"]}
    for r in arts[i + 1:]:
        if r["depth"] <= depth:
            break
        if r["path"] not in other and r["parent"] in owners:
            owners.add(r["path"])
            out.append(r["text"] or "")
    return "\n".join(out)


_PUNCT = str.maketrans("，：；（）！？", ",:;()!?")


def _same_heading(a: str, b: str) -> bool:
    return nospace(a or "").translate(_PUNCT) == nospace(b or "").translate(_PUNCT)


def diff(cat: Catalog, a: DocRecord, b: DocRecord) -> DiffReport:
    ta, tb = nospace("".join(a.lines)), nospace("".join(b.lines))
    sim = SequenceMatcher(None, ta[:60000], tb[:60000], autojunk=False).quick_ratio()
    rep = DiffReport(a, b, sim)
    arts_a, arts_b = cat.articles(a.id), cat.articles(b.id)
    by_a = {r["path"]: i for i, r in enumerate(arts_a)}
    by_b = {r["path"]: i for i, r in enumerate(arts_b)}
    for p, i in by_a.items():
        if p not in by_b:
            r = arts_a[i]
            rep.removed.append({"path": p, "heading": r["heading"], "lines": [r["start_line"], r["end_line"]]})
    for p, i in by_b.items():
        if p not in by_a:
            r = arts_b[i]
            rep.added.append({"path": p, "heading": r["heading"], "lines": [r["start_line"], r["end_line"]]})
    for p, i in by_a.items():
        j = by_b.get(p)
        if j is None:
            continue
        xa, xb = _subtree_text(arts_a, i), _subtree_text(arts_b, j)
        ua, ub = units(_with_children(arts_a, i, by_b)), units(_with_children(arts_b, j, by_a))
        if nospace(xa) == nospace(xb) and ua == ub:
            continue
        na, nb = numbers(xa), numbers(xb)
        head_b = arts_b[j]["heading"] if not _same_heading(arts_a[i]["heading"], arts_b[j]["heading"]) else arts_a[i]["heading"]
        ch = ArticleChange(p, arts_a[i]["heading"], head_b,
                           (arts_a[i]["start_line"], arts_a[i]["end_line"]), (arts_b[j]["start_line"], arts_b[j]["end_line"]),
                           SequenceMatcher(None, nospace(xa), nospace(xb), autojunk=False).ratio(),
                           sorted((na - nb).elements()), sorted((nb - na).elements()), sorted(ua - ub), sorted(ub - ua))
        rep.changed.append(ch)
    rep.indicators = _indicators(cat, a, b)
    return rep


def _tables(cat: Catalog, d: DocRecord) -> list[Table]:
    return [Table(t["lines"][0], t["lines"][1], t["rows"], t["header"]) for t in cat.tables(d.id)]


def _indicators(cat: Catalog, a: DocRecord, b: DocRecord) -> list[dict]:
    rows_a: dict[int, tuple] = {}
    rows_b: dict[int, tuple] = {}
    for t in _tables(cat, a):
        for k, v in indicator_rows(t).items():
            rows_a.setdefault(k, (*v, t.start))
    for t in _tables(cat, b):
        for k, v in indicator_rows(t).items():
            rows_b.setdefault(k, (*v, t.start))
    out = []
    for k in sorted(set(rows_a) | set(rows_b)):
        ra, rb = rows_a.get(k), rows_b.get(k)
        if ra is None or rb is None:
            out.append({"no": k, "change": "added" if ra is None else "removed", "name_a": ra and ra[0],
                        "name_b": rb and rb[0], "values_a": ra and ra[1], "values_b": rb and rb[1]})
            continue
        va = [nospace(v) for v in ra[1]]
        vb = [nospace(v) for v in rb[1]]
        changed_cells = [{"column": i + 1, "a": x, "b": y} for i, (x, y) in enumerate(zip(va, vb, strict=False)) if x != y]
        same_name = nospace(ra[0]).translate(_PUNCT) == nospace(rb[0]).translate(_PUNCT)
        if changed_cells or not same_name or ra[2] != rb[2] or len(va) != len(vb):
            out.append({"no": k, "change": "changed", "name_a": ra[0], "name_b": rb[0], "values_a": ra[1],
                        "values_b": rb[1], "cells": changed_cells, "marker_a": ra[2], "marker_b": rb[2]})
    return out


def counterpart(cat: Catalog, doc: DocRecord) -> DocRecord | None:
    """What to compare a document with when only one is given: the previous version, the draft linked to it, or the
    issued document a draft belongs to."""
    olds = [v for v in cat.versions(doc.key) if v.version < doc.version]
    if olds:
        return olds[-1]
    if doc.version_of:
        return cat.get(doc.version_of)
    row = cat.db.execute("SELECT key FROM documents WHERE version_of = ? AND current = 1", (doc.key,)).fetchone()
    return cat.get(row["key"]) if row else None


def dumps(rep: DiffReport) -> str:
    return json.dumps(rep.to_dict(), ensure_ascii=False, indent=2)
