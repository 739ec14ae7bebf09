"""Registers: raw columns (CSV text, Parquet types, SQL rows) → the typed frame the compiled plan reads.

Typed frame conventions (one row per entity):
- ``_row``: the record's 1-based position in the source (CSV data line = ``_row + 1``), ``id``: entity id;
- numeric fields are Int64 integers at a fixed scale (money: 分 = scale 2, rate: scale 6, number: scale 4,
  int: scale 0) — exact, no floats; bool → Boolean; date → Date; text/enum → Utf8; set → List(Utf8).

Parsing follows ``zhengce.entities.schema.coerce`` (same units, same true/false words, same set separators).
A value that cannot be read, is not an allowed enum/set value, has more decimal places than the bulk scale
or is out of the exactly computable range makes the *record* bad: it goes to the error frame with row,
id, field, value and reason, and is left out of the computation. Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from zhengce.bulk.compiler import MAX_ABS, NUMERIC_TYPES, SCALES, aligned
from zhengce.entities.schema import _FALSE, _TRUE, EntitySchema

UNIT_EXP = {"元": 0, "万元": 4, "亿元": 8, "万": 4, "亿": 8, "%": -2, "‰": -3, "bp": -4, "基点": -4}
_NUM_RE = r"^\s*([-+]?)([0-9][0-9,]*)(?:\.([0-9]+))?\s*(万元|亿元|元|万|亿|%|‰|bp|基点)?\s*$"
_FLOAT_RE = r"^([-+]?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?$"

ERROR_SCHEMA = {"_row": pl.Int64, "id": pl.Utf8, "field": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8}


@dataclass
class Normalized:
    frame: pl.DataFrame  # good rows, typed
    errors: pl.DataFrame  # one row per (bad record, field)
    ignored_columns: list[str]


def _pow10(e: pl.Expr) -> pl.Expr:
    """10**e for 0 <= e <= 38 as Int128 (a small lookup, exact)."""
    return e.replace_strict(pl.Series(list(range(39)), dtype=pl.Int64),
                            pl.Series([10**k for k in range(39)], dtype=pl.Int128), default=None,
                            return_dtype=pl.Int128)


def _parse_number_text(s: pl.Expr, scale: int, parts: pl.Expr | None = None,
                       default_unit: str = "元") -> tuple[pl.Expr, pl.Expr]:
    """Text like '1,200.5万元' or '6%' → (Int128 value at ``scale`` or null, reason or null).
    ``parts``: the regex groups, when already materialised as a struct column (keeps expressions small).
    ``default_unit``: the unit of a number written without one (the column header's unit, else 元/none)."""
    if parts is None:
        parts = s.str.strip_chars().str.extract_groups(_NUM_RE)
    sign = parts.struct.field("1")
    ip = parts.struct.field("2").str.replace_all(",", "")
    fp = parts.struct.field("3").fill_null("")
    unit = parts.struct.field("4").fill_null(default_unit)
    uexp = unit.replace_strict(list(UNIT_EXP), list(UNIT_EXP.values()), default=0, return_dtype=pl.Int64)
    return _digits_to_int(sign, ip, fp, uexp, scale, matched=ip.is_not_null())


def _digits_to_int(sign, ip, fp, exp, scale, matched) -> tuple[pl.Expr, pl.Expr]:
    fp = fp.str.strip_chars_end("0")
    digits = (ip + fp).str.strip_chars_start("0")
    digits = pl.when(digits == "").then(pl.lit("0")).otherwise(digits)
    shift = exp + scale - fp.str.len_chars().cast(pl.Int64)  # value = digits * 10**shift
    too_long = digits.str.len_chars() > 30
    mant = pl.when(too_long).then(None).otherwise(digits).cast(pl.Int128, strict=False)
    up = mant * _pow10(shift.clip(0, 38))
    # a negative shift is fine only when the digits we would drop are zeros (already stripped above)
    val = pl.when(shift >= 0).then(up).otherwise(None)
    val = pl.when(sign == "-").then(val * -1).otherwise(val)
    reason = (
        pl.when(~matched).then(pl.lit("不是数字（示例：1200000、'120万元'、'1.2亿元'、'10%'）"))
        .when(shift < 0).then(pl.lit(f"小数位超过批量精确计算的位数（{scale}位）"))
        .when(val.is_null() | (shift > 38)).then(pl.lit("数值超出精确计算范围"))
        .otherwise(None)
    )
    return pl.when(reason.is_null()).then(val).otherwise(None), reason


def _numeric(col: pl.Expr, dtype: pl.DataType, ftype: str, parts: pl.Expr | None = None,
             unit: str | None = None) -> tuple[pl.Expr, pl.Expr]:
    """A numeric column → (Int128 value at the field's scale, reason or null). ``unit``: the column header's
    unit ('万元', '%' …): typed numbers are in it, text numbers without a unit of their own too."""
    scale = SCALES[ftype]
    uexp = UNIT_EXP[unit] if unit else 0
    if dtype.is_integer() and uexp >= -scale:
        val = col.cast(pl.Int128) * (10 ** (scale + uexp))
        return val, pl.lit(None, dtype=pl.Utf8)
    if dtype.is_integer() or isinstance(dtype, pl.Decimal):
        phys = col.to_physical().cast(pl.Int128)
        ds = (dtype.scale or 0) if isinstance(dtype, pl.Decimal) else 0
        ds -= uexp  # a value in 万元 is the same digits at 4 fewer decimal places of 元
        if ds <= scale:
            return phys * (10 ** (scale - ds)), pl.lit(None, dtype=pl.Utf8)
        f = 10 ** (ds - scale)
        bad = (phys % f) != 0
        reason = pl.when(bad).then(pl.lit(f"小数位超过批量精确计算的位数（{scale}位）")).otherwise(None)
        return pl.when(bad).then(None).otherwise(phys // f), reason
    if dtype.is_float():
        # the shortest repr of the float, as zhengce.money.to_decimal does (never the binary value)
        s = col.cast(pl.Utf8)
        parts = s.str.extract_groups(_FLOAT_RE)
        exp = parts.struct.field("4").cast(pl.Int64).fill_null(0) + uexp
        finite = col.is_finite()
        v, r = _digits_to_int(parts.struct.field("1"), parts.struct.field("2"), parts.struct.field("3").fill_null(""),
                              exp, scale, matched=parts.struct.field("2").is_not_null() & finite)
        return v, r
    if dtype == pl.Boolean:
        return pl.lit(None, dtype=pl.Int128), pl.lit("需要数字，得到真/假值")
    return _parse_number_text(col.cast(pl.Utf8), scale, parts, unit or "元")


def _empty_to_null(col: pl.Expr, dtype) -> pl.Expr:
    if dtype == pl.Utf8:
        return pl.when(col.str.strip_chars() == "").then(None).otherwise(col)
    return col


_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
_MAX_DISTINCT = 10_000  # above this many distinct values a per-value decision is not worth it


def _typed_fast(raw: pl.DataFrame, specs: dict, names: list[str]) -> tuple[dict, list[pl.Series]]:
    """Typed Parquet/SQL columns decided on whole-chunk statistics, so a clean column costs no per-row check.

    One aggregate select: min/max (and any excess decimals) of each integer/Decimal column, the distinct items
    and "any repeated item" of each List(Utf8) set column. Returns name → (value, Boolean bad or None = never),
    the value exact wherever bad is not true, and the helper columns read (``__p_<name>``: a Decimal's
    physical integer as Int64)."""
    schema = raw.schema  # built anew on every access
    ints, decs, sets = [], [], []
    for n in names:
        t, dtype = specs[n].type, schema[n]
        if t in NUMERIC_TYPES and MAX_ABS[t] * 10 ** SCALES[t] < 2**63:
            if dtype in _INTS:
                ints.append(n)
            elif isinstance(dtype, pl.Decimal) and (dtype.precision or 38) <= 18:
                decs.append(n)
        elif t == "set" and dtype == pl.List(pl.Utf8):
            sets.append(n)
    helpers: list[pl.Series] = []
    if decs:
        phys = raw.select([pl.col(n).to_physical().cast(pl.Int64, strict=False).alias(f"__p_{n}") for n in decs])
        # a value beyond Int64 breaks the declared precision: that column takes the generic (Int128) path
        decs = [n for n in decs if phys[f"__p_{n}"].null_count() == raw[n].null_count()]
        helpers = [phys[f"__p_{n}"] for n in decs]
    src = {n: n for n in ints} | {n: f"__p_{n}" for n in decs}
    aggs = []
    for n, c in src.items():
        x = pl.col(c).cast(pl.Int64)
        aggs += [x.min().alias(f"__min_{n}"), x.max().alias(f"__max_{n}")]
        ds = (schema[n].scale or 0) if n in decs else 0
        if ds > SCALES[specs[n].type]:
            aggs.append(((pl.col(c) % 10 ** (ds - SCALES[specs[n].type])) != 0).any().alias(f"__res_{n}"))
    for n in sets:
        multi = pl.col(n).filter(pl.col(n).list.len() > 1)  # only lists of two or more items can repeat one
        aggs += [pl.col(n).explode(keep_nulls=False).unique().implode().alias(f"__items_{n}"),
                 (multi.list.n_unique() != multi.list.len()).any().alias(f"__dup_{n}")]
    if not aggs:
        return {}, []
    st = pl.DataFrame([raw[n] for n in [*ints, *sets]] + helpers).select(aggs)
    out: dict = {}
    for n, c in src.items():
        t = specs[n].type
        scale, lo, hi = SCALES[t], st[f"__min_{n}"].item(), st[f"__max_{n}"].item()
        bound = MAX_ABS[t] * 10**scale
        x = pl.col(c).cast(pl.Int64)
        if n in ints:  # |x * 10**scale| > bound  ⇔  |x| > MAX_ABS
            f, lim, ds = 10**scale, MAX_ABS[t], scale
        else:
            ds = schema[n].scale or 0
            f = 10 ** abs(scale - ds)
            lim = bound // f  # ds <= scale: |x * f| > bound  ⇔  |x| > bound // f (integers)
        if ds <= scale:
            need = lo is not None and (lo < -lim or hi > lim)
            out[n] = (x * f if f != 1 else x, ((x > lim) | (x < -lim)) if need else None)
        else:
            q = x // f  # floor division is monotonic: the quotients lie within [lo // f, hi // f]
            need = lo is not None and (st[f"__res_{n}"].item() or lo // f < -bound or hi // f > bound)
            out[n] = (q, (((x % f) != 0) | (q > bound) | (q < -bound)) if need else None)
    for n in sets:
        u = st[f"__items_{n}"][0]
        if u.len() > _MAX_DISTINCT or u.null_count() or (u == "").any() or not u.str.strip_chars().equals(u):
            continue  # null items, blanks or padding: the generic strip/filter path
        # duplicates: only then is list.unique needed (len() of a set counts its items)
        val = pl.col(n).list.unique(maintain_order=True) if st[f"__dup_{n}"].item() else pl.col(n)
        values = specs[n].values
        bad_items = u.filter(~u.is_in(values)) if values else u.head(0)
        bad = pl.col(n).list.eval(pl.element().is_in(bad_items.to_list())).list.any() if bad_items.len() else None
        out[n] = (val, bad)
    return out, helpers


def _chunk_lengths(df: pl.DataFrame) -> list[int] | None:
    """The rows of each chunk when all columns share them, else None. Polars copies a frame whose columns are
    chunked differently into one chunk on every select (0.1–1 s at 1M rows), so keep them alike."""
    if df.width == 0:
        return [df.height]
    lens = df.get_column(df.columns[0]).chunk_lengths()
    return lens if all(s.chunk_lengths() == lens for s in df.get_columns()) else None


def normalize(raw: pl.DataFrame, schema: EntitySchema, entity_type: str, *, row_offset: int = 0,
              id_column: str = "id", keep: tuple[str, ...] = (), units: dict[str, str] | None = None,
              _fast: bool = True) -> Normalized:
    """Validate and type one chunk of a register. ``row_offset``: rows before this chunk in the source.
    ``units``: field → the unit its column header states (see zhengce.entities.columns).

    One pass computes the typed values and one Boolean "bad" flag per record (typed columns that statistics
    show clean add no flag, see _typed_fast); the error reasons (strings) are computed afterwards on the bad
    records only. ``_fast=False``: derive every flag from the reason expressions (the reference the tests
    compare the typed fast paths with)."""
    specs = schema.fields[entity_type]
    units = units or {}
    n = raw.height
    lens = _chunk_lengths(raw)
    if lens is None:
        raw = raw.rechunk()
        lens = raw.get_column(raw.columns[0]).chunk_lengths()
    if "_row" in raw.columns:
        rows = raw["_row"].cast(pl.Int64)
    else:
        rows = pl.int_range(row_offset + 1, row_offset + n + 1, eager=True, dtype=pl.Int64)
    if id_column in raw.columns:
        ids = raw[id_column].cast(pl.Utf8)
        if ids.null_count() or (ids == "").any():
            ids = pl.select(pl.when(ids.is_null() | (ids == "")).then(pl.format("{}-{}", pl.lit(entity_type), rows))
                            .otherwise(ids)).to_series()
    else:
        ids = pl.select(pl.format("{}-{}", pl.lit(entity_type), rows)).to_series()
    base = raw.with_columns(_row=aligned(rows, lens), id=aligned(ids, lens).alias("id"))
    # text numbers: split into regex groups once (a struct column), so the parse expressions stay small
    rschema = raw.schema  # built anew on every access
    pre = [pl.col(c).str.strip_chars().str.extract_groups(_NUM_RE).alias(f"__g_{c}") for c in raw.columns
           if rschema[c] == pl.Utf8 and (specs.get(c) is not None and specs[c].type in NUMERIC_TYPES)
           and c not in ("_row", id_column)]
    if pre:
        base = base.with_columns(pre)
    grouped = {e.meta.output_name() for e in pre}
    fast: dict = {}
    if _fast:
        fast, helpers = _typed_fast(raw, specs, [c for c in raw.columns if c in specs and c not in units
                                                  and c not in ("_row", "id", id_column)])
        if helpers:
            base = base.with_columns([aligned(h, lens) for h in helpers])
    exprs: list[pl.Expr] = []
    flags: list[pl.Expr] = []
    reasons: list[tuple[str, pl.Expr]] = []
    used = {"_row", "id", id_column}
    for name in raw.columns:
        spec = specs.get(name)
        if spec is None or name in used:
            continue
        used.add(name)
        dtype = rschema[name]
        col = _empty_to_null(pl.col(name), dtype) if spec.type != "text" else pl.col(name)
        t = spec.type
        bad = None  # Boolean: the record is bad because of this field (None: never)
        if t in NUMERIC_TYPES:
            parts = pl.col(f"__g_{name}") if f"__g_{name}" in grouped else None
            val, reason = _numeric(col, dtype, t, parts, units.get(name))
            bound = MAX_ABS[t] * 10 ** SCALES[t]
            reason = pl.when(col.is_null()).then(None).when(reason.is_not_null()).then(reason) \
                .when(val.is_null() | (val.abs() > bound)).then(pl.lit(f"数值超出精确计算范围（绝对值≤{MAX_ABS[t]:.0e}）")) \
                .otherwise(None)
            if name in fast:
                expr, bad = fast[name]
            else:
                # good rows: reason is null, so the value is val itself (|val| <= bound fits Int64)
                expr, bad = val.cast(pl.Int64, strict=False), reason.is_not_null()
        elif t == "bool":
            if dtype == pl.Boolean:
                expr, reason = col, pl.lit(None, dtype=pl.Utf8)
            else:
                s = col.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
                expr = pl.when(s.is_in(list(_TRUE))).then(True).when(s.is_in(list(_FALSE))).then(False) \
                    .otherwise(None)
                bad = col.is_not_null() & expr.is_null()
                reason = pl.when(bad).then(pl.lit("需要 true/false（或 是/否）")).otherwise(None)
        elif t == "date":
            if dtype == pl.Date:
                expr, reason = col, pl.lit(None, dtype=pl.Utf8)
            elif isinstance(dtype, pl.Datetime):
                expr, reason = col.dt.date(), pl.lit(None, dtype=pl.Utf8)
            else:
                s = col.cast(pl.Utf8).str.strip_chars()
                expr = s.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
                expr = pl.when(s.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(expr).otherwise(None)
                bad = col.is_not_null() & expr.is_null()
                reason = pl.when(bad).then(pl.lit("需要日期，格式如 2023-02-25")).otherwise(None)
        elif t == "text":
            expr, reason = col.cast(pl.Utf8), pl.lit(None, dtype=pl.Utf8)
        elif t == "enum":
            s = col.cast(pl.Utf8).str.strip_chars()
            expr = s
            if spec.values:
                bad = s.is_not_null() & ~s.is_in(spec.values)
                reason = pl.when(bad).then(pl.format("{} 不是允许的取值之一", s)).otherwise(None)
            else:
                reason = pl.lit(None, dtype=pl.Utf8)
            if _fast and dtype == pl.Utf8:
                # decide on the distinct values (a handful): when none needs stripping or is blank, the column is
                # its own value, and only the distinct values outside the list can make a record bad
                u = raw[name].drop_nulls().unique()
                if u.len() <= _MAX_DISTINCT and u.str.strip_chars().equals(u) and not (u == "").any():
                    expr = pl.col(name)
                    out = u.filter(~u.is_in(spec.values)) if spec.values else u.head(0)
                    bad = pl.col(name).is_in(out.to_list()) if out.len() else None
        elif t == "set":
            if isinstance(dtype, pl.List):
                lst = col.cast(pl.List(pl.Utf8)).list.eval(pl.element().str.strip_chars())
            else:
                s = col.cast(pl.Utf8).str.replace_all("；", ";").str.replace_all("、", ";").str.replace_all(",", ";")
                lst = s.str.split(";").list.eval(pl.element().str.strip_chars())
            lst = lst.list.eval(pl.element().filter(pl.element() != "")).list.unique(maintain_order=True)
            expr = lst
            if spec.values:
                bad = col.is_not_null() & (
                    lst.list.eval(pl.element().filter(~pl.element().is_in(spec.values))).list.len() > 0)
                reason = pl.when(bad).then(pl.lit(f"含不允许的取值（允许：{spec.values}）")).otherwise(None)
            else:
                reason = pl.lit(None, dtype=pl.Utf8)
            if name in fast:
                expr, bad = fast[name]
        else:  # pragma: no cover
            continue
        if not _fast and bad is not None:
            bad = reason.is_not_null()
        exprs.append(expr.alias(name))
        if bad is not None:
            flags.append(bad.fill_null(False))
            reasons.append((name, reason.alias(f"__err_{name}")))
    keep_cols = [c for c in keep if c in raw.columns and c not in used]
    bad_any = pl.any_horizontal(flags).fill_null(False).alias("__bad") if flags else pl.lit(False).alias("__bad")
    typed = base.select(["_row", "id", *exprs, *[pl.col(c).cast(pl.Utf8) for c in keep_cols], bad_any])
    nbad = typed["__bad"].sum()
    if nbad:
        # reasons (strings) only for the bad records
        bad_base = base.filter(typed["__bad"])
        bad = bad_base.select("_row", "id", *[r for _, r in reasons])
        parts = []
        for name, _ in reasons:
            c = f"__err_{name}"
            sel = bad.filter(pl.col(c).is_not_null())
            if sel.height == 0:
                continue
            # a typed list is shown as its CSV text (items joined by ';'); a list does not cast to text
            shown = pl.col(name).cast(pl.List(pl.Utf8)).list.join(";") if isinstance(rschema[name], pl.List) \
                else pl.col(name).cast(pl.Utf8)
            vals = bad_base.join(sel.select("_row"), on="_row", how="semi").select("_row", shown.alias("value"))
            r = sel.select("_row", "id", pl.lit(name).alias("field"), pl.col(c).alias("reason"))
            parts.append(r.join(vals, on="_row", how="left").select(list(ERROR_SCHEMA)))
        errors = pl.concat(parts).sort("_row", "field") if parts else pl.DataFrame(schema=ERROR_SCHEMA)
        if errors["_row"].n_unique() != nbad:  # every bad flag must come with a reason (and vice versa)
            raise AssertionError("normalize: bad-record flags and error reasons disagree")
        good = typed.filter(~pl.col("__bad"))
    else:
        errors = pl.DataFrame(schema=ERROR_SCHEMA)
        good = typed
    good = good.drop("__bad")
    ignored = [c for c in raw.columns if c not in used and c not in keep_cols and c not in ("_row", id_column)]
    return Normalized(good, errors, ignored)


def ensure_fields(frame: pl.DataFrame, schema: EntitySchema, entity_type: str, names: set[str]) -> pl.DataFrame:
    """Add every field the plan reads but the register lacks, as all-unknown (null) columns of the right dtype."""
    missing = [n for n in sorted(names) if n not in frame.columns]
    if not missing:
        return frame
    return frame.with_columns([pl.lit(None, dtype=dtype_of(schema.fields[entity_type][n].type)).alias(n)
                               for n in missing])


def dtype_of(ftype: str) -> pl.DataType:
    if ftype in NUMERIC_TYPES:
        return pl.Int64
    return {"bool": pl.Boolean, "date": pl.Date, "text": pl.Utf8, "enum": pl.Utf8, "set": pl.List(pl.Utf8)}[ftype]
