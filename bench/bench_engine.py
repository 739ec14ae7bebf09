"""Per-entity latency: one enterprise (with a project) against the whole pack, warm, with full traces.

Target (issue 2): ≤ 2 ms per evaluation. Prints pack size, p50/p95/mean, with and without trace, side by side.
Run: python bench/bench_engine.py [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from pathlib import Path

from zhengce.engine.evaluate import Evaluator
from zhengce.entities.loader import load_entities
from zhengce.rules.loader import load_pack

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    pack = load_pack(ROOT / "policies")
    load_s = time.perf_counter() - t0
    (entity,) = load_entities(ROOT / "examples" / "enterprise.yaml", pack.schema)
    ev = Evaluator(pack)
    day = date(2023, 6, 30)
    n_rules = len(pack.rules)
    per_type = {t: len(pack.rules_for(t)) for t in ("enterprise", "project", "loan", "person", "institution", "district")}
    for _ in range(200):  # warm-up: compile caches, explainer closures
        ev.evaluate(entity, day)
    print(f"pack: {len(pack.documents)} documents, {n_rules} rules {per_type}; load {load_s * 1000:.0f} ms")
    def full_trace():
        rep = ev.evaluate(entity, day)
        for r in rep.results:  # materialise every condition trace and near-miss
            r.conditions  # noqa: B018
            r.near_misses  # noqa: B018
        return rep

    cases = (
        ("evaluate (trace on demand)", lambda: ev.evaluate(entity, day)),
        ("evaluate, no trace", lambda: ev.evaluate(entity, day, trace=False)),
        ("evaluate + every trace built", full_trace),
        ("evaluate + full JSON report", lambda: ev.evaluate(entity, day).to_json()),
    )
    n_eval = len(ev.evaluate(entity, day).results)
    print(f"the sample enterprise (with its project and loan) is checked against {n_eval} rules of its types")
    for label, fn in cases:
        ts = timed(fn, args.n)
        ts.sort()
        p50, p95 = ts[len(ts) // 2], ts[int(len(ts) * 0.95)]
        print(f"{label:30s} mean {statistics.mean(ts):.3f} ms  p50 {p50:.3f} ms  p95 {p95:.3f} ms  "
              f"({n_eval / statistics.mean(ts) * 1000:,.0f} rule evaluations/s)")
    rep = ev.evaluate(entity, day)
    print(f"sample result: {sum(1 for r in rep.results if r.status == 'eligible')} eligible, "
          f"{sum(1 for r in rep.results if r.is_near_miss)} near-misses, target ≤ 2 ms warm")


if __name__ == "__main__":
    main()
