"""Plain data produced by the parser: a source file holds documents; a document holds a structure tree,
tables, attachments and references. Dataclasses (not pydantic) because parsing a whole issue must stay fast;
``to_dict`` gives the documented JSON shape (docs/catalog.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


@dataclass
class Finding:
    """Something a drafter or encoder should look at (fed to ``zhengce lint``)."""

    code: str  # e.g. toc-docno-mismatch, duplicate-number, missing-number
    severity: str  # error / warning / info
    line: int | None
    message: str
    doc_key: str | None = None

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "line": self.line, "message": self.message,
                "doc": self.doc_key}


@dataclass
class Node:
    """One element of the structure tree: 章/节/条 or 一、/（一）/1./（1）/①, or an attachment."""

    kind: str  # part, chapter, section, article, l1, l2, l3, l4, l5, attachment
    label: str  # normalised marker: 第五条, 一, (一), 1, (1), ①, 附件1
    number: int | None
    heading: str
    start: int
    end: int
    path: str = ""
    text: str = ""  # this node's own lines (children excluded), whitespace-normalised
    children: list[Node] = field(default_factory=list)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def to_dict(self, deep: bool = True) -> dict:
        d = {"path": self.path, "kind": self.kind, "label": self.label, "heading": self.heading,
             "lines": [self.start, self.end], "text": self.text}
        if deep:
            d["children"] = [c.to_dict() for c in self.children]
        return d


@dataclass
class Table:
    start: int
    end: int
    rows: list[list[str]]
    header: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"lines": [self.start, self.end], "header": self.header, "rows": self.rows}


@dataclass
class Reference:
    """A citation in the text: a 文号 and/or a 《title》, and what the citing document does to it."""

    kind: str  # cites, basis, supersedes, amends, repeals
    line: int
    doc_no: str | None = None
    doc_no_printed: str | None = None
    title: str | None = None
    context: str = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind, "line": self.line, "doc_no": self.doc_no, "doc_no_printed": self.doc_no_printed,
                "title": self.title, "context": self.context}


@dataclass
class Attachment:
    label: str
    title: str
    line: int
    present: bool = False  # whether its text follows in this file

    def to_dict(self) -> dict:
        return {"label": self.label, "title": self.title, "line": self.line, "present": self.present}


@dataclass
class TocEntry:
    title: str
    doc_no: str | None
    doc_no_printed: str | None
    page: int | None
    line: int
    doc_no_line: int | None = None


@dataclass
class Document:
    source: str
    index: int
    start: int
    end: int
    title: str | None = None  # full title as printed (issuers + 关于…)
    subject: str | None = None  # the 关于…/印发… part
    instrument: str | None = None  # the attached instrument's title for 印发 notices (e.g. 威海市…办法)
    doc_no: str | None = None
    doc_no_printed: str | None = None
    doc_no_line: int | None = None
    toc_doc_no_printed: str | None = None
    toc_title: str | None = None
    issuers: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    signed: date | None = None
    dated: str | None = None  # partial date such as 2021-08 when no full date is printed
    effective: date | None = None
    expires: date | None = None
    validity_note: str | None = None
    doc_type: str | None = None
    draft: bool = False
    registration_no: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # cleaned source lines start..end

    @property
    def key(self) -> str:
        """Stable identity across re-ingests: the 文号, else source name + position."""
        if self.doc_no:
            return self.doc_no
        stem = self.source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return f"{stem}#{self.index}"

    def articles(self):
        for n in self.nodes:
            yield from n.walk()

    def text(self) -> str:
        return "\n".join(self.lines)

    def to_dict(self, deep: bool = False) -> dict:
        arts = list(self.articles())
        d = {
            "key": self.key, "source": self.source, "index": self.index, "lines": [self.start, self.end],
            "title": self.title, "subject": self.subject, "instrument": self.instrument,
            "doc_no": self.doc_no, "doc_no_printed": self.doc_no_printed, "toc_doc_no_printed": self.toc_doc_no_printed,
            "issuers": self.issuers, "recipients": self.recipients,
            "signed": _iso(self.signed), "dated": self.dated, "effective": _iso(self.effective),
            "expires": _iso(self.expires), "validity_note": self.validity_note,
            "type": self.doc_type, "draft": self.draft, "registration_no": self.registration_no,
            "article_count": len(arts),
            "attachments": [a.to_dict() for a in self.attachments],
            "tables": len(self.tables),
            "cited_doc_nos": sorted({r.doc_no for r in self.references if r.doc_no}),
            "cited_titles": sorted({r.title for r in self.references if r.title}),
            "references": [r.to_dict() for r in self.references],
        }
        if deep:
            d["articles"] = [n.to_dict() for n in self.nodes]
            d["table_data"] = [t.to_dict() for t in self.tables]
        return d


@dataclass
class ParsedSource:
    name: str
    sha256: str
    line_count: int
    documents: list[Document] = field(default_factory=list)
    toc: list[TocEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
