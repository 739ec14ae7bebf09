"""Read gazette files safely: size limit, binary detection, encoding detection (UTF-8 / UTF-16 / GB18030).

Real-world gazette text arrives as UTF-8 from web scrapes and as GBK/GB18030 from older government systems;
we decode both and refuse anything else with a message naming the file and the byte offset.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from zhengce.gazette.errors import BinaryInputError, EmptyInputError, EncodingError, InputTooLargeError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # a 100-page gazette issue is < 1 MB; 20 MB leaves ample room
_MAX_ENV = "ZHENGCE_MAX_INPUT_BYTES"


def max_bytes() -> int:
    try:
        return int(os.environ.get(_MAX_ENV, DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def read_bytes(path: Path | str, limit: int | None = None) -> bytes:
    """Read at most ``limit`` bytes; a larger file is an error (we never load it whole)."""
    path = Path(path)
    limit = max_bytes() if limit is None else limit
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise EncodingError("file not found", str(path)) from None
    if path.is_dir():
        raise EncodingError("is a directory, not a text file", str(path))
    if size > limit:
        raise InputTooLargeError(
            f"file is {size / 1048576:.1f} MB, above the {limit / 1048576:.1f} MB limit "
            f"(split the issue into documents or raise {_MAX_ENV})", str(path))
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # grew while reading
        raise InputTooLargeError(f"file is above the {limit} byte limit", str(path))
    return data


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    ctrl = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return ctrl > max(8, len(head) // 100)


def _plausible_text(text: str) -> bool:
    """Decoded text should be mostly CJK, ASCII printable and punctuation — not mojibake."""
    sample = text[:20000]
    if not sample.strip():
        return True
    good = 0
    for ch in sample:
        o = ord(ch)
        if ch.isspace() or 32 <= o < 127 or 0x3000 <= o <= 0x9FFF or 0xFF00 <= o <= 0xFFEF or 0x2000 <= o <= 0x27BF:
            good += 1
    return good / len(sample) >= 0.95


def decode(data: bytes, source: str = "") -> str:
    """Bytes → str. BOMs first, then strict UTF-8, then GB18030 (a superset of GBK/GB2312)."""
    if not data.strip():
        raise EmptyInputError("file is empty", source)
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise EncodingError(f"invalid {enc} at byte {exc.start}: {exc.reason}", source) from None
            break
    else:
        if _looks_binary(data):
            raise BinaryInputError("looks like a binary file (NUL/control bytes), not gazette text", source)
        from zhengce.encoding import decode_bytes

        try:
            text, enc = decode_bytes(data, source)  # UTF-8, else GB18030 unless it is corrupt UTF-8
        except ValueError as exc:
            raise EncodingError(str(exc), source) from None
        if enc != "utf-8" and not _plausible_text(text):
            raise EncodingError("bytes decode as GB18030 but do not look like Chinese text", source) from None
    if not text.strip():
        raise EmptyInputError("file contains only whitespace", source)
    if not _plausible_text(text):
        raise BinaryInputError("decoded text is mostly control or unusual characters", source)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path | str, limit: int | None = None) -> str:
    return decode(read_bytes(path, limit), str(path))
