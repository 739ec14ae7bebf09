"""Text files as Chinese offices save them: UTF-8 (with or without a BOM) or GB18030 — GBK's superset, what Excel
and WPS write on Chinese Windows. One decision for the per-entity loader and the bulk runner: the whole file must
decode strictly; UTF-8 first, GB18030 only when no Chinese character was read as UTF-8 before the first byte
that is not UTF-8 (GB18030 takes almost any byte sequence, so a UTF-8 file with one corrupt byte would otherwise
come out as mojibake). Anything else is an error naming the line and byte of the first bad byte.
"""

from __future__ import annotations

import codecs
from pathlib import Path

ENCODINGS = ("utf-8", "gb18030")
_BLOCK = 1 << 24


def _first_bad(path: Path, encoding: str) -> int | None:
    """Byte offset of the first byte that does not decode strictly, or None when the whole file does."""
    dec = codecs.getincrementaldecoder(encoding)()
    off = 0
    with open(path, "rb") as f:
        while chunk := f.read(_BLOCK):
            try:
                dec.decode(chunk)
            except UnicodeDecodeError as exc:
                return off + exc.start
            off += len(chunk)
    try:
        dec.decode(b"", final=True)
    except UnicodeDecodeError:  # a sequence cut off by the end of the file
        return off
    return None


#: Chinese characters read as valid UTF-8 before the first bad byte that make the file UTF-8 (with a corrupt
#: byte) rather than GBK. GBK bytes do pass for a UTF-8 ideograph now and then (E4 A1 + a 常用字 lead byte), but
#: GBK text fails UTF-8 within its first few characters; four ideographs by chance before that is vanishingly rare
CHINESE_EVIDENCE = 4


def _has_chinese(text: str) -> bool:
    n = 0
    for ch in text:
        if "\u4e00" <= ch <= "\u9fff":
            n += 1
            if n >= CHINESE_EVIDENCE:
                return True
    return False


def _utf8_chinese_before(path: Path, end: int) -> bool:
    """Whether the (valid UTF-8) bytes before offset ``end`` hold Chinese text (``CHINESE_EVIDENCE`` ideographs):
    then the file is UTF-8 with a corrupt byte. GBK bytes pass for a few UTF-8 characters by chance — '统一' is
    two valid 2-byte sequences — but those decode mostly to Greek and Cyrillic letters, seldom to ideographs."""
    with open(path, "rb") as f:
        head = f.read(min(end, 1 << 20))
    return _has_chinese(head.decode("utf-8", errors="ignore"))


def _message(where: str, line: int, bad: int, corrupt_utf8: bool) -> str:
    why = "不是有效的 UTF-8（此前的文字是 UTF-8，文件可能已损坏）" if corrupt_utf8 else \
        "既不是 UTF-8 也不是 GB18030/GBK 编码的文字"
    return f"{where}：第 {line} 行（第 {bad} 字节）{why}；请用 Excel 或 WPS“另存为 CSV UTF-8”（或 iconv 转为 UTF-8）后再读"


def decode_bytes(data: bytes, where: str = "") -> tuple[str, str]:
    """(text, encoding) of bytes held in memory, by the same rule as ``text_encoding``; a leading UTF-8 BOM is
    dropped."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        bad = exc.start
    corrupt = _has_chinese(data[:min(bad, 1 << 20)].decode("utf-8", errors="ignore"))
    if not corrupt:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    raise ValueError(_message(where, data[:bad].count(b"\n") + 1, bad, corrupt))


def _line_of(path: Path, offset: int) -> int:
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


def text_encoding(path: str | Path) -> str:
    """The encoding the whole file decodes in: 'utf-8', else 'gb18030' — but only when no Chinese character was
    read as UTF-8 before the first byte that is not UTF-8. GB18030 accepts almost any byte sequence, so a UTF-8
    file with one corrupt byte after Chinese text would otherwise be read as GB18030 mojibake. Anything else is a
    ValueError naming the line and byte of the first bad byte."""
    path = Path(path)
    bad = _first_bad(path, "utf-8")
    if bad is None:
        return "utf-8"
    corrupt = _utf8_chinese_before(path, bad)
    if not corrupt and _first_bad(path, "gb18030") is None:
        return "gb18030"
    raise ValueError(_message(str(path), _line_of(path, bad), bad, corrupt))
