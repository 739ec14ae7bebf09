"""Line-level normalisation shared by the parser: markdown artefacts, spaced-out characters, wrapped titles,
and a whitespace-free 'flat' view of a document with a map back to source line numbers."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

CJK = "\u4e00-\u9fff"
_SPACED = re.compile(rf"^(?:[{CJK}0-9]\s+)+[{CJK}0-9]$")
_MD = re.compile(r"^\s*(?:[-*•·]\s+|#{1,6}\s+)")  # "- 附件：", "# 标题"
_WRAP = re.compile(rf"(?<=[{CJK}《》“”（）()、，：])[ \t\u3000]+(?=[{CJK}《》“”（）()])")
_WS = re.compile(r"\s+")
TERMINAL = "。；;！？!?：:，,"

ORGAN_SUFFIXES = (
    "人民政府", "政府", "办公室", "办公厅", "委员会", "常委会", "委", "局", "厅", "部", "院", "署", "处", "室",
    "中心", "支行", "分行", "银行", "管委", "管委会", "公司", "集团", "工委", "党委", "政协", "总工会", "妇联",
    "科协", "残联", "协会", "联合会", "团委", "学会", "所", "站", "办", "法院", "检察院", "军区", "警备区",
)
_NOT_ORGAN_END = ("站长", "主任", "局长", "部长", "处长", "院长", "所长", "科长", "厂长", "教师", "职工", "同志")


def clean(raw: str) -> str:
    """Strip markdown bold/bullets, odd spaces and collapse 'spaced-out' headings (威 海 市 财 政 局)."""
    s = raw.replace("\u3000", " ").replace("\xa0", " ").replace("\ufeff", "").replace("**", "")
    s = s.strip(" ") if "\t" in s else s.strip()  # keep tabs: they delimit (possibly empty) table cells
    s = _MD.sub("", s, count=1) if not s.startswith("\t") else s
    t = s.strip()
    if _SPACED.match(t):
        return _WS.sub("", t)
    return s


def unwrap(s: str) -> str:
    """Remove spaces that line-wrapping left between Chinese characters (title fragments)."""
    return _WRAP.sub("", s.strip())


def nospace(s: str) -> str:
    return _WS.sub("", s)


def is_organ(name: str) -> bool:
    n = nospace(name).strip("、，,")
    if not (2 <= len(n) <= 40) or any(c in n for c in "。；：:，,《》“”"):
        return False
    if n.endswith(_NOT_ORGAN_END):
        return False
    return n.endswith(ORGAN_SUFFIXES)


def split_organs(text: str) -> list[str] | None:
    """'中共威海市委 威海市人民政府' → two organs; None when any piece is not an organ name."""
    t = text.strip().strip("、，,")
    if not t:
        return None
    pieces = [p for p in re.split(r"[\s、，,]+", t) if p]
    if pieces and all(is_organ(p) for p in pieces):
        return pieces
    if is_organ(t):
        return [nospace(t)]
    return None


@dataclass
class Flat:
    """A document's text without whitespace, with offsets mapped back to source line numbers."""

    text: str
    starts: list[int]
    line_nos: list[int]

    @classmethod
    def build(cls, numbered: list[tuple[int, str]]) -> Flat:
        parts: list[str] = []
        starts: list[int] = []
        nos: list[int] = []
        pos = 0
        for no, line in numbered:
            s = nospace(line)
            if not s:
                continue
            starts.append(pos)
            nos.append(no)
            parts.append(s)
            pos += len(s)
        return cls("".join(parts), starts, nos)

    def line_at(self, offset: int) -> int | None:
        if not self.starts:
            return None
        i = bisect.bisect_right(self.starts, offset) - 1
        return self.line_nos[max(i, 0)]
