"""Gazette text → documents. The pipeline, in order:

1. clean lines (markdown artefacts, spaced-out characters), keep source line numbers;
2. find document headers: a standalone 文号 line with the issuer/title lines around it; documents without a
   文号 are found through the table of contents (目录) when there is one; a file with neither is one document;
3. per document: title, issuers (joint, one or several lines), 主送, signature date, validity clause,
   attachments, tables, structure tree, references, repeal targets;
4. compare the table of contents with the headers (文号 and title mismatches).
"""

from __future__ import annotations

import hashlib
import re
from difflib import SequenceMatcher
from pathlib import Path

from zhengce.gazette.dates import DATE_RE, find_validity, is_date_line, parse_date
from zhengce.gazette.docno import docno_line, find_docnos
from zhengce.gazette.model import Attachment, Document, Finding, ParsedSource, TocEntry
from zhengce.gazette.refs import find_references, norm_title, repeal_targets
from zhengce.gazette.structure import ATTACHMENT_RE, build_tree, match_marker, numbering_findings
from zhengce.gazette.tables import find_tables
from zhengce.gazette.tables import numbering_findings as table_numbering
from zhengce.gazette.text import TERMINAL, Flat, clean, is_organ, nospace, split_organs, unwrap
from zhengce.gazette.textio import read_text

TITLE_MARKERS = ("关于", "印发", "转发", "批转")
DOC_TYPES = ("实施意见", "指导意见", "意见", "通知", "决定", "实施细则", "细则", "实施办法", "管理办法", "办法", "规定",
             "实施方案", "工作方案", "方案", "规划纲要", "纲要", "规划", "行动计划", "计划", "工作要点", "要点", "若干措施",
             "措施", "若干政策", "政策", "规程", "名单", "名录", "清单", "目录", "解读", "批复", "通告", "公告", "通报",
             "报告", "函", "令", "条例", "规则", "标准", "指引", "指南", "答复")
_PAGE_END = re.compile(r"[（(]\s*\d{1,4}\s*[）)]\s*$")
_REG_NO = re.compile(r"^[A-Z]{2,8}\s*[—\-－–]+\s*\d{4}\s*[—\-－–]+\s*\d{3,12}$")
_YM_LINE = re.compile(r"^(\d{4})年(\d{1,2})月$")
_ATTACH_LIST = re.compile(r"^附(?:件)?\s*[:：]\s*(.*)$")
_LIST_ITEM = re.compile(r"^(\d{1,2})\s*[.．、]\s*(.+)$")
_DRAFT_WORDS = ("征求意见稿", "草案", "送审稿", "讨论稿", "代拟稿")
MAX_HEADER_LINES = 12


def _headerish(s: str) -> bool:
    """Could be an issuer or title line of a document header."""
    t = s.strip()
    if not t or "\t" in s or len(nospace(t)) > 80:
        return False
    if t[-1] in TERMINAL or _PAGE_END.search(t) or t.startswith(("附件", "附：", "注：", "【")):
        return False
    if is_date_line(t) or docno_line(t) or _REG_NO.match(t) or match_marker(t):
        return False
    return True


def _doc_type(title: str | None) -> str | None:
    if not title:
        return None
    t = nospace(title).rstrip("》」")
    t = re.sub(r"[（(][^（()）]{1,20}[）)]$", "", t).rstrip("》」")
    for w in DOC_TYPES:
        if t.endswith(w):
            return w
    return None


def _instrument(subject: str | None) -> str | None:
    if not subject:
        return None
    m = re.match(r"^(?:关于)?(?:印发|转发|批转|公布)(.+?)的(?:通知|决定)$", subject)
    if not m:
        return None
    inner = m.group(1)
    if inner.startswith("《") and inner.endswith("》") and inner.count("《") == 1:
        inner = inner[1:-1]
    return inner


class _Header:
    def __init__(self, start: int, end: int, issuers: list[str], subject: str | None, title_lines: list[int]):
        self.start, self.end, self.issuers, self.subject, self.title_lines = start, end, issuers, subject, title_lines


