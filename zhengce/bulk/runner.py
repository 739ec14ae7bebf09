"""``zhengce batch``: a register in (CSV / Parquet / SQL), an entitlement table out, chunk by chunk.

Layout of a run directory ``<out>/<run_id>/``::

    manifest.json                 # inputs, as_of, pack fingerprint, chunk size; a rerun must match it
    entitlements/part-00000.parquet   # one file per chunk, written atomically (tmp + rename)
    totals/part-00000.parquet
    group_caps/part-00000.parquet
    errors/part-00000.parquet     # bad records: _row, id, field, value, reason
    rollup/part-00000.parquet     # the chunk's sums by policy, district, department, funding level; totals
    stats/part-00000.parquet      # per rule: eligible / not_eligible / undetermined / amount_unknown
    summary.json

A chunk whose five part files exist is done; a rerun with the same run id skips it, so nothing is written
twice (idempotent) and an interrupted run resumes where it stopped. ``--format csv`` writes CSV parts;
``--db URL`` also loads every finished chunk into SQL tables in one transaction per chunk (keyed by
run_id and chunk, deleted first, so a rerun never duplicates rows).

Child registers (loans, projects) whose owner's group caps cover their rules (e.g. 20万元 interest subsidy per
enterprise and year over all its loans) carry the owner's id in ``owner_column``: chunks are cut only between
owners, so each owner's cap is applied over all its rows. The register must then have each owner's rows
together (sorted or grouped by owner; SQL tables are read ordered by owner), unless it fits in one chunk —
otherwise the run stops with an error naming the owner and rows. Rows with no owner id are bad records.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from zhengce.bulk.plan import Plan, chunk_bounds, compile_plan, funding_parts
from zhengce.bulk.register import normalize
from zhengce.entities.columns import ColumnMap, resolve_columns
from zhengce.entities.spreadsheets import TEXT_SUFFIXES as _TEXT_SUFFIXES
from zhengce.rules.loader import Pack

TABLES = ("entitlements", "totals", "group_caps", "errors", "rollup", "stats")  # stats last: marks a chunk done


@dataclass
class RunConfig:
    source: str
    out: Path
    run_id: str
    as_of: date
    entity_type: str = "enterprise"
    chunk_size: int = 500_000  # 10M rows: ~2 GB peak and faster than 1M-row chunks (fewer page faults)
    fmt: str = "parquet"  # parquet | csv
    table: str | None = None  # SQL table (source is then a connection URL)
    db: str | None = None  # also write results to this database URL
    keep: tuple[str, ...] = ("name", "district", "industry")
    id_column: str = "id"
    owner_column: str = "owner_id"  # child registers: the owning enterprise's id (for its group caps)
    columns: dict[str, str] = field(default_factory=dict)  # header → field, over the automatic mapping
    #: child registers (type → Parquet/CSV path) evaluated with this enterprise register: caps that cover both
    #: are applied per family (see zhengce.bulk.families)
    children: dict[str, str] = field(default_factory=dict)
    prefetch: bool = True  # read+validate the next chunk while this one is computed
    by_owner: bool = False  # set by run_batch when the plan has owner caps: chunks are cut between owners
    id_header: str | None = None  # set by run_batch: the source column that holds the id


@dataclass
class RunReport:
    run_dir: Path
    chunks_total: int = 0
    chunks_skipped: int = 0
    rows: int = 0
    families: int = 0  # enterprises re-evaluated with their children (caps covering both)
    summary: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # seconds per stage, summed over chunks (stages overlap)


def pack_fingerprint(pack: Pack) -> str:
    h = hashlib.sha256()
    for f in sorted(pack.files):
        h.update(f.encode())
        h.update(pack.files[f].model_dump_json().encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------ sources
def display_source(src: str) -> str:
    """A register's source as recorded in manifests and summaries: a database URL without its password (run
    directories are shared; a password must not travel with them), a file path as given."""
    if "://" not in str(src):
        return str(src)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url, sep, table = str(src).partition("#")
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads: show its scheme only
        shown = url.split("://", 1)[0] + "://…"
    return shown + sep + table


def _scan_csv(p: Path) -> pl.LazyFrame:
    """A CSV or Excel register, every column as text: read as UTF-8 or — through a UTF-8 copy — GB18030, or the
    workbook's first sheet (entities.spreadsheets); a CSV in neither encoding stops with the line of the first bad
    byte instead of being read lossily."""
    from zhengce.entities.spreadsheets import readable

    return pl.scan_csv(readable(p).path, infer_schema=False, encoding="utf8")


def source_file(source: str, table: str | None) -> dict | None:
    """How a CSV or Excel register was read: its ``encoding`` ('utf-8', 'gb18030' or 'excel'), and for a workbook
    the ``sheet`` read and the ``other_sheets`` not read; None for Parquet and SQL."""
    from zhengce.entities.spreadsheets import TEXT_SUFFIXES, readable

    p = Path(source)
    if table or p.suffix.lower() not in TEXT_SUFFIXES or not p.exists():
        return None
    return readable(p).describe()


def child_source(ctype: str, src: str) -> tuple[str, str | None]:
    """(source, SQL table) of a ``--children TYPE=SOURCE`` value: a file path, or a database URL with its table
    after '#' (``sqlite:///registers.db#projects``, ``postgresql://…/db#public.projects``)."""
    if "://" not in src:
        return src, None
    url, sep, table = src.rpartition("#")
    if not sep or not table or not url:
        raise ValueError(f"--children {ctype}={display_source(src)}：数据库子表需写明表名，"
                         f"如 {ctype}=sqlite:///registers.db#{ctype}s")
    _sql_name(table)
    return url, table


def count_rows(cfg: RunConfig) -> int | None:
    if cfg.table:
        return None
    p = Path(cfg.source)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    return None


def needed_columns(pack: Pack, entity_type: str, source: str | Path, keep: tuple[str, ...] = (),
                   id_column: str = "id", cmap: ColumnMap | None = None) -> list[str]:
    """Only the register columns some rule or group cap reads (plus id and kept columns): never hold more.
    With a column map, the source headers that feed those fields."""
    import pyarrow.parquet as pq

    names = pq.ParquetFile(source).schema_arrow.names
    fields = set()
    for cr in pack.rules_for(entity_type):
        fields |= cr.fields
    for _doc, gc, node in pack.group_caps:
        if gc.entity == entity_type:
            from zhengce.expr import ast as A

            fields |= A.fields_of(node)
    want = fields | set(keep) | {id_column, "_row", "id"}
    if cmap is not None:
        return [c for c in names if cmap.fields.get(c) in want]
    return [c for c in names if c in want]


def source_headers(cfg: RunConfig) -> list[str]:
    """The register's column names, without reading its rows."""
    if cfg.table:
        from sqlalchemy import create_engine, inspect

        eng = create_engine(cfg.source)
        schema, _, table = cfg.table.rpartition(".")
        _sql_name(cfg.table)
        insp = inspect(eng)
        if not insp.has_table(table, schema=schema or None):
            raise ValueError(f"no table {cfg.table!r} in {eng.url.render_as_string(hide_password=True)}")
        return [c["name"] for c in insp.get_columns(table, schema=schema or None)]
    p = Path(cfg.source)
    if not p.exists():
        raise FileNotFoundError(f"register not found: {p}")
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).schema_arrow.names
    if p.suffix.lower() in _TEXT_SUFFIXES:
        return _scan_csv(p).collect_schema().names()
    raise ValueError(f"unsupported register format {p.suffix!r}: use .parquet, .csv, .xlsx or --table with a SQL URL")


