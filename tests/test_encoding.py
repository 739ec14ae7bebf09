"""One rule for every text file the platform reads — gazettes, per-entity CSV/YAML, bulk CSV registers (zhengce.encoding):
UTF-8, else GB18030/GBK, except a UTF-8 file with a corrupt byte, which GB18030 would decode into mojibake."""

from __future__ import annotations

import pytest

from zhengce.encoding import decode_bytes, text_encoding
from zhengce.entities.loader import load_entities
from zhengce.errors import EntityError
from zhengce.gazette.errors import EncodingError
from zhengce.gazette.textio import read_text

CSV = "id,企业名称,所在区市,营业收入\nA1,威海甲公司,荣成市,100亿元\nA2,乙公司,环翠区,5亿元\n"
GAZETTE = "威海市人民政府\n关于测试的通知\n\n威政发〔2023〕1号\n\n各区市人民政府：\n一、总则\n"
CORRUPT = CSV.encode("utf-8") + b"A3,\xb0\xa1,\xc4\xe3\n"  # a GBK row pasted into a UTF-8 file


def test_rule_on_bytes_and_files_agree(tmp_path):
    for data, enc in ((CSV.encode("utf-8"), "utf-8"), (b"\xef\xbb\xbf" + CSV.encode("utf-8"), "utf-8"),
                      (CSV.encode("gbk"), "gb18030"), (CSV.encode("gb18030"), "gb18030")):
        text, got = decode_bytes(data)
        assert (text, got) == (CSV, enc)
        (tmp_path / "f.csv").write_bytes(data)
        assert text_encoding(tmp_path / "f.csv") == enc
    with pytest.raises(ValueError, match="第 4 行.*不是有效的 UTF-8"):
        decode_bytes(CORRUPT, "x.csv")
    (tmp_path / "c.csv").write_bytes(CORRUPT)
    with pytest.raises(ValueError, match="第 4 行.*不是有效的 UTF-8"):
        text_encoding(tmp_path / "c.csv")


def test_per_entity_loader_and_gazette_reader_use_it(pack, tmp_path):
    (tmp_path / "gbk.csv").write_bytes(CSV.encode("gbk"))
    ents = load_entities(tmp_path / "gbk.csv", pack.schema)
    assert [e.name for e in ents] == ["威海甲公司", "乙公司"] and ents[0].fields["district"] == "荣成市"
    (tmp_path / "bad.csv").write_bytes(CORRUPT)
    with pytest.raises(EntityError, match="第 4 行"):
        load_entities(tmp_path / "bad.csv", pack.schema)
    (tmp_path / "g.txt").write_bytes(GAZETTE.encode("utf-8") + "二、附则\n".encode("gbk"))
    with pytest.raises(EncodingError, match="不是有效的 UTF-8"):
        read_text(tmp_path / "g.txt")
    (tmp_path / "g2.txt").write_bytes(GAZETTE.encode("gbk"))
    assert read_text(tmp_path / "g2.txt") == GAZETTE


def test_the_rule_on_the_seed_gazettes(seeds_dir):
    """Real gazette text: 400 random five-line passages saved as GBK all read as GB18030 (none mistaken for
    corrupt UTF-8), and the same passages in UTF-8 with a GBK character pasted in are all refused (none read as
    GB18030 mojibake)."""
    import random

    lines = [ln.strip() for f in sorted(seeds_dir.glob("*.txt"))
             for ln in f.read_text(encoding="utf-8").splitlines() if len(ln.strip()) > 10]
    rng = random.Random(4)
    for _ in range(400):
        i = rng.randrange(len(lines) - 5)
        text = "\n".join(lines[i:i + 5])
        gbk = text.encode("gbk", errors="ignore")
        assert decode_bytes(gbk)[1] == "gb18030"
        utf = text.encode("utf-8")
        cut = rng.randrange(len(utf) // 2, len(utf))
        while cut < len(utf) and (utf[cut] & 0xC0) == 0x80:  # paste at a character boundary
            cut += 1
        with pytest.raises(ValueError, match="不是有效的 UTF-8"):
            decode_bytes(utf[:cut] + "啊".encode("gbk") + utf[cut:])