def _split_title(text: str) -> tuple[list[str], str] | None:
    """'威海市人民政府办公室 印发关于…的通知' → (['威海市人民政府办公室'], '印发关于…的通知')."""
    t = text.strip()
    pos = min((k for k in (t.find(m) for m in TITLE_MARKERS) if k >= 0), default=-1)
    if pos < 0:
        return None
    prefix = t[:pos]
    organs = split_organs(prefix) if prefix.strip() else []
    if organs is None:
        # the prefix may be an organ whose name ends without a suffix we know; accept a short CJK run
        if 2 <= len(nospace(prefix)) <= 30 and not any(c in prefix for c in TERMINAL):
            organs = [p for p in re.split(r"\s+", prefix.strip()) if p]
        else:
            return None
    return organs, nospace(unwrap(t[pos:]))


def _header(lines: list[str], i: int, floor: int) -> _Header | None:
    """Issuer and title lines around the 文号 line ``i`` (0-based)."""
    cand: list[int] = []
    j, blanks = i - 1, 0
    while j >= floor and len(cand) < MAX_HEADER_LINES:
        s = lines[j].strip()
        if not s:
            blanks += 1
            if blanks > 3:
                break
        else:
            blanks = 0
            if not _headerish(s):
                break
            cand.append(j)
        j -= 1
    # bottom-up: title lines up to the one carrying 关于/印发, then organ-only lines (issuers)
    title_idx: list[int] = []
    issuers: list[str] = []
    subject = None
    k = 0
    while k < len(cand):
        idx = cand[k]
        split = _split_title(lines[idx])
        if split is not None:
            pre, rest = split
            title_idx.insert(0, idx)
            subject = rest + "".join(nospace(unwrap(lines[t])) for t in title_idx[1:])
            issuers = pre
            k += 1
            break
        title_idx.insert(0, idx)
        k += 1
    if subject is None:
        # no 关于/印发 above: the title may follow the 文号 line (red-header style), or be a bare title
        fwd = _header_after(lines, i)
        if fwd is not None:
            return fwd
        title_idx = [c for c in cand if split_organs(lines[c]) is None][::-1][:4]
        organ_idx = [c for c in cand if split_organs(lines[c]) is not None]
        if not title_idx or _doc_type("".join(lines[t] for t in title_idx)) is None:
            return None
        title_idx.sort()
        subject = "".join(nospace(unwrap(lines[t])) for t in title_idx)
        issuers = [o for c in sorted(organ_idx) if c < title_idx[0] for o in split_organs(lines[c]) or []]
        start = min([*title_idx, *organ_idx])
        return _Header(start, i, issuers, subject, title_idx)
    organ_lines: list[int] = []
    while k < len(cand):
        idx = cand[k]
        orgs = split_organs(lines[idx])
        if orgs is None:
            s = lines[idx].strip()
            if s.endswith("文件") and split_organs(s[:-2]):  # red header: 威海市人民政府文件
                organ_lines.insert(0, idx)
                k += 1
                continue
            break
        organ_lines.insert(0, idx)
        k += 1
    org_names: list[str] = []
    for idx in organ_lines:
        s = lines[idx].strip()
        if s.endswith("文件") and not is_organ(s):
            continue
        org_names.extend(split_organs(s) or [])
    issuers = org_names + [o for o in issuers if o not in org_names]
    start = min([*title_idx, *organ_lines]) if (title_idx or organ_lines) else i
    return _Header(start, i, issuers, subject, title_idx)


def _header_after(lines: list[str], i: int) -> _Header | None:
    """文号 printed above the title (标题在文号之下)."""
    title_idx: list[int] = []
    j = i + 1
    while j < len(lines) and len(title_idx) < 4:
        s = lines[j].strip()
        if s:
            if not _headerish(s) or s.endswith(("：", ":")):
                break
            title_idx.append(j)
        j += 1
    if not title_idx:
        return None
    joined = "".join(unwrap(lines[t]) for t in title_idx)
    split = _split_title(joined)
    if split is None:
        return None
    issuers, subject = split
    if not issuers:  # issuer from a red-header line above (…文件)
        for back in range(i - 1, max(i - 6, -1), -1):
            s = lines[back].strip()
            if s.endswith("文件") and split_organs(s[:-2]):
                issuers = split_organs(s[:-2]) or []
                break
    return _Header(i, title_idx[-1], issuers, subject, title_idx)


