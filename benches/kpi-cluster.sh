#!/usr/bin/env bash
# Figure 8 of docs/benchmarks.md: every KPI on a loopback Ballista cluster (one scheduler,
# two executors of one slot) against the embedded engine, at 1M and 10M events. Uses the
# warehouses benches/kpi.sh generates (KPI_BENCH_SIZES="1m 10m") and a release binary.
set -u
B=${ACTIONLOG_BIN:-target/release/actionlog}; D=${KPI_BENCH_DATA:-/work/bench-data}; C=$D/cluster; mkdir -p $C
RUST_LOG=warn $B ballista scheduler --bind 127.0.0.1:50050 > $C/scheduler.log 2>&1 &
sleep 2
for i in 0 1; do RUST_LOG=info $B ballista executor --scheduler 127.0.0.1:50050 --flight-port $((50061+i*2)) --grpc-port $((50062+i*2)) --vcores 1 --work-dir $C/ex$i > $C/executor-$i.log 2>&1 & done
sleep 8
grep -c "registration succeed" $C/executor-*.log
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in 1m 10m; do
  for eng in embedded ballista; do
    extra=""; [ $eng = ballista ] && extra="--engine ballista --scheduler df://127.0.0.1:50050"
    /usr/bin/time -f "$s $eng %e s client-peak-rss %M KiB" timeout 900 $B kpi --warehouse $D/wh$s --from 2026-10-05 --to 2026-11-02 --employees $D/wh$s-employees.csv --exclude-user svc-metadata-sync --format json --out $C/r$s-$eng.json --log warn $extra 2>&1 | tail -1
  done
  cmp $C/r$s-embedded.json $C/r$s-ballista.json && echo "$s reports identical"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
kill %1 %2 %3
