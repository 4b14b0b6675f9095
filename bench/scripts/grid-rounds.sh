#!/usr/bin/env bash
# The grid against the libtorch anchor in alternating rounds, for a machine whose speed drifts within a
# sitting (the Intel VM of sittings 16-18 slowed by a third for tens of minutes at a time, on both sides).
# Each round runs every configuration once: libtorch default and malloc-tuned (both thread counts, the
# anchor's run_all.sh) and ours at threads 1 and 2; odd rounds run libtorch first, even rounds ours first,
# so that a drift within a round does not favour one side. bench/scripts/rounds.py then compares ours
# with the faster libtorch configuration of the same round, case by case.
#
# usage: bench/scripts/grid-rounds.sh OUT_DIR [ROUNDS]   (from the repository root, with ../shared beside it;
#        the anchor's runtime set up once per machine: ../shared/oracle/setup-runtime.sh)
# Builds bench/Recurrent.Bench in Release first. Writes OUT_DIR/round<N>-{recurrent,libtorch-cpu,
# libtorch-cpu-malloctuned}.jsonl and OUT_DIR/rounds.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: grid-rounds.sh OUT_DIR [ROUNDS]}
rounds=${2:-3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
grid=$(cd ../shared/bench && pwd)/grid.json
anchor=$(cd ../shared/bench/libtorch-anchor && pwd)
log() { echo "$(date -u +%T) $*" | tee -a "$out/rounds.log"; }
dotnet build bench/Recurrent.Bench -c Release -v quiet -nologo > "$out/build.log" 2>&1 || { log "build failed"; exit 1; }
bench=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
log "start $(git rev-parse --short HEAD) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
ours() {
  for t in 1 2; do
    dotnet "$bench" --grid "$grid" --threads $t --out "$out/round$1-recurrent.jsonl" >> "$out/ours.log" 2>&1
    log "round $1 ours t$t rc=$?"
  done
}
theirs() {
  (cd "$anchor" && ./run_all.sh "$out/round$1-libtorch-cpu.jsonl") >> "$out/anchor.log" 2>&1
  log "round $1 libtorch default rc=$?"
  (cd "$anchor" && MALLOC_TUNED=1 ./run_all.sh "$out/round$1-libtorch-cpu-malloctuned.jsonl") >> "$out/anchor.log" 2>&1
  log "round $1 libtorch malloc tuned rc=$?"
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then theirs "$r"; ours "$r"; else ours "$r"; theirs "$r"; fi
done
log "done"