def _toc(lines: list[str], start: int, end: int) -> list[TocEntry]:
    entries: list[TocEntry] = []
    buf: list[str] = []
    buf_lines: list[int] = []
    first = None
    for idx in range(start, end):
        s = lines[idx].strip()
        if not s or (s.startswith("【") and s.rstrip().endswith("】")):
            continue
        if first is None:
            first = idx
        buf.append(s)
        buf_lines.append(idx + 1)
        m = _PAGE_END.search(s)
        if not m:
            continue
        page = int(re.sub(r"\D", "", m.group(0)))
        text = _PAGE_END.sub("", " ".join(buf)).strip()
        found = find_docnos(text)
        dn = found[-1] if found else None
        title = text
        if dn is not None:
            title = (text[: dn.start] + text[dn.end:]).strip()
        title = nospace(unwrap(re.sub(r"[（(]\s*[）)]", "", title)))
        dn_line = next((no for no, t in zip(buf_lines, buf, strict=True) if dn and find_docnos(t)), None)
        if not title and dn is not None and entries and entries[-1].doc_no is None:
            prev = entries[-1]
            entries[-1] = TocEntry(prev.title, dn.normalized, dn.printed, prev.page, prev.line, dn_line)
        else:
            entries.append(TocEntry(title, dn.normalized if dn else None, dn.printed if dn else None, page, first + 1,
                                    dn_line))
        buf, buf_lines, first = [], [], None
    return entries


def _same_title(a: str | None, b: str | None) -> float:
    if not a or not b:
        return 0.0
    a, b = norm_title(a), norm_title(b)
    if a == b:
        return 1.0
    m = SequenceMatcher(None, a, b, autojunk=False)
    if m.real_quick_ratio() < 0.6 or m.quick_ratio() < 0.6:
        return m.quick_ratio() * 0.5  # clearly different titles: skip the quadratic ratio()
    return m.ratio()


def parse_file(path: Path | str, limit: int | None = None) -> ParsedSource:
    path = Path(path)
    return parse_text(read_text(path, limit), path.name)


def parse_text(text: str, name: str = "<text>") -> ParsedSource:
    """Parse one plain-text gazette issue or single document."""
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    lines = [clean(r) for r in raw]
    src = ParsedSource(name, hashlib.sha256(text.encode("utf-8")).hexdigest(), len(raw))
    n = len(lines)

    toc_start = next((k for k in range(min(n, 300)) if nospace(lines[k]) in ("目录", "目次")), None)
    floor = (toc_start + 1) if toc_start is not None else 0

    headers: list[tuple[int, _Header, object]] = []
    for k in range(floor, n):
        dn = docno_line(lines[k])
        if dn is None:
            continue
        if headers and k <= headers[-1][1].end + 1 and k - headers[-1][0] < 4:
            continue
        h = _header(lines, k, max(floor, headers[-1][1].end + 1 if headers else floor))
        if h is None:
            continue
        headers.append((k, h, dn))

    toc_end = headers[0][1].start if headers else n
    if toc_start is not None:
        src.toc = _toc(lines, toc_start + 1, toc_end)
        if not headers:
            toc_end = max((e.line for e in src.toc), default=toc_start + 1)

    starts: list[tuple[int, _Header | None, object, TocEntry | None]] = [(h.start, h, dn, None) for _, h, dn in headers]
    # documents without a 文号 header, found through their table-of-contents title
    used: set[int] = set()
    for e in src.toc:
        if any((e.doc_no and dn.normalized == e.doc_no) or _same_title(e.title, h.subject) > 0.8
               or (h.issuers and _same_title(e.title, "".join(h.issuers) + (h.subject or "")) > 0.8)
               for _, h, dn in headers):
            continue
        target = norm_title(e.title)
        for k in range(toc_end, n):
            if k in used or not lines[k].strip():
                continue
            joined = ""
            for span in range(3):
                if k + span >= n:
                    break
                joined += norm_title(lines[k + span])
                if joined == target or (len(target) > 8 and joined.startswith(target)):
                    starts.append((k, None, None, e))
                    used.add(k)
                    break
            if k in used:
                break
    starts.sort(key=lambda t: t[0])
    if not starts:
        body_from = toc_end if toc_start is not None else 0
        starts = [(body_from, None, None, None)]

    for idx, (start, h, dn, toc_entry) in enumerate(starts):
        end = (starts[idx + 1][0] if idx + 1 < len(starts) else n) - 1
        while end > start and not lines[end].strip():
            end -= 1
        doc = _document(lines, start, end, h, dn, toc_entry, name, idx + 1, published=len(starts) > 1 or bool(src.toc))
        src.documents.append(doc)

    _match_toc(src)
    return src


