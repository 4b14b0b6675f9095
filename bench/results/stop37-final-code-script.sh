#!/usr/bin/env bash
# Stop 37's final-code checks (no kernel changed since sitting 29; the step's new work is hook tests and one idle edge).
set -u
O=/work/sitting/s37b
cd /work/main
C=../shared/data/tinyshakespeare.txt
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
BB=/work/wt-before/bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/checks.log; }
med() { python3 -c "import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(round(statistics.median(v),4), len(v))"; }
log "start $(git rev-parse --short HEAD) $(grep -m1 'model name' /proc/cpuinfo)"
rm -rf /work/wt-before; git worktree prune; git worktree add -q /work/wt-before 16a6636
(cd /work/wt-before && dotnet build bench/Recurrent.Bench -c Release > $O/before-build.log 2>&1); log "before (16a6636) build rc=$?"
dotnet build Recurrent.slnx -c Release > $O/build.log 2>&1; log "build rc=$?"
dotnet build bench/Recurrent.Bench -c Release >> $O/build.log 2>&1; log "bench build rc=$?"
# A/B: stop 36's final code against this stop's, alternating, 300 steps of the recipe at threads 2
for r in 1 2; do
  log "ab before $r"; dotnet $BB --charlm --corpus $C --threads 2 --max-steps 300 --out $O/ab-before-$r.jsonl > $O/ab-before-$r.log 2>&1
  log "ab after $r"; dotnet $B --charlm --corpus $C --threads 2 --max-steps 300 --out $O/ab-after-$r.jsonl > $O/ab-after-$r.log 2>&1
done
log "profile"; dotnet $B --charlm --corpus $C --threads 2 --max-steps 300 --profile --out $O/profile-t2.jsonl > $O/profile-t2.log 2>&1
log "final check"; dotnet $B --charlm --corpus $C --threads 2 --max-steps 500 --out $O/final-check-t2.jsonl > $O/final-check-t2.log 2>&1
rm -rf src/Recurrent.Cli/bin/Release/net10.0/linux-x64 samples/Recurrent.Serving/bin/Release/net10.0/linux-x64
dotnet publish src/Recurrent.Cli -c Release -r linux-x64 -p:PublishAot=true > $O/aot-cli-publish.log 2>&1; log "cli publish rc=$?"
dotnet publish samples/Recurrent.Serving -c Release -r linux-x64 -p:PublishAot=true > $O/aot-serving-publish.log 2>&1; log "serving publish rc=$?"
AOT=src/Recurrent.Cli/bin/Release/net10.0/linux-x64/publish/recurrent
JIT=src/Recurrent.Cli/bin/Release/net10.0/Recurrent.Cli
ls -l $AOT samples/Recurrent.Serving/bin/Release/net10.0/linux-x64/publish/ | tee -a $O/aot-sizes.txt
grep -ci "warning" $O/aot-cli-publish.log $O/aot-serving-publish.log | tee -a $O/aot-sizes.txt
for i in $(seq 20); do s=$(date +%s.%N); $AOT --help >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-help.txt
for i in $(seq 20); do s=$(date +%s.%N); $JIT --help >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-help.txt
for i in $(seq 10); do rm -rf /tmp/s37btrain; s=$(date +%s.%N); $AOT train --steps 1 --out /tmp/s37btrain >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-train1.txt
for i in $(seq 10); do rm -rf /tmp/s37btrain; s=$(date +%s.%N); $JIT train --steps 1 --out /tmp/s37btrain >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-train1.txt
log "aot help $(med < $O/aot-help.txt) jit help $(med < $O/jit-help.txt) aot train1 $(med < $O/aot-train1.txt) jit train1 $(med < $O/jit-train1.txt)"
log "aot demo"; ( time $AOT demo seq2seq-attention ) > $O/aot-demo-seq2seq.txt 2>&1
log "done"
# Three more alternating pairs, run by hand right after the script (16:41-16:46):
for r in 3 4 5; do
  dotnet $BB --charlm --corpus $C --threads 2 --max-steps 300 --out $O/ab-before-$r.jsonl > $O/ab-before-$r.log 2>&1
  dotnet $B --charlm --corpus $C --threads 2 --max-steps 300 --out $O/ab-after-$r.jsonl > $O/ab-after-$r.log 2>&1
done