def column_map(pack: Pack, cfg: RunConfig) -> ColumnMap:
    """How the register's headers read (field names, labels, units in headers, the explicit mapping)."""
    return resolve_columns(pack.schema, cfg.entity_type, source_headers(cfg), cfg.columns, id_column=cfg.id_column,
                           passthrough=("_row", "type", cfg.owner_column))


def missing_fields(plan: Plan, cmap: ColumnMap) -> dict[str, int]:
    """Fields rules in force read that no column feeds, with how many rules read each (those rules can only be
    undetermined for every record) — most first."""
    have = set(cmap.fields.values())
    count: dict[str, int] = {}
    for rp in plan.rules:
        for f in rp.cr.fields - {"as_of"}:
            if f not in have:
                count[f] = count.get(f, 0) + 1
    return dict(sorted(count.items(), key=lambda kv: (-kv[1], kv[0])))


def _sql_name(name: str) -> str:
    """A quoted SQL identifier (``table`` or ``schema.table``); anything else is refused, never interpolated."""
    import re

    if not re.fullmatch(r"[A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff]*(\.[A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff]*)?", name):
        raise ValueError(f"not a plain SQL table/column name: {name!r} (letters, digits, _; optional schema.)")
    return ".".join(f'"{part}"' for part in name.split("."))


def read_owners(cfg: RunConfig) -> pl.Series:
    """The owner column alone, in the order the chunks read the register (to cut chunks between owners)."""
    oc = cfg.owner_column
    if cfg.table:
        from sqlalchemy import create_engine

        eng = create_engine(cfg.source)
        q = f"SELECT {_sql_name(oc)} FROM {_sql_name(cfg.table)} ORDER BY {_sql_order(cfg, eng)}"
        with eng.connect() as conn:
            return pl.read_database(q, conn, infer_schema_length=None).to_series().cast(pl.Utf8)
    p = Path(cfg.source)
    if not p.exists():
        raise FileNotFoundError(f"register not found: {p}")
    lf = pl.scan_parquet(p) if p.suffix == ".parquet" else _scan_csv(p)
    if oc not in lf.collect_schema().names():
        raise ValueError(f"register {p.name} has no owner column {oc!r}: the group caps of the owning enterprise "
                         f"over these {cfg.entity_type} rules need it (set it with --owner-column)")
    return lf.select(pl.col(oc).cast(pl.Utf8)).collect().to_series()


def _sql_order(cfg: RunConfig, eng) -> str:
    """A stable order, so chunk k is the same rows on every (re)run: SQLite's rowid, else the id column —
    after the owner column when chunks are cut by owner."""
    order = "rowid" if eng.dialect.name == "sqlite" else _sql_name(cfg.id_header or cfg.id_column)
    return f"{_sql_name(cfg.owner_column)}, {order}" if cfg.by_owner else order


