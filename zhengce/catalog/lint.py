"""``zhengce lint``: what a drafter or encoder must look at, each with document and line.

Checks: table-of-contents vs header (文号, title); duplicated/missing article numbers; cited documents absent
from the corpus; documents cited while expired or repealed at the citing date; money clauses with a cap that no
rule encodes (when a rule pack covers the document); the same measure stated with different numbers in
different documents; rule citations that do not resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from zhengce.catalog.store import Catalog, DocRecord
from zhengce.gazette.text import nospace

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
CAP_RE = re.compile(r"(?:最高|不超过|不高于|最多|上限为?|封顶)(?:不超过)?\s*\d+(?:\.\d+)?\s*(?:万元|亿元|元|万美元)")
_MEASURE = re.compile(r"(?P<ctx>[\u4e00-\u9fff“”]{4,12})(?:分别)?(?:给予|奖励|补助|补贴|达到|达|超过|突破|不低于|不少于|不超过|最高)"
                      r"[^，。；\d]{0,4}?(?P<num>\d+(?:\.\d+)?)(?P<unit>万元|亿元|%|家|个|项|人|次)")


@dataclass
class LintItem:
    code: str
    severity: str
    doc: str | None
    source: str | None
    line: int | None
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "doc": self.doc, "source": self.source,
                "line": self.line, "message": self.message}


def _local(code_of_citing: str | None, cited: str) -> bool:
    return bool(code_of_citing) and cited[:1] == code_of_citing[:1]


def lint(cat: Catalog, as_of: date, pack=None) -> list[LintItem]:
    items: list[LintItem] = []
    docs = cat.documents()
    by_key = {d.key: d for d in docs}
    for src, f in cat.source_findings():
        items.append(LintItem(f["code"], f["severity"], f.get("doc"), src, f["line"], f["message"]))
    for d in docs:
        for f in d.findings:
            items.append(LintItem(f["code"], f["severity"], d.key, d.source, f["line"], f["message"]))
        _refs(cat, d, by_key, items)
        if d.draft:
            items.append(LintItem("draft", "info", d.key, d.source, d.start,
                                  "unnumbered, undated text: treated as a draft"
                                  + (f" of {d.version_of} (similarity {d.version_similarity})" if d.version_of else "")))
    items.extend(_inconsistent_numbers(cat, docs))
    if pack is not None:
        items.extend(_pack_checks(cat, docs, pack))
    items.sort(key=lambda i: (i.source or "", i.line or 0, SEVERITY_ORDER.get(i.severity, 3)))
    return items


def _refs(cat: Catalog, d: DocRecord, by_key: dict, items: list[LintItem]) -> None:
    code = d.doc_no.split("〔")[0] if d.doc_no else None
    seen: set[tuple] = set()
    cited_on = d.signed or d.effective
    for r in cat.db.execute("SELECT * FROM refs WHERE doc_id = ? ORDER BY line", (d.id,)):
        if r["kind"] in ("repeals", "supersedes"):
            continue
        target = cat.resolve_reference(r["doc_no"], r["title"])
        label = r["doc_no_printed"] or ""
        if r["title"]:
            label = f"《{r['title']}》" + (f"（{r['doc_no_printed']}）" if r["doc_no_printed"] else "")
        if target is None:
            if not r["doc_no"] or (r["doc_no"], r["line"]) in seen:
                continue
            seen.add((r["doc_no"], r["line"]))
            repealed = cat.repeal_index().get(r["doc_no"], [])
            gone = [x for x in repealed if cited_on and x.on and x.on <= cited_on and x.by != d.key]
            if gone:
                items.append(LintItem("cites-repealed", "warning", d.key, d.source, r["line"],
                                      f"cites {label}, repealed on {gone[0].on} by {gone[0].by}"))
            else:
                local = _local(code, r["doc_no"])
                items.append(LintItem("cited-absent", "warning" if local else "info", d.key, d.source, r["line"],
                                      f"cites {label}, which is not in the catalog"))
            continue
        t = by_key.get(target) or cat.get(target)
        if cited_on is None or t.key == d.key:
            continue
        st = t.status(cited_on)
        if st in ("expired", "repealed") and r["kind"] in ("basis", "cites"):
            items.append(LintItem("cites-" + st, "warning", d.key, d.source, r["line"],
                                  f"cites {label} as {r['kind']} on {cited_on}, but {t.key} is {st} then "
                                  f"(expires {t.expires}, repeals {[x.by for x in t.repeals]})"))


def _inconsistent_numbers(cat: Catalog, docs: list[DocRecord]) -> list[LintItem]:
    """The same phrase introducing a figure (e.g. '科技型中小企业、高新技术企业分别达到') with different figures in
    different documents. Versions of one document (draft ↔ issued) are compared by ``zhengce diff`` instead."""
    seen: dict[tuple[str, str], list[tuple[DocRecord, int, str]]] = {}
    for d in docs:
        if d.draft:
            continue
        for i, line in enumerate(d.lines, d.start):
            t = nospace(line)
            for m in _MEASURE.finditer(t):
                ctx = m.group("ctx")[-6:]
                seen.setdefault((ctx, m.group("unit")), []).append((d, i, m.group("num")))
    out: list[LintItem] = []
    for (ctx, unit), occ in seen.items():
        nums = {o[2] for o in occ}
        if len(nums) != 2 or len(occ) > 4:
            continue  # one figure everywhere, or a stock phrase taking many figures: not one measure
        by_line: dict[tuple, set[str]] = {}
        for d, i, n in occ:
            by_line.setdefault((d.key, i), set()).add(n)
        if any(len(v) > 1 for v in by_line.values()):
            continue  # both figures on one line: tiers or ranges
        lines = sorted((o[0].key, o[1]) for o in occ)
        if len({k for k, _ in lines}) == 1 and lines[-1][1] - lines[0][1] < 20:
            continue  # neighbouring lines of one document: usually tiers (一等奖/二等奖), not a contradiction
        first = occ[0]
        others = "; ".join(f"{d.key} line {i}: {n}{unit}" for d, i, n in occ[1:])
        out.append(LintItem("inconsistent-number", "warning", first[0].key, first[0].source, first[1],
                            f"「…{ctx}」 {first[2]}{unit} here, but {others}"))
    return out


def _pack_checks(cat: Catalog, docs: list[DocRecord], pack) -> list[LintItem]:
    from zhengce.catalog.citations import resolve_pack

    out: list[LintItem] = []
    for c in resolve_pack(cat, pack):
        if not c.ok:
            out.append(LintItem("citation-unresolved", "error", c.doc_key or c.doc_no, None, c.lines[0],
                                f"rule {c.rule_id} ({c.article}, lines {c.lines[0]}–{c.lines[1]}): {c.problem}"))
    covered: dict[str, set[int]] = {}
    for cr in pack.rules:
        lo, hi = cr.rule.lines
        covered.setdefault(cr.document.doc_no, set()).update(range(lo, hi + 1))
        for cap in getattr(cr.rule, "caps", []) or []:
            if cap.lines:
                covered[cr.document.doc_no].update(range(cap.lines[0], cap.lines[1] + 1))
    for doc_no, pf in getattr(pack, "files", {}).items():
        for ne in getattr(pf, "not_encoded", []) or []:
            covered.setdefault(doc_no, set()).update(range(ne.lines[0], ne.lines[1] + 1))
    for d in docs:
        if not d.doc_no or d.doc_no not in pack.documents:
            continue
        cov = covered.get(d.doc_no, set())
        for i, line in enumerate(d.lines, d.start):
            m = CAP_RE.search(nospace(line))
            if m and i not in cov:
                out.append(LintItem("cap-without-rule", "warning", d.key, d.source, i,
                                    f"money clause with a cap 「{m.group(0)}」 is not encoded by any rule "
                                    "(add a rule or a not_encoded entry with the reason)"))
    return out
