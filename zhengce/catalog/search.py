"""Chinese full-text search over the catalog.

FTS5 with the trigram tokenizer indexes every 3-character window, so any Chinese substring of ≥ 3 characters is
found without word segmentation (no dictionary to maintain, no segmentation errors on policy jargon such as
拨投贷保). Terms shorter than 3 characters cannot use the trigram index; they are matched with LIKE over the same
rows (still fast at catalog scale). Several terms separated by spaces must all match (AND).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from zhengce.catalog.store import Catalog, DocRecord
from zhengce.gazette.docno import normalize_docno


@dataclass
class Filters:
    issuer: str | None = None
    date_from: date | None = None  # on signed date (or effective when unsigned)
    date_to: date | None = None
    doc_type: str | None = None
    status: str | None = None
    doc_no: str | None = None
    as_of: date | None = None
    include_old_versions: bool = False


@dataclass
class Hit:
    doc: DocRecord
    article_path: str | None
    article_label: str | None
    lines: tuple[int, int] | None
    snippet: str
    score: float
    status: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"key": self.doc.key, "doc_no": self.doc.doc_no, "title": self.doc.title, "version": self.doc.version,
                "issuers": self.doc.issuers, "signed": self.doc.signed.isoformat() if self.doc.signed else None,
                "type": self.doc.doc_type, "status": self.status, "article": self.article_path,
                "lines": list(self.lines) if self.lines else None, "snippet": self.snippet, "score": round(self.score, 4)}


def _terms(query: str) -> list[str]:
    return [t for t in re.split(r"\s+", query.strip()) if t]


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _snippet(text: str, terms: list[str], width: int = 40) -> str:
    flat = text.replace("\n", " ")
    pos = min((p for p in (flat.find(t) for t in terms) if p >= 0), default=0)
    start = max(0, pos - width // 2)
    s = flat[start:start + width + max((len(t) for t in terms), default=0)]
    for t in sorted(set(terms), key=len, reverse=True):
        s = s.replace(t, f"[{t}]")
    return ("…" if start > 0 else "") + s + ("…" if start + width < len(flat) else "")


def search(cat: Catalog, query: str, filters: Filters | None = None, limit: int = 20) -> list[Hit]:
    """Rank articles (and document headers) matching every term of ``query``; filters apply to documents."""
    f = filters or Filters()
    as_of = f.as_of or date.today()
    terms = _terms(query)
    long_terms = [t for t in terms if len(t) >= 3]
    short_terms = [t for t in terms if len(t) < 3]
    where, params = [], []
    if f.doc_no:
        where.append("d.doc_no = ?")
        params.append(normalize_docno(f.doc_no) or f.doc_no)
    if f.issuer:
        where.append("d.id IN (SELECT doc_id FROM issuers WHERE name LIKE ? ESCAPE '\\')")
        params.append(_like(f.issuer))
    if f.doc_type:
        where.append("d.doc_type = ?")
        params.append(f.doc_type)
    if f.date_from:
        where.append("coalesce(d.signed, d.effective) >= ?")
        params.append(f.date_from.isoformat())
    if f.date_to:
        where.append("coalesce(d.signed, d.effective) <= ?")
        params.append(f.date_to.isoformat())
    user_filter = bool(where)
    if f.status == "expired":
        where.append("d.expires < ?")
        params.append(as_of.isoformat())
    elif f.status == "draft":
        where.append("d.draft = 1")
    elif f.status == "not_yet_effective":
        where.append("coalesce(d.effective, d.signed) > ?")
        params.append(as_of.isoformat())
    elif f.status == "in_force":
        where.append("d.draft = 0 AND (d.expires IS NULL OR d.expires >= ?)")
        params.append(as_of.isoformat())
    if not f.include_old_versions:
        where.append("d.current = 1")
    for t in short_terms:
        where.append("(fts.body LIKE ? ESCAPE '\\' OR fts.title LIKE ? ESCAPE '\\')")
        params.extend([_like(t), _like(t)])
    if long_terms:
        match = " AND ".join(_fts_phrase(t) for t in long_terms)
        sql = ("SELECT fts.doc_id, fts.article_id, fts.body, bm25(fts, 0.5, 1.0) AS score FROM fts "
               "JOIN documents d ON d.id = fts.doc_id WHERE fts MATCH ?" + "".join(f" AND {w}" for w in where)
               + " ORDER BY score LIMIT ?")
        rows = cat.db.execute(sql, [match, *params, limit * (20 if f.status else 4)]).fetchall()
    elif short_terms or user_filter or f.status:
        sql = ("SELECT fts.doc_id, fts.article_id, fts.body, 0.0 AS score FROM fts JOIN documents d ON d.id = fts.doc_id"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.signed DESC, fts.rowid LIMIT ?")
        rows = cat.db.execute(sql, [*params, limit * (20 if f.status else 4)]).fetchall()
    else:
        return []
    hits: list[Hit] = []
    docs: dict[int, DocRecord] = {}
    for r in rows:
        doc = docs.get(r["doc_id"])
        if doc is None:
            row = cat.db.execute("SELECT * FROM documents WHERE id = ?", (r["doc_id"],)).fetchone()
            doc = docs[r["doc_id"]] = cat._with_repeals(DocRecord.from_row(row))
        st = doc.status(as_of)
        if f.status and st != f.status:
            continue
        path = label = None
        lines = None
        if r["article_id"] is not None:
            a = cat.db.execute("SELECT path, label, start_line, end_line FROM articles WHERE id = ?",
                               (r["article_id"],)).fetchone()
            path, label, lines = a["path"], a["label"], (a["start_line"], a["end_line"])
        hits.append(Hit(doc, path, label, lines, _snippet(r["body"], terms), -float(r["score"]), st))
        if len(hits) >= limit:
            break
    return hits