def iter_chunks(cfg: RunConfig, columns: list[str] | None = None,
                bounds: list[tuple[int, int]] | None = None) -> Iterator[tuple[int, int, Callable[[], pl.DataFrame]]]:
    """(chunk number, row offset, loader). Loaders are lazy so skipped chunks are never read. ``bounds``:
    (offset, length) per chunk when they are not fixed-size (chunks cut between owners)."""
    size = cfg.chunk_size

    def spans(n: int):
        return bounds if bounds is not None else [(off, min(size, n - off)) for off in range(0, n, size)]

    if cfg.table:
        from sqlalchemy import create_engine, text

        table = _sql_name(cfg.table)
        eng = create_engine(cfg.source)
        with eng.connect() as conn:
            n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        order = _sql_order(cfg, eng)
        for k, (off, ln) in enumerate(spans(n)):
            def load(off=off, ln=ln):
                q = f"SELECT * FROM {table} ORDER BY {order} LIMIT {ln} OFFSET {off}"
                with eng.connect() as conn:
                    return pl.read_database(q, conn, infer_schema_length=None)
            yield k, off, load
        return
    p = Path(cfg.source)
    if not p.exists():
        raise FileNotFoundError(f"register not found: {p}")
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(p)
        n = pf.metadata.num_rows
        for k, (off, ln) in enumerate(spans(n)):
            yield k, off, (lambda off=off, ln=ln: (pl.scan_parquet(p).select(columns) if columns
                                                   else pl.scan_parquet(p)).slice(off, ln).collect())
        return
    if p.suffix.lower() in _TEXT_SUFFIXES:
        # every column as text: parsing (units, 是/否, dates) is the normaliser's job, with row-level errors
        lf = _scan_csv(p)
        n = lf.select(pl.len()).collect().item()
        for k, (off, ln) in enumerate(spans(n)):
            yield k, off, (lambda off=off, ln=ln: lf.slice(off, ln).collect())
        return
    raise ValueError(f"unsupported register format {p.suffix!r}: use .parquet, .csv, .xlsx or --table with a SQL URL")


# ------------------------------------------------------------------------------------------ output
def rule_columns(plan: Plan) -> dict[str, pl.Series]:
    """Rule metadata as Enum (dictionary) Series indexed by rule index: gathering 4M rows of an Enum costs a
    UInt gather, and Parquet stores it as dictionary indices (5–10× cheaper to write than repeated strings)."""
    rt = plan.rule_table()
    nrules = (max(rt["rule"].to_list()) + 1) if rt.height else 1
    at = rt["rule"].to_list()
    out = {}
    for c in META_COLUMNS:
        vals: list[str | None] = [None] * nrules
        for i, v in zip(at, rt[c].to_list(), strict=True):
            vals[i] = v
        cats = sorted({v for v in vals if v is not None})
        out[c] = pl.Series(c, vals, dtype=pl.Enum(cats))
    return out


META_COLUMNS = ("rule_id", "title", "doc_no", "article", "lines", "kind", "stacking_group", "department",
                "delivery", "citation")


def entitlement_table(plan: Plan, res_long: pl.DataFrame, frame: pl.DataFrame, run_id: str,
                      keep: tuple[str, ...], meta: dict[str, pl.Series] | None = None) -> pl.DataFrame:
    """The long output: entity × rule × amount × kind × citation (+ stacking, funding split), ordered rule by
    rule (the order of ``rules.parquet``: the pack's order), then by ``_row``. That is the order the plan
    computes in, so no sort or permutation is needed, and every rule-metadata column is a handful of runs:
    Parquet writes it as run-length-encoded dictionary indices (~1.8× cheaper to write per chunk than entity
    order), and row-group statistics on ``rule_id`` let a reader of one policy skip the rest. Rule metadata
    columns are Enums gathered by rule index (no joins, no string copies); the funding split is computed on
    funded rules' rows only."""
    import numpy as np

    meta = meta if meta is not None else rule_columns(plan)
    nrules = len(meta["rule_id"])
    fdt = pl.List(pl.Struct({"level": pl.Utf8, "fen": pl.Int64}))
    funded = {rp.index: rp.cr.rule.funding for rp in plan.rules if rp.cr.rule.funding}
    lg = res_long.select("__p", "_row", "rule", "amount_fen", "superseded_by", "counts",
                         pl.col("capped_fen") if "capped_fen" in res_long.columns else pl.lit(None, dtype=pl.Int64)
                         .alias("capped_fen"))
    # rule blocks in rule order, each in entity order (the plan's own order; sort only if a caller's is not)
    if lg.height and not (lg["rule"].is_sorted() and _sorted_within_rules(lg)):
        lg = lg.sort("rule", "__p")
    rule_np = lg["rule"].to_numpy()
    bounds = np.searchsorted(rule_np, np.arange(nrules + 1))
    # funding split per rule (exact: shares rounded half up to 分, the last share takes the rest)
    funding = None
    if any(bounds[r] < bounds[r + 1] for r in funded):
        pieces, last = [], 0
        for r in sorted(funded):
            lo, hi = int(bounds[r]), int(bounds[r + 1])
            if lo == hi:
                continue
            if lo > last:
                pieces.append(pl.Series("funding", [], dtype=fdt).extend_constant(None, lo - last))
            parts = funding_parts(pl.col("amount_fen"), funded[r])
            st = pl.concat_list([pl.struct(pl.lit(k).alias("level"), e.alias("fen")) for k, e in parts])
            pieces.append(lg.slice(lo, hi - lo).select(
                pl.when(pl.col("amount_fen").is_not_null()).then(st).otherwise(pl.lit(None, dtype=fdt))
                .cast(fdt).alias("funding"))["funding"])
            last = hi
        if lg.height > last:
            pieces.append(pl.Series("funding", [], dtype=fdt).extend_constant(None, lg.height - last))
        funding = pl.concat(pieces)
    else:
        funding = pl.Series("funding", [], dtype=fdt).extend_constant(None, lg.height)
    # kept register columns of enum type (district) ride along as dictionary columns; free text (name,
    # industry) stays in the totals table, one row per entity (join on _row): repeating it on every
    # entitlement row cost ~0.4 s per 1M entities to gather and write
    specs = plan.pack.schema.fields[plan.entity_type]
    kept = [c for c in keep if c in frame.columns and c in specs and specs[c].type == "enum" and specs[c].values]
    n = lg.height
    # one parallel gather per source frame (a Series.gather per column is ~4× slower)
    m = pl.DataFrame(meta).select(pl.all().gather(lg["rule"]),
                                  pl.col("rule_id").gather(lg["superseded_by"]).alias("superseded_by_rule"))
    ent = frame.select(pl.col("id").gather(lg["__p"]),
                       *[pl.col(c).cast(pl.Enum(specs[c].values)).gather(lg["__p"]) for c in kept])
    const = pl.Enum([run_id])
    cols = {
        "run_id": pl.Series([run_id], dtype=const).extend_constant(run_id, n - 1) if n else pl.Series([], dtype=const),
        "_row": lg["_row"],
        "entity_id": ent["id"],
        **{c: ent[c] for c in kept},
        **{c: m[c] for c in ("rule_id", "title", "doc_no", "article", "lines", "kind")},
        "status": pl.Series(["eligible"], dtype=pl.Enum(["eligible"])).extend_constant("eligible", n - 1)
        if n else pl.Series([], dtype=pl.Enum(["eligible"])),
        "amount_fen": lg["amount_fen"],
        "counts": lg["counts"],
        "capped_fen": lg["capped_fen"],
        "stacking_group": m["stacking_group"],
        "superseded_by_rule": m["superseded_by_rule"],
        "funding": funding,
        **{c: m[c] for c in ("department", "delivery", "citation")},
    }
    return pl.DataFrame([v.alias(k) for k, v in cols.items()])


