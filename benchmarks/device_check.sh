#!/usr/bin/env bash
# One prepared run on the lent 16-vCPU Intel KVM guest (see the README): builds hvload
# without network, then runs `hvload info`, the test suite, both executor benchmarks and
# a campaign with loaded-CPU counts as levels. Results go to $OUT (default ./device-out).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-device-out}
mkdir -p "$OUT"
{ python3 --version; nproc; grep -m1 'model name' /proc/cpuinfo; uname -r; } | tee "$OUT/machine.txt"
python3 setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1 \
  || CFLAGS=-O3 cythonize -q -i -3 hvload/_exec.pyx >>"$OUT/build.log" 2>&1 \
  || { tail -20 "$OUT/build.log"; exit 1; }
python3 -m hvload info | tee "$OUT/info.txt"
python3 -m hvload info --json >"$OUT/info.json"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -25 | tee "$OUT/tests.txt"
timeout 90 python3 benchmarks/bench_exec.py --reps 5 | tee "$OUT/bench_exec.txt"
timeout 90 python3 benchmarks/bench_load.py --seconds 0.5 | tee "$OUT/bench_load.txt"
timeout 200 python3 -m hvload run --cpu-levels 0,1,2,4,8,15 --no-progress --seed 2026 \
  -o "$OUT/intel-cpu-levels.parquet" | tee "$OUT/run.txt"
