"""Registers as offices save them — CSV in UTF-8 or GB18030 (zhengce.encoding), Excel workbooks — turned into
something polars can scan as UTF-8 text.

polars reads only UTF-8 CSV, and its lossy mode would turn every GBK header and name into replacement
characters without a word; so a CSV is checked once, whole, and a GB18030 file is read through a UTF-8 copy.
An Excel workbook (.xlsx/.xlsm/.xls, read by fastexcel) is read sheet by sheet into a UTF-8 CSV copy, every
cell as text, so the normaliser parses it exactly as it parses CSV: the first sheet is the register, the other
sheets are named in the summary (never dropped silently), numbers are written as Excel shows them (15
significant digits: the stored double 36397009.189999998 is the 36397009.19 the user typed) and a date cell's
midnight time is dropped. Copies live in a temporary directory removed at exit, made once per process per file
version.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from zhengce.encoding import text_encoding

CSV_SUFFIXES = (".csv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
TEXT_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
_BLOCK = 1 << 24
_TMP: list[str] = []


@dataclass
class Readable:
    """A register file as polars can scan it: ``path`` (UTF-8 CSV), what it was (``encoding`` of a CSV, or
    'excel'), the Excel ``sheet`` read and the ``other_sheets`` not read."""
    path: Path
    encoding: str
    sheet: str | None = None
    other_sheets: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        out = {"encoding": self.encoding}
        if self.sheet is not None:
            out.update(sheet=self.sheet, other_sheets=self.other_sheets)
        return out


_SEEN: dict[tuple[str, int, int], Readable] = {}  # (path, size, mtime) → what to read


def _tmpdir() -> Path:
    if not _TMP:
        _TMP.append(tempfile.mkdtemp(prefix="zhengce-register-"))
        atexit.register(shutil.rmtree, _TMP[0], True)
    return Path(_TMP[0])


def readable(path: str | Path) -> Readable:
    """The UTF-8 CSV to scan for a CSV or Excel register (the file itself when it is UTF-8 CSV)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SEEN:
        target = _tmpdir() / f"{len(_SEEN)}-{path.stem}.utf8.csv"
        part = target.with_suffix(f".{os.getpid()}.part")
        if path.suffix.lower() in EXCEL_SUFFIXES:
            sheet, others = _excel_to_csv(path, part)
            os.replace(part, target)
            _SEEN[key] = Readable(target, "excel", sheet, others)
        else:
            enc = text_encoding(path)
            if enc != "utf-8":
                with open(path, encoding=enc, newline="") as src, open(part, "w", encoding="utf-8", newline="") as out:
                    shutil.copyfileobj(src, out, _BLOCK)
                os.replace(part, target)
            _SEEN[key] = Readable(target if enc != "utf-8" else path, enc)
    return _SEEN[key]


def _excel_to_csv(path: Path, dest: Path) -> tuple[str, list[str]]:
    """The first sheet of a workbook, every cell as the text Excel shows, written as UTF-8 CSV; (its name, the
    other sheets).

    Excel stores numbers as binary doubles and shows them to 15 significant digits: 36397009.19 is stored as
    36397009.189999998…, and a formula's 0.1 + 0.2 as 0.30000000000000004. A number cell is therefore rounded to
    15 significant digits and written in its shortest form ('36397009.19', '0.3'), which is what the user typed
    and sees; text that spells such a double in full (a number cell in a column that also holds text) is
    treated the same. Date cells at midnight are written as the date alone."""
    import fastexcel
    import polars as pl

    try:
        book = fastexcel.read_excel(str(path))
        names = list(book.sheet_names)
        if not names:
            raise ValueError(f"{path}：工作簿中没有工作表")
        frame = pl.read_excel(path, sheet_name=names[0], infer_schema_length=None, engine="calamine")
    except (fastexcel.FastExcelError, OSError) as exc:  # a damaged or password-protected workbook
        raise ValueError(f"{path}：无法读取 Excel 工作簿（{exc}）；请在 Excel/WPS 中打开检查，或另存为 CSV UTF-8") from None
    shown = frame.select([_as_shown(pl.col(c), d) for c, d in frame.schema.items()])
    # polars writes very small and very large floats in exponent form ('1e-6'), which no value parser reads:
    # those few values, in the number columns only, spelt out in full
    for c, d in frame.schema.items():
        if d.is_float() or d == pl.Utf8:
            col = shown[c]
            hit = col.str.contains(r"^-?[0-9.]+e[-+]?[0-9]+$").fill_null(False)
            if hit.any():
                idx = hit.arg_true()
                shown = shown.with_columns(col.scatter(idx, [format(Decimal(v), "f") for v in col.gather(idx)]))
    shown.write_csv(dest)
    return names[0], names[1:]


def _as_shown(col, dtype):
    """A column as the text Excel shows (see ``_excel_to_csv``)."""
    import polars as pl

    if dtype.is_float():
        out = col.round_sig_figs(15).cast(pl.Utf8)
    elif dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        out = pl.when(col.dt.time() == pl.time(0)).then(col.dt.strftime("%Y-%m-%d")) \
            .otherwise(col.dt.strftime("%Y-%m-%d %H:%M:%S"))
    elif dtype == pl.Date:
        out = col.dt.strftime("%Y-%m-%d")
    elif dtype == pl.Utf8:
        full = col.str.contains(r"^-?\d+\.\d{8,}$")  # a double spelt in full (17 significant digits)
        out = pl.when(full).then(col.cast(pl.Float64, strict=False).round_sig_figs(15).cast(pl.Utf8)).otherwise(col)
    else:
        out = col.cast(pl.Utf8)
    return out.alias(col.meta.output_name())
