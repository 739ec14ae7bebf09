"""Catalog benchmark: ingest time for all five seeds (target ≤ 2 s) and search latency p50/p95 (target ≤ 20 ms).

    python bench/bench_catalog.py [--seeds ../shared/seeds] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from zhengce.catalog import Catalog
from zhengce.catalog.search import Filters, search

QUERIES = [
    "科技支行", "拨投贷保", "贴息", "人才", "保险", "奖励 1000万元", "智能化改造", "养老机构 轮候", "交通影响评价",
    "有效期至", "高新技术企业", "专精特新", "首次纳统", "地方贡献", "知识产权质押", "无偿献血", "创新型城市", "电商",
    "补", "威海英才", "农业信贷担保", "亩产效益", "医疗服务价格", "校外培训机构 信用",
]
FILTERED = [("补助", Filters(issuer="财政局")), ("奖励", Filters(status="in_force")), ("办法", Filters(doc_type="办法")),
            ("补贴", Filters(doc_no="威金监发〔2023〕25号"))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "seeds")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    files = sorted(args.seeds.resolve().glob("*.txt"))
    if not files:
        print(f"no seeds under {args.seeds}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        with Catalog(db) as cat:
            docs = sum(len(cat.ingest_path(f).documents) for f in files)
        ingest = time.perf_counter() - t0
        t0 = time.perf_counter()
        with Catalog(db) as cat:
            for f in files:
                cat.ingest_path(f)
        reingest = time.perf_counter() - t0
        with Catalog(db) as cat:
            times = []
            for _ in range(args.rounds):
                for q in QUERIES:
                    t = time.perf_counter()
                    search(cat, q)
                    times.append(time.perf_counter() - t)
                for q, f in FILTERED:
                    t = time.perf_counter()
                    search(cat, q, f)
                    times.append(time.perf_counter() - t)
    times.sort()
    p50 = statistics.median(times) * 1000
    p95 = times[int(0.95 * len(times)) - 1] * 1000
    print(f"ingest   {len(files)} seeds, {docs} documents: {ingest:.2f} s (target ≤ 2 s) {'OK' if ingest <= 2 else 'SLOW'}")
    print(f"re-ingest (idempotent, unchanged): {reingest:.2f} s")
    print(f"search   {len(times)} queries: p50 {p50:.2f} ms, p95 {p95:.2f} ms, max {times[-1] * 1000:.2f} ms "
          f"(target p95 ≤ 20 ms) {'OK' if p95 <= 20 else 'SLOW'}")
    return 0 if ingest <= 2 and p95 <= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
