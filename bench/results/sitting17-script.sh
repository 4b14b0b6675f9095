#!/usr/bin/env bash
# Sitting 17: the final code (the GEMM next-panel prefetch 2076d80, 4-step chunks 756b944). No builds after the publish step.
set -u
O=/work/sitting/s17
cd /work/main
C=../shared/data/tinyshakespeare.txt
G=../shared/bench/grid.json
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
BB=/work/wt-before/bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/sitting.log; }
med() { python3 -c "import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(round(statistics.median(v),4), len(v))"; }
log "start $(git rev-parse --short HEAD) $(grep -m1 'model name' /proc/cpuinfo)"
# --- builds and NativeAOT ---
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
for i in $(seq 10); do rm -rf /tmp/s17train; s=$(date +%s.%N); $AOT train --steps 1 --out /tmp/s17train >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-train1.txt
for i in $(seq 10); do rm -rf /tmp/s17train; s=$(date +%s.%N); $JIT train --steps 1 --out /tmp/s17train >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-train1.txt
log "aot help $(med < $O/aot-help.txt) jit help $(med < $O/jit-help.txt) aot train1 $(med < $O/aot-train1.txt) jit train1 $(med < $O/jit-train1.txt)"
# --- the CLI's demos ---
rm -rf runs/addition; s=$(date +%s.%N); $JIT train > $O/addition.log 2>&1; e=$(date +%s.%N); log "addition wall $(echo "$e - $s" | bc)"
rm -rf runs/shakespeare; s=$(date +%s.%N); $JIT train --data $C --out runs/shakespeare > $O/shakespeare.log 2>&1; e=$(date +%s.%N); log "shakespeare wall $(echo "$e - $s" | bc)"
rm -rf runs/shakespeare-int8; $JIT quantize runs/shakespeare runs/shakespeare-int8 > $O/quantize.log 2>&1
$JIT eval runs/shakespeare --data $C > $O/eval-fp32.log 2>&1; $JIT eval runs/shakespeare-int8 --data $C > $O/eval-int8.log 2>&1
ls -l runs/shakespeare runs/shakespeare-int8 >> $O/quantize.log
log "shakespeare done"
rm -rf /tmp/s17recipe; $JIT train --data $C --embedding-size 128 --hidden-size 512 --layers 2 --seq-len 64 --batch-size 32 --lr 0.002 --clip 5 --threads 2 --steps 300 --out /tmp/s17recipe > $O/train-recipe-t2.log 2>&1; log "train recipe done"
# --- the grid, one pass per thread count ---
for t in 1 2; do
  log "ours t=$t"; dotnet $B --grid $G --threads $t --out $O/recurrent.jsonl > $O/grid-ours-t$t.log 2>&1
  log "before t=$t"; dotnet $BB --grid $G --threads $t --impl recurrent-before --out $O/recurrent.jsonl > $O/grid-before-t$t.log 2>&1
  log "int8 t=$t"; dotnet $B --grid $G --threads $t --quantize int8 --out $O/recurrent.jsonl > $O/grid-int8-t$t.log 2>&1
  log "ort t=$t"; dotnet $B --grid $G --threads $t --onnxruntime --out $O/recurrent.jsonl > $O/grid-ort-t$t.log 2>&1
  log "ort-int8 t=$t"; dotnet $B --grid $G --threads $t --onnxruntime --quantize int8 --out $O/recurrent.jsonl > $O/grid-ortint8-t$t.log 2>&1
done
log "libtorch default"; (cd ../shared/bench/libtorch-anchor && ./run_all.sh $O/libtorch-cpu.jsonl) > $O/anchor-default.log 2>&1
log "libtorch malloc tuned"; (cd ../shared/bench/libtorch-anchor && MALLOC_TUNED=1 ./run_all.sh $O/libtorch-cpu-malloctuned.jsonl) > $O/anchor-tuned.log 2>&1
log "inference modes"; dotnet $B --inference-modes > $O/inference-modes.jsonl 2> $O/inference-modes.log
log "stream step"
for t in 1 2; do
  dotnet $B --grid bench/grids/stream-step.json --threads $t --out $O/stream-step.jsonl > $O/stream-ours-t$t.log 2>&1
  (cd ../shared/bench/libtorch-anchor && ./run.sh --threads $t --grid /work/main/bench/grids/stream-step.json --out $O/stream-step.jsonl) > $O/stream-anchor-t$t.log 2>&1
  (cd ../shared/bench/libtorch-anchor && MALLOC_TUNED=1 ./run.sh --threads $t --grid /work/main/bench/grids/stream-step.json --out $O/stream-step.jsonl) >> $O/stream-anchor-t$t.log 2>&1
