"""Cross-references: every cited 文号 and 《title》, classified by what the citing sentence does
(根据 → basis; …废止/不再执行 → supersedes; 修订/修改 → amends; a 废止 decision → repeals)."""

from __future__ import annotations

import re
from functools import lru_cache

from zhengce.gazette.docno import find_docnos
from zhengce.gazette.model import Reference, Table
from zhengce.gazette.text import Flat

TITLE_RE = re.compile(r"《([^《》\n]{2,120})》")
_SENT_END = re.compile(r"[。；;！？]")
_REPEAL_WORDS = ("废止", "不再执行", "停止执行", "同时失效", "宣布失效")
_BASIS_WORDS = ("根据", "依据", "按照", "依照", "贯彻", "落实", "参照")


@lru_cache(maxsize=4096)
def norm_title(t: str) -> str:
    """Titles compare without spaces, with 〈〉 as 《》 and half/full-width brackets unified."""
    t = re.sub(r"\s+", "", t)
    return t.translate(str.maketrans("〈〉()[]", "《》（）〔〕"))


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    s = max(text.rfind(c, 0, start) for c in "。；;！？") + 1
    m = _SENT_END.search(text, end)
    return s, (m.end() if m else len(text))


def _classify(text: str, start: int, end: int) -> str:
    """Read the words right around the citation: '根据《X》' is a basis, '《X》（文号）同时废止' / '不再执行' a
    supersession, '修订《X》' an amendment."""
    s, e = _sentence(text, start, end)
    before, after = text[s:start], text[end:e]
    tail = re.split(r"[，,]", after, maxsplit=1)[0][:80]
    near_before = before[-10:]
    if any(w in near_before for w in _BASIS_WORDS):
        return "basis"
    if any(w in tail for w in _REPEAL_WORDS) or near_before.endswith(("废止", "废止了", "不再执行")):
        return "supersedes"
    if "修订" in tail[:12] or "修改" in tail[:12] or near_before.endswith(("修订", "修改")):
        return "amends"
    if any(w in before[-30:] for w in _BASIS_WORDS):
        return "basis"
    return "cites"


def find_references(flat: Flat, own_doc_no: str | None, own_titles: set[str]) -> list[Reference]:
    text = flat.text
    refs: list[Reference] = []
    used_docnos: set[int] = set()
    docnos = [d for d in find_docnos(text)]
    by_start = {d.start: d for d in docnos}
    for m in TITLE_RE.finditer(text):
        title = m.group(1)
        if norm_title(title) in own_titles:
            continue
        dn = None
        # 《title》（文号） — the 文号 in brackets right after the title belongs to it
        tail = text[m.end(): m.end() + 3]
        if tail[:1] in "（(":
            for k in range(m.end() + 1, m.end() + 3):
                if k in by_start:
                    dn = by_start[k]
                    break
        if dn is not None:
            used_docnos.add(dn.start)
            if dn.normalized == own_doc_no:
                continue
        end = dn.end if dn else m.end()
        s, e = _sentence(text, m.start(), end)
        refs.append(Reference(_classify(text, m.start(), end), flat.line_at(m.start()) or 0,
                              dn.normalized if dn else None, dn.printed if dn else None, title,
                              text[max(s, m.start() - 30): min(e, end + 30)]))
    for d in docnos:
        if d.start in used_docnos or d.normalized == own_doc_no:
            continue
        s, e = _sentence(text, d.start, d.end)
        refs.append(Reference(_classify(text, d.start, d.end), flat.line_at(d.start) or 0, d.normalized, d.printed,
                              None, text[max(s, d.start - 30): min(e, d.end + 30)]))
    refs.sort(key=lambda r: r.line)
    return refs


def repeal_targets(tables: list[Table], flat: Flat, own_doc_no: str | None) -> list[Reference]:
    """Targets of a 废止/失效 decision: table rows with a 文号 (first 文号 of the row is the target;
    'X公布、Y修改' names the amending act Y, which is not itself repealed), else the 文号 and 《titles》 of the
    sentences that say 决定废止."""
    out: list[Reference] = []
    for t in tables:
        for row in t.rows:
            joined = "\t".join(row)
            found = [d for d in find_docnos(joined) if d.normalized != own_doc_no]
            if not found:
                continue
            target = found[0]
            title_cells = [c for c in row if not find_docnos(c) and len(c) >= 4
                           and sum("\u4e00" <= ch <= "\u9fff" for ch in c) > len(c) / 2]
            title = max(title_cells, key=len) if title_cells else None
            line = t.start + t.rows.index(row) + (1 if t.header else 0)
            out.append(Reference("repeals", line, target.normalized, target.printed, title, row and joined.replace("\t", " | ")))
    if out:
        return out
    text = flat.text
    for m in re.finditer(r"(?:决定|予以|宣布)[，,]?(?:废止|失效)", text):
        s, e = _sentence(text, m.start(), m.end())
        seg = text[s:e]
        for d in find_docnos(seg):
            if d.normalized != own_doc_no:
                out.append(Reference("repeals", flat.line_at(s + d.start) or 0, d.normalized, d.printed, None, seg[:120]))
        if not any(r.doc_no for r in out):
            for tm in TITLE_RE.finditer(seg):
                out.append(Reference("repeals", flat.line_at(s + tm.start()) or 0, None, None, tm.group(1), seg[:120]))
    return out
