#!/usr/bin/env python3
"""Summarise the alternating rounds of bench/scripts/grid-rounds.sh (FORMAT.md JSON lines).

usage: rounds.py OUT_DIR

Per (name, phase, threads) and round: ratio = the faster libtorch configuration's median_ms in that round
(default or malloc-tuned) / ours in that round (higher: ours is faster). Prints a Markdown table with each
round's ratio, the median over rounds, and both sides' median ms over rounds; then per phase and thread
count the geometric mean of the cases' median ratios; then the cases whose median ratio is below 1.0x.
"""
import glob, json, math, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
ours = defaultdict(dict)     # key -> round -> ms
theirs = defaultdict(dict)   # key -> round -> ms of the faster libtorch configuration
peaks = defaultdict(dict)    # round -> threads -> GFLOP/s
for path in sorted(glob.glob(os.path.join(out, "round*-*.jsonl"))):
    rnd = int(re.match(r"round(\d+)-", os.path.basename(path)).group(1))
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r.get("impl") == "peak":
                peaks[rnd].setdefault(r["threads"], []).append(r["gflops"])
                continue
            if "median_ms" not in r:
                continue
            key = (r["name"], r.get("phase") or "gemm", r["threads"])
            impl = r.get("impl", "")
            if impl == "recurrent":
                ours[key][rnd] = r["median_ms"]
            elif impl.startswith("libtorch"):
                theirs[key][rnd] = min(theirs[key].get(rnd, math.inf), r["median_ms"])

rounds = sorted({rnd for v in ours.values() for rnd in v})
print("| case | phase | threads | " + " | ".join(f"round {r}" for r in rounds) + " | median ratio | libtorch ms (median) | recurrent ms (median) |")
print("|---|---|---|" + "---|" * len(rounds) + "---|---|---|")
groups = defaultdict(list)
below = []
for key in sorted(ours, key=lambda k: (k[2], k[1] == "gemm", k[0], k[1])):
    common = [r for r in rounds if r in ours[key] and r in theirs[key]]
    if not common:
        continue
    ratios = {r: theirs[key][r] / ours[key][r] for r in common}
    med = statistics.median(ratios.values())
    cells = [f"{ratios[r]:.2f}x" if r in ratios else "-" for r in rounds]
    lt_ms = statistics.median(theirs[key][r] for r in common)
    our_ms = statistics.median(ours[key][r] for r in common)
    print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + f" | **{med:.2f}x** | {lt_ms:.4g} | {our_ms:.4g} |")
    groups[(key[1], key[2])].append(med)
    if med < 1.0:
        below.append((key, med, sum(1 for v in ratios.values() if v < 1.0), len(ratios)))
print()
for (phase, threads), meds in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    gm = math.exp(sum(math.log(m) for m in meds) / len(meds))
    print(f"- {phase}, threads {threads}: geometric mean of the median ratios {gm:.2f}x over {len(meds)} cases "
          f"(min {min(meds):.2f}x, max {max(meds):.2f}x)")
print()
for rnd in sorted(peaks):
    print(f"- FMA peak, round {rnd} (the anchor's runs): " + ", ".join(
        f"threads {t}: " + " / ".join(f"{g:.1f}" for g in v) for t, v in sorted(peaks[rnd].items())) + " GFLOP/s")
print()
if below:
    print("Below 1.0x (median over rounds): " + "; ".join(
        f"{k[0]} {k[1]} t{k[2]} {m:.3f}x (below in {n} of {total} rounds)" for k, m, n, total in below))
else:
    print("No case below 1.0x (median over rounds).")