done
log "grid done"
# --- the char-LM recipe against libtorch ---
A() { (cd ../shared/bench/charlm-anchor && THREADS=$1 MALLOC_TUNED=1 ./run.sh custom --run x --seconds 300 --out $O/$2) > $O/$2.log 2>&1; log "anchor t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
U() { dotnet $B --charlm --corpus $C --threads $1 --seconds 300 --out $O/$2 > $O/$2.log 2>&1; log "ours t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
A 2 charlm-anchor-t2.jsonl; U 2 charlm-ours-t2.jsonl
U 2 charlm2-ours-t2.jsonl; A 2 charlm2-anchor-t2.jsonl
A 1 charlm-anchor-t1.jsonl; U 1 charlm-ours-t1.jsonl
log "end"

#!/usr/bin/env bash
# Sitting 17, pass 2 of the grid (ours and both libtorch configurations), then A/B checks against 8d916e3 (before this stop).
set -u
O=/work/sitting/s17
cd /work/main
G=../shared/bench/grid.json
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
OLD=/work/wt8/bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/sitting.log; }
log "pass 2 start"
for t in 1 2; do log "pass2 ours t=$t"; dotnet $B --grid $G --threads $t --out $O/pass2-recurrent.jsonl > $O/pass2-ours-t$t.log 2>&1; done
log "pass2 libtorch default"; (cd ../shared/bench/libtorch-anchor && ./run_all.sh $O/pass2-libtorch-cpu.jsonl) > $O/pass2-anchor-default.log 2>&1
log "pass2 libtorch malloc tuned"; (cd ../shared/bench/libtorch-anchor && MALLOC_TUNED=1 ./run_all.sh $O/pass2-libtorch-cpu-malloctuned.jsonl) > $O/pass2-anchor-tuned.log 2>&1
log "pass 2 done; A/B against 8d916e3"
rm -rf /work/wt8; git worktree prune; git worktree add -q /work/wt8 8d916e3
(cd /work/wt8 && dotnet build bench/Recurrent.Bench -c Release > $O/wt8-build.log 2>&1); log "wt8 build rc=$?"
S=charlm_lstm,mid_lstm,bidir_lstm,big_lstm,seed4_lstm
for r in 1 2; do
  dotnet $OLD --grid $G --threads 2 --only $S --impl recurrent-8d916e3 --out $O/ab-grid-t2.jsonl > /dev/null 2>&1
  dotnet $B --grid $G --threads 2 --only $S --out $O/ab-grid-t2.jsonl > /dev/null 2>&1
done
log "ab grid done"
for r in 1 2; do
  dotnet $OLD --grid bench/grids/stream-step.json --threads 1 --impl recurrent-8d916e3 --out $O/ab-stream.jsonl > /dev/null 2>&1
  dotnet $B --grid bench/grids/stream-step.json --threads 1 --out $O/ab-stream.jsonl > /dev/null 2>&1
done
log "ab stream done"
dotnet $OLD --inference-modes > $O/ab-modes-8d916e3.jsonl 2>/dev/null
dotnet $B --inference-modes > $O/ab-modes-final.jsonl 2>/dev/null
log "ab modes done"
(cd /work/wt8 && dotnet build src/Recurrent.Cli -c Release > $O/wt8-cli-build.log 2>&1); log "wt8 cli build rc=$?"
C=../shared/data/tinyshakespeare.txt
for r in 1 2; do
  for v in old new; do
    J=src/Recurrent.Cli/bin/Release/net10.0/Recurrent.Cli; [ $v = old ] && J=/work/wt8/src/Recurrent.Cli/bin/Release/net10.0/Recurrent.Cli
    rm -rf /tmp/s17ab; s=$(date +%s.%N); $J train --data $C --steps 500 --out /tmp/s17ab > $O/ab-cli-$v-$r.log 2>&1; e=$(date +%s.%N); log "ab cli shakespeare 500 steps $v wall $(echo "$e - $s" | bc)"
  done
done
log "stream micro"; dotnet run -c Release --project bench/Recurrent.Micro -- --filter '*StreamBenchmarks*' --job short > $O/stream-micro.log 2>&1
log "end b"

#!/usr/bin/env bash
# Sitting 17, a third recipe pair at threads 2 and a second at threads 1, ours first.
set -u
O=/work/sitting/s17
cd /work/main
C=../shared/data/tinyshakespeare.txt
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/sitting.log; }
A() { (cd ../shared/bench/charlm-anchor && THREADS=$1 MALLOC_TUNED=1 ./run.sh custom --run x --seconds 300 --out $O/$2) > $O/$2.log 2>&1; log "anchor t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
U() { dotnet $B --charlm --corpus $C --threads $1 --seconds 300 --out $O/$2 > $O/$2.log 2>&1; log "ours t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
U 2 charlm3-ours-t2.jsonl; A 2 charlm3-anchor-t2.jsonl
U 1 charlm2-ours-t1.jsonl; A 1 charlm2-anchor-t1.jsonl
log "end c"
