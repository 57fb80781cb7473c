#!/usr/bin/env bash
# Figures 6 and 7 of docs/benchmarks.md: `actionlog kpi` (every KPI) against DuckDB (PyPI
# `duckdb`) running the same kpis/*.sql files over the same Parquet, at about 1M and 10M
# generated events, both engines timed in this one run (alternating, best of N runs each;
# the ratio of the medians is printed beside each figure).
#
#   fig 6 = actionlog / DuckDB at 10M      target <= 1.0
#   fig 7 = actionlog 10M / actionlog 1M   target <= 10
#
# Usage: benches/kpi.sh
# Environment:
#   KPI_BENCH_DATA   where the warehouses live (default /work/bench-data; 10M is ~560 MB)
#   KPI_BENCH_RUNS   runs per engine and size (default 2; the best is kept)
#   KPI_BENCH_SIZES  which sizes (default "1m 10m")
#   ACTIONLOG_BIN    a prebuilt release binary (default: cargo build --release)
#   ACTIONLOG_PYTHON a Python with duckdb (default target/pyenv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=${KPI_BENCH_DATA:-/work/bench-data}
RUNS=${KPI_BENCH_RUNS:-2}
SIZES=${KPI_BENCH_SIZES:-"1m 10m"}
PY=${ACTIONLOG_PYTHON:-$ROOT/target/pyenv/bin/python}
if [ -z "${ACTIONLOG_BIN:-}" ]; then
  cargo build --release --quiet -p actionlog-cli --bin actionlog
  ACTIONLOG_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/actionlog
fi
"$PY" -c 'import duckdb' || { echo "no duckdb in $PY (set ACTIONLOG_PYTHON)" >&2; exit 1; }
mkdir -p "$DATA"

# The generator's default end is 2026-11-02, so 28 days fill exactly this window; both
# engines get it explicitly.
FROM=2026-10-05 TO=2026-11-02
users_of() { case $1 in 1m) echo 9000 ;; 10m) echo 90000 ;; *) echo "size $1?" >&2; exit 2 ;; esac; }

for size in $SIZES; do
  wh=$DATA/wh$size
  if [ ! -d "$wh" ] || [ -z "$(find "$wh" -name '*.parquet' -print -quit)" ]; then
    echo "==> generating $size events into $wh"
    rm -rf "$wh"
    "$ACTIONLOG_BIN" generate --users "$(users_of "$size")" --days 28 --seed 1 --warehouse "$wh" \
      --employees-out "$DATA/wh$size-employees.csv"
  fi
  "$PY" - "$DATA/p$size.json" "$wh" "$ROOT/kpis" "$FROM" "$TO" "$DATA/wh$size-employees.csv" <<'PY'
import datetime, json, sys
out, wh, kpis, f, t, emp = sys.argv[1:]
day = lambda s: (datetime.date.fromisoformat(s) - datetime.date(1970, 1, 1)).days
json.dump({"warehouse": wh, "kpis_dir": kpis, "from_day": day(f), "to_day": day(t),
           "min_viewers": 1, "min_role_headcount": 5,
           "excluded_users": ["svc-metadata-sync"], "employees": emp}, open(out, "w"))
PY
done

# Wall-clock seconds of a command, its output discarded (both engines produce every KPI).
secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

declare -A best all
echo "==> load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for size in $SIZES; do
  wh=$DATA/wh$size
  events=$("$PY" -c "import duckdb; print(duckdb.connect().execute(\"select count(*) from read_parquet('$wh/dt=*/*.parquet')\").fetchone()[0])")
  for run in $(seq "$RUNS"); do
    a=$(secs "$ACTIONLOG_BIN" kpi --warehouse "$wh" --from "$FROM" --to "$TO" \
          --employees "$DATA/wh$size-employees.csv" --exclude-user svc-metadata-sync \
          --format json --out /dev/null --log warn)
    d=$(secs "$PY" "$ROOT/tests/python/kpi_duckdb.py" "$DATA/p$size.json")
    printf '%-4s run %d: %d events  actionlog %7.2f s   duckdb %7.2f s\n' "$size" "$run" "$events" "$a" "$d"
    for k in "a$size:$a" "d$size:$d"; do
      key=${k%%:*} v=${k#*:}
      all[$key]="${all[$key]:-} $v"
      if [ -z "${best[$key]:-}" ] || (( $(echo "$v < ${best[$key]}" | bc -l) )); then best[$key]=$v; fi
    done
  done
done
echo "==> load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

ratio() { echo "scale=3; $1 / $2" | bc -l; }
# The best run is the figure (what the code can do on this host); the median of the runs is
# printed beside it, since the wall time of one run moves with its system time.
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
verdict() { if (( $(echo "$1 $2" | bc -l) )); then echo yes; else echo NO; fi; }
echo
printf '%-44s %8s %8s  %s\n' figure ratio target met
for size in $SIZES; do
  r=$(ratio "${best[a$size]}" "${best[d$size]}")
  label="actionlog/DuckDB at $size"
  [ "$size" = 10m ] && label="6 $label"
  printf '%-44s %8s %8s  %-4s %s\n' "$label" "$r" "<= 1.0" "$(verdict "$r" '<= 1.0')" \
    "(${best[a$size]} s vs ${best[d$size]} s; medians: $(ratio "$(median "${all[a$size]}")" "$(median "${all[d$size]}")")×)"
done
if [ -n "${best[a10m]:-}" ] && [ -n "${best[a1m]:-}" ]; then
  r=$(ratio "${best[a10m]}" "${best[a1m]}")
  printf '%-44s %8s %8s  %-4s %s\n' "7 actionlog 10m / actionlog 1m" "$r" "<= 10" "$(verdict "$r" '<= 10')" \
    "(${best[a10m]} s vs ${best[a1m]} s; medians: $(ratio "$(median "${all[a10m]}")" "$(median "${all[a1m]}")")×)"
fi
