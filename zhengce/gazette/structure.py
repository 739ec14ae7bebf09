"""The structure tree of a document body: 编/章/节/条 and 一、/（一）/1./（1）/①, plus numbering checks.

Ranks are fixed (章 above 条 above 一、 above （一） above 1. above （1） above ①), which is how Chinese
official documents nest; a new marker closes every open node of equal or lower rank.
"""

from __future__ import annotations

import re
from collections import Counter

from zhengce.gazette.dates import cn_number
from zhengce.gazette.model import Finding, Node
from zhengce.gazette.text import nospace

_CN = "一二三四五六七八九十百零〇两"
MARKERS: list[tuple[str, int, re.Pattern]] = [
    ("part", 0, re.compile(rf"^第([{_CN}\d]{{1,4}})编\s*(.*)$")),
    ("chapter", 1, re.compile(rf"^第([{_CN}\d]{{1,4}})章\s*(.*)$")),
    ("section", 2, re.compile(rf"^第([{_CN}\d]{{1,4}})节\s*(.*)$")),
    ("article", 3, re.compile(rf"^第([{_CN}\d]{{1,5}})条(?:\s+|(?=[^款项])|$)(.*)$")),
    ("l1", 4, re.compile(rf"^([{_CN}]{{1,4}})\s*[、.．]\s*(.*)$")),
    ("l2", 5, re.compile(rf"^[（(]\s*([{_CN}]{{1,4}})\s*[）)]\s*(.*)$")),
    ("l3", 6, re.compile(r"^(\d{1,3})\s*(?:[.．、](?!\d)|\s(?=[\u4e00-\u9fff]))\s*(.*)$")),
    ("l4", 7, re.compile(r"^[（(]\s*(\d{1,3})\s*[）)]\s*(.*)$")),
    ("l5", 8, re.compile(r"^([①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳])\s*(.*)$")),
]
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
ATTACHMENT_RE = re.compile(r"^附\s*件\s*([0-9０-９一二三四五六七八九十]{0,3})\s*[:：]?\s*$")
_HEAD_END = re.compile(r"[。；;：:]")


def _label(kind: str, num: str) -> str:
    return {"part": f"第{num}编", "chapter": f"第{num}章", "section": f"第{num}节", "article": f"第{num}条",
            "l1": num, "l2": f"({num})", "l3": num, "l4": f"({num})", "l5": num}[kind]


def match_marker(line: str) -> tuple[str, int, str, int | None, str] | None:
    """(kind, rank, label, number, rest) when ``line`` opens a structural element."""
    s = line.strip()
    if not s or "\t" in line:
        return None
    for kind, rank, rx in MARKERS:
        m = rx.match(s)
        if not m:
            continue
        num, rest = m.group(1), m.group(2).strip()
        if kind == "l5":
            n = _CIRCLED.index(num) + 1
        else:
            n = cn_number(num)
        if n is None:
            continue
        if kind == "l1" and len(num) > 1 and num[0] == "十" and n > 99:
            continue
        if kind == "l3" and (n > 200 or rest[:1] in ("%", "万", "亿", "元", "年", "月", "日", "个", "家")):
            continue
        return kind, rank, _label(kind, num), n, rest
    return None


def _heading(rest: str) -> str:
    m = _HEAD_END.search(rest)
    head = rest[: m.start()] if m else rest
    return nospace(head)[:60]


def build_tree(numbered: list[tuple[int, str]], roots_after: set[int] = frozenset()) -> list[Node]:
    """Nodes from (line number, cleaned text) pairs. ``roots_after``: line numbers that restart the tree
    (e.g. the attached instrument's title after the signature), so paths do not nest across them."""
    roots: list[Node] = []
    stack: list[tuple[int, Node]] = []
    owner: Node | None = None
    texts: dict[int, list[str]] = {}
    attach: Node | None = None
    for no, line in numbered:
        if no in roots_after:
            stack.clear()
            owner = None
            attach = None
        s = line.strip()
        if not s:
            continue
        am = ATTACHMENT_RE.match(s)
        if am:
            num = am.group(1)
            attach = Node("attachment", f"附件{num}", cn_number(num) if num else None, "", no, no)
            roots.append(attach)
            stack.clear()
            owner = attach
            texts[id(attach)] = []
            continue
        mk = match_marker(line)
        if mk:
            kind, rank, label, n, rest = mk
            node = Node(kind, label, n, _heading(rest), no, no)
            while stack and stack[-1][0] >= rank:
                stack.pop()
            if stack:
                stack[-1][1].children.append(node)
            elif attach is not None:
                attach.children.append(node)
            else:
                roots.append(node)
            stack.append((rank, node))
            owner = node
            texts[id(node)] = [s]
            continue
        if owner is not None:
            texts[id(owner)].append(s.replace("\t", " | "))
            owner.end = no
    # close ranges and set text
    def finish(node: Node, prefix: str, under_article: bool) -> int:
        own = texts.get(id(node), [])
        node.text = "\n".join(own)
        if node.kind != "attachment" and len(own) > 1 and not _HEAD_END.search(own[0]):
            # a heading wrapped onto the next line: "(一)创新发展理念,打造精致城" + "市典范。"
            mk = match_marker(own[0])
            nxt = _HEAD_END.search(own[1])
            if mk and len(nospace(mk[4])) >= 10 and nxt and nxt.start() <= 10:
                node.heading = _heading(mk[4] + own[1])
        end = node.end
        for c in node.children:
            end = max(end, finish(c, _child_prefix(node, prefix), under_article or node.kind == "article"))
        node.end = end
        return end

    for r in roots:
        finish(r, "", False)
    assign_paths(roots)
    return roots


