#!/usr/bin/env bash
# One prepared run of the remote-load benchmark on the lent 16-vCPU Intel KVM guest, which
# has no network: Dask's wheels travel in .whl/ (see the README of the device tool), the
# extension is built in place. Results go to $OUT (default ./device-out).
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-device-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl >"$OUT/pip.log" 2>&1 || { tail -5 "$OUT/pip.log"; exit 1; }
export PYTHONPATH=$PWD:/tmp/site
python3 setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1 \
  || CFLAGS=-O3 cythonize -q -i -3 hvload/measure/_exec.pyx >>"$OUT/build.log" 2>&1 \
  || { tail -20 "$OUT/build.log"; exit 1; }
{ nproc; grep -m1 'model name' /proc/cpuinfo; python3 -c 'import distributed; print("distributed", distributed.__version__)'; } \
  | tee "$OUT/info.txt"
for i in 1 2; do
  timeout 90 python3 benchmarks/bench_remote.py --blocks 60 2>&1 | tee "$OUT/bench_remote_$i.txt"
done
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_remote.py 2>&1 | tail -6 \
  | tee "$OUT/test_remote.txt"