def _sorted_within_rules(lg: pl.DataFrame) -> bool:
    """Within each rule's block (the frame sorted by rule), are positions increasing?"""
    import numpy as np

    r, p = lg["rule"].to_numpy(), lg["__p"].to_numpy().astype(np.int64)
    same = r[1:] == r[:-1]
    return bool(np.all(p[1:][same] > p[:-1][same]))


def with_register_columns(totals: pl.DataFrame, frame: pl.DataFrame, kept: list[str]) -> pl.DataFrame:
    """Totals (one row per entity) sorted by _row, with the kept register columns gathered by position: the
    frame's _row is increasing, so a binary search replaces a hash join and a sort."""
    import numpy as np

    totals = totals if totals["_row"].is_sorted() else totals.sort("_row")
    rows = frame["_row"].to_numpy()
    if not kept or not totals.height:
        return totals.with_columns([pl.lit(None, dtype=frame.schema[c]).alias(c) for c in kept]) if kept else totals
    if not frame["_row"].is_sorted():
        return totals.join(frame.select("_row", *kept), on="_row", how="left")
    pos = pl.Series(np.searchsorted(rows, totals["_row"].to_numpy()), dtype=pl.UInt32)
    return pl.concat([totals, frame.select(pl.col(kept).gather(pos))], how="horizontal")


def _write(df: pl.DataFrame, path: Path, fmt: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        flat = df.with_columns([
            pl.col(c).map_elements(lambda v: json.dumps(v, ensure_ascii=False), return_dtype=pl.Utf8)
            if isinstance(df.schema[c], (pl.List, pl.Struct)) else pl.col(c) for c in df.columns])
        flat.write_csv(tmp)
    else:
        # snappy: ~1.5× faster to write than zstd here (the run is CPU-bound), files ~1.3× larger
        df.write_parquet(tmp, compression="snappy")
    os.replace(tmp, path)


def _part(run_dir: Path, table: str, k: int, fmt: str) -> Path:
    return run_dir / table / f"part-{k:05d}.{fmt}"


def _write_db(url: str, run_id: str, k: int, tables: dict[str, pl.DataFrame]) -> None:
    from sqlalchemy import create_engine, inspect, text

    eng = create_engine(url)
    with eng.begin() as conn:
        insp = inspect(conn)
        for name, df in tables.items():
            tname = f"zhengce_{name}"
            df = df.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(k).alias("chunk")) \
                if "run_id" not in df.columns else df.with_columns(pl.lit(k).alias("chunk"))
            df = df.with_columns([
                pl.col(c).map_elements(lambda v: json.dumps(v, ensure_ascii=False), return_dtype=pl.Utf8)
                if isinstance(df.schema[c], (pl.List, pl.Struct)) else pl.col(c) for c in df.columns])
            if insp.has_table(tname):
                conn.execute(text(f"DELETE FROM {tname} WHERE run_id = :r AND chunk = :k"), {"r": run_id, "k": k})
            if df.height:
                _insert(conn, tname, df, insp.has_table(tname))