def _document(lines, start, end, h, dn, toc_entry, name, index, published: bool) -> Document:
    doc = Document(source=name, index=index, start=start + 1, end=end + 1)
    doc.lines = lines[start: end + 1]
    numbered = [(k + 1, lines[k]) for k in range(start, end + 1)]
    body_from = start
    if h is not None:
        doc.doc_no, doc.doc_no_printed, doc.doc_no_line = dn.normalized, dn.printed, h.end + 1 if h.end == start else None
        doc.doc_no_line = next((k + 1 for k in range(start, end + 1) if docno_line(lines[k])), None)
        doc.issuers, doc.subject = h.issuers, h.subject
        body_from = max(h.end, doc.doc_no_line - 1 if doc.doc_no_line else h.end) + 1
    else:
        body_from = _bare_title(doc, lines, start, end, toc_entry)
    if doc.subject:
        prefix = " ".join(doc.issuers) if doc.issuers and not doc.subject.startswith(doc.issuers[0]) else ""
        doc.title = prefix + doc.subject
        doc.instrument = _instrument(doc.subject)

    # 主送 (recipients)
    k = body_from
    while k <= end and not lines[k].strip():
        k += 1
    acc, j = "", k
    while j <= end and j < k + 6:
        s = lines[j].strip()
        if s:
            acc += s
            if s.endswith(("：", ":")):
                body = acc[:-1]
                items = [p for p in re.split(r"[，,；;]", body) if p]
                if ("。" not in body and not any(w in body for w in ("如下", "现将", "同意", "为了", "根据"))
                        and items and all(len(p) <= 90 for p in items)):
                    doc.recipients = items
                    body_from = j + 1
                break
            if s[-1] in "。；;！？":
                break
        j += 1

    # signature: a date line right below organ lines
    sig_line = None
    for k in range(body_from, end + 1):
        if not is_date_line(lines[k]):
            continue
        p = k - 1
        while p > body_from and not lines[p].strip():
            p -= 1
        if split_organs(lines[p]) or (h is None and sig_line is None and p <= body_from + 1):
            sig_line = k
            break
    if sig_line is not None:
        doc.signed = parse_date(lines[sig_line])
        sig_orgs: list[str] = []
        p = sig_line - 1
        while p > body_from:
            s = lines[p].strip()
            if s:
                orgs = split_organs(s)
                if orgs is None:
                    break
                sig_orgs = orgs + sig_orgs
            p -= 1
        if not doc.issuers and sig_orgs:
            doc.issuers = sig_orgs
    else:
        head = Flat.build([(k + 1, lines[k]) for k in range(start, min(end, start + 6) + 1)])
        m = DATE_RE.search(head.text)
        if m:
            doc.signed = parse_date(m.group(0))
            sig_line = (head.line_at(m.start()) or start + 1) - 1
    if not doc.doc_no and toc_entry is not None:  # 文号 in running text near the top, maybe broken across lines
        head = Flat.build([(k + 1, lines[k]) for k in range(start, min(end, start + 6) + 1)])
        found = [d for d in find_docnos(head.text) if not head.text[max(0, d.start - 2): d.start].endswith(("》（", "》("))]
        if found:
            doc.doc_no, doc.doc_no_printed = found[0].normalized, found[0].printed
            doc.doc_no_line = head.line_at(found[0].start)

    # the attached instrument starts after the signature: its own title restarts the tree
    roots_after: set[int] = set()
    if sig_line is not None and h is not None:
        k = sig_line + 1
        while k <= end and not lines[k].strip():
            k += 1
        if k <= end and _headerish(lines[k]) and not ATTACHMENT_RE.match(lines[k].strip()):
            roots_after.add(k + 1)
            body_title = nospace(unwrap(lines[k]))
            if k + 2 <= end and not lines[k + 1].strip() and _headerish(lines[k + 2]) and _doc_type(lines[k + 2]) \
                    and not _doc_type(body_title):
                body_title += nospace(lines[k + 2])
            if doc.instrument and _same_title(body_title, doc.instrument) < 1.0 and _same_title(body_title, doc.instrument) > 0.6:
                doc.findings.append(Finding("title-variant", "info", k + 1,
                                            f"instrument title in the body 「{body_title}」 differs from the notice title 「{doc.instrument}」"))

    # attachments list (附件：1. … 2. …) and registration number
    skip: set[int] = set()
    for k in range(body_from, end + 1):
        s = lines[k].strip()
        m = _ATTACH_LIST.match(s)
        if m and len(s) < 120:
            skip.add(k + 1)
            items = []
            first = m.group(1).strip()
            if first:
                items.append(first)
            j = k + 1
            while j <= end:
                t = lines[j].strip()
                if not t:
                    j += 1
                    continue
                lm = _LIST_ITEM.match(t)
                if lm and "。" not in t and len(t) < 100:
                    items.append(t)
                    skip.add(j + 1)
                    j += 1
                    continue
                break
            for it in items:
                lm = _LIST_ITEM.match(it)
                label, title = (f"附件{lm.group(1)}", lm.group(2)) if lm else ("附件", it)
                title = title.strip().strip("《》")
                present = any(nospace(title) and nospace(lines[q]).strip("《》") == nospace(title)
                              for q in range(k + 1, end + 1) if q + 1 not in skip)
                doc.attachments.append(Attachment(label, title, k + 1, present))
        if _REG_NO.match(s):
            doc.registration_no = nospace(s)
            skip.add(k + 1)

    body = [(no, text) for no, text in numbered if no - 1 >= body_from and no not in skip
            and (sig_line is None or no != sig_line + 1)]
    doc.tables = find_tables(body)
    table_lines = {no for t in doc.tables for no in range(t.start, t.end + 1)}
    doc.nodes = build_tree([(no, t) for no, t in body if no not in table_lines or "\t" not in t], roots_after)
    for f in numbering_findings(doc.nodes):
        doc.findings.append(f)
    for t in doc.tables:
        doc.findings.extend(table_numbering(t))

    flat = Flat.build(numbered)
    v = find_validity(Flat.build(body).text, doc.signed)
    doc.effective, doc.expires, doc.validity_note = v.effective, v.expires, v.note
    doc.doc_type = _doc_type(doc.instrument) or _doc_type(doc.subject) or _doc_type(doc.title)
    head_text = "".join(nospace(x) for x in doc.lines[:8])
    # an unnumbered, undated text outside a published issue is a draft; inside a gazette issue it is published
    doc.draft = any(w in head_text for w in _DRAFT_WORDS) or (
        not published and not doc.doc_no and doc.signed is None and doc.dated is None)
    own = {norm_title(t) for t in (doc.title, doc.subject, doc.instrument) if t}
    body_flat = Flat.build(body)
    doc.references = find_references(body_flat, doc.doc_no, own)
    if doc.subject and ("废止" in doc.subject or "失效" in doc.subject):
        targets = repeal_targets(doc.tables, body_flat, doc.doc_no)
        tgt = {r.doc_no for r in targets if r.doc_no} | {r.title for r in targets if r.title}
        kept = []
        for r in doc.references:
            if r.line in table_lines or r.kind == "supersedes":
                if (r.doc_no or r.title) in tgt:
                    continue
                if r.line in table_lines:
                    r.kind = "cites"  # e.g. the amending act in 'X公布、Y修改'
            kept.append(r)
        doc.references = kept + targets
        doc.references.sort(key=lambda r: r.line)
    for f in doc.findings:
        f.doc_key = doc.key
    del flat
    return doc


