#!/usr/bin/env python3
"""Ratios between two implementations' lines of one sitting (FORMAT.md JSON lines).

usage: ratios.py BASE_IMPL NEW_IMPL FILE.jsonl [FILE2.jsonl ...]

For every (name, phase, threads) both implementations ran: BASE ms, NEW ms and speedup = BASE / NEW
(higher: NEW is faster), as a Markdown table, then the geometric mean per phase and thread count.
Use it for before/after (recurrent-before vs recurrent), int8 against fp32 (recurrent vs
recurrent-int8) or against another runtime (onnxruntime-int8 vs recurrent-int8).
"""
import json, math, sys
from collections import defaultdict

base_impl, new_impl, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = {base_impl: {}, new_impl: {}}
for path in paths:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r.get("impl") in rows and "median_ms" in r:
                rows[r["impl"]][(r["name"], r.get("phase", "gemm"), r["threads"])] = r

print(f"| case | phase | threads | {base_impl} ms | {new_impl} ms | {base_impl} / {new_impl} |")
print("|---|---|---|---|---|---|")
groups = defaultdict(list)
for k in sorted(rows[new_impl], key=lambda k: (k[2], k[1], k[0])):
    if k not in rows[base_impl]:
        continue
    b, n = rows[base_impl][k]["median_ms"], rows[new_impl][k]["median_ms"]
    groups[(k[1], k[2])].append(b / n)
    print(f"| {k[0]} | {k[1]} | {k[2]} | {b:.4g} | {n:.4g} | {b / n:.2f}x |")
print()
for (phase, threads), rs in sorted(groups.items(), key=lambda x: (x[0][1], x[0][0])):
    g = math.exp(sum(math.log(r) for r in rs) / len(rs))
    print(f"- {phase}, threads {threads}: geometric mean {g:.2f}x over {len(rs)} cases (min {min(rs):.2f}x, max {max(rs):.2f}x)")
