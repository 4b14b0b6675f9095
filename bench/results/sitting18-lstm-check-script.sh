#!/bin/bash
# interleaved LSTM-case check: libtorch (malloc tuned) and ours alternating
cd /work/main
O=/work/sitting/s18
B=bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll
CASES=${CASES:-mid_lstm,seed4_lstm,big_lstm,charlm_lstm}
for round in 1 2; do
 for t in 1 2; do
  (cd ../shared/bench/libtorch-anchor && MALLOC_TUNED=1 ./run.sh --threads $t --only $CASES --out $O/inter-lt.jsonl) > /dev/null 2>&1
  dotnet $B --grid ../shared/bench/grid.json --threads $t --only $CASES --out $O/inter-ours.jsonl > /dev/null 2>&1
  echo "$(date +%T) round $round t$t done"
 done
done