def _bare_title(doc: Document, lines, start, end, toc_entry) -> int:
    """Title of a document with no 文号 header: the TOC title, else a short first line; returns the body start."""
    k = start
    while k <= end and not lines[k].strip():
        k += 1
    if k > end:
        return start
    first = lines[k].strip()
    if toc_entry is not None:
        doc.subject = toc_entry.title
        joined, j = "", k
        while j <= end and len(joined) < len(norm_title(toc_entry.title)):
            joined += norm_title(lines[j])
            j += 1
        body_from = j
    elif _headerish(first):
        doc.subject = nospace(unwrap(first))
        body_from = k + 1
    else:
        body_from = k
    split = _split_title(doc.subject or "")
    if split and split[0]:
        doc.issuers, doc.subject = split
    elif doc.subject:  # 威海市人民政府任免的工作人员名单: the issuer opens the title
        organ = next((doc.subject[:k] for k in range(min(24, len(doc.subject) - 2), 3, -1)
                      if is_organ(doc.subject[:k])), None)
        if organ:
            doc.issuers = [organ]
    for j in range(k, min(end, k + 20) + 1):
        m = _YM_LINE.match(nospace(lines[j]))
        if m:
            doc.dated = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"
            break
    return body_from


def _match_toc(src: ParsedSource) -> None:
    """Pair TOC entries with documents and report 文号 / title mismatches."""
    docs = src.documents
    for e in src.toc:
        best, score = None, 0.0
        for d in docs:
            s = max(_same_title(e.title, d.title), _same_title(e.title, d.subject))
            if s > score:
                best, score = d, s
        if (best is None or score < 0.75) and e.doc_no:
            best = next((d for d in docs if d.doc_no == e.doc_no), None)
            score = 1.0 if best else 0.0
        if best is None:
            src.findings.append(Finding("toc-entry-not-found", "warning", e.line,
                                        f"table of contents lists 「{e.title}」 {e.doc_no_printed or ''} but no such document follows"))
            continue
        best.toc_title = e.title
        best.toc_doc_no_printed = e.doc_no_printed
        if e.doc_no and best.doc_no and e.doc_no != best.doc_no:
            src.findings.append(Finding(
                "toc-docno-mismatch", "error", e.doc_no_line or e.line,
                f"table of contents prints {e.doc_no_printed} but the document header (line {best.doc_no_line}) prints "
                f"{best.doc_no_printed}", best.key))
        elif e.doc_no and best.doc_no and e.doc_no_printed and best.doc_no_printed \
                and nospace(e.doc_no_printed) != nospace(best.doc_no_printed):
            src.findings.append(Finding(
                "toc-docno-style", "info", e.doc_no_line or e.line,
                f"table of contents prints {e.doc_no_printed}, header (line {best.doc_no_line}) prints {best.doc_no_printed}",
                best.key))
        full = best.title or ""
        variants = [full, best.subject, "、".join(best.issuers) + (best.subject or "")]
        abbreviated = bool(re.search(r"等\s*[0-9一二三四五六七八九十]+\s*(?:个)?(?:部门|单位)", e.title)) and \
            norm_title(e.title).endswith(norm_title(best.subject or "-"))
        if not abbreviated and max(_same_title(e.title, v) for v in variants) < 0.999:
            src.findings.append(Finding(
                "toc-title-mismatch", "warning", e.line,
                f"table of contents title 「{e.title}」 differs from the header title 「{full}」 (line {best.start})",
                best.key))
