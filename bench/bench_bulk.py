"""Side-by-side benchmark of the bulk path (issue 4). One command, every number and ratio:

    python bench/bench_bulk.py --n 1000000 [--e2e 10000000] [--policies policies]

Each backend runs in its own subprocess so peak RSS (its own VmHWM) is attributed correctly:
  (a) per-entity evaluator (zhengce.engine.evaluate) over a sample, rows/s extrapolated;
  (b) vectorised backend (zhengce.bulk) — whole pack, and the 20-rule subset;
  (c) OpenFisca (bench/openfisca_model, 20 rules) — pip install zhengce[bench];
  (d) hand-written numpy and polars for the same 20 rules (exact int64 分): the practical limit.
Compute times exclude reading the register (each backend gets its inputs in its own native form first;
OpenFisca's conversion from the typed register is timed too and printed as a second ratio);
--e2e N also times `zhengce batch` end to end (read Parquet, compute, write results) on N rows; --families N times
`zhengce batch` on the --n register with a project register for N enterprises (--children) beside the run without.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

SUBSET = ["zbf-2023-5-01", "zbf-2023-5-02", "zbf-2023-5-03", "zbf-2023-5-04", "zbf-2023-5-05", "zbf-2023-5-07",
          "zbf-2023-5-08", "zbf-2023-5-13", "zbf-2023-7-02", "zbf-2023-7-03", "zbf-2023-7-08", "zbf-2023-7-11",
          "zbf-2023-7-19", "zbf-2023-7-20", "zbf-2023-7-21", "zbf-2023-7-22", "zbf-2023-7-24", "zbf-2023-7-41",
          "zbf-2023-7-43", "zbf-2023-7-44"]


def rss_mb() -> float:
    """This process's own peak RSS. VmHWM belongs to the process image and starts afresh at exec; getrusage's
    ru_maxrss does not: a worker forked from a parent that had generated a register in memory reported the
    parent's peak (1.5 GB for every backend)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(fn, repeat: int, between=None):
    """(best wall seconds over ``repeat`` back-to-back calls, the last call's result); ``between`` runs after
    each call, outside the timing (freeing the result)."""
    best, out = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        d = time.perf_counter() - t0
        best = d if best is None else min(best, d)
        if between is not None:
            between(out)
    return best, out


def _pack(args, subset: bool):
    from zhengce.rules.loader import load_pack

    pack = load_pack(args.policies)
    if subset:
        keep = set(SUBSET)
        pack.rules = [r for r in pack.rules if r.id in keep]
        pack.__dict__.pop("_by_type", None)
    return pack


def _typed(args, pack):
    import polars as pl

    from zhengce.bulk.register import normalize
    from zhengce.bulk.runner import needed_columns

    raw = pl.read_parquet(args.register, columns=needed_columns(pack, "enterprise", args.register))
    return normalize(raw, pack.schema, "enterprise").frame


