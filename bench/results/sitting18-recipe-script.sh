#!/usr/bin/env bash
# Sitting 18: recipe pairs on main 032c385 (300 s per run), alternating order. Waits for the grid rounds first.
set -u
O=/work/sitting/s18
cd /work/main
while ! grep -q "done" $O/rounds/rounds.log 2>/dev/null; do sleep 10; done
C=../shared/data/tinyshakespeare.txt
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/sitting.log; }
A() { (cd ../shared/bench/charlm-anchor && THREADS=$1 MALLOC_TUNED=1 ./run.sh custom --run x --seconds 300 --out $O/$2) > $O/$2.log 2>&1; log "anchor t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
U() { dotnet $B --charlm --corpus $C --threads $1 --seconds 300 --out $O/$2 > $O/$2.log 2>&1; log "ours t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
log "start $(git rev-parse --short HEAD)"
A 2 charlm1-anchor-t2.jsonl; U 2 charlm1-ours-t2.jsonl
U 2 charlm2-ours-t2.jsonl; A 2 charlm2-anchor-t2.jsonl
A 1 charlm1-anchor-t1.jsonl; U 1 charlm1-ours-t1.jsonl
log "end"
