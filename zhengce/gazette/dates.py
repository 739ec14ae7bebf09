"""Dates in Chinese official text: 2023年7月13日, 2 0 2 3 年 3 月 1 日, 二〇一一年三月三十日, 二○○五年, 二OO六年,
and the validity clauses (自…起施行 / 有效期至… / 有效期自…至… / 有效期X年).

Year digits written with 〇/○/O/Ｏ/零 are mapped digit by digit; months and days use cn2an.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import cn2an

_CN_DIGIT = {"〇": 0, "○": 0, "O": 0, "Ｏ": 0, "o": 0, "零": 0, "０": 0, "一": 1, "二": 2, "三": 3, "四": 4,
             "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_Y_CN = "[〇○OＯo零０一二三四五六七八九]"
_MD_CN = "[一二三四五六七八九十]"
# dates are matched on whitespace-free text ("2 0 2 3 年 3 月 1 日" → "2023年3月1日")
DATE_PATTERN = (rf"(?:(?P<ay>\d{{4}})年(?P<am>\d{{1,2}})月(?P<ad>\d{{1,2}})日"
                rf"|(?P<cy>{_Y_CN}{{4}})年(?P<cm>{_MD_CN}{{1,3}})月(?P<cd>{_MD_CN}{{1,3}})日)")
DATE_RE = re.compile(DATE_PATTERN)
YEAR_RE = re.compile(rf"(?:(\d{{4}})|({_Y_CN}{{4}}))年")
_LOOSE_RE = re.compile(r"^(\d{4})[.\-/](\d{1,2})[.\-/](\d{1,2})$")
_WS = re.compile(r"\s+")


def _cn_year(s: str) -> int:
    return int("".join(str(_CN_DIGIT[c]) for c in s))


def _cn_small(s: str) -> int:
    return int(cn2an.cn2an(s, "smart"))


def _from_match(m: re.Match) -> date | None:
    try:
        if m.group("ay"):
            return date(int(m.group("ay")), int(m.group("am")), int(m.group("ad")))
        return date(_cn_year(m.group("cy")), _cn_small(m.group("cm")), _cn_small(m.group("cd")))
    except (ValueError, KeyError):
        return None  # 2023年2月30日 and the like: not a date


def parse_date(text: str) -> date | None:
    """The first full date in ``text`` (Arabic or Chinese numerals, spaces ignored), else None."""
    flat = _WS.sub("", text)
    m = DATE_RE.search(flat)
    if m:
        return _from_match(m)
    m = _LOOSE_RE.match(flat)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    return None


def parse_year(text: str) -> int | None:
    """A year such as 二○○五年 / 二OO六年 / 2023年 (for partial dates)."""
    m = YEAR_RE.search(_WS.sub("", text))
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else _cn_year(m.group(2))


def is_date_line(text: str) -> bool:
    """A line that is only a date (the signature date of a document)."""
    flat = _WS.sub("", text).strip("()（）")
    m = DATE_RE.fullmatch(flat)
    return bool(m) and _from_match(m) is not None


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@dataclass
class Validity:
    effective: date | None = None
    expires: date | None = None
    note: str | None = None
    effective_at: int | None = None  # offsets into the flat text (for line numbers)
    expires_at: int | None = None


_D = DATE_PATTERN.replace("?P<ay>", "?:").replace("?P<am>", "?:").replace("?P<ad>", "?:") \
    .replace("?P<cy>", "?:").replace("?P<cm>", "?:").replace("?P<cd>", "?:")
_START = r"(?:施行|实施|执行|生效|起用)"
_RANGE_RE = re.compile(rf"有效期(?:为|是)?自?({_D})(?:起)?(?:至|到|—|-)({_D})(?:止)?")
_FROM_RE = re.compile(rf"自?({_D})起{_START}")
_FROM_ISSUE_RE = re.compile(rf"自(?:印发|发布|公布|签发|下发|颁布)之日起{_START}")
_UNTIL_RE = re.compile(rf"有效期(?:截)?至({_D})")
_YEARS_RE = re.compile(r"有效期(?:为|暂定)?([0-9一二三四五六七八九十两]{1,3})年")


def _d(s: str) -> date | None:
    m = DATE_RE.search(s)
    return _from_match(m) if m else None


def _last(it):
    last = None
    for last in it:  # noqa: B007 - we want the final match
        pass
    return last


def find_validity(flat: str, signed: date | None) -> Validity:
    """Effective and expiry dates from a document's whitespace-free text. The last clause wins:
    in a 印发 notice the attached instrument's closing article carries the validity."""
    v = Validity()
    for m in _FROM_RE.finditer(flat):
        v.effective, v.effective_at = _d(m.group(1)), m.start()
    m_issue = _last(_FROM_ISSUE_RE.finditer(flat))
    if m_issue is not None and (v.effective_at is None or m_issue.start() > v.effective_at):
        v.effective, v.effective_at = signed, m_issue.start()
        v.note = "自印发之日起施行: effective = signed date"
    for m in _UNTIL_RE.finditer(flat):
        v.expires, v.expires_at = _d(m.group(1)), m.start()
    for m in _RANGE_RE.finditer(flat):
        if v.expires_at is None or m.start() >= v.expires_at - 40:
            v.effective, v.effective_at = _d(m.group(1)), m.start()
            v.expires, v.expires_at = _d(m.group(2)), m.start()
    if v.expires is None:
        m = _last(_YEARS_RE.finditer(flat))
        if m is not None:
            n = int(m.group(1)) if m.group(1).isdigit() else _cn_small(m.group(1).replace("两", "二"))
            base = v.effective or signed
            if base is not None:
                v.expires = add_years(base, n) - timedelta(days=1)
                v.expires_at = m.start()
                v.note = f"有效期{n}年: expiry = effective ({base}) + {n} years − 1 day"
    return v


def cn_number(text: str) -> int | None:
    """一 → 1, 十二 → 12, 二十三 → 23, 12 → 12 (article and item numbers)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        return int(cn2an.cn2an(text.replace("两", "二"), "smart"))
    except (ValueError, KeyError, TypeError):
        return None
