"""文号 (document numbers): <机关代字>〔year〕<n>号 in every bracket style a city prints.

Variants accepted: 〔2023〕 [2023] (2023) （2023） 【2023】 ［2023］ 〖2023〗, spaces anywhere, full-width digits.
The normalised form uses 〔〕 and no spaces (威政办发〔2023〕9号); the printed form is kept verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = "〔\\[(（【［〖{｛"
_CLOSE = "〕\\])）】］〗}｝"
_FW = str.maketrans("０１２３４５６７８９", "0123456789")
# the bracketed year and the number; the agency code before it is found by walking back over CJK characters
CORE_RE = re.compile(rf"[{_OPEN}]\s*((?:1[89]|20)\d\s*\d|(?:1[89]|20)\d{{2}})\s*[{_CLOSE}]\s*第?\s*(\d{{1,5}})\s*号")
_SPACED_YEAR = re.compile(r"\s")
# words that end the text before an agency code (…印发的 威政发〔2023〕5号, 根据 鲁政发…)
_STOPS = ("印发", "根据", "依据", "按照", "参照", "依照", "执行", "落实", "贯彻", "关于", "文件", "通知", "意见", "办法")
_STOP_CHARS = set("的和与及以据照经按即为是在将把对由见、，。；：:;,“”\"《》〈〉")
MAX_CODE = 10


@dataclass(frozen=True)
class DocNo:
    normalized: str
    printed: str
    code: str
    year: int
    number: int
    start: int  # offsets in the searched text
    end: int


def _is_code_char(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in _STOP_CHARS


def _code_before(text: str, pos: int) -> tuple[str, int]:
    """Walk back from ``pos`` over agency-code characters (spaces inside are allowed)."""
    i = pos
    chars: list[str] = []
    while i > 0 and len(chars) < MAX_CODE:
        ch = text[i - 1]
        if ch in " \t\u3000" and chars:
            # a space may sit inside a printed code only if CJK continues before it
            if i >= 2 and _is_code_char(text[i - 2]) and len(chars) < 2:
                i -= 1
                continue
            break
        if not _is_code_char(ch):
            break
        chars.append(ch)
        i -= 1
    code = "".join(reversed(chars))
    cut = 0
    for stop in _STOPS:
        k = code.rfind(stop)
        if k >= 0:
            cut = max(cut, k + len(stop))
    return code[cut:], i + cut


def find_docnos(text: str) -> list[DocNo]:
    """Every 文号 in ``text`` (a line or a whole flattened document)."""
    out: list[DocNo] = []
    src = text.translate(_FW)
    for m in CORE_RE.finditer(src):
        code, start = _code_before(src, m.start())
        if not code or len(code) < 1:
            continue
        year = int(_SPACED_YEAR.sub("", m.group(1)))
        number = int(m.group(2))
        # skip leading spaces in the printed span
        while start < m.start() and text[start] in " \t\u3000":
            start += 1
        printed = text[start:m.end()]
        out.append(DocNo(f"{code}〔{year}〕{number}号", printed, code, year, number, start, m.end()))
    return out


def normalize_docno(text: str) -> str | None:
    """'威政办发[2023] 9 号' → '威政办发〔2023〕9号'; None when ``text`` holds no 文号."""
    found = find_docnos(text)
    return found[0].normalized if found else None


_LINE_RE = re.compile(rf"^\s*\**\s*([\u4e00-\u9fff][\u4e00-\u9fff\s]{{0,{MAX_CODE + 4}}}[{_OPEN}]\s*[0-9０-９\s]{{4,8}}[{_CLOSE}]\s*第?\s*[0-9０-９]{{1,5}}\s*号)\s*\**\s*(?:签发人[:：].*)?$")


def docno_line(text: str) -> DocNo | None:
    """The line is a standalone 文号 (the header line of a document), optionally followed by 签发人."""
    m = _LINE_RE.match(text)
    if not m:
        return None
    found = find_docnos(text)
    return found[0] if len(found) == 1 else None
