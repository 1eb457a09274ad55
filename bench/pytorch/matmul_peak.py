#!/usr/bin/python3
"""The machine's float32 matrix-product rate through PyTorch (OpenBLAS sgemm): GFLOP/s = 2·m·k·n / seconds.

Shapes are m×k·k×n; the defaults are the square 512 and 1024 products and the three products of a LeNet-300-100
first layer at batch 100 (forward 100×784·784×300, weight gradient 784×100·100×300, input gradient 100×300·300×784).
Each (shape, threads) is warmed up, then repeated for at least ``--min-seconds``; best and median are reported.
"""

import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def measure(m, k, n, min_seconds, warmup=3):
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    for _ in range(warmup):
        torch.mm(a, b, out=out)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 5:
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * m * k * n
    return {
        "shape": f"{m}x{k}x{n}",
        "gflops_best": flops / min(times) / 1e9,
        "gflops_median": flops / statistics.median(times) / 1e9,
        "ms_best": 1000 * min(times),
        "repeats": len(times),
    }


def main():
    p = common.base_parser(__doc__.split("\n")[1], 0, "ignored")
    p.add_argument("--shapes", default="512x512x512,1024x1024x1024,100x784x300,784x100x300,100x300x784",
                   help="comma-separated m x k x n")
    p.add_argument("--thread-list", default="1,2", help="thread counts to measure (overrides --threads)")
    p.add_argument("--min-seconds", type=float, default=1.0)
    args = p.parse_args()
    env = common.setup(args)
    rows = []
    for threads in [int(t) for t in args.thread_list.split(",")]:
        common.set_threads(threads)
        for shape in args.shapes.split(","):
            m, k, n = (int(v) for v in shape.lower().split("x"))
            row = measure(m, k, n, args.min_seconds)
            row["threads"] = threads
            rows.append(row)
            common.log(f"{row['shape']} threads {threads}: best {row['gflops_best']:.1f} GFLOP/s, "
                       f"median {row['gflops_median']:.1f}")
    common.set_threads(args.threads)
    peak = {}
    for r in rows:
        key = str(r["threads"])
        peak[key] = max(peak.get(key, 0.0), r["gflops_best"])
    result = {"benchmark": "matmul_peak", "dtype": "float32", "results": rows, "peak_gflops_by_threads": peak,
              "env": env}
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
