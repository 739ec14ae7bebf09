"""The catalog: an embedded SQLite database of documents, articles, tables and references, with an FTS5
trigram index for Chinese full-text search.

Why plain ``sqlite3`` and not SQLAlchemy here: FTS5 virtual tables, ``bm25()`` and ``snippet()`` are SQLite
specifics that an ORM cannot express; the store is small and single-purpose, so raw SQL keeps it fast and clear.

Identity and versions: a document's key is its 文号 (else ``<source stem>#<n>``). Re-ingesting identical text
changes nothing; a changed text under the same key becomes version n+1 and the old version stops being current.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from zhengce.catalog.errors import CatalogError, DocumentNotFound
from zhengce.catalog.status import Repeal, status_on
from zhengce.gazette.docno import normalize_docno
from zhengce.gazette.errors import GazetteError
from zhengce.gazette.model import Document, ParsedSource
from zhengce.gazette.parser import parse_text
from zhengce.gazette.text import nospace
from zhengce.gazette.textio import read_text

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sources (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT, sha256 TEXT NOT NULL UNIQUE, line_count INTEGER,
  ingested_at TEXT DEFAULT (datetime('now')), findings TEXT, toc TEXT);
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL, version INTEGER NOT NULL, current INTEGER NOT NULL DEFAULT 1,
  content_sha TEXT NOT NULL, source_id INTEGER REFERENCES sources(id), source TEXT, idx INTEGER,
  start_line INTEGER, end_line INTEGER, doc_no TEXT, doc_no_printed TEXT, doc_no_line INTEGER, toc_doc_no_printed TEXT,
  title TEXT, subject TEXT, instrument TEXT, issuers TEXT, recipients TEXT, signed TEXT, dated TEXT,
  effective TEXT, expires TEXT, validity_note TEXT, doc_type TEXT, draft INTEGER, registration_no TEXT,
  attachments TEXT, findings TEXT, lines TEXT, version_of TEXT, version_similarity REAL,
  UNIQUE (key, version));
CREATE INDEX IF NOT EXISTS documents_doc_no ON documents (doc_no);
CREATE INDEX IF NOT EXISTS documents_key ON documents (key, current);
CREATE TABLE IF NOT EXISTS issuers (doc_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS issuers_name ON issuers (name);
CREATE TABLE IF NOT EXISTS articles (
  id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, ord INTEGER, path TEXT, parent TEXT, kind TEXT, label TEXT,
  heading TEXT, start_line INTEGER, end_line INTEGER, depth INTEGER, text TEXT);
CREATE INDEX IF NOT EXISTS articles_doc ON articles (doc_id, ord);
CREATE TABLE IF NOT EXISTS doc_tables (
  id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, start_line INTEGER, end_line INTEGER, header TEXT, rows TEXT);
CREATE TABLE IF NOT EXISTS refs (
  id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, kind TEXT, line INTEGER, doc_no TEXT, doc_no_printed TEXT,
  title TEXT, context TEXT);
CREATE INDEX IF NOT EXISTS refs_doc_no ON refs (doc_no);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (title, body, doc_id UNINDEXED, article_id UNINDEXED,
  tokenize = 'trigram');
"""


