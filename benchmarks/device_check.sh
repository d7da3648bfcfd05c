#!/usr/bin/env bash
# One prepared run on the lent 16-vCPU Intel KVM guest (see the README): builds hvload
# without network, then runs `hvload info`, the measuring tests, the controls benchmark,
# and a campaign with control probes and loaded-CPU counts as levels, with its report
# and plan. Results go to $OUT (default ./device-out); at most 8 files.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-device-out}
ROUNDS=${ROUNDS:-60}
mkdir -p "$OUT"
{ python3 --version; nproc; grep -m1 'model name' /proc/cpuinfo; uname -r; } >"$OUT/info.txt"
python3 setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1 \
  || CFLAGS=-O3 cythonize -q -i -3 hvload/measure/_exec.pyx >>"$OUT/build.log" 2>&1 \
  || { tail -20 "$OUT/build.log"; exit 1; }
python3 -m hvload info | tee -a "$OUT/info.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_executor.py tests/test_controls.py \
  tests/test_campaign.py 2>&1 | tail -15 | tee "$OUT/tests.txt"
timeout 60 python3 benchmarks/bench_controls.py --reps 7 | tee "$OUT/bench_controls.txt"
timeout 300 python3 -m hvload run --cpu-levels 0,1,2,4,8,15 --rounds "$ROUNDS" --no-progress \
  --seed 2026 -o "$OUT/intel-xeon-16vcpu-controls.parquet" 2>&1 | tee "$OUT/run.txt"
python3 -m hvload report "$OUT/intel-xeon-16vcpu-controls.parquet" >"$OUT/report.txt" 2>&1
python3 -m hvload plan "$OUT/intel-xeon-16vcpu-controls.parquet" --effect 2% >"$OUT/plan.txt" 2>&1
tail -5 "$OUT/report.txt"
