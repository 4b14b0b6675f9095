#!/usr/bin/env bash
# Sitting 29 (stop 36): the final code of stop 36 (weight tying by assignment, safetensors' rule for a tensor under
# several keys, FromPretrained sharing its storage, the schedulers' order warning, cells of hidden size 0), on the AMD
# EPYC (Zen 5) VM of sittings 1-15 and 24-28. Sitting 28's script with its own folders. No build runs while anything is timed.
set -u
O=/work/sitting/s29
mkdir -p $O; cd /work/main
C=../shared/data/tinyshakespeare.txt
G=../shared/bench/grid.json
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
BB=/work/wt-before/bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/sitting.log; }
med() { python3 -c "import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(round(statistics.median(v),4), len(v))"; }
log "start $(git rev-parse --short HEAD) $(grep -m1 'model name' /proc/cpuinfo)"
# the code before this wave (as in sitting 17), built first
rm -rf /work/wt-before; git worktree prune; git worktree add -q /work/wt-before 659c002
(cd /work/wt-before && dotnet build bench/Recurrent.Bench -c Release > $O/before-build.log 2>&1); log "before build rc=$?"
# --- the grid in rounds (builds the bench first) ---
bash bench/scripts/grid-rounds.sh $O/rounds 3; log "rounds done"
# --- int8, ONNX Runtime, before-this-wave ---
for t in 1 2; do
  log "int8 t=$t"; dotnet $B --grid $G --threads $t --quantize int8 --out $O/recurrent.jsonl > $O/grid-int8-t$t.log 2>&1
  log "ort t=$t"; dotnet $B --grid $G --threads $t --onnxruntime --out $O/recurrent.jsonl > $O/grid-ort-t$t.log 2>&1
  log "ort-int8 t=$t"; dotnet $B --grid $G --threads $t --onnxruntime --quantize int8 --out $O/recurrent.jsonl > $O/grid-ortint8-t$t.log 2>&1
  log "ours t=$t"; dotnet $B --grid $G --threads $t --out $O/recurrent.jsonl > $O/grid-ours-t$t.log 2>&1
  log "before t=$t"; dotnet $BB --grid $G --threads $t --impl recurrent-before --out $O/recurrent.jsonl > $O/grid-before-t$t.log 2>&1
done
log "inference modes"; dotnet $B --inference-modes > $O/inference-modes.jsonl 2> $O/inference-modes.log
log "stream step"
for t in 1 2; do
  dotnet $B --grid bench/grids/stream-step.json --threads $t --out $O/stream-step.jsonl > $O/stream-ours-t$t.log 2>&1
  (cd ../shared/bench/libtorch-anchor && ./run.sh --threads $t --grid /work/main/bench/grids/stream-step.json --out $O/stream-step.jsonl) > $O/stream-anchor-t$t.log 2>&1
  (cd ../shared/bench/libtorch-anchor && MALLOC_TUNED=1 ./run.sh --threads $t --grid /work/main/bench/grids/stream-step.json --out $O/stream-step.jsonl) >> $O/stream-anchor-t$t.log 2>&1
done
log "stream micro"; dotnet run -c Release --project bench/Recurrent.Micro -- --filter '*StreamBenchmarks*' --job short > $O/stream-micro.log 2>&1
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
for i in $(seq 10); do rm -rf /tmp/s29train; s=$(date +%s.%N); $AOT train --steps 1 --out /tmp/s29train >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-train1.txt
for i in $(seq 10); do rm -rf /tmp/s29train; s=$(date +%s.%N); $JIT train --steps 1 --out /tmp/s29train >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-train1.txt
log "aot help $(med < $O/aot-help.txt) jit help $(med < $O/jit-help.txt) aot train1 $(med < $O/aot-train1.txt) jit train1 $(med < $O/jit-train1.txt)"
rm -rf runs/addition; s=$(date +%s.%N); $JIT train > $O/addition.log 2>&1; e=$(date +%s.%N); log "addition wall $(echo "$e - $s" | bc)"
rm -rf runs/shakespeare; s=$(date +%s.%N); $JIT train --data $C --out runs/shakespeare > $O/shakespeare.log 2>&1; e=$(date +%s.%N); log "shakespeare wall $(echo "$e - $s" | bc)"
rm -rf runs/shakespeare-int8; $JIT quantize runs/shakespeare runs/shakespeare-int8 > $O/quantize.log 2>&1
$JIT eval runs/shakespeare --data $C > $O/eval-fp32.log 2>&1; $JIT eval runs/shakespeare-int8 --data $C > $O/eval-int8.log 2>&1
ls -l runs/shakespeare runs/shakespeare-int8 >> $O/quantize.log
rm -rf runs/shakespeare-cosine; s=$(date +%s.%N); $JIT train --data $C --out runs/shakespeare-cosine --lr-schedule cosine --warmup-steps 100 > $O/shakespeare-cosine.log 2>&1; e=$(date +%s.%N); log "shakespeare cosine wall $(echo "$e - $s" | bc)"
log "shakespeare done"
rm -rf /tmp/s29recipe; $JIT train --data $C --embedding-size 128 --hidden-size 512 --layers 2 --seq-len 64 --batch-size 32 --lr 0.002 --clip 5 --threads 2 --steps 300 --out /tmp/s29recipe > $O/train-recipe-t2.log 2>&1; log "train recipe done"
# --- the char-LM recipe against libtorch, 300 s per run, both orders ---
A() { (cd ../shared/bench/charlm-anchor && THREADS=$1 MALLOC_TUNED=1 ./run.sh custom --run x --seconds 300 --out $O/$2) > $O/$2.log 2>&1; log "anchor t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
U() { dotnet $B --charlm --corpus $C --threads $1 --seconds 300 --out $O/$2 > $O/$2.log 2>&1; log "ours t$1 -> $2 $(grep -o '"median_tokens_per_s": *[0-9.]*' $O/$2 | tail -1)"; }
A 2 charlm1-anchor-t2.jsonl; U 2 charlm1-ours-t2.jsonl
U 2 charlm2-ours-t2.jsonl; A 2 charlm2-anchor-t2.jsonl
A 1 charlm1-anchor-t1.jsonl; U 1 charlm1-ours-t1.jsonl
U 1 charlm2-ours-t1.jsonl; A 1 charlm2-anchor-t1.jsonl
log "profile"; dotnet $B --charlm --corpus $C --threads 2 --max-steps 300 --profile --out $O/profile-t2.jsonl > $O/profile-t2.log 2>&1
log "final check"; dotnet $B --charlm --corpus $C --threads 2 --max-steps 500 --out $O/final-check-t2.jsonl > $O/final-check-t2.log 2>&1
log "long gen-2 check"; dotnet $B --charlm --corpus $C --threads 2 --max-steps 3300 --out $O/long-t2.jsonl > $O/long-t2.log 2>&1
log "end"

