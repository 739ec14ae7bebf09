"""Coverage: is every computable clause of every document accounted for?

The inventory (policies/inventory/<文号>.yaml) lists each computable clause, built from the catalogs and the text.
A clause is *encoded* when a rule (or a group cap) names it in ``catalog``, *tested* when such a rule has cases,
*not encoded* when the pack's ``not_encoded`` names it with a reason, and otherwise *unaccounted* — a gap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from zhengce.errors import RulePackError
from zhengce.rules.cases import case_files, load_cases
from zhengce.rules.loader import Pack, _read_yaml


@dataclass
class ClauseStatus:
    id: str
    article: str
    lines: tuple[int, int]
    summary: str
    status: str  # encoded | not_encoded | not_computable | unaccounted
    rules: list[str] = field(default_factory=list)
    tested: bool = False
    reason: str | None = None


@dataclass
class DocCoverage:
    doc_no: str
    catalog: str | None
    has_pack: bool
    clauses: list[ClauseStatus]
    untracked_rules: list[str]  # rules whose catalog ids are not in the inventory

    def count(self, status: str) -> int:
        return sum(1 for c in self.clauses if c.status == status)

    @property
    def tested(self) -> int:
        return sum(1 for c in self.clauses if c.status == "encoded" and c.tested)

    @property
    def computable(self) -> int:
        return sum(1 for c in self.clauses if c.status != "not_computable")

    def to_json(self) -> dict:
        n = self.computable
        return {
            "doc_no": self.doc_no, "catalog": self.catalog, "has_pack": self.has_pack,
            "clauses": len(self.clauses), "computable": n,
            "encoded": self.count("encoded"), "tested": self.tested, "not_encoded": self.count("not_encoded"),
            "not_computable": self.count("not_computable"), "unaccounted": self.count("unaccounted"),
            "encoded_pct": round(100 * self.count("encoded") / n, 1) if n else None,
            "untracked_rules": self.untracked_rules,
            "items": [{"id": c.id, "article": c.article, "lines": list(c.lines), "summary": c.summary,
                       "status": c.status, "rules": c.rules, "tested": c.tested, "reason": c.reason}
                      for c in self.clauses],
        }


def inventory_files(root: Path) -> list[Path]:
    return sorted((root / "inventory").glob("*.yaml"))


def compute(pack: Pack) -> list[DocCoverage]:
    tested_rules: set[str] = set()
    for path in case_files(pack.root):
        tested_rules.update(c.rule for c in load_cases(path))
    out = []
    for path in inventory_files(pack.root):
        inv = _read_yaml(path) or {}
        doc_no = inv.get("doc_no")
        if not doc_no or not isinstance(inv.get("clauses"), list):
            raise RulePackError(str(path), "an inventory needs 'doc_no' and a 'clauses' list")
        pf = pack.files.get(doc_no)
        encoded: dict[str, list[str]] = defaultdict(list)
        reasons: dict[str, str] = {}
        known_ids = {c["id"] for c in inv["clauses"]}
        untracked: list[str] = []
        if pf is not None:
            for r in pf.rules:
                for cid in r.catalog:
                    encoded[cid].append(r.id)
                if r.catalog and not any(cid in known_ids for cid in r.catalog):
                    untracked.append(r.id)
                if not r.catalog:
                    untracked.append(r.id)
            for gc in pf.document.group_caps:
                for cid in gc.catalog:
                    encoded[cid].append(f"group_cap:{gc.id}")
            for ne in pf.not_encoded:
                for cid in ne.catalog:
                    reasons[cid] = ne.reason
        clauses = []
        for c in inv["clauses"]:
            try:
                cid, article, lines = c["id"], str(c.get("article", "")), tuple(c.get("lines", (0, 0)))
            except (KeyError, TypeError):
                raise RulePackError(str(path), f"clause {c!r} needs id, article, lines") from None
            rules = encoded.get(cid, [])
            if c.get("computable") is False:
                why = c.get("reason") or reasons.get(cid)
                if not why:
                    raise RulePackError(str(path), f"clause {cid} is marked computable: false without a reason")
                st = ClauseStatus(cid, article, lines, c.get("summary", ""), "not_computable", rules, reason=why)
            elif rules:
                st = ClauseStatus(cid, article, lines, c.get("summary", ""), "encoded", rules,
                                  tested=any(r in tested_rules or r.startswith("group_cap:") for r in rules))
            elif cid in reasons:
                st = ClauseStatus(cid, article, lines, c.get("summary", ""), "not_encoded", reason=reasons[cid])
            else:
                st = ClauseStatus(cid, article, lines, c.get("summary", ""), "unaccounted")
            clauses.append(st)
        out.append(DocCoverage(doc_no, inv.get("catalog"), pf is not None, clauses, untracked))
    inventoried = {d.doc_no for d in out}
    for doc_no, pf in pack.files.items():
        if doc_no not in inventoried:
            out.append(DocCoverage(doc_no, pf.document.catalog, True, [], [r.id for r in pf.rules]))
    return out


def totals(docs: list[DocCoverage]) -> dict:
    """Encoded % is over computable clauses; items listed as not computable are shown, with their reason, apart."""
    total = sum(len(d.clauses) for d in docs)
    n = sum(d.computable for d in docs)
    enc = sum(d.count("encoded") for d in docs)
    ne = sum(d.count("not_encoded") for d in docs)
    nc = sum(d.count("not_computable") for d in docs)
    un = sum(d.count("unaccounted") for d in docs)
    return {"items": total, "clauses": n, "encoded": enc, "tested": sum(d.tested for d in docs), "not_encoded": ne,
            "not_computable": nc, "unaccounted": un,
            "accounted_pct": round(100 * (enc + ne + nc) / total, 1) if total else None,
            "encoded_pct": round(100 * enc / n, 1) if n else None,
            "encoded_pct_of_all_items": round(100 * enc / total, 1) if total else None,
            "documents_without_inventory": [d.doc_no for d in docs if not d.clauses]}