def _child_prefix(node: Node, prefix: str) -> str:
    return prefix


def assign_paths(roots: list[Node]) -> None:
    """Stable article paths: 二(一)1, 第五条(一), 附件1/三. Chapters and sections do not enter the path of the
    articles under them (条 numbers are unique in a document); duplicates get a ~2 suffix."""
    seen: Counter[str] = Counter()

    def visit(node: Node, prefix: str):
        if node.kind in ("part", "chapter", "section"):
            own = node.label
            child_prefix = prefix
        elif node.kind == "attachment":
            own = node.label
            child_prefix = node.label + "/"
        else:
            own = prefix + node.label
            child_prefix = own
        seen[own] += 1
        node.path = own if seen[own] == 1 else f"{own}~{seen[own]}"
        for c in node.children:
            visit(c, child_prefix)

    for r in roots:
        visit(r, "")


def numbering_findings(roots: list[Node]) -> list[Finding]:
    """Duplicated or skipped numbers among siblings of the same kind; 条 are checked across the document."""
    out: list[Finding] = []

    def check(seq: list[Node], scope: str):
        prev: Node | None = None
        for n in seq:
            if n.number is None:
                continue
            if prev is not None and prev.number is not None:
                if n.number == prev.number:
                    out.append(Finding("duplicate-number", "warning", n.start,
                                       f"{n.label} appears twice{scope} (also line {prev.start})"))
                elif n.number > prev.number + 1:
                    missing = ", ".join(_label_for(n.kind, k) for k in range(prev.number + 1, min(n.number, prev.number + 6)))
                    out.append(Finding("missing-number", "warning", n.start,
                                       f"numbering jumps from {prev.label} (line {prev.start}) to {n.label}{scope}: missing {missing}"))
                elif n.number < prev.number:
                    out.append(Finding("number-out-of-order", "info", n.start,
                                       f"{n.label} follows {prev.label} (line {prev.start}){scope}: numbering restarts or is out of order"))
            prev = n

    def visit(siblings: list[Node]):
        by_kind: dict[str, list[Node]] = {}
        for n in siblings:
            if n.kind != "article":
                by_kind.setdefault(n.kind, []).append(n)
        for kind, seq in by_kind.items():
            if kind != "attachment":
                check(seq, "")
        for n in siblings:
            visit(n.children)

    for group in _article_groups(roots):
        check(group, " in the article sequence")
    visit(roots)
    return out


def _article_groups(roots: list[Node]) -> list[list[Node]]:
    """第X条 sequences: one per root-level instrument/attachment (numbering restarts in each)."""
    groups: list[list[Node]] = [[]]
    for r in roots:
        if r.kind == "attachment":
            groups.append([n for n in r.walk() if n.kind == "article"])
            continue
        arts = [n for n in r.walk() if n.kind == "article"]
        if arts and groups[-1] and arts[0].number == 1:
            groups.append([])
        groups[-1].extend(arts)
    return [g for g in groups if g]


def _label_for(kind: str, n: int) -> str:
    from cn2an import an2cn

    cn = an2cn(n)
    return {"article": f"第{cn}条", "chapter": f"第{cn}章", "section": f"第{cn}节", "l1": cn, "l2": f"({cn})",
            "l3": str(n), "l4": f"({n})", "l5": _CIRCLED[n - 1] if n <= 20 else str(n)}.get(kind, str(n))