def worker(args) -> dict:
    import polars as pl

    from zhengce.bulk.plan import compile_plan

    as_of = date.fromisoformat(args.as_of)
    w = args.worker
    if w == "vector-subset":
        # the shared 20 rules on the typed register (each backend gets its inputs in its own form first):
        # "amounts" = what OpenFisca and the hand-written code compute (each rule's amount per entity, summed);
        # "full" = evaluate(): long results, stacking, group caps, totals and status counts as well
        import gc

        pack = _pack(args, True)
        frame = _typed(args, pack)
        plan = compile_plan(pack, "enterprise", as_of)
        plan.amounts(frame.head(1000))
        plan.evaluate(frame.head(1000))  # warm-up (thread pool, allocator)
        # each measurement back to back, as for the other backends (interleaving the two left every amounts
        # run to start on memory the full run had just freed, page faults included)
        def summed(wide) -> int:
            return int(wide.select(pl.sum_horizontal(pl.all().exclude("_row").sum()))[0, 0])

        best, total = best_of(lambda: summed(plan.amounts(frame)), args.repeat)
        gc.collect()
        # the computation alone, on the plan's prepared input (columns, set masks): the counterpart of OpenFisca's
        # time without its input conversion
        prepared = plan.prepare(frame)
        best_c, total_c = best_of(lambda: summed(plan.amounts(prepared, prepared=True)), args.repeat)
        assert total_c == total, (total_c, total)
        prep, _ = best_of(lambda: plan.prepare(frame), args.repeat)
        del prepared
        gc.collect()

        def full():
            res = plan.evaluate(frame)
            return int(res.long.filter("counts")["amount_fen"].sum() or 0)

        best_full, full_total = best_of(full, args.repeat, lambda _: gc.collect())
        small = frame.head(args.small)
        best_small, _ = best_of(lambda: summed(plan.amounts(small)), max(args.repeat, 5))
        return {"rows": frame.height, "seconds": best, "full_seconds": best_full, "rules": len(plan.rules),
                "total_fen": total, "full_total_fen": full_total, "small_seconds": best_small,
                "compute_seconds": best_c, "prepare_seconds": prep}
    if w == "vector":
        # streamed like `zhengce batch`: read → validate → evaluate one chunk (--chunk-compute rows) at a time,
        # keeping only the results; compute = the evaluate passes (results identical to one pass: see
        # tests/bulk/test_equivalence.py::test_chunked_equals_whole)
        import gc

        import pyarrow.parquet as pq

        from zhengce.bulk.register import normalize
        from zhengce.bulk.runner import needed_columns

        pack = _pack(args, False)
        plan = compile_plan(pack, "enterprise", as_of)
        cols = needed_columns(pack, "enterprise", args.register)
        pf = pq.ParquetFile(args.register)
        t_read = dt = 0.0
        rows = results = 0
        total = 0
        off = 0
        lf = pl.scan_parquet(args.register).select(cols)  # polars' reader holds less than pyarrow's batches
        for start in range(0, pf.metadata.num_rows, args.chunk_compute):
            t0 = time.perf_counter()
            frame = normalize(lf.slice(start, args.chunk_compute).collect(), pack.schema, "enterprise",
                              row_offset=off).frame
            t_read += time.perf_counter() - t0
            if not off:
                plan.evaluate(frame.head(1000))  # warm-up (thread pool, allocator)
            t0 = time.perf_counter()
            res = plan.evaluate(frame)
            dt += time.perf_counter() - t0
            rows += frame.height
            off += frame.height
            results += res.long.height
            total += int(res.long.filter("counts")["amount_fen"].sum() or 0)
            del frame, res
            gc.collect()
        return {"rows": rows, "seconds": dt, "read_seconds": t_read, "rules": len(plan.rules),
                "results": results, "total_fen": total}
    if w == "per-entity":
        from zhengce.bulk.reference import evaluate_reference

        pack = _pack(args, False)
        frame = _typed(args, pack).head(args.sample)
        plan = compile_plan(pack, "enterprise", as_of)
        t0 = time.perf_counter()
        res = evaluate_reference(plan, frame)
        dt = time.perf_counter() - t0
        return {"rows": frame.height, "seconds": dt, "rules": len(plan.rules), "results": res.long.height}
    if w == "openfisca":
        import numpy as np
        from openfisca_core.simulation_builder import SimulationBuilder
        from openfisca_model import BOOL_INPUTS, FLOAT_INPUTS, INT_INPUTS, RULES, TITLES, WeihaiBench

        pack = _pack(args, True)
        frame = _typed(args, pack)
        from zhengce.bulk.compiler import SCALES

        specs = pack.schema.fields["enterprise"]

        def to_inputs(fr):
            """OpenFisca's input arrays from the typed register: float 元, unknown → 0 / False, titles → bools."""
            inp = {}
            for n in FLOAT_INPUTS:
                inp[n] = fr[n].fill_null(0).to_numpy() / 10 ** SCALES[specs[n].type]
            for n in INT_INPUTS:
                inp[n] = fr[n].fill_null(0).to_numpy()
            for n in BOOL_INPUTS:
                inp[n] = fr[n].fill_null(False).to_numpy()
            for n, title in TITLES.items():
                inp[n] = fr.select(pl.col("titles_new").list.contains(title).fill_null(False))["titles_new"].to_numpy()
            return inp

        convert, inputs = best_of(lambda: to_inputs(frame), args.repeat)
        del frame
        tbs = WeihaiBench()

        def run_of(inp, repeat):
            def one():
                sim = SimulationBuilder().build_default_simulation(tbs, count=len(inp["revenue"]))
                for k, v in inp.items():
                    sim.set_input(k, "2023", v)
                return sum(float(np.asarray(sim.calculate(name, "2023"), dtype=np.float64).sum()) for name in RULES)
            return best_of(one, repeat)

        dt, total = run_of(inputs, args.repeat)
        small_dt, _ = run_of({k: v[:args.small] for k, v in inputs.items()}, max(args.repeat, 5))
        return {"rows": len(inputs["revenue"]), "seconds": dt, "rules": len(RULES), "total_yuan_float": total,
                "small_seconds": small_dt, "convert_seconds": convert}
    if w == "handwritten":
        import numpy as np

        pack = _pack(args, True)
        frame = _typed(args, pack)
        cols = {}
        for c in frame.columns:
            s = frame[c]
            if s.dtype == pl.Int64:
                cols[c] = (s.fill_null(0).to_numpy(), s.is_not_null().to_numpy())
            elif s.dtype == pl.Boolean:
                cols[c] = (s.fill_null(False).to_numpy(), s.is_not_null().to_numpy())
        tn = frame["titles_new"]
        titles = {t: frame.select(pl.col("titles_new").list.contains(t).fill_null(False))["titles_new"].to_numpy()
                  for t in ["国家级智能制造示范工厂", "国家级智能制造优秀场景", "国家级工业设计中心", "国家制造业单项冠军示范企业",
                            "专精特新“小巨人”企业"]}
        del frame, tn
        dt, total = best_of(lambda: hand_written(cols, titles), args.repeat)
        return {"rows": len(cols["revenue"][0]), "seconds": dt, "rules": 20, "total_fen": int(total)}
    if w == "handwritten-polars":
        pack = _pack(args, True)
        frame = _typed(args, pack)
        hand_written_polars(frame.head(1000))
        dt, total = best_of(lambda: hand_written_polars(frame), args.repeat)
        return {"rows": frame.height, "seconds": dt, "rules": 20, "total_fen": int(total)}
    if w in ("e2e", "families"):
        # families: the same run with a project register (--children) for --families enterprises
        from zhengce.bulk.runner import RunConfig, run_batch

        pack = _pack(args, False)
        out = Path(args.out)
        kids = {"project": project_register(args)} if w == "families" else {}
        cfg = RunConfig(source=args.register, out=out, run_id=f"bench-{os.getpid()}", as_of=as_of,
                        chunk_size=args.chunk, children=kids)
        t0 = time.perf_counter()
        rep = run_batch(pack, cfg)
        dt = time.perf_counter() - t0
        import shutil

        shutil.rmtree(rep.run_dir, ignore_errors=True)
        return {"rows": rep.rows, "seconds": dt, "rules": rep.summary["rules_in_force"], "families": rep.families}
    raise SystemExit(f"unknown worker {w}")


