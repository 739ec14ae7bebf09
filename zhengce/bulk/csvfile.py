"""CSV registers in the encodings offices save them in (zhengce.encoding: UTF-8 or GB18030). polars
reads only UTF-8, and its lossy mode would turn every GBK header and name into replacement characters without a
word; so a CSV is checked once, whole, and a GB18030 file is read through a UTF-8 copy.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from zhengce.encoding import text_encoding

_BLOCK = 1 << 24
_SEEN: dict[tuple[str, int, int], tuple[str, Path]] = {}  # (path, size, mtime) → (encoding, path to read)
_TMP: list[str] = []


def readable_csv(path: str | Path) -> tuple[Path, str]:
    """(a path polars can read as UTF-8, the file's encoding): the file itself, or once per process a UTF-8
    copy of a GB18030 file in a temporary directory removed at exit."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SEEN:
        enc = text_encoding(path)
        target = path
        if enc != "utf-8":
            if not _TMP:
                _TMP.append(tempfile.mkdtemp(prefix="zhengce-csv-"))
                atexit.register(shutil.rmtree, _TMP[0], True)
            target = Path(_TMP[0]) / f"{len(_SEEN)}-{path.stem}.utf8.csv"
            tmp = target.with_suffix(f".{os.getpid()}.part")
            with open(path, encoding=enc, newline="") as src, open(tmp, "w", encoding="utf-8", newline="") as out:
                shutil.copyfileobj(src, out, _BLOCK)
            os.replace(tmp, target)
        _SEEN[key] = (enc, target)
    enc, target = _SEEN[key]
    return target, enc
