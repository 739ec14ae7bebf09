"""Rules ↔ text: every rule in the policy pack cites (文号, article, seed lines, quote); resolve each to the
catalog article whose line range contains the rule's lines, and say exactly what does not match."""

from __future__ import annotations

import re
from dataclasses import dataclass

from zhengce.catalog.errors import DocumentNotFound
from zhengce.catalog.store import Catalog, DocRecord
from zhengce.gazette.text import nospace

_FW = str.maketrans("（）［］", "()[]")


def norm_article(label: str | None) -> str:
    """'二（一）' → '二(一)'; '一、1' → '一1'; '第 五 条' → '第五条'."""
    return re.sub(r"[、.．]", "", nospace(label or "").translate(_FW))


def _labels(article: str) -> list[str]:
    """'第五条、第七条' cites two articles; '一、1' is one label."""
    parts = [p for p in re.split(r"[、，,和及]", nospace(article)) if p]
    if len(parts) > 1 and all(re.fullmatch(r"第.+[条章节款项]", p) for p in parts):
        return [norm_article(p) for p in parts]
    return [norm_article(article)]


@dataclass
class Citation:
    rule_id: str
    doc_no: str
    article: str
    lines: tuple[int, int]
    doc_key: str | None = None
    article_path: str | None = None
    article_lines: tuple[int, int] | None = None
    label_matches: bool = False
    quote_found: bool = False
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict:
        return {"rule": self.rule_id, "doc_no": self.doc_no, "article": self.article, "lines": list(self.lines),
                "resolved_article": self.article_path,
                "article_lines": list(self.article_lines) if self.article_lines else None,
                "label_matches": self.label_matches, "quote_found": self.quote_found, "problem": self.problem}


def resolve_rule(cat: Catalog, rule, document, cache: dict | None = None) -> Citation:
    """Resolve one rule (``rules.model.Rule``) of a pack document (``rules.model.Document``)."""
    c = Citation(rule.id, document.doc_no, rule.article, tuple(rule.lines))
    cache = cache if cache is not None else {}
    try:
        doc: DocRecord = cache.get(document.doc_no) or cat.get(document.doc_no)
    except DocumentNotFound:
        c.problem = f"document {document.doc_no} is not in the catalog (ingest {document.seed})"
        return c
    cache[document.doc_no] = doc
    c.doc_key = doc.key
    if document.seed and doc.source != document.seed:
        c.problem = f"catalog copy of {doc.key} comes from {doc.source}, the pack cites lines of {document.seed}"
        return c
    lo, hi = c.lines
    if lo < doc.start or hi > doc.end:
        c.problem = f"lines {lo}–{hi} lie outside the document ({doc.start}–{doc.end})"
        return c
    arts = cache.get(("arts", doc.id))
    if arts is None:
        arts = cache[("arts", doc.id)] = cat.articles(doc.id)
    containing = [a for a in arts if a["start_line"] <= lo and a["end_line"] >= hi]
    overlapping = [a for a in arts if a["start_line"] <= hi and a["end_line"] >= lo]
    wants = _labels(rule.article)
    quote = nospace(getattr(rule, "quote", "") or "")
    span = nospace("".join(doc.lines[lo - doc.start: hi - doc.start + 1]))
    c.quote_found = not quote or _quote_in(quote, span)
    if not containing:
        spans = "; ".join(f"{a['path']} ({a['start_line']}–{a['end_line']})" for a in overlapping
                          if not any(b["path"].startswith(a["path"]) and b is not a for b in overlapping)) or "none"
        c.problem = (f"article {rule.article} cited, but lines {lo}–{hi} are not inside one article of {doc.key}: "
                     f"they span {spans}")
        return c
    best = max(containing, key=lambda a: (a["depth"], a["ord"]))
    c.article_path, c.article_lines = best["path"], (best["start_line"], best["end_line"])
    pool = containing if len(wants) == 1 else overlapping
    paths = {norm_article(a["path"]) for a in pool} | {norm_article(a["label"]) for a in pool}

    def found(want: str) -> bool:
        if want in paths or any(p.endswith(want) for p in paths):
            return True
        # an abbreviated path that skips a level ('二、17' for 二(五)17 when items are numbered through)
        wc = _components(want)
        if any(_subsequence(wc, _components(p)) for p in paths):
            return True
        # a finer item the parser did not split out (e.g. 二(一)1 inside 二(一))
        return any(want.startswith(norm_article(a["path"])) for a in containing if a["depth"] == best["depth"])

    c.label_matches = all(found(w) for w in wants)
    if not c.label_matches:
        c.problem = (f"article {rule.article} cited, but lines {lo}–{hi} are in {best['path']} "
                     f"(lines {best['start_line']}–{best['end_line']})")
    elif not c.quote_found:
        c.problem = f"quote not found verbatim in lines {lo}–{hi}: 「{rule.quote[:40]}…」"
    return c


_COMP = re.compile(r"第[^条章节编]+[条章节编]|\([^)]+\)|[一二三四五六七八九十百零]+|\d+|[①-⑳]|附件\d*|/")


def _components(label: str) -> list[str]:
    return _COMP.findall(label)


def _subsequence(want: list[str], path: list[str]) -> bool:
    """``want`` is ``path`` with some middle levels left out (first and last component must agree)."""
    if not want or not path or want[0] != path[0] or want[-1] != path[-1] or len(want) >= len(path):
        return False
    it = iter(path)
    return all(any(w == p for p in it) for w in want)


def _quote_in(quote: str, span: str) -> bool:
    if quote in span:
        return True
    # quotes may elide with … / ……: every fragment must appear in order
    parts = [p for p in re.split(r"…+|\.\.\.", quote) if p]
    pos = 0
    for p in parts:
        k = span.find(p, pos)
        if k < 0:
            return False
        pos = k + len(p)
    return bool(parts)


def resolve_pack(cat: Catalog, pack) -> list[Citation]:
    cache: dict = {}
    return [resolve_rule(cat, cr.rule, cr.document, cache) for cr in pack.rules]


def rules_by_article(cat: Catalog, doc: DocRecord, pack) -> dict[str, list]:
    """Article path → the pack's rules encoded from it (for ``zhengce show``)."""
    out: dict[str, list] = {}
    cache: dict = {doc.doc_no: doc}
    for cr in pack.rules:
        if cr.document.doc_no != doc.doc_no:
            continue
        c = resolve_rule(cat, cr.rule, cr.document, cache)
        out.setdefault(c.article_path or "?", []).append((cr, c))
    return out
