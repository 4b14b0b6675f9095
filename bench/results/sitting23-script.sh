#!/usr/bin/env bash
# Sitting 23 (stop 30): the CLI and NativeAOT figures, the recipe's hash after 300 steps and its managed bytes per step, on the final code of stop 30 (no kernel or step arithmetic changed at this stop, so the grid and recipe ratios of sitting 22 stand). Run again after the last read's mends.
set -u
O=/work/sitting/s23
mkdir -p $O; cd /work/main
C=../shared/data/tinyshakespeare.txt
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/sitting.log; }
med() { python3 -c "import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(round(statistics.median(v),4), len(v))"; }
log "start $(git rev-parse --short HEAD)"
# --- builds and NativeAOT, the CLI ---
dotnet build Recurrent.slnx -c Release > $O/build.log 2>&1; log "build rc=$?"
rm -rf src/Recurrent.Cli/bin/Release/net10.0/linux-x64 samples/Recurrent.Serving/bin/Release/net10.0/linux-x64
dotnet publish src/Recurrent.Cli -c Release -r linux-x64 -p:PublishAot=true > $O/aot-cli-publish.log 2>&1; log "cli publish rc=$?"
dotnet publish samples/Recurrent.Serving -c Release -r linux-x64 -p:PublishAot=true > $O/aot-serving-publish.log 2>&1; log "serving publish rc=$?"
dotnet build src/Recurrent.Cli -c Release > $O/cli-build.log 2>&1; log "cli build rc=$?"
AOT=src/Recurrent.Cli/bin/Release/net10.0/linux-x64/publish/recurrent
JIT=src/Recurrent.Cli/bin/Release/net10.0/Recurrent.Cli
ls -l $AOT samples/Recurrent.Serving/bin/Release/net10.0/linux-x64/publish/ | tee -a $O/aot-sizes.txt
grep -ci "warning" $O/aot-cli-publish.log $O/aot-serving-publish.log | tee -a $O/aot-sizes.txt
for i in $(seq 20); do s=$(date +%s.%N); $AOT --help >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-help.txt
for i in $(seq 20); do s=$(date +%s.%N); $JIT --help >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-help.txt
for i in $(seq 10); do rm -rf /tmp/s23train; s=$(date +%s.%N); $AOT train --steps 1 --out /tmp/s23train >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-train1.txt
for i in $(seq 10); do rm -rf /tmp/s23train; s=$(date +%s.%N); $JIT train --steps 1 --out /tmp/s23train >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-train1.txt
log "aot help $(med < $O/aot-help.txt) jit help $(med < $O/jit-help.txt) aot train1 $(med < $O/aot-train1.txt) jit train1 $(med < $O/jit-train1.txt)"
rm -rf runs/addition; s=$(date +%s.%N); $JIT train > $O/addition.log 2>&1; e=$(date +%s.%N); log "addition wall $(echo "$e - $s" | bc)"
rm -rf runs/shakespeare; s=$(date +%s.%N); $JIT train --data $C --out runs/shakespeare > $O/shakespeare.log 2>&1; e=$(date +%s.%N); log "shakespeare wall $(echo "$e - $s" | bc)"
rm -rf runs/shakespeare-int8; $JIT quantize runs/shakespeare runs/shakespeare-int8 > $O/quantize.log 2>&1
$JIT eval runs/shakespeare --data $C > $O/eval-fp32.log 2>&1; $JIT eval runs/shakespeare-int8 --data $C > $O/eval-int8.log 2>&1
ls -l runs/shakespeare runs/shakespeare-int8 >> $O/quantize.log
log "shakespeare done"
rm -rf /tmp/s23recipe; $JIT train --data $C --embedding-size 128 --hidden-size 512 --layers 2 --seq-len 64 --batch-size 32 --lr 0.002 --clip 5 --threads 2 --steps 300 --out /tmp/s23recipe > $O/train-recipe-t2.log 2>&1; log "train recipe done"
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
dotnet build bench/Recurrent.Bench -c Release > $O/bench-build.log 2>&1; log "bench build rc=$?"
dotnet $B --charlm --corpus $C --threads 2 --max-steps 300 --profile --out $O/profile-t2.jsonl > $O/profile-t2.log 2>&1; log "profile/hash done"
dotnet $B --charlm --corpus $C --threads 2 --max-steps 500 --out $O/final-check-t2.jsonl > $O/final-check-t2.log 2>&1; log "final check done"
log "end"
