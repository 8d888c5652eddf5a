#!/usr/bin/env bash
# `make bench`: every self-contained benchmark once, with short defaults (a smoke-sized run:
# minutes, not hours). BENCH_FULL=1 runs each with its own defaults (the sizes its README
# records). Each script starts its own embedded cluster and prints its figures; the load
# average is printed before and after each, since the machine may be shared.
# The side-by-side search runs (benchmarks/search/README.md) are manual: they need two servers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}

run() {
  local name=$1; shift
  echo "== $name: $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$PY" "$@"
  echo "== $name done (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
}

if [ "${BENCH_FULL:-0}" = 1 ]; then
  run ops benchmarks/ops/collection_delete.py
  run load benchmarks/load/bench_load.py
  run get benchmarks/get/bench_get.py
  run search-shapes benchmarks/search/shapes.py
  run downloads benchmarks/downloads/bench.py
else
  run ops benchmarks/ops/collection_delete.py --items 1000 --moves 20
  run load benchmarks/load/bench_load.py --items 5000 --collections 5 --rounds 1
  run get benchmarks/get/bench_get.py --items 5000 --collections 5 -t 3 --rounds 1
  run search-shapes benchmarks/search/shapes.py --items 5000 --collections 5 -t 3
  run downloads benchmarks/downloads/bench.py --items 50 -t 3 --rounds 1
fi
