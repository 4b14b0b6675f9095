#!/usr/bin/env python3
"""Compare Recurrent's bench results with the libtorch anchor (FORMAT.md section 6).

usage: compare.py [--impl IMPL] OURS.jsonl ANCHOR.jsonl [ANCHOR2.jsonl ...]

--impl picks our lines by their exact "impl" (default: recurrent; recurrent-int8 for the int8 pass).

Per (name, phase, threads) the bar is the fastest anchor configuration; ratio = libtorch_ms / recurrent_ms.
Prints a Markdown table and the geometric means per phase and thread count.
"""
import json, math, sys
from collections import defaultdict

def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows

args = sys.argv[1:]
impl = "recurrent"
if args and args[0] == "--impl":
    impl = args[1]; args = args[2:]
ours = {}
for r in load(args[0]):
    if r.get("impl", "") == impl:
        ours[(r["name"], r.get("phase", "gemm"), r["threads"])] = r
best = {}
peak = {}
for path in args[1:]:
    for r in load(path):
        if r.get("impl") == "peak":
            peak[r["threads"]] = r["gflops"]; continue
        k = (r["name"], r.get("phase", "gemm"), r["threads"])
        if k not in best or r["median_ms"] < best[k]["median_ms"]:
            best[k] = r

print("| case | phase | threads | libtorch ms (impl) | recurrent ms | ratio | recurrent GFLOP/s | % of peak/core | gen2 | alloc B/iter |")
print("|---|---|---|---|---|---|---|---|---|---|")
ratios = defaultdict(list)
for k in sorted(ours, key=lambda k: (k[2], k[1] == "gemm", k[0], k[1])):
    o = ours[k]; a = best.get(k)
    ratio = a["median_ms"] / o["median_ms"] if a else float("nan")
    if a: ratios[(k[1] if k[1] != "gemm" else "gemm", k[2])].append(ratio)
    pk = peak.get(1)
    pct = 100 * o["gflops"] / (pk * k[2]) if pk else float("nan")
    print(f"| {k[0]} | {k[1]} | {k[2]} | {a['median_ms']:.4g} ({a['impl'].replace('libtorch-cpu', 'lt')}) | {o['median_ms']:.4g} | {ratio:.2f}x | {o['gflops']:.1f} | {pct:.0f}% | {o.get('gen2_collections', '?')} | {o.get('alloc_bytes_per_iter', '?')} |" if a else
          f"| {k[0]} | {k[1]} | {k[2]} | - | {o['median_ms']:.4g} | - | {o['gflops']:.1f} | {pct:.0f}% | {o.get('gen2_collections', '?')} | {o.get('alloc_bytes_per_iter', '?')} |")
print()
for (phase, threads), rs in sorted(ratios.items(), key=lambda x: (x[0][1], x[0][0])):
    g = math.exp(sum(math.log(r) for r in rs) / len(rs))
    print(f"- {phase}, threads {threads}: geometric mean {g:.2f}x over {len(rs)} cases (min {min(rs):.2f}x, max {max(rs):.2f}x)")
if peak: print(f"- FMA peak (fma-peak, same sitting): {peak.get(1)} GFLOP/s at 1 thread, {peak.get(2)} at 2")
