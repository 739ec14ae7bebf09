"""Malformed input never crashes: a clear error naming the file, or a bounded, correct result."""

from __future__ import annotations

import time

import pytest

from zhengce.gazette import parse_file, parse_text
from zhengce.gazette.errors import BinaryInputError, EmptyInputError, EncodingError, GazetteError, InputTooLargeError
from zhengce.gazette.textio import read_text

SAMPLE = "威海市人民政府\n关于测试的通知\n\n威政发〔2023〕1号\n\n各区市人民政府：\n一、总则\n\n威海市人民政府\n2023年1月2日\n"


def test_gbk_file_is_decoded(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes(SAMPLE.encode("gbk"))
    d = parse_file(p).documents[0]
    assert d.doc_no == "威政发〔2023〕1号" and d.subject == "关于测试的通知"


def test_utf8_bom_and_crlf(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbf" + SAMPLE.replace("\n", "\r\n").encode("utf-8"))
    assert parse_file(p).documents[0].doc_no == "威政发〔2023〕1号"


def test_utf16_with_bom(tmp_path):
    p = tmp_path / "u16.txt"
    p.write_bytes(SAMPLE.encode("utf-16"))
    assert parse_file(p).documents[0].signed.isoformat() == "2023-01-02"


def test_binary_rejected(tmp_path):
    p = tmp_path / "x.pdf"
    p.write_bytes(b"%PDF-1.4\x00\x01\x02" + bytes(range(256)) * 10)
    with pytest.raises(BinaryInputError, match="x.pdf"):
        read_text(p)


def test_undecodable_rejected(tmp_path):
    p = tmp_path / "latin.txt"
    p.write_bytes(("Résumé " * 50).encode("latin-1") + b"\xff\xfe\xfd" * 20)
    with pytest.raises(GazetteError, match="latin.txt"):
        read_text(p)


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  \n"])
def test_empty_rejected(tmp_path, content):
    p = tmp_path / "empty.txt"
    p.write_bytes(content)
    with pytest.raises(EmptyInputError, match="empty.txt"):
        read_text(p)


def test_missing_file(tmp_path):
    with pytest.raises(EncodingError, match="not found"):
        read_text(tmp_path / "nope.txt")


def test_huge_file_rejected_without_reading_it(tmp_path):
    p = tmp_path / "huge.txt"
    with p.open("wb") as fh:  # sparse 100 MB file: created instantly, never read
        fh.seek(100 * 1024 * 1024 - 1)
        fh.write(b"\n")
    t = time.perf_counter()
    with pytest.raises(InputTooLargeError, match="100.0 MB"):
        read_text(p)
    assert time.perf_counter() - t < 0.5


def test_large_text_is_bounded_in_time():
    """~1 MB holding 8000 documents parses in bounded time (linear, no pathological regex)."""
    text = SAMPLE * 8000
    t = time.perf_counter()
    src = parse_text(text, "big.txt")
    assert time.perf_counter() - t < 15
    assert len(src.documents) == 8000


@pytest.mark.parametrize("junk", [
    "\n\n\n", "第\n条\n（\n）\n", "〔2023〕号\n" * 5, "《" * 1000, "1." * 5000, "威政发〔2023〕1号\n" * 50,
    "附件：\n", "目录\n(1)\n", "\t\t\t\n" * 100, "a" * 200000,
], ids=lambda s: repr(s[:12]))
def test_garbage_text_does_not_crash(junk):
    src = parse_text(junk, "junk.txt")
    assert src.documents is not None
