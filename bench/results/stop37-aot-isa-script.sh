#!/usr/bin/env bash
# Stop 37: NativeAOT instruction sets. The CLI published without --instruction-set (before this change), for x86-64-v3
# (the new default of our programs), for x86-64-v4, and the JIT build, each training the char-LM recipe's model for 60
# steps, in two alternating rounds; then the new default's sizes and start-up.
set -u
O=/work/sitting/s37c
cd /work/main
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a $O/checks.log; }
med() { python3 -c "import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(round(statistics.median(v),4), len(v))"; }
log "start $(git rev-parse --short HEAD) (working tree: Directory.Build.targets sets x86-64-v3)"
mkdir -p /tmp/aot-old && cp src/Recurrent.Cli/bin/Release/net10.0/linux-x64/publish/recurrent /tmp/aot-old/recurrent   # published 16:38 without --instruction-set
rm -rf src/Recurrent.Cli/bin/Release/net10.0/linux-x64 samples/Recurrent.Serving/bin/Release/net10.0/linux-x64
dotnet publish src/Recurrent.Cli -c Release -r linux-x64 -p:PublishAot=true > $O/aot-cli-publish.log 2>&1; log "cli publish rc=$?"
dotnet publish samples/Recurrent.Serving -c Release -r linux-x64 -p:PublishAot=true > $O/aot-serving-publish.log 2>&1; log "serving publish rc=$?"
rm -rf /tmp/aot-v4 && dotnet publish src/Recurrent.Cli -c Release -r linux-x64 -p:PublishAot=true -p:IlcInstructionSet=x86-64-v4 -o /tmp/aot-v4 > $O/aot-v4-publish.log 2>&1; log "v4 publish rc=$?"
dotnet build src/Recurrent.Cli -c Release > $O/jit-build.log 2>&1; log "jit build rc=$?"
AOT=src/Recurrent.Cli/bin/Release/net10.0/linux-x64/publish/recurrent
JIT=src/Recurrent.Cli/bin/Release/net10.0/Recurrent.Cli
grep -h "instruction-set" src/Recurrent.Cli/obj/Release/net10.0/linux-x64/native/Recurrent.Cli.ilc.rsp | tee -a $O/checks.log
ls -l $AOT /tmp/aot-old/recurrent /tmp/aot-v4/recurrent samples/Recurrent.Serving/bin/Release/net10.0/linux-x64/publish/Recurrent.Serving | tee -a $O/aot-sizes.txt
grep -ci "warning" $O/aot-cli-publish.log $O/aot-serving-publish.log | tee -a $O/aot-sizes.txt
for r in 1 2; do
  for b in "$JIT" /tmp/aot-old/recurrent "$AOT" /tmp/aot-v4/recurrent; do
    rm -rf /tmp/s37ctrain
    s=$(date +%s.%N)
    $b train --data ../shared/data/tinyshakespeare.txt --embedding-size 128 --hidden-size 512 --layers 2 --seq-len 64 --batch-size 32 --lr 0.002 --clip 5 --threads 2 --steps 60 --out /tmp/s37ctrain > $O/train60-r$r-$(basename $(dirname $b))-$(basename $b).log 2>&1
    e=$(date +%s.%N)
    log "round $r $b: $(echo "$e - $s" | bc) s, $(grep -o 'validation loss [0-9.]*' $O/train60-r$r-$(basename $(dirname $b))-$(basename $b).log | tail -1)"
  done
done
for i in $(seq 20); do s=$(date +%s.%N); $AOT --help >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-help.txt
for i in $(seq 20); do s=$(date +%s.%N); $JIT --help >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-help.txt
for i in $(seq 10); do rm -rf /tmp/s37ctrain; s=$(date +%s.%N); $AOT train --steps 1 --out /tmp/s37ctrain >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/aot-train1.txt
for i in $(seq 10); do rm -rf /tmp/s37ctrain; s=$(date +%s.%N); $JIT train --steps 1 --out /tmp/s37ctrain >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; done > $O/jit-train1.txt
log "aot help $(med < $O/aot-help.txt) jit help $(med < $O/jit-help.txt) aot train1 $(med < $O/aot-train1.txt) jit train1 $(med < $O/jit-train1.txt)"
log "done"