def project_register(args) -> str:
    """1–3 projects (智能化改造 / 工业互联网平台) for each of --families enterprises of the register (a fixed
    sample): the child register of the --children benchmark, written once next to the register."""
    import polars as pl

    path = Path(args.register).with_name(Path(args.register).stem + f"-projects-{args.families}.parquet")
    if path.exists():
        return str(path)
    ids = pl.scan_parquet(args.register).select("id").collect()["id"].sample(args.families, seed=3).to_list()
    kinds = [("智能化改造", "6000000", None), ("行业级工业互联网平台", None, "3000000"),
             ("企业级工业互联网平台", None, "1500000")]
    rows = [(f"P{i}-{j}", o, *kinds[(i + j) % 3]) for i, o in enumerate(ids) for j in range(1 + i % 3)]
    pl.DataFrame(rows, schema=["id", "owner_id", "project_types", "equipment_investment", "iiot_platform_investment"],
                 orient="row").write_parquet(path)
    return str(path)


def hand_written(c, t) -> int:
    """The 20 rules in plain numpy, exact int64 分 (money scale 2, rate scale 6). Unknown → not eligible."""
    import numpy as np

    def v(n):
        return c[n][0]

    def k(*ns):
        m = c[ns[0]][1]
        for n in ns[1:]:
            m = m & c[n][1]
        return m

    YI = 10**8 * 100  # 1亿元 in 分
    WAN = 10**4 * 100
    rev, base, peak, g, g2 = v("revenue"), v("revenue_base"), v("revenue_peak_before"), v("revenue_growth"), \
        v("revenue_growth_prev_year")
    ys = v("years_since_stats_inclusion")
    steps = rev // (100 * YI) - base // (100 * YI)
    out = []
    out.append(np.where(k("revenue", "revenue_base") & (base >= 100 * YI) & (steps > 0), 1000 * WAN * steps, 0))
    out.append(np.where(k("is_industrial", "revenue", "revenue_peak_before") & v("is_industrial")
                        & (rev >= 100 * YI) & (peak < 100 * YI), 1000 * WAN, 0))
    ok = k("revenue", "revenue_peak_before", "revenue_growth")
    out.append(np.where(ok & (rev >= 80 * YI) & (peak < 80 * YI) & (g >= 50_000), 80 * YI // 100, 0))
    out.append(np.where(ok & (rev >= 50 * YI) & (peak < 50 * YI) & (g >= 50_000), 50 * YI // 100, 0))
    out.append(np.where(k("is_zjtx_accelerator_operator") & v("is_zjtx_accelerator_operator"), 500 * WAN, 0))
    out.append(np.where(k("years_since_stats_inclusion", "revenue_growth") & (ys == 1) & (g >= 100_000), 5 * WAN, 0))
    out.append(np.where(k("years_since_stats_inclusion", "revenue_growth", "revenue_growth_prev_year") & (ys == 2)
                        & (g >= 100_000) & (g2 >= 100_000), 5 * WAN, 0))
    out.append(np.where(k("has_industrialized_key_tech") & v("has_industrialized_key_tech"), 100 * WAN, 0))
    out.append(np.where(t["国家级智能制造示范工厂"], 100 * WAN, 0))
    out.append(np.where(t["国家级智能制造优秀场景"], 50 * WAN, 0))
    fees = v("smart_retrofit_service_fees")
    five = (fees * 5 + 50) // 100  # 5% of 分, half up (fees >= 0)
    out.append(np.where(k("is_smart_retrofit_provider", "smart_retrofit_provider_notable", "smart_retrofit_service_fees")
                        & v("is_smart_retrofit_provider") & v("smart_retrofit_provider_notable"),
                        np.minimum(np.maximum(five, 0), 20 * WAN), 0))
    out.append(np.where(t["国家级工业设计中心"], 100 * WAN, 0))
    ic = v("ic_layout_certs_new")
    out.append(np.where(k("is_ic_enterprise", "ic_layout_certs_new") & v("is_ic_enterprise") & (ic >= 1),
                        np.minimum(20 * WAN * ic, 30 * WAN), 0))
    r = v("china_design_award_rank")
    out.append(np.select([r == 1, r == 2, r == 3], [30 * WAN, 20 * WAN, 10 * WAN], 0) * k("china_design_award_rank"))
    r = v("governor_cup_design_rank")
    out.append(np.select([r == 1, r == 2, r == 3], [10 * WAN, 5 * WAN, 2 * WAN], 0) * k("governor_cup_design_rank"))
    out.append(np.where(t["国家制造业单项冠军示范企业"], 100 * WAN, 0))
    out.append(np.where(t["专精特新“小巨人”企业"], 30 * WAN, 0))
    d, db = v("dcmm_level_new"), v("dcmm_level_before")
    out.append(np.where(k("dcmm_level_new", "dcmm_level_before") & (d > db),
                        np.select([d == 4, d == 3, d == 2], [40 * WAN, 30 * WAN, 20 * WAN], 0), 0))
    out.append(np.where(k("is_industrial", "registered_on_id_node_weihai", "id_registrations", "id_resolutions",
                          "id_thresholds_reached_before") & v("is_industrial") & v("registered_on_id_node_weihai")
                        & (v("id_registrations") >= 100_000) & (v("id_resolutions") >= 20_000)
                        & ~v("id_thresholds_reached_before"), 10 * WAN, 0))
    out.append(np.where(k("is_chain_leader", "chain_leader_notable") & v("is_chain_leader") & v("chain_leader_notable"),
                        100 * WAN, 0))
    return int(sum(int(o.sum()) for o in out))


def hand_written_polars(frame) -> int:
    """The same 20 rules as polars expressions on the typed frame (exact int64 分; unknown → not eligible):
    what a competent engineer would write by hand for these rules alone, in one parallel select."""
    import polars as pl

    c = pl.col
    YI, WAN = 10**8 * 100, 10**4 * 100

    def ok(*ns):
        e = c(ns[0]).is_not_null()
        for n in ns[1:]:
            e = e & c(n).is_not_null()
        return e

    def has(t):
        return c("titles_new").list.contains(t).fill_null(False)

    def pay(cond, amt):
        return pl.when(cond).then(amt).otherwise(0)

    steps = c("revenue") // (100 * YI) - c("revenue_base") // (100 * YI)
    g, ys = c("revenue_growth"), c("years_since_stats_inclusion")
    rev, peak = c("revenue"), c("revenue_peak_before")
    five = (c("smart_retrofit_service_fees") * 5 + 50) // 100
    ic = c("ic_layout_certs_new")
    d, db = c("dcmm_level_new"), c("dcmm_level_before")

    def rank(col, a, b, cc):
        r = c(col)
        return pl.when(r == 1).then(a).when(r == 2).then(b).when(r == 3).then(cc).otherwise(0).fill_null(0)

    out = [
        pay(ok("revenue", "revenue_base") & (c("revenue_base") >= 100 * YI) & (steps > 0), 1000 * WAN * steps),
        pay(ok("is_industrial", "revenue", "revenue_peak_before") & c("is_industrial") & (rev >= 100 * YI)
            & (peak < 100 * YI), 1000 * WAN),
        pay(ok("revenue", "revenue_peak_before", "revenue_growth") & (rev >= 80 * YI) & (peak < 80 * YI)
            & (g >= 50_000), 80 * YI // 100),
        pay(ok("revenue", "revenue_peak_before", "revenue_growth") & (rev >= 50 * YI) & (peak < 50 * YI)
            & (g >= 50_000), 50 * YI // 100),
        pay(c("is_zjtx_accelerator_operator").fill_null(False), 500 * WAN),
        pay(ok("years_since_stats_inclusion", "revenue_growth") & (ys == 1) & (g >= 100_000), 5 * WAN),
        pay(ok("years_since_stats_inclusion", "revenue_growth", "revenue_growth_prev_year") & (ys == 2)
            & (g >= 100_000) & (c("revenue_growth_prev_year") >= 100_000), 5 * WAN),
        pay(c("has_industrialized_key_tech").fill_null(False), 100 * WAN),
        pay(has("国家级智能制造示范工厂"), 100 * WAN),
        pay(has("国家级智能制造优秀场景"), 50 * WAN),
        pay(ok("is_smart_retrofit_provider", "smart_retrofit_provider_notable", "smart_retrofit_service_fees")
            & c("is_smart_retrofit_provider") & c("smart_retrofit_provider_notable"),
            pl.min_horizontal(pl.max_horizontal(five, 0), 20 * WAN)),
        pay(has("国家级工业设计中心"), 100 * WAN),
        pay(ok("is_ic_enterprise", "ic_layout_certs_new") & c("is_ic_enterprise") & (ic >= 1),
            pl.min_horizontal(20 * WAN * ic, 30 * WAN)),
        rank("china_design_award_rank", 30 * WAN, 20 * WAN, 10 * WAN),
        rank("governor_cup_design_rank", 10 * WAN, 5 * WAN, 2 * WAN),
        pay(has("国家制造业单项冠军示范企业"), 100 * WAN),
        pay(has("专精特新“小巨人”企业"), 30 * WAN),
        pay(ok("dcmm_level_new", "dcmm_level_before") & (d > db),
            pl.when(d == 4).then(40 * WAN).when(d == 3).then(30 * WAN).when(d == 2).then(20 * WAN).otherwise(0)),
        pay(ok("is_industrial", "registered_on_id_node_weihai", "id_registrations", "id_resolutions",
               "id_thresholds_reached_before") & c("is_industrial") & c("registered_on_id_node_weihai")
            & (c("id_registrations") >= 100_000) & (c("id_resolutions") >= 20_000)
            & ~c("id_thresholds_reached_before"), 10 * WAN),
        pay(ok("is_chain_leader", "chain_leader_notable") & c("is_chain_leader") & c("chain_leader_notable"),
            100 * WAN),
    ]
    # the same output as the other backends: each rule's amount per entity (a column per rule), then the sum
    wide = frame.select([e.fill_null(0).cast(pl.Int64).alias(f"r{i}") for i, e in enumerate(out)])
    return int(wide.select(pl.sum_horizontal(pl.all().sum()))[0, 0])


def run(worker_name: str, args, register: str, extra: list[str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", worker_name, "--register", register, "--as-of", args.as_of,
           "--sample", str(args.sample), "--chunk", str(args.chunk),
           "--chunk-compute", str(args.chunk_compute), "--out", args.out, "--repeat", str(args.repeat),
           "--small", str(args.small), "--families", str(args.families)]
    if args.policies:
        cmd += ["--policies", args.policies]
    p = subprocess.run(cmd + (extra or []), capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout)[-800:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--e2e", type=int, default=0, help="also run zhengce batch end to end on this many rows")
    ap.add_argument("--sample", type=int, default=20_000, help="rows for the (slow) per-entity evaluator")
    ap.add_argument("--as-of", default="2023-09-01")
    ap.add_argument("--policies", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=500_000, help="zhengce batch --chunk-size for --e2e")
    ap.add_argument("--chunk-compute", type=int, default=250_000,
                    help="rows per pass of the 1M compute (250k: ~0.65 GB peak; 500k: ~15%% faster, 1.3 GB)")
    ap.add_argument("--cache", default="/tmp/zhengce-bench")
    ap.add_argument("--out", default="/tmp/zhengce-bench/runs")
    ap.add_argument("--small", type=int, default=10_000, help="rows of the small-batch comparison (a district's daily delta)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats per backend (best is reported; 5 evens out this VM's noise)")
    ap.add_argument("--worker")
    ap.add_argument("--register")
    ap.add_argument("--skip", default="", help="comma-separated backends to skip")
    ap.add_argument("--families", type=int, default=0,
                    help="also time zhengce batch on the --n register with a project register for this many "
                         "enterprises (--children), beside the same run without it")
    args = ap.parse_args()
    if args.worker:
        res = worker(args)
        res["peak_rss_mb"] = round(rss_mb(), 1)
        print(json.dumps(res))
        return
    from zhengce.bulk.synth import write_register
    from zhengce.rules.loader import load_pack

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    pack = load_pack(args.policies)

    def register(n: int) -> str:
        p = cache / f"register-{n}-seed{args.seed}-{len(pack.rules)}r.parquet"
        if not p.exists():
            print(f"generating {n:,} rows → {p} …", flush=True)
            write_register(pack, n, p, seed=args.seed)
        return str(p)

    reg = register(args.n)
    skip = set(args.skip.split(","))
    print(f"\nregister: {args.n:,} enterprises; pack: {len(pack.rules)} rules "
          f"({len(pack.rules_for('enterprise'))} enterprise); as of {args.as_of}; 2 cores\n", flush=True)
    results = {}
    for name in ("vector", "vector-subset", "handwritten", "handwritten-polars", "openfisca", "per-entity"):
        if name in skip:
            continue
        print(f"  running {name} …", flush=True)
        results[name] = run(name, args, reg)
    if args.e2e:
        results["e2e"] = run("e2e", args, register(args.e2e))
    if args.families:
        results["no-children"] = run("e2e", args, reg)
        results["families"] = run("families", args, reg)
    print()
    print(f"{'backend':<34}{'rules':>6}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak RSS MB':>13}")
    labels = {"vector": "(b) vectorised, whole pack", "vector-subset": "(b) vectorised, 20 rules: amounts",
              "vector-subset-full": "(b) vectorised, 20 rules: full",
              "handwritten": "(d) hand-written numpy, 20 rules", "handwritten-polars": "(d) hand-written polars, 20",
              "openfisca": "(c) OpenFisca, 20 rules",
              "per-entity": "(a) per-entity evaluator, pack", "e2e": "zhengce batch end to end (Parquet)",
              "no-children": "zhengce batch, --n rows", "families": "… with --children project"}
    if "vector-subset" in results and "full_seconds" in results["vector-subset"]:
        results["vector-subset-full"] = dict(results["vector-subset"], seconds=results["vector-subset"]["full_seconds"])
    for k, r in results.items():
        if "error" in r:
            print(f"{labels[k]:<34} ERROR {r['error'][-300:]}")
            continue
        print(f"{labels[k]:<34}{r['rules']:>6}{r['rows']:>12,}{r['seconds']:>10.3f}{r['rows'] / r['seconds']:>14,.0f}"
              f"{r['peak_rss_mb']:>13,.0f}")
    ok = {k: r for k, r in results.items() if "error" not in r}

    def rps(k):
        return ok[k]["rows"] / ok[k]["seconds"]

    print()
    print("20 rules, same register, same output (each rule's amount per entity, summed; best of "
          f"{args.repeat} runs each):")
    if "vector-subset" in ok and "openfisca" in ok:
        print(f"  vectorised vs OpenFisca:                {rps('vector-subset') / rps('openfisca'):8.1f}× faster")
    if "vector-subset" in ok and "openfisca" in ok and "compute_seconds" in ok["vector-subset"]:
        v, of = ok["vector-subset"], ok["openfisca"]["seconds"]
        print(f"  computation alone, each on its own prepared input (zhengce: columns and set masks, "
              f"{v['prepare_seconds'] * 1000:.0f} ms; OpenFisca: float arrays and title booleans, "
              f"{ok['openfisca'].get('convert_seconds', 0) * 1000:.0f} ms): {v['compute_seconds'] * 1000:.0f} ms "
              f"vs {of * 1000:.0f} ms: {of / v['compute_seconds']:.1f}× faster")
    hands = [k for k in ("handwritten", "handwritten-polars") if k in ok]
    if "vector-subset" in ok and hands:
        fastest = min(hands, key=lambda k: ok[k]["seconds"])
        print(f"  vectorised vs fastest hand-written ({labels[fastest][4:].split(',')[0]}): "
              f"{ok['vector-subset']['seconds'] / ok[fastest]['seconds']:6.2f}× the hand-written time")
    if "vector-subset" in ok and "openfisca" in ok and ok["openfisca"].get("convert_seconds") is not None:
        of = ok["openfisca"]["seconds"] + ok["openfisca"]["convert_seconds"]
        print(f"  … counting OpenFisca's input conversion from the same typed register "
              f"({ok['openfisca']['convert_seconds'] * 1000:.0f} ms; zhengce's set masks are inside its time): "
              f"{of / ok['vector-subset']['seconds']:.1f}× faster")
    if "vector-subset" in ok and "openfisca" in ok and ok["openfisca"].get("small_seconds"):
        vs, of = ok["vector-subset"]["small_seconds"], ok["openfisca"]["small_seconds"]
        print(f"  small batch ({args.small:,} rows): vectorised {vs * 1000:.1f} ms vs OpenFisca {of * 1000:.1f} ms: "
              f"{of / vs:.1f}× faster")
    if "vector-subset-full" in ok and "openfisca" in ok:
        print(f"  full results (long table, stacking, group caps, totals, status counts) vs OpenFisca's amounts: "
              f"{rps('vector-subset-full') / rps('openfisca'):.1f}× faster")
    if "families" in ok and "no-children" in ok:
        f, b = ok["families"], ok["no-children"]
        print(f"--children project ({args.families:,} enterprises with 1–3 projects; {f['families']:,} families under "
              f"a shared cap): {f['seconds']:.1f}s against {b['seconds']:.1f}s without")
    if "vector" in ok and "per-entity" in ok:
        print(f"vectorised vs per-entity (whole pack):    {rps('vector') / rps('per-entity'):8.0f}× faster")
    if "vector" in ok:
        v = ok["vector"]
        print(f"whole pack, {v['rows']:,} rows: compute {v['seconds']:.2f}s (read+validate {v['read_seconds']:.2f}s), "
              f"{v['results']:,} eligible results, peak RSS {v['peak_rss_mb']:.0f} MB")
    if "vector-subset" in ok and hands:
        print("20-rule totals agree (exact 分): vectorised " + f"{ok['vector-subset']['total_fen']:,}"
              + "".join(f", {labels[k][4:].split(',')[0]} {ok[k]['total_fen']:,}" for k in hands)
              + (f"; OpenFisca (float 元) {ok['openfisca']['total_yuan_float']:,.2f}" if "openfisca" in ok else ""))


if __name__ == "__main__":
    main()