def _insert(conn, tname: str, df: pl.DataFrame, exists: bool) -> None:
    """Bulk-load one chunk's table: PostgreSQL via COPY with psycopg 3 (CSV from polars: 140k rows/s against 20k
    for row inserts here), SQLite via one executemany over tuples, anything else via SQLAlchemy's executemany."""
    from sqlalchemy import BigInteger, Boolean, Column, MetaData, Table, Text

    md = MetaData()
    cols = []
    for c, dt in df.schema.items():
        t = BigInteger if dt.is_integer() else Boolean if dt == pl.Boolean else Text
        cols.append(Column(c, t))
    tbl = Table(tname, md, *cols)
    if not exists:
        md.create_all(conn)
    df = df.with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.Utf8))
    names = ", ".join(f'"{c}"' for c in df.columns)
    if conn.dialect.name == "postgresql" and type(conn.connection.driver_connection).__module__.startswith("psycopg."):
        import io

        buf = io.BytesIO()
        # NULL is the unquoted marker; every text value is quoted, so an empty or '\N'-looking text stays text
        df.write_csv(buf, include_header=False, null_value=PG_NULL, quote_style="non_numeric")
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy(f"COPY {tname} ({names}) FROM STDIN WITH (FORMAT csv, NULL '{PG_NULL}')") as cp:
                cp.write(buf.getvalue())
        return
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in df.columns)
        conn.exec_driver_sql(f"INSERT INTO {tname} ({names}) VALUES ({marks})", df.rows())
        return
    conn.execute(tbl.insert(), df.to_dicts())


PG_NULL = "\\N"