def default_db_path() -> Path:
    env = os.environ.get("ZHENGCE_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "zhengce" / "catalog.db"


def _j(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def _d(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None


def content_sha(doc: Document) -> str:
    """Identity of a document's text, blind to whitespace and line breaks (re-wrapped text is not a new version)."""
    return hashlib.sha256(nospace("".join(doc.lines)).encode("utf-8")).hexdigest()


@dataclass
class DocRecord:
    """A document row as stored (one version)."""

    id: int
    key: str
    version: int
    current: bool
    source: str
    start: int
    end: int
    doc_no: str | None
    doc_no_printed: str | None
    title: str | None
    subject: str | None
    instrument: str | None
    issuers: list[str]
    recipients: list[str]
    signed: date | None
    dated: str | None
    effective: date | None
    expires: date | None
    validity_note: str | None
    doc_type: str | None
    draft: bool
    registration_no: str | None
    attachments: list[dict]
    findings: list[dict]
    lines: list[str]
    doc_no_line: int | None = None
    toc_doc_no_printed: str | None = None
    version_of: str | None = None
    version_similarity: float | None = None
    repeals: list[Repeal] = field(default_factory=list)

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> DocRecord:
        return cls(
            id=r["id"], key=r["key"], version=r["version"], current=bool(r["current"]), source=r["source"],
            start=r["start_line"], end=r["end_line"], doc_no=r["doc_no"], doc_no_printed=r["doc_no_printed"],
            title=r["title"], subject=r["subject"], instrument=r["instrument"], issuers=json.loads(r["issuers"]),
            recipients=json.loads(r["recipients"]), signed=_d(r["signed"]), dated=r["dated"],
            effective=_d(r["effective"]), expires=_d(r["expires"]), validity_note=r["validity_note"],
            doc_type=r["doc_type"], draft=bool(r["draft"]), registration_no=r["registration_no"],
            attachments=json.loads(r["attachments"]), findings=json.loads(r["findings"]), lines=json.loads(r["lines"]),
            doc_no_line=r["doc_no_line"], toc_doc_no_printed=r["toc_doc_no_printed"], version_of=r["version_of"],
            version_similarity=r["version_similarity"])

    def status(self, as_of: date) -> str:
        return status_on(as_of, draft=self.draft, signed=self.signed, effective=self.effective, expires=self.expires,
                         repeals=self.repeals, current=self.current)

    def line(self, no: int) -> str:
        return self.lines[no - self.start] if self.start <= no <= self.end else ""

    def to_dict(self, as_of: date | None = None) -> dict:
        d = {
            "key": self.key, "version": self.version, "current": self.current, "source": self.source,
            "lines": [self.start, self.end], "doc_no": self.doc_no, "doc_no_printed": self.doc_no_printed,
            "toc_doc_no_printed": self.toc_doc_no_printed, "title": self.title, "subject": self.subject,
            "instrument": self.instrument, "issuers": self.issuers, "recipients": self.recipients,
            "signed": self.signed.isoformat() if self.signed else None, "dated": self.dated,
            "effective": self.effective.isoformat() if self.effective else None,
            "expires": self.expires.isoformat() if self.expires else None, "validity_note": self.validity_note,
            "type": self.doc_type, "draft": self.draft, "registration_no": self.registration_no,
            "attachments": self.attachments, "version_of": self.version_of,
            "repealed": [{"on": r.on.isoformat() if r.on else None, "by": r.by, "kind": r.kind, "line": r.line}
                         for r in self.repeals],
        }
        if as_of is not None:
            d["status"] = self.status(as_of)
            d["as_of"] = as_of.isoformat()
        return d


@dataclass
class IngestResult:
    path: str
    documents: list[dict] = field(default_factory=list)  # Document.to_dict() + action
    error: str | None = None
    findings: list[dict] = field(default_factory=list)


class Catalog:
    """Open (and create) a catalog database. Use as a context manager or call ``close()``."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_db_path()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL") if str(self.path) != ":memory:" else None
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path}: cannot open the catalog database ({exc}); "
                               "pass --db or set ZHENGCE_DB to another file") from None
        except sqlite3.OperationalError as exc:  # pragma: no cover - SQLite < 3.34 has no trigram tokenizer
            raise CatalogError(f"SQLite {sqlite3.sqlite_version}: {exc} (FTS5 trigram needs SQLite ≥ 3.34)") from None
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        self._repeal_cache: dict[str, list[Repeal]] | None = None
        self._grams: dict[int, set[str]] = {}

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- ingest
    def ingest_path(self, path: Path | str) -> IngestResult:
        path = Path(path)
        try:
            text = read_text(path)
            parsed = parse_text(text, path.name)
        except GazetteError as exc:
            return IngestResult(str(path), error=str(exc))
        return self.ingest_parsed(parsed, str(path))

    def ingest_parsed(self, parsed: ParsedSource, path: str | None = None) -> IngestResult:
        res = IngestResult(path or parsed.name, findings=[f.to_dict() for f in parsed.findings])
        with self.db:
            known = self.db.execute("SELECT id FROM sources WHERE sha256 = ?", (parsed.sha256,)).fetchone()
            if known is None:
                cur = self.db.execute(
                    "INSERT INTO sources (name, path, sha256, line_count, findings, toc) VALUES (?,?,?,?,?,?)",
                    (parsed.name, path, parsed.sha256, parsed.line_count, _j([f.to_dict() for f in parsed.findings]),
                     _j([e.__dict__ for e in parsed.toc])))
                source_id = cur.lastrowid
            else:
                source_id = known["id"]
            for doc in parsed.documents:
                action, version = self._store(doc, source_id)
                d = doc.to_dict()
                d.update(action=action, version=version)
                res.documents.append(d)
            self._link_versions()
        self._repeal_cache = None
        return res

    def _store(self, doc: Document, source_id: int) -> tuple[str, int]:
        sha = content_sha(doc)
        prev = self.db.execute("SELECT id, version, content_sha FROM documents WHERE key = ? ORDER BY version DESC LIMIT 1",
                               (doc.key,)).fetchone()
        if prev is not None and prev["content_sha"] == sha:
            return "unchanged", prev["version"]
        if prev is not None:
            same = self.db.execute("SELECT version FROM documents WHERE key = ? AND content_sha = ?", (doc.key, sha)).fetchone()
            if same is not None:  # an older text came back: make it current again, no new version
                self.db.execute("UPDATE documents SET current = (version = ?) WHERE key = ?", (same["version"], doc.key))
                return "restored", same["version"]
            self.db.execute("UPDATE documents SET current = 0 WHERE key = ?", (doc.key,))
        version = (prev["version"] + 1) if prev is not None else 1
        cur = self.db.execute(
            """INSERT INTO documents (key, version, current, content_sha, source_id, source, idx, start_line, end_line,
               doc_no, doc_no_printed, doc_no_line, toc_doc_no_printed, title, subject, instrument, issuers, recipients,
               signed, dated, effective, expires, validity_note, doc_type, draft, registration_no, attachments, findings,
               lines) VALUES (?,?,1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (doc.key, version, sha, source_id, doc.source, doc.index, doc.start, doc.end, doc.doc_no, doc.doc_no_printed,
             doc.doc_no_line, doc.toc_doc_no_printed, doc.title, doc.subject, doc.instrument, _j(doc.issuers),
             _j(doc.recipients), _iso(doc.signed), doc.dated, _iso(doc.effective), _iso(doc.expires), doc.validity_note,
             doc.doc_type, int(doc.draft), doc.registration_no, _j([a.to_dict() for a in doc.attachments]),
             _j([f.to_dict() for f in doc.findings]), _j(doc.lines)))
        doc_id = cur.lastrowid
        self.db.executemany("INSERT INTO issuers VALUES (?, ?)", [(doc_id, i) for i in doc.issuers])
        title = " ".join(x for x in (doc.title, doc.instrument, doc.doc_no) if x)
        covered: set[int] = set()
        art_rows, fts_rows = [], []
        ord_ = 0

        def visit(node, parent: str, depth: int):
            nonlocal ord_
            ord_ += 1
            art_rows.append((doc_id, ord_, node.path, parent, node.kind, node.label, node.heading, node.start, node.end,
                             depth, node.text))
            for c in node.children:
                visit(c, node.path, depth + 1)

        for n in doc.nodes:
            visit(n, "", 0)
        for row in art_rows:
            for ln in range(row[7], row[7] + row[10].count("\n") + 1):
                covered.add(ln)
        self.db.executemany(
            "INSERT INTO articles (doc_id, ord, path, parent, kind, label, heading, start_line, end_line, depth, text) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)", art_rows)
        for a in self.db.execute("SELECT id, text FROM articles WHERE doc_id = ?", (doc_id,)):
            fts_rows.append((title, a["text"], doc_id, a["id"]))
        rest = "\n".join(t for i, t in enumerate(doc.lines, doc.start) if t.strip() and i not in covered)
        fts_rows.append((title, rest, doc_id, None))
        self.db.executemany("INSERT INTO fts (title, body, doc_id, article_id) VALUES (?,?,?,?)", fts_rows)
        self.db.executemany("INSERT INTO doc_tables (doc_id, start_line, end_line, header, rows) VALUES (?,?,?,?,?)",
                            [(doc_id, t.start, t.end, _j(t.header), _j(t.rows)) for t in doc.tables])
        self.db.executemany(
            "INSERT INTO refs (doc_id, kind, line, doc_no, doc_no_printed, title, context) VALUES (?,?,?,?,?,?,?)",
            [(doc_id, r.kind, r.line, r.doc_no, r.doc_no_printed, r.title, r.context) for r in doc.references])
        return ("new" if version == 1 else "new-version"), version

    def _link_versions(self) -> None:
        """Unnumbered documents (drafts, web copies) are linked to the numbered document they are a version of,
        by character-trigram overlap; the link feeds ``zhengce diff`` and status (a draft of an issued text)."""
        loose = self.db.execute("SELECT id, lines FROM documents WHERE doc_no IS NULL AND current = 1 "
                                "AND version_of IS NULL").fetchall()
        if not loose:
            return
        cands = self.db.execute("SELECT id, key, lines FROM documents WHERE doc_no IS NOT NULL AND current = 1").fetchall()
        grams = self._grams
        for row in loose:
            a = grams.get(row["id"])
            if a is None:
                a = grams[row["id"]] = _trigrams(row["lines"])
            if len(a) < 200:
                continue
            best, score = None, 0.0
            for c in cands:
                b = grams.get(c["id"])
                if b is None:
                    b = grams[c["id"]] = _trigrams(c["lines"])
                if not b or not (0.4 < len(a) / len(b) < 2.5):
                    continue
                s = len(a & b) / len(a | b)
                if s > score:
                    best, score = c["key"], s
            if best is not None and score >= 0.3:
                self.db.execute("UPDATE documents SET version_of = ?, version_similarity = ? WHERE id = ?",
                                (best, round(score, 3), row["id"]))

    # ---------------------------------------------------------------- lookup
    def documents(self, current_only: bool = True) -> list[DocRecord]:
        q = "SELECT * FROM documents" + (" WHERE current = 1" if current_only else "") + " ORDER BY source, idx, version"
        return [self._with_repeals(DocRecord.from_row(r)) for r in self.db.execute(q)]

    def get(self, ref: str) -> DocRecord:
        """A document by 文号 (any bracket style), key, ``key@vN``, or a unique title fragment."""
        ref = ref.strip()
        version = None
        m = re.match(r"^(.*)@v?(\d+)$", ref)
        if m:
            ref, version = m.group(1), int(m.group(2))
        keys = [ref]
        dn = normalize_docno(ref)
        if dn:
            keys.insert(0, dn)
        for k in keys:
            if version is None:
                row = self.db.execute("SELECT * FROM documents WHERE key = ? AND current = 1", (k,)).fetchone()
            else:
                row = self.db.execute("SELECT * FROM documents WHERE key = ? AND version = ?", (k, version)).fetchone()
            if row is not None:
                return self._with_repeals(DocRecord.from_row(row))
        rows = self.db.execute("SELECT * FROM documents WHERE current = 1 AND (title LIKE ? OR instrument LIKE ?)",
                               (f"%{ref}%", f"%{ref}%")).fetchall()
        if len(rows) == 1:
            return self._with_repeals(DocRecord.from_row(rows[0]))
        if len(rows) > 1:
            raise DocumentNotFound(f"{ref!r} matches {len(rows)} documents: "
                                   + "; ".join(r["key"] for r in rows[:8]) + " — give the 文号 or key")
        raise DocumentNotFound(f"no document {ref!r} in the catalog {self.path} (ingest it with `zhengce ingest`)")

    def versions(self, key: str) -> list[DocRecord]:
        return [DocRecord.from_row(r) for r in
                self.db.execute("SELECT * FROM documents WHERE key = ? ORDER BY version", (key,))]

    def articles(self, doc_id: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM articles WHERE doc_id = ? ORDER BY ord", (doc_id,)).fetchall()

    def tables(self, doc_id: int) -> list[dict]:
        return [{"lines": [r["start_line"], r["end_line"]], "header": json.loads(r["header"]), "rows": json.loads(r["rows"])}
                for r in self.db.execute("SELECT * FROM doc_tables WHERE doc_id = ? ORDER BY start_line", (doc_id,))]

    def references(self, doc_id: int) -> list[dict]:
        out = []
        for r in self.db.execute("SELECT * FROM refs WHERE doc_id = ? ORDER BY line", (doc_id,)):
            d = {k: r[k] for k in ("kind", "line", "doc_no", "doc_no_printed", "title", "context")}
            d["resolved"] = self.resolve_reference(r["doc_no"], r["title"])
            out.append(d)
        return out

    def resolve_reference(self, doc_no: str | None, title: str | None) -> str | None:
        """The key of the catalog document a citation points to, or None when it is not in the corpus."""
        if doc_no:
            row = self.db.execute("SELECT key FROM documents WHERE doc_no = ? AND current = 1", (doc_no,)).fetchone()
            if row:
                return row["key"]
        if title:
            t = nospace(title)
            row = self.db.execute(
                "SELECT key FROM documents WHERE current = 1 AND (replace(title,' ','') = ? OR replace(instrument,' ','') = ? "
                "OR replace(subject,' ','') = ? OR replace(title,' ','') LIKE ?)", (t, t, t, f"%{t}")).fetchone()
            if row:
                return row["key"]
        return None

    def cited_by(self, doc: DocRecord) -> list[dict]:
        rows = self.db.execute(
            "SELECT d.key, r.kind, r.line FROM refs r JOIN documents d ON d.id = r.doc_id "
            "WHERE d.current = 1 AND (r.doc_no = ? OR (r.doc_no IS NULL AND r.title IN (?, ?, ?)))",
            (doc.doc_no or "\x00", doc.title or "\x00", doc.instrument or "\x00", doc.subject or "\x00")).fetchall()
        return [{"key": r["key"], "kind": r["kind"], "line": r["line"]} for r in rows if r["key"] != doc.key]

    def repeal_index(self) -> dict[str, list[Repeal]]:
        """文号 → repeals, from 废止 decisions (dated by the decision) and supersession clauses (dated by the
        superseding document's effective date)."""
        if self._repeal_cache is None:
            idx: dict[str, list[Repeal]] = {}
            for r in self.db.execute(
                    "SELECT r.doc_no, r.kind, r.line, d.key, d.signed, d.effective FROM refs r JOIN documents d "
                    "ON d.id = r.doc_id WHERE d.current = 1 AND d.draft = 0 AND r.doc_no IS NOT NULL "
                    "AND r.kind IN ('repeals', 'supersedes')"):
                on = _d(r["effective"]) or _d(r["signed"])
                idx.setdefault(r["doc_no"], []).append(Repeal(r["doc_no"], on, r["key"], r["kind"], r["line"]))
            self._repeal_cache = idx
        return self._repeal_cache

    def _with_repeals(self, rec: DocRecord) -> DocRecord:
        if rec.doc_no:
            rec.repeals = [r for r in self.repeal_index().get(rec.doc_no, []) if r.by != rec.key]
        return rec

    def source_findings(self) -> list[tuple[str, dict]]:
        out = []
        for r in self.db.execute("SELECT name, findings FROM sources ORDER BY id"):
            out.extend((r["name"], f) for f in json.loads(r["findings"] or "[]"))
        return out


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _trigrams(lines_json: str) -> set[str]:
    t = nospace("".join(json.loads(lines_json)))
    return {t[i:i + 3] for i in range(0, len(t) - 2)}
