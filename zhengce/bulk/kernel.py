"""The fused row kernel: the compiled plan's polars expressions translated, rule by rule, into one numba loop.

Why: polars evaluates an expression tree operator by operator, each operator writing a whole column; a rule of
five comparisons over 1M rows writes ~10 intermediate columns. A fused loop reads each input column once and keeps
every intermediate value in a register: on 20 rules of the pack it is 2–3× faster than polars — and faster than
hand-written polars or numpy (bench/bench_bulk.py). numba is optional (``pip install 'zhengce[kernel]'``);
without it, or for a rule with a construct the translator does not know, the plan runs on polars as before.

One definition: the kernel is *not* a second compiler of the rule language. It translates the polars expressions
that zhengce.bulk.compiler already produced (``Expr.meta.serialize``), operator by operator with polars' own
null semantics, so the exactness analysis (scales, bounds, Int64 vs Int128), the null-guard analyses and the cap
folding are done once. What it translates:

- integer, boolean and date columns (validity read from the Arrow bitmap, zero-copy) and literals;
- ``+ - * //`` (integer floor division; by zero → null, as polars), comparisons, bitwise ``&`` on integers
  (set-mask bits), Kleene ``& | ~``, ``when/then/otherwise`` (a null predicate takes ``otherwise``), casts
  between integer widths and from booleans, ``clip`` with literal bounds, ``min/max_horizontal`` (nulls ignored),
  ``any_horizontal`` (Kleene), ``coalesce``, ``is_null``/``is_not_null``, date ± whole days, ``dt.year``.

Anything else (Int128 arithmetic, strings, lists, month offsets) raises ``Untranslatable`` and that rule stays on
polars; ``Plan.kernel_rules`` lists which rules run where. Equality with polars and with the per-entity engine is
a property test (tests/bulk/test_kernel.py).

Generated source is written once per content hash under the cache directory (``ZHENGCE_KERNEL_CACHE``, default
``~/.cache/zhengce/kernels``) and compiled with ``cache=True``: the first run of a plan compiles (seconds), later
processes load the machine code. Rules are grouped per document (split into blocks of ``BLOCK`` rules) so a plan
at another as-of date reuses the compiled groups of unchanged documents.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

try:  # optional: the kernel backend
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised where numba is not installed
    AVAILABLE = False

#: the smallest chunk the "auto" backend runs on the kernel: below it polars is as fast and the kernel's
#: one-off cost (loading compiled code, or compiling it on a machine's first run) is not worth it
KERNEL_MIN_ROWS = 100_000
#: rules per generated function: bounds numba's compile time (it grows faster than linearly with function size)
BLOCK = 16
#: rows per thread task
_TASK_ROWS = 1 << 17

_INT_TYPES = {pl.Int64: np.int64, pl.Int32: np.int32, pl.UInt32: np.uint32, pl.Int16: np.int16, pl.Int8: np.int8,
              pl.UInt16: np.uint16, pl.UInt8: np.uint8}
_US_PER_DAY = 86_400_000_000


class Untranslatable(Exception):
    """An expression the kernel does not translate (the rule stays on polars)."""


# ----------------------------------------------------------------------------------------- translation
@dataclass
class _V:
    v: str  # the value's source expression (a variable or literal)
    k: str  # its validity ('True' when never null)
    kind: str  # int, bool, date, dur (whole days), null


@dataclass
class _Fn:
    """One rule's translation: statements for its status and (separately, evaluated only where eligible) its
    amount."""
    status: list[str]
    st: str  # status variable: 0 not eligible, 1 eligible, 2 undetermined
    amount: list[str]
    av: str | None
    ak: str | None


class _Translator:
    def __init__(self, schema: dict[str, pl.DataType], columns: dict[str, int], prefix: str):
        self.schema = schema
        self.columns = columns  # column name -> argument number (shared by every rule of a function)
        self.prefix = prefix
        self.n = 0
        self.out: list[str] = []

    def tmp(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    def let(self, expr: str) -> str:
        t = self.tmp()
        self.out.append(f"{t} = {expr}")
        return t

    # entry points
    def rule(self, conds: list[pl.Expr], amount: pl.Expr | None) -> _Fn:
        self.out = []
        if conds:
            leaves = [x for c in conds for x in _flat(_json(c), "And")]
            t, f = self.kleene_tf("And", [self.bool_(self.node(x)) for x in leaves])
            st = self.let(f"1 if {t} else (0 if {f} else 2)")
        else:
            st = "1"
        status, self.out = self.out, []
        av = ak = None
        if amount is not None:
            a = self.node(_json(amount))
            if a.kind not in ("int", "null"):
                raise Untranslatable(f"amount of kind {a.kind}")
            av, ak = a.v, a.k
        return _Fn(status, st, self.out, av, ak)

    def bool_(self, x: _V) -> _V:
        if x.kind == "null":
            return _V("False", "False", "bool")
        if x.kind != "bool":
            raise Untranslatable(f"condition of kind {x.kind}")
        return x

    def node(self, n: dict) -> _V:
        (tag, body), = n.items()
        m = getattr(self, "_" + tag, None)
        if m is None:
            raise Untranslatable(f"polars node {tag}")
        return m(body)

    # nodes
    def _Alias(self, body) -> _V:
        return self.node(body[0])

    def _Column(self, name: str) -> _V:
        dt = self.schema.get(name)
        if dt is None:
            raise Untranslatable(f"column {name} not in the frame")
        if dt in _INT_TYPES:
            kind = "int"
        elif dt == pl.Boolean:
            kind = "bool"
        elif dt == pl.Date:
            kind = "date"
        else:
            raise Untranslatable(f"column {name} of type {dt}")
        j = self.columns.setdefault(name, len(self.columns))
        return _V(f"v{j}", f"k{j}", kind)

    def _Literal(self, lit) -> _V:
        if "Dyn" in lit:
            d = lit["Dyn"]
            if "Int" in d:
                return _int_lit(int(d["Int"]))
            raise Untranslatable(f"literal {d}")
        s = lit.get("Scalar")
        if s is None:
            raise Untranslatable(f"literal {lit}")
        (t, val), = s.items()
        if t == "Null":
            return _V("0", "False", "null")
        if t in ("Int64", "Int32", "UInt32", "Int16", "Int8", "UInt8", "UInt16"):
            return _int_lit(int(val))
        if t == "Boolean":
            return _V("True" if val else "False", "True", "bool")
        if t == "Date":
            return _V(str(int(val)), "True", "date")
        if t == "Duration":
            us, unit = val[0], val[1]
            per_day = {"Microseconds": _US_PER_DAY, "Milliseconds": 86_400_000, "Nanoseconds": _US_PER_DAY * 1000}
            if unit not in per_day or us % per_day[unit]:
                raise Untranslatable(f"duration {val}")
            return _V(str(us // per_day[unit]), "True", "dur")
        raise Untranslatable(f"literal of type {t}")

    def _Cast(self, body) -> _V:
        x = self.node(body["expr"])
        target = body["dtype"].get("Literal") if isinstance(body["dtype"], dict) else body["dtype"]
        if target not in ("Int64", "Int32", "UInt32"):
            raise Untranslatable(f"cast to {target}")
        if x.kind == "null":
            return _V("0", "False", "int")
        if x.kind == "bool":
            return _V(self.let(f"1 if {x.v} else 0"), x.k, "int")
        if x.kind == "int":
            return x
        raise Untranslatable(f"cast of {x.kind} to {target}")

    def _BinaryExpr(self, body) -> _V:
        op = body["op"]
        if op in ("And", "Or"):  # n-ary: a chain of and/or is one Kleene combination
            xs = [self.node(x) for x in _flat({"BinaryExpr": body}, op)]
            kinds = {x.kind for x in xs}
            if kinds <= {"bool", "null"}:
                t, f = self.kleene_tf(op, [self.bool_(x) for x in xs])
                return _V(t, self.let(f"{t} | {f}"), "bool")
            if kinds == {"int"} and op == "And":  # bitwise: set-mask bits
                v, k = xs[0].v, xs[0].k
                for x in xs[1:]:
                    v, k = self.let(f"{v} & {x.v}"), _and(k, x.k)
                return _V(v, k, "int")
            raise Untranslatable(f"{op} of {kinds}")
        a, b = self.node(body["left"]), self.node(body["right"])
        if a.kind == "null" or b.kind == "null":
            kind = "bool" if op in _CMP else (a.kind if b.kind == "null" else b.kind)
            return _V("False" if kind == "bool" else "0", "False", kind if kind != "null" else "int")
        if op in _CMP:
            if a.kind != b.kind or a.kind not in ("int", "date", "bool") or (a.kind == "bool" and op not in ("Eq", "NotEq")):
                raise Untranslatable(f"comparison {op} of {a.kind} and {b.kind}")
            return _V(self.let(f"{a.v} {_CMP[op]} {b.v}"), _and(a.k, b.k), "bool")
        if op in ("Plus", "Minus") and a.kind == "date" and b.kind == "dur":
            return _V(self.let(f"{a.v} {'+' if op == 'Plus' else '-'} {b.v}"), _and(a.k, b.k), "date")
        if a.kind != "int" or b.kind != "int":
            raise Untranslatable(f"{op} of {a.kind} and {b.kind}")
        if op in ("Plus", "Minus", "Multiply"):
            sym = {"Plus": "+", "Minus": "-", "Multiply": "*"}[op]
            return _V(self.let(f"{a.v} {sym} {b.v}"), _and(a.k, b.k), "int")
        if op == "FloorDivide":
            if b.k == "True" and b.v.lstrip("-").isdigit() and int(b.v) != 0:  # a literal divisor
                return _V(self.let(f"{a.v} // {b.v}"), a.k, "int")
            nz = self.let(f"{b.v} != 0")
            return _V(self.let(f"{a.v} // {b.v} if {nz} else 0"), _and(_and(a.k, b.k), nz), "int")
        raise Untranslatable(f"operator {op}")

    def kleene_tf(self, op: str, xs: list[_V]) -> tuple[str, str]:
        """Kleene and/or of ``xs``: (known true, known false). And: true when every operand is known true, false
        when one is known false; or: the reverse; unknown otherwise."""
        trues = [x.v if x.k == "True" else f"({x.k} & {x.v})" for x in xs]
        falses = [f"({x.v} ^ True)" if x.k == "True" else f"({x.k} & ({x.v} ^ True))" for x in xs]
        both, one = (" & ", " | ") if op == "And" else (" | ", " & ")
        return self.let(both.join(trues)), self.let(one.join(falses))

    def _Ternary(self, body) -> _V:
        p = self.bool_(self.node(body["predicate"]))
        t, o = self.node(body["truthy"]), self.node(body["falsy"])
        kinds = {t.kind, o.kind} - {"null"}
        if len(kinds) > 1:
            raise Untranslatable(f"when/then of {kinds}")
        kind = kinds.pop() if kinds else "null"
        take = self.let(f"{p.k} & {p.v}")  # polars: a null predicate takes otherwise
        v = self.let(f"{t.v} if {take} else {o.v}")
        return _V(v, self.let(f"{t.k} if {take} else {o.k}"), kind)

    def _Function(self, body) -> _V:
        fn = body["function"]
        args = body["input"]
        if isinstance(fn, dict) and "Boolean" in fn:
            b = fn["Boolean"]
            if b in ("IsNull", "IsNotNull"):
                x = self.node(args[0])
                return _V(f"({x.k} ^ True)" if b == "IsNull" else f"({x.k})", "True", "bool")
            if b == "Not":
                x = self.node(args[0])
                if x.kind == "null":
                    return _V("False", "False", "bool")
                if x.kind != "bool":
                    raise Untranslatable(f"not of {x.kind}")
                return _V(self.let(f"{x.v} ^ True"), x.k, "bool")
            if b == "AnyHorizontal":
                t, f = self.kleene_tf("Or", [self.bool_(self.node(a)) for a in args])
                return _V(t, self.let(f"{t} | {f}"), "bool")
            raise Untranslatable(f"boolean function {b}")
        if isinstance(fn, dict) and "Clip" in fn:
            x = self.node(args[0])
            if x.kind != "int":
                raise Untranslatable("clip of a non-integer")
            rest = [self.node(a) for a in args[1:]]
            if any(r.kind != "int" or r.k != "True" for r in rest):
                raise Untranslatable("clip with a non-literal bound")
            v = x.v
            i = 0
            if fn["Clip"]["has_min"]:
                v = self.let(f"{rest[i].v} if {v} < {rest[i].v} else {v}")
                i += 1
            if fn["Clip"]["has_max"]:
                v = self.let(f"{rest[i].v} if {v} > {rest[i].v} else {v}")
            return _V(v, x.k, "int")
        if fn in ("MaxHorizontal", "MinHorizontal", "Coalesce"):
            xs = [self.node(a) for a in args]
            kinds = {x.kind for x in xs} - {"null"}
            if kinds - {"int", "date"} or len(kinds) > 1:
                raise Untranslatable(f"{fn} of {kinds}")
            kind = kinds.pop() if kinds else "null"
            xs = [x for x in xs if x.kind != "null"]
            if not xs:
                return _V("0", "False", "int")
            v, k = xs[0].v, xs[0].k
            for x in xs[1:]:
                if fn == "Coalesce":
                    v, k = self.let(f"{v} if {k} else {x.v}"), self.let(f"{k} | {x.k}")
                else:  # nulls ignored: the extreme of the known values
                    better = f"{x.v} {'>' if fn == 'MaxHorizontal' else '<'} {v}"
                    v = self.let(f"{x.v} if {x.k} & (({k} ^ True) | ({better})) else {v}")
                    k = self.let(f"{k} | {x.k}")
            return _V(v, k, kind)
        if isinstance(fn, dict) and fn.get("TemporalExpr") == "Year":
            x = self.node(args[0])
            if x.kind != "date":
                raise Untranslatable("year of a non-date")
            return _V(self.let(f"_year({x.v})"), x.k, "int")
        raise Untranslatable(f"function {json.dumps(fn)[:60]}")


_CMP = {"Eq": "==", "NotEq": "!=", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}


def _int_lit(v: int) -> _V:
    if not -(2**63) <= v < 2**63:
        raise Untranslatable("literal beyond Int64")
    return _V(str(v), "True", "int")


def _and(a: str, b: str) -> str:
    if a == "True":
        return b
    if b == "True":
        return a
    return f"({a} & {b})"


def _flat(n: dict, op: str) -> list[dict]:
    """The operands of a chain of one binary operator (and/or), left to right."""
    body = n.get("BinaryExpr")
    if body is not None and body["op"] == op:
        return _flat(body["left"], op) + _flat(body["right"], op)
    return [n]


def _json(e: pl.Expr) -> dict:
    return json.loads(e.meta.serialize(format="json"))


# ------------------------------------------------------------------------------------------ generation
_HEADER = '''"""Generated by zhengce.bulk.kernel (do not edit): rules {ids}."""
import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit(**_JIT)
def _year(d):
    # civil year of a day count since 1970-01-01 (H. Hinnant's days_from_civil inverse)
    z = d + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return y + 1 if m <= 2 else y
'''


#: rows per block: every rule's loop runs over one block before the next block, so the block's columns are read
#: from memory once and from cache by the other rules (blocked fusion; a single loop over all rules was not
#: vectorised by LLVM — too many arrays for its alias checks, and one integer division makes the whole loop scalar)
ROWS_PER_BLOCK = 2048


def _loads(stmts: list[str], columns: dict[str, int], bools: set[str]) -> list[str]:
    """The loads of the columns that ``stmts`` read (``v{j}`` values, ``k{j}`` validity)."""
    text = "\n".join(stmts)
    out = []
    for name, j in columns.items():
        if re.search(rf"\bk{j}\b", text):
            out.append(f"k{j} = m{j}[i] != 0")
        if re.search(rf"\bv{j}\b", text):
            out.append(f"v{j} = d{j}[i] != 0" if name in bools else f"v{j} = d{j}[i]")
    return out


def _source(fns: list[_Fn], columns: dict[str, int], bools: set[str], ids: list[str]) -> str:
    args = ", ".join(f"d{j}, m{j}" for j in columns.values())
    lines = [_HEADER.format(ids=", ".join(ids))]

    def fn(name, extra, per_rule, before=(), after=()):
        lines.append("\n@njit(**_JIT)")
        lines.append(f"def {name}(start, end, base, {args}, {extra}):")
        lines.extend("    " + s for s in before)
        lines.append(f"    for lo in range(start, end, {ROWS_PER_BLOCK}):")
        lines.append(f"        hi = min(lo + {ROWS_PER_BLOCK}, end)")
        for r, f in enumerate(fns):
            body = per_rule(r, f)
            if body:
                # an unsigned index: numba wraps negative signed indices around, and that select on every
                # load and store kept LLVM from vectorising (0.35 ms instead of 1.2–2.5 ms per rule and 1M rows)
                lines.append("        for i in range(np.uint64(lo), np.uint64(hi)):")
                lines.extend(" " * 12 + s for s in [*_loads(body, columns, bools), *body])
        lines.extend("    " + s for s in after)

    # status: per rule and row 0/1/2; the counts per rule (cnt[r, status]) in registers, stored once
    rs = range(len(fns))
    fn("status", "st, cnt",
       lambda r, f: [*f.status, f"s = {f.st}", f"st[{r}, base + i] = s", f"e{r} += s == 1", f"u{r} += s == 2"],
       before=[f"e{r} = 0; u{r} = 0" for r in rs],
       after=[f"cnt[{r}, 1] = e{r}; cnt[{r}, 2] = u{r}; cnt[{r}, 0] = end - start - e{r} - u{r}" for r in rs])

    def long_(r, f):
        av, ak = (f.av, f.ak) if f.av is not None else ("0", "False")  # eligibility-only: no amount
        body = [*f.amount, f"c = cur[{r}]", "pos[c] = base + i", f"amt[c] = {av} if {ak} else 0",
                f"amk[c] = {ak}", f"cur[{r}] = c + 1"]
        return [f"if st[{r}, base + i] == 1:", *("    " + s for s in body)]

    # long: the amounts of eligible rows, rule-major, at the cursors given per rule
    fn("long", "st, cur, pos, amt, amk", long_)

    def wide(r, f):
        if f.av is None:
            return []
        body = [*f.status, *f.amount] if f.st != "1" else list(f.amount)
        ok = f"({f.st} == 1) & {f.ak}" if f.st != "1" else f.ak
        return [*body, f"w = {ok}", f"am[{r}, base + i] = {f.av} if w else 0", f"ok[{r}, base + i] = w"]

    # wide: each rule's amount where eligible and known (null elsewhere), one row per entity
    fn("wide", "am, ok", wide)
    return "\n".join(lines) + "\n"


def _cache_dir() -> Path:
    d = Path(os.environ.get("ZHENGCE_KERNEL_CACHE") or Path.home() / ".cache" / "zhengce" / "kernels")
    try:
        d.mkdir(parents=True, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    import tempfile

    d = Path(tempfile.gettempdir()) / "zhengce-kernels"
    d.mkdir(parents=True, exist_ok=True)
    return d


_LOCK = threading.Lock()
_MODULES: dict[str, object] = {}


def _load(source: str):
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    with _LOCK:
        if key in _MODULES:
            return _MODULES[key]
        path = _cache_dir() / f"k_{key}.py"
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source, encoding="utf-8")
            os.replace(tmp, path)
        name = f"zhengce_kernel_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _MODULES[key] = mod
        return mod


# ------------------------------------------------------------------------------------------- running
@dataclass
class _Group:
    rules: list[int]  # positions in Kernel.rules
    columns: dict[str, int]
    bools: set[str]
    source: str
    has_amount: list[bool]
    _mod: object = None

    @property
    def mod(self):
        if self._mod is None:
            self._mod = _load(self.source)
        return self._mod


@dataclass
class Kernel:
    """The translated rules of a plan (``rules``: RulePlan indexes, pack order) in groups of generated
    functions; ``untranslated``: rule id → why it stays on polars."""
    rules: list[int]
    groups: list[_Group]
    untranslated: dict[str, str] = field(default_factory=dict)

    def _inputs(self, frame: pl.DataFrame) -> tuple[list[int], dict[str, list]]:
        """Every column the kernel reads, chunk by chunk as (data, validity) (see ``_chunk_buffers``): unpacked
        once per call, shared by every group and pass. Zero-copy unless the columns are chunked differently."""
        names = list(dict.fromkeys(c for g in self.groups for c in g.columns))
        sub = frame.select(names)
        dtypes = sub.dtypes
        tbl = sub.to_arrow()
        cols = [tbl.column(i) for i in range(tbl.num_columns)]
        if len({tuple(len(c) for c in col.chunks) for col in cols}) > 1:  # chunked differently: one copy
            tbl = tbl.combine_chunks()
            cols = [tbl.column(i) for i in range(tbl.num_columns)]
        lengths = [len(c) for c in cols[0].chunks] if cols else [frame.height]
        per: dict[str, list] = {nm: [] for nm in names}
        for k in range(len(lengths)):
            bufs = _chunk_buffers([col.chunk(k) for col in cols], dtypes) if cols else []
            for j, nm in enumerate(names):
                per[nm].append(bufs[2 * j:2 * j + 2])
        return lengths, per

    def _tasks(self, inputs: tuple[list[int], dict[str, list]], g: _Group) -> list[tuple]:
        """(base, start, end, args) per task: the group's columns of one chunk (a chunk's rows are
        ``base + start … base + end`` of the frame), each chunk split so every thread has work."""
        lengths, per = inputs
        size = _task_size(sum(lengths))
        out, base = [], 0
        for k, ln in enumerate(lengths):
            args = [x for nm in g.columns for x in per[nm][k]]
            for a in range(0, ln, size):
                out.append((np.uint64(base), a, min(a + size, ln), args))
            base += ln
        return out

    def evaluate(self, frame: pl.DataFrame) -> tuple[np.ndarray, tuple]:
        """Two passes over the frame: the status of every translated rule (counts [rules × 3]: not eligible,
        eligible, undetermined), then the amounts of the eligible rows, rule-major then by row —
        (rule position in ``rules``, row position, amount 分, amount known). Each group's columns are
        unpacked once for both passes."""
        n = frame.height
        st = _alloc((len(self.rules), n), np.uint8)
        cnt = np.zeros((len(self.rules), 3), dtype=np.int64)
        prepared = []
        inputs = self._inputs(frame)
        r0 = 0
        for g in self.groups:
            sub, r1 = st[r0:r0 + len(g.rules)], r0 + len(g.rules)
            tasks = self._tasks(inputs, g)

            def one(t, g=g, sub=sub):
                c = np.zeros((sub.shape[0], 3), dtype=np.int64)
                g.mod.status(t[1], t[2], t[0], *t[3], sub, c)
                return c

            per = _run(tasks, one)  # counts per task: the cursors of the amount pass
            cnt[r0:r1] = sum(per)
            prepared.append((g, r0, r1, sub, tasks, per))
            r0 = r1
        el = cnt[:, 1]
        total = int(el.sum())
        pos = np.empty(total, dtype=np.uint32)
        amt = np.empty(total, dtype=np.int64)
        amk = np.empty(total, dtype=np.bool_)
        starts = np.concatenate([[0], np.cumsum(el)[:-1]]).astype(np.int64)
        for g, r0, r1, sub, tasks, per in prepared:
            # a task's cursor per rule: the rule's start plus the eligible rows of the earlier tasks
            before = np.cumsum([np.zeros(r1 - r0, np.int64)] + [c[:, 1] for c in per[:-1]], axis=0)
            jobs = [(t, np.ascontiguousarray(starts[r0:r1] + before[i])) for i, t in enumerate(tasks)]
            _run(jobs, lambda j, g=g, sub=sub: g.mod.long(j[0][1], j[0][2], j[0][0], *j[0][3], sub, j[1],
                                                           pos, amt, amk))
        rule = np.repeat(np.arange(len(self.rules), dtype=np.uint32), el)
        return cnt, (rule, pos, amt, amk)

    def wide(self, frame: pl.DataFrame) -> dict[int, pl.Series]:
        """Rule position → Int64 分 series: the amount where eligible and known, null elsewhere."""
        n = frame.height
        out = {}
        inputs = self._inputs(frame)
        r0 = 0
        for g in self.groups:
            k = len(g.rules)
            am = _alloc((k, n), np.int64)
            ok = _alloc((k, n), np.bool_)
            _run(self._tasks(inputs, g), lambda t, g=g, am=am, ok=ok: g.mod.wide(t[1], t[2], t[0], *t[3], am, ok))
            for j in range(k):
                if g.has_amount[j]:
                    out[r0 + j] = _series(am[j], np.packbits(ok[j], bitorder="little"), n)
            r0 += k
        return out


def _threads() -> int:
    return max(1, min(os.cpu_count() or 1, pl.thread_pool_size()))


def _task_size(n: int) -> int:
    return max(_TASK_ROWS, -(-n // _threads()))


_POOL: ThreadPoolExecutor | None = None


def _run(items: list, fn) -> list:
    """``fn(item)`` for every item, on a thread pool when there is more than one (the kernels release the GIL)."""
    global _POOL
    if len(items) <= 1:
        return [fn(i) for i in items]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="zhengce-kernel")
    return [f.result() for f in [_POOL.submit(fn, i) for i in items]]


def _chunk_buffers(cols: list, dtypes: list) -> list:
    """(data, validity) of each column of one Arrow chunk, one value per row: integers zero-copy; validity and
    booleans unpacked from their bitmaps into the rows of one byte matrix (a kernel reading bits is not
    vectorised). The unpacking is a 256-entry table of 8-byte words — one load and one store per bitmap byte;
    np.unpackbits with its allocations took ~4× as long."""
    n = len(cols[0])
    bufs = [c.buffers() for c in cols]
    nbit = sum((bf[0] is not None) + (dt == pl.Boolean) for bf, dt in zip(bufs, dtypes, strict=True))
    width = max((c.offset + n + 7) // 8 for c in cols)
    mat = _alloc((max(nbit, 1), width * 8), np.uint8)
    rows = iter(range(nbit))

    def unpack(buf, off):
        r, nb = next(rows), (off + n + 7) // 8
        _unpack_bits(np.frombuffer(buf, dtype=np.uint8, count=nb), nb, mat[r].view(np.uint64), _LUT)
        return mat[r, off:off + n]

    out = []
    for c, bf, dt in zip(cols, bufs, dtypes, strict=True):
        off = c.offset
        valid = _ones(n) if bf[0] is None else unpack(bf[0], off)
        if dt == pl.Boolean:
            data = unpack(bf[1], off)
        else:
            data = np.frombuffer(bf[1], dtype=_INT_TYPES.get(dt, np.int32 if dt == pl.Date else None),
                                 count=off + n)[off:]
        out += [data, valid]
    return out


_LUT = np.array([sum(1 << (8 * k) for k in range(8) if b >> k & 1) for b in range(256)], dtype=np.uint64)
if AVAILABLE:
    @numba.njit(nogil=True, boundscheck=False, cache=True)
    def _unpack_bits(bits, nbytes, out64, lut):  # pragma: no cover - compiled
        for j in range(np.uint64(0), np.uint64(nbytes)):
            out64[j] = lut[bits[j]]


_ONES: dict[int, np.ndarray] = {}


def _ones(n: int) -> np.ndarray:
    if n not in _ONES:
        if len(_ONES) > 8:
            _ONES.clear()
        _ONES[n] = np.ones(n, dtype=np.uint8)
    return _ONES[n]


def _alloc(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array from Arrow's memory pool (mimalloc/jemalloc keep freed pages: a fresh numpy array
    of this size is mmap'ed and page-faulted anew on every call, 2–3× the cost of writing it)."""
    import pyarrow as pa

    count = 1
    for d in shape:
        count *= d
    buf = pa.allocate_buffer(max(count * np.dtype(dtype).itemsize, 1))
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