# ------------------------------------------------------------------------------------------ the run
def run_batch(pack: Pack, cfg: RunConfig, progress: Callable[[int, int], None] | None = None) -> RunReport:
    import dataclasses

    plan = compile_plan(pack, cfg.entity_type, cfg.as_of, owner_column=cfg.owner_column)
    bounds = None
    if plan.owner_caps:  # child register: the owner column rides along and chunks never split an owner
        keep = cfg.keep if cfg.owner_column in cfg.keep else (*cfg.keep, cfg.owner_column)
        cfg = dataclasses.replace(cfg, keep=keep, by_owner=True)
        bounds = chunk_bounds(read_owners(cfg), cfg.chunk_size)
    cmap = column_map(pack, cfg)
    cfg = dataclasses.replace(cfg, id_header=cmap.source_of("id"))
    run_dir = Path(cfg.out) / cfg.run_id
    manifest = {"source": display_source(cfg.source), "table": cfg.table, "as_of": cfg.as_of.isoformat(),
                "entity_type": cfg.entity_type, "chunk_size": cfg.chunk_size, "format": cfg.fmt,
                "pack": pack_fingerprint(pack), "rules_in_force": len(plan.rules),
                "rules_not_in_force": len(plan.not_in_force)}
    if cmap.renames or cmap.units:
        manifest["columns"] = {"renamed": cmap.renames, "units": cmap.units}
    children = []
    if cfg.children:
        from zhengce.bulk.families import load_children

        if plan.owner_caps:
            raise ValueError(f"--children needs an enterprise register; {cfg.entity_type} rows are themselves children")
        manifest["children"] = {t: display_source(v) for t, v in sorted(cfg.children.items())}
        manifest["owner_column"] = cfg.owner_column
        children = load_children(pack, cfg)
    if plan.owner_caps:
        manifest["owner_column"] = cfg.owner_column
    mpath = run_dir / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text(encoding="utf-8"))
        if isinstance(old.get("source"), str):  # runs recorded before passwords were masked compare masked
            old["source"] = display_source(old["source"])
        if isinstance(old.get("children"), dict):
            old["children"] = {t: display_source(v) for t, v in old["children"].items()}
        diff = {k: (old.get(k), v) for k, v in manifest.items() if old.get(k) != v}
        if diff:
            raise ValueError(f"run {cfg.run_id} already exists with different settings {diff}; "
                             "use a new --run-id (results of one run never mix inputs)")
    for t in TABLES:
        (run_dir / t).mkdir(parents=True, exist_ok=True)
        for ch in children:
            (run_dir / ch.type / t).mkdir(parents=True, exist_ok=True)
    mpath.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    rep = RunReport(run_dir)
    cols = needed_columns(pack, cfg.entity_type, cfg.source, cfg.keep, "id", cmap) \
        if not cfg.table and Path(cfg.source).suffix == ".parquet" else None
    renames = cmap.renames
    # pipeline of three stages on their own threads (polars, numpy and the Parquet codecs release the GIL):
    # read+validate chunk k+1 ‖ evaluate chunk k ‖ build the output tables of chunk k-1 and write them. At most one
    # chunk is prefetched and one
    # write is in flight, so memory stays bounded at ~3 chunks (see docs/bulk.md for chunk size vs memory).
    from concurrent.futures import ThreadPoolExecutor

    timings: dict[str, float] = {}

    def timed(stage: str, t0: float) -> None:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0

    def prepare(off: int, load: Callable[[], pl.DataFrame]):
        t0 = time.perf_counter()
        raw = load()
        timed("read", t0)
        t0 = time.perf_counter()
        if renames:  # register headers → field names (labels, units in headers, --map)
            raw = raw.rename({h: f for h, f in renames.items() if h in raw.columns})
        nz = normalize(raw, pack.schema, cfg.entity_type, row_offset=off, id_column="id", keep=cfg.keep,
                       units=cmap.units)
        if plan.owner_caps:
            nz = _owner_required(nz, cfg.owner_column)
        timed("validate", t0)
        return nz

    def child_tables(ch, sub: pl.DataFrame, cres, errors: pl.DataFrame) -> dict[str, pl.DataFrame]:
        ckeep = (cfg.owner_column,)
        ent = entitlement_table(ch.plan, cres.long, sub, cfg.run_id, ckeep, child_meta[ch.type])
        totals = with_register_columns(cres.totals, sub.select("_row", cfg.owner_column), [cfg.owner_column]) \
            .rename({"id": "entity_id"})
        stats = cres.stats.join(child_rules[ch.type].select("rule", "rule_id", "doc_no"), on="rule").select(
            "rule_id", "doc_no", "eligible", "not_eligible", "undetermined", "amount_unknown",
            pl.lit(sub.height).alias("rows"), pl.lit(errors["_row"].n_unique()).alias("bad_records"))
        return {"entitlements": ent, "totals": totals,
                "group_caps": cres.group_caps.filter(pl.col("binding") | pl.col("limit_fen").is_null())
                .rename({"id": "entity_id"}), "errors": errors, "rollup": rollup(ent, totals), "stats": stats}

    def build_and_write(job) -> None:
        k, res, frame, errors, nvalid, kept, kids = job
        t0 = time.perf_counter()
        for ch in children:  # children first: the enterprise's stats part marks the whole chunk done
            sub, cres = kids[ch.type]
            write(k, child_tables(ch, sub, cres, _no_errors()), run_dir / ch.type, ch.type)
        ent = entitlement_table(plan, res.long, frame, cfg.run_id, cfg.keep, meta)
        stats = res.stats.join(rules.select("rule", "rule_id", "doc_no"), on="rule").select(
            "rule_id", "doc_no", "eligible", "not_eligible", "undetermined", "amount_unknown",
            pl.lit(nvalid).alias("rows"), pl.lit(errors["_row"].n_unique()).alias("bad_records"))
        totals = with_register_columns(res.totals, frame, kept).rename({"id": "entity_id"})
        tables = {"entitlements": ent, "totals": totals,
                  # caps that bind or whose limit is unknown (needs review); a cap with room to spare is
                  # visible in totals (cut ~0.9 rows per entity from this table)
                  "group_caps": res.group_caps.filter(pl.col("binding") | pl.col("limit_fen").is_null())
                  .rename({"id": "entity_id"}), "errors": errors,
                  "rollup": rollup(ent, totals), "stats": stats}
        del res, ent, totals
        timed("tables", t0)
        write(k, tables)

    def write(k: int, tables: dict[str, pl.DataFrame], base: Path | None = None, prefix: str = "") -> None:
        t0 = time.perf_counter()
        if cfg.db:
            _write_db(cfg.db, cfg.run_id, k, {f"{prefix}_{t}" if prefix else t: df for t, df in tables.items()})
        # stats last: its presence (with the others) marks the chunk done
        for t in TABLES:
            _write(tables[t], _part(base or run_dir, t, k, cfg.fmt), cfg.fmt)
        timed("write", t0)

    meta = rule_columns(plan)
    rules = plan.rule_table()
    # the rule table once per run: entitlements carry rule_id, citation and the other metadata as dictionary
    # columns; this file adds the funding shares and is what a join on rule_id needs
    _write(rules.drop("rule"), run_dir / f"rules.{cfg.fmt}", cfg.fmt)
    child_meta = {ch.type: rule_columns(ch.plan) for ch in children}
    child_rules = {ch.type: ch.plan.rule_table() for ch in children}
    for ch in children:
        _write(child_rules[ch.type].drop("rule"), run_dir / ch.type / f"rules.{cfg.fmt}", cfg.fmt)
    todo = []
    for k, off, load in iter_chunks(cfg, cols, bounds):
        rep.chunks_total += 1
        if all(_part(run_dir, t, k, cfg.fmt).exists() for t in TABLES):
            rep.chunks_skipped += 1
            if progress:
                progress(k, -1)
            continue
        todo.append((k, off, load))
    with ThreadPoolExecutor(1, thread_name_prefix="zhengce-write") as writer, \
            ThreadPoolExecutor(1, thread_name_prefix="zhengce-read") as reader:
        pending = None
        nxt = reader.submit(prepare, todo[0][1], todo[0][2]) if todo and cfg.prefetch else None
        for i, (k, off, load) in enumerate(todo):
            if nxt is not None:
                nz = nxt.result()
                nxt = reader.submit(prepare, todo[i + 1][1], todo[i + 1][2]) if i + 1 < len(todo) else None
            else:
                nz = prepare(off, load)
            t0 = time.perf_counter()
            kids = {}
            if children:  # the chunk with its enterprises' children (caps covering both, per family)
                from zhengce.bulk.families import evaluate_with_children

                res, kids, nfam = evaluate_with_children(plan, nz.frame, children, cfg.owner_column)
                rep.families += nfam
            else:
                res = plan.evaluate(nz.frame)
            timed("evaluate", t0)
            # the output tables are built on the writer thread (the evaluate thread is the critical path);
            # it gets only the columns they need, not the typed chunk
            kept = [c for c in cfg.keep if c in nz.frame.columns]
            job = (k, res, nz.frame.select("_row", "id", *kept), nz.errors, nz.frame.height, kept, kids)
            nrows = raw_rows(nz)
            del nz, res
            t0 = time.perf_counter()
            if pending is not None:
                pending.result()  # one chunk in the writer at most (and its errors surface here)
            timed("wait for writer", t0)
            pending = writer.submit(build_and_write, job)
            del job
            rep.rows += nrows
            if progress:
                progress(k, nrows)
        if pending is not None:
            pending.result()
    if children:
        _orphans_and_errors(cfg, plan, children, run_dir, rep.chunks_total, child_tables, write)
    t0 = time.perf_counter()
    rep.summary = summarize(plan, run_dir, cfg.fmt)
    # how the register's columns were read: nothing in it is dropped or missing without saying so
    rep.summary.update(source_file(cfg.source, cfg.table) or {"encoding": None})
    rep.summary["columns"] = {"renamed": cmap.renames, "units": cmap.units, "ignored": cmap.ignored,
                              "missing": missing_fields(plan, cmap)}
    if children:
        # the shared caps are computed per family now, except over child types this run was not given
        rep.summary["caps_partial"] = [
            {**c, "also_covers": rest, "note": "本次未提供子表（" + "、".join(rest) + "）：该上限的合计未计入其奖励，需一并复核"}
            for c in rep.summary["caps_partial"]
            if (rest := {t: n for t, n in c["also_covers"].items() if t not in cfg.children})]
        rep.summary["families_reevaluated"] = rep.families
        rep.summary["children"] = {ch.type: {"source": ch.source, **summarize(ch.plan, run_dir / ch.type, cfg.fmt),
                                             "columns": ch.columns, **(ch.file or {"encoding": None})}
                                   for ch in children}
    timed("summary", t0)
    rep.timings = timings
    (run_dir / "summary.json").write_text(json.dumps(rep.summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return rep


def _no_errors() -> pl.DataFrame:
    from zhengce.bulk.register import ERROR_SCHEMA

    return pl.DataFrame(schema=ERROR_SCHEMA)


def _orphans_and_errors(cfg, plan, children, run_dir: Path, n_chunks: int, child_tables, write) -> None:
    """The last part of each child table: children whose owner is not in the enterprise register (their
    shared caps stay needs-review) and the child registers' bad records."""
    from zhengce.bulk.families import evaluate_with_children, orphan_owners

    k = n_chunks
    if all(_part(run_dir / ch.type, "stats", k, cfg.fmt).exists() for ch in children):
        return
    # owners evaluated with their enterprise: ids of the register's records that were not bad records (the
    # children of a bad enterprise record go here too, with their shared caps needs-review — never dropped)
    ids = _enterprise_ids(cfg)
    bad = _scan(run_dir, "errors", cfg.fmt).select(pl.col("id").cast(pl.Utf8)).collect().to_series() \
        if any((run_dir / "errors").glob(f"part-*.{cfg.fmt}")) else pl.Series([], dtype=pl.Utf8)
    owners = orphan_owners(children, ids.filter(~ids.is_in(bad.implode())), cfg.owner_column)
    _, kids, _ = evaluate_with_children(plan, pl.DataFrame(schema={"_row": pl.Int64, "id": pl.Utf8}), children,
                                        cfg.owner_column, owners=owners)
    for ch in children:
        sub, cres = kids[ch.type]
        write(k, child_tables(ch, sub, cres, ch.errors), run_dir / ch.type, ch.type)


def _enterprise_ids(cfg) -> pl.Series:
    """The id column of the enterprise register alone (to find children whose owner is not in it)."""
    col = cfg.id_header
    if col is None:
        return pl.Series([], dtype=pl.Utf8)
    if cfg.table:
        from sqlalchemy import create_engine

        with create_engine(cfg.source).connect() as conn:
            return pl.read_database(f"SELECT {_sql_name(col)} FROM {_sql_name(cfg.table)}", conn) \
                .to_series().cast(pl.Utf8)
    p = Path(cfg.source)
    lf = pl.scan_parquet(p) if p.suffix == ".parquet" else _scan_csv(p)
    return lf.select(pl.col(col).cast(pl.Utf8)).collect().to_series()


def _owner_required(nz, oc: str):
    """Rows without an owner id are bad records (their owner's caps could not be applied): to errors."""
    from zhengce.bulk.register import ERROR_SCHEMA, Normalized

    f = nz.frame
    if oc not in f.columns:
        f = f.with_columns(pl.lit(None, dtype=pl.Utf8).alias(oc))
    miss = pl.col(oc).is_null() | (pl.col(oc).cast(pl.Utf8).str.strip_chars() == "")
    bad = f.filter(miss)
    if not bad.height:
        return Normalized(f, nz.errors, nz.ignored_columns)
    err = bad.select("_row", "id", pl.lit(oc).alias("field"), pl.lit(None, dtype=pl.Utf8).alias("value"),
                     pl.lit("缺少所属企业编号（子表记录按所属企业适用合计上限）").alias("reason")).cast(ERROR_SCHEMA)
    return Normalized(f.filter(~miss), pl.concat([nz.errors, err]).sort("_row"), nz.ignored_columns)


def raw_rows(nz) -> int:
    return nz.frame.height + (nz.errors["_row"].n_unique() if nz.errors.height else 0)


def _scan(run_dir: Path, table: str, fmt: str) -> pl.LazyFrame:
    files = sorted((run_dir / table).glob(f"part-*.{fmt}"))
    if fmt == "csv":
        return pl.concat([pl.scan_csv(f, infer_schema_length=10000) for f in files], how="diagonal_relaxed") \
            if files else pl.LazyFrame()
    return pl.scan_parquet(files) if files else pl.LazyFrame()


ROLLUP_SCHEMA = {"dim": pl.Utf8, "value": pl.Utf8, "kind": pl.Utf8, "awards": pl.Int64, "amount_fen": pl.Int64}
UNFUNDED = "（未规定分担）"


def rollup(ent: pl.DataFrame, totals: pl.DataFrame) -> pl.DataFrame:
    """One chunk's sums, small enough that the run summary never re-reads the entitlement parts: counted awards
    and 分 by (doc_no | district | department) × kind, by funding level (and unfunded), and the totals' sums."""
    counted = ent.filter(pl.col("counts"))
    parts = []
    for dim in ("doc_no", "district", "department"):
        if dim in ent.columns:
            parts.append(counted.group_by(dim, "kind").agg(pl.len().alias("awards"), pl.col("amount_fen").sum())
                         .select(pl.lit(dim).alias("dim"), pl.col(dim).cast(pl.Utf8).alias("value"),
                                 pl.col("kind").cast(pl.Utf8), "awards", "amount_fen"))
    funded = counted.filter(pl.col("funding").is_not_null())
    if funded.height:
        parts.append(funded.select("funding").explode("funding").unnest("funding").group_by("level").agg(
            pl.len().alias("awards"), pl.col("fen").sum().alias("amount_fen")).select(
            pl.lit("funding").alias("dim"), pl.col("level").alias("value"), pl.lit(None, dtype=pl.Utf8).alias("kind"),
            "awards", "amount_fen"))
    unfunded = counted.filter(pl.col("funding").is_null())
    parts.append(pl.DataFrame({"dim": ["funding"], "value": [UNFUNDED], "kind": [None], "awards": [unfunded.height],
                               "amount_fen": [int(unfunded["amount_fen"].sum() or 0)]}, schema=ROLLUP_SCHEMA))
    sums = totals.select(pl.len().alias("entities_with_awards"),
                         *[pl.col(c).sum() for c in ("entitlement_fen", "maximum_fen", "group_cap_reduction_fen",
                                                     "overall_fen", "charge_fen", "third_party_fen")]).row(0, named=True)
    parts.append(pl.DataFrame({"dim": "totals", "value": list(sums), "kind": None, "awards": 0,
                               "amount_fen": [int(v or 0) for v in sums.values()]}, schema=ROLLUP_SCHEMA))
    return pl.concat([p.cast(ROLLUP_SCHEMA) for p in parts])


def summarize(plan: Plan, run_dir: Path, fmt: str) -> dict:
    """Totals by policy, district, department and funding level; status counts per rule; errors — from the
    chunks' rollup and stats parts (small), never from the entitlement parts."""
    ru = _scan(run_dir, "rollup", fmt).collect()
    if not ru.height:
        ru = pl.DataFrame(schema=ROLLUP_SCHEMA)
    ru = ru.cast({"value": pl.Utf8, "kind": pl.Utf8}).group_by("dim", "value", "kind").agg(
        pl.col("awards").sum(), pl.col("amount_fen").sum())

    def by(col: str) -> list[dict]:
        return ru.filter(pl.col("dim") == col).select(pl.col("value").alias(col), "kind", "awards", "amount_fen") \
            .sort(col, "kind").to_dicts()

    tot = dict(ru.filter(pl.col("dim") == "totals").select("value", "amount_fen").iter_rows())
    totals = {k: int(tot.get(k, 0)) for k in ("entities_with_awards", "entitlement_fen", "maximum_fen",
                                               "group_cap_reduction_fen", "overall_fen", "charge_fen",
                                               "third_party_fen")}
    fund = ru.filter(pl.col("dim") == "funding")
    funding = fund.filter(pl.col("value") != UNFUNDED).select(pl.col("value").alias("level"), "amount_fen") \
        .sort("level").to_dicts()
    unfunded = int(fund.filter(pl.col("value") == UNFUNDED)["amount_fen"].sum() or 0)
    stats = _scan(run_dir, "stats", fmt).with_columns(pl.col("rule_id", "doc_no").cast(pl.Utf8)) \
        .group_by("rule_id", "doc_no").agg(
        pl.col("eligible", "not_eligible", "undetermined", "amount_unknown").sum()).sort("rule_id").collect()
    errs = _scan(run_dir, "errors", fmt).collect()
    rows = _scan(run_dir, "stats", fmt).group_by("rule_id").agg(pl.col("rows").sum(), pl.col("bad_records").sum()) \
        .select(pl.col("rows").max(), pl.col("bad_records").max()).collect().to_dicts()
    return {
        "as_of": plan.as_of.isoformat(),
        "entity_type": plan.entity_type,
        "rows_valid": rows[0]["rows"] if rows else 0,
        "bad_records": errs["_row"].n_unique() if errs.height else 0,
        "error_rows": errs.height,
        "rules_in_force": len(plan.rules),
        "rules_not_in_force": [{"rule_id": cr.id, "reason": r} for cr, r in plan.not_in_force],
        "rules_on_fallback": [{"rule_id": rp.id, "reason": rp.fallback} for rp in plan.fallback_rules],
        "rules_other_entity_types": plan.other_entity_rules,
        # caps of the owner (enterprise) over these child rules: applied per owner, or reported per owner with
        # an unknown limit in group_caps (needs review) when a child register cannot compute them
        "owner_caps": [{"cap_id": g.id, "doc_no": g.doc_no, "owner_type": g.owner_type,
                        "limit_fen": g.limit_fen, "applied": g.review is None, "review": g.review}
                       for g in plan.owner_caps],
        # this type's caps that also cover rules of its child types: here they sum this register's rules only
        # (the enterprise's loans' and projects' awards are in their own registers) — a lower bound to review
        "caps_partial": [{**c, "note": "本登记册只含本主体类型的规则；子表（" + "、".join(c["also_covers"])
                          + "）的奖励未计入该上限的合计，需与子表结果一并复核"} for c in plan.partial_caps],
        "totals": totals,
        "by_policy": by("doc_no"),
        "by_district": by("district"),
        "by_department": by("department"),
        "by_funding": funding + ([{"level": UNFUNDED, "amount_fen": unfunded}] if unfunded else []),
        "rule_status": stats.to_dicts(),
    }