def _series(values: np.ndarray, bits: np.ndarray, n: int) -> pl.Series:
    import pyarrow as pa

    arr = pa.Array.from_buffers(pa.int64(), n, [pa.py_buffer(bits), pa.py_buffer(values)])
    return pl.Series(arr)


def build(rules, schema: dict[str, pl.DataType]) -> Kernel:
    """Translate each RulePlan (not a fallback) whose conditions and amount the translator knows; group them by
    document, in blocks of ``BLOCK``, into generated functions."""
    done: list[tuple[object, _Fn, dict[str, int]]] = []
    untranslated = {}
    for rp in rules:
        if rp.fallback:
            continue
        cols: dict[str, int] = {}
        try:
            fn = _Translator(schema, cols, "t").rule(rp.conds, rp.amount)
        except Untranslatable as exc:
            untranslated[rp.id] = str(exc)
            continue
        done.append((rp, fn, cols))
    blocks: dict[str, list] = {}
    for item in done:
        blocks.setdefault(item[0].cr.document.doc_no, []).append(item)
    groups, order = [], []
    for items in blocks.values():
        for s in range(0, len(items), BLOCK):
            chunk = items[s:s + BLOCK]
            columns: dict[str, int] = {}
            fns = []
            for rp, _fn, _cols in chunk:  # re-translate against the group's shared column numbering
                fns.append(_Translator(schema, columns, f"r{len(fns)}_").rule(rp.conds, rp.amount))
            bools = {c for c in columns if schema[c] == pl.Boolean}
            src = _source(fns, columns, bools, [rp.id for rp, _, _ in chunk])
            groups.append(_Group([rp.index for rp, _, _ in chunk], columns, bools, src,
                                 [f.av is not None for f in fns]))
            order.extend(rp.index for rp, _, _ in chunk)
    return Kernel(order, groups, untranslated)
