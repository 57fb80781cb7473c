#!/usr/bin/env bash
# Reproduces every benchmark figure of docs/benchmarks.md and prints each ratio next to its
# target. Each comparison is measured in the same run as its reference: this machine is
# shared and noisy, so ratios hold where absolute times drift. The load average is printed
# with every part.
#
# Usage: benches/run.sh [PART...]     PART: core python bridge latency logs durable kafka memory kpi
#                                     (default: all of them, about 20 minutes after the builds)
#        PY_CALLS=N: calls per timing round of the Python decorator (default 200000).
#        KAFKA_PAIRS=N: bridge/bare pairs for figure 5, median reported (default 3).
#        CORE_ROUNDS=N: criterion runs for figures 1 and 3, median reported (default 3).
#
# Needs: python3; for `kafka`, the Tansu broker of scripts/kafka-broker.sh (TANSU_BIN or the
# test venv); for `python`, network access once to install amundsen-frontend into
# target/bench-pyenv. Set CARGO_TARGET_DIR as for any cargo command; results also land in
# $TARGET/bench-results/*.json. Extra cargo arguments for every build go in BENCH_CARGO_ARGS
# (e.g. `--config FILE` with profile overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
REL="$TARGET/release"
OUT="$TARGET/bench-results"
mkdir -p "$OUT"
ARGS="${BENCH_CARGO_ARGS:-}"
PARTS="${*:-core python bridge latency logs durable kafka memory kpi}"
want() { [[ " $PARTS " == *" $1 "* ]]; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
say() { echo; echo "==> $* (load average $(load))"; }
# CPU seconds (user + system) a running process has used so far.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${KAFKA_DIR:-}" ]; then scripts/kafka-broker.sh stop "$KAFKA_DIR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

say "building (release): what the chosen parts run"
# The bench profile (release settings) for everything, so each crate is built once for all.
# The core's parts (criterion, the exporter burst) need only the core crate's build; the
# binary and the load tools need the whole workspace.
if want bridge || want latency || want logs || want durable || want kafka || want kpi; then
  # shellcheck disable=SC2086
  cargo build $ARGS --profile bench --quiet -p actionlog-cli --bin actionlog --example otlp_load --example kafka_bare
fi
if want memory; then
  # shellcheck disable=SC2086
  cargo build $ARGS --profile bench --quiet -p actionlog --example exporter_burst
fi
if want core; then
  # shellcheck disable=SC2086
  cargo bench $ARGS -p actionlog --bench core --no-run --quiet 2>/dev/null
fi

# ---- figures 1 and 3: criterion ---------------------------------------------------------
if want core; then
  # Criterion's figure moves by a fifth from one process to the next on this machine (the
  # ranges below show it): several rounds, and the summary takes each ratio's median.
  ROUNDS=${CORE_ROUNDS:-3}
  rm -f "$OUT"/core_round_*.json
  for round in $(seq "$ROUNDS"); do
    say "figures 1 and 3: criterion (benches/core.rs), round $round of $ROUNDS"
    # shellcheck disable=SC2086
    cargo bench $ARGS -p actionlog --bench core --quiet -- --warm-up-time 2 --measurement-time 8 2>&1 \
      | grep -E "^(call|span|log_event)/|time:" || true
    python3 - "$TARGET/criterion" > "$OUT/core_round_$round.json" <<'PY'
import json, pathlib, sys
crit = pathlib.Path(sys.argv[1])
def est(group, name):
    # The figure criterion prints ("time:"): the slope of its linear sampling when there
    # is one, else the mean.
    e = json.loads((crit / group / name / "new" / "estimates.json").read_text())
    return (e.get("slope") or e["mean"])["point_estimate"]
print(json.dumps({n: est(g, n) for g, n in [("call", "decorated_call"), ("call", "decorated_call_noop_exporter"),
    ("call", "bare_otel_span"), ("span", "convert_and_encode"), ("span", "convert_and_encode_foreign"),
    ("span", "convert_and_encode_unchecked"), ("span", "encode_only"),
    ("log_event", "decorated_call_as_log_event"), ("log_event", "decorated_call_as_log_event_noop_exporter"),
    ("log_event", "bare_otel_log_record")]}))
PY
  done
  echo "{\"load\": \"$(load)\"}" > "$OUT/core.json"
fi

# ---- figure 2: Amundsen's decorator -----------------------------------------------------
if want python; then
  # Amundsen's real decorator needs its wheel plus Flask; a separate venv keeps the test
  # venv lean.
  BENCH_VENV="$TARGET/bench-pyenv"
  if [ ! -x "$BENCH_VENV/bin/python" ]; then
    echo "installing amundsen-frontend 4.3.0 (no deps) + Flask into $BENCH_VENV"
    python3 -m venv "$BENCH_VENV"
    "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "amundsen-frontend==4.3.0"
    "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check "flask==2.2.5" "werkzeug==3.0.1" "setuptools<81"
  fi
  say "figure 2: Amundsen's action_logging decorator (Python)"
  "$BENCH_VENV/bin/python" benches/python/amundsen_decorator.py "${PY_CALLS:-200000}" 2>/dev/null | tee "$OUT/python.json"
fi

# ---- the bridge: start it, load it, measure ---------------------------------------------
start_bridge() { # args: extra serve args...; sets BRIDGE_PID, GRPC
  local gp hp
  gp=$(free_port); hp=$(free_port)
  GRPC="http://127.0.0.1:$gp"
  "$REL/actionlog" serve --grpc-addr "127.0.0.1:$gp" --http-addr "127.0.0.1:$hp" "$@" \
    >"$OUT/serve.log" 2>&1 &
  BRIDGE_PID=$!
  PIDS+=("$BRIDGE_PID")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$hp/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bridge did not become ready; log:" >&2
  cat "$OUT/serve.log" >&2
  return 1
}
stop_bridge() { # prints the bridge's peak RSS in MiB
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$BRIDGE_PID/status")
  kill -TERM "$BRIDGE_PID"
  wait "$BRIDGE_PID" 2>/dev/null || true
  echo $((hwm / 1024))
}

if want bridge || want latency; then
  say "figure 4: actionlog serve, OTLP/gRPC (batches of 512, 4 in flight) -> file sink"
  FILE_OUT=$(mktemp -d)
  start_bridge --file "$FILE_OUT/load.pb"
  "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 200 --batch 512 --concurrency 4 >/dev/null # warm-up
  "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 2000 --batch 512 --concurrency 4 | tee "$OUT/bridge.txt"
  tail -1 "$OUT/bridge.txt" > "$OUT/bridge.json"
  if want latency; then
    MAX=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spans_per_s"])' "$OUT/bridge.json")
    RATE=$(python3 -c "print(round($MAX / 2 / 512, 2))")
    N=$(python3 -c "print(max(200, int($RATE * 15)))")
    say "p99 request latency at half the maximum rate ($RATE requests/s of 512 spans, $N requests)"
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests "$N" --batch 512 --concurrency 8 --rate "$RATE" | tee "$OUT/latency.txt"
    tail -1 "$OUT/latency.txt" > "$OUT/latency.json"
  fi
  RSS=$(stop_bridge)
  echo "bridge peak RSS (VmHWM): $RSS MiB"
  echo "{\"rss_mib\": $RSS, \"load\": \"$(load)\"}" > "$OUT/bridge_rss.json"
  rm -rf "$FILE_OUT"
fi

# ---- the same actions as log events: the logs receiver against the traces receiver --------
if want logs; then
  # One bridge, one file sink; rounds alternate spans and log events of the same actions
  # (otlp_load --signal), so both see the same machine.
  FILE_OUT=$(mktemp -d)
  start_bridge --file "$FILE_OUT/load.pb"
  for signal in traces logs; do
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 200 --batch 512 --concurrency 4 --signal "$signal" >/dev/null # warm-up
  done
  for round in 1 2 3; do
    for signal in traces logs; do
      say "signals, round $round: $signal (2000 requests of 512, 4 in flight) -> file sink"
      "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 2000 --batch 512 --concurrency 4 --signal "$signal" | tee "$OUT/signal_${signal}_$round.txt"
      tail -1 "$OUT/signal_${signal}_$round.txt" > "$OUT/signal_${signal}_$round.json"
    done
  done
  stop_bridge >/dev/null
  rm -rf "$FILE_OUT"
fi

# ---- the default warehouse path: memory mode (before) vs the spool (after) ---------------
if want durable; then
  # Side by side in one run: `serve --warehouse DIR --no-spool` (acknowledged rows in open
  # Parquet files) and `serve --warehouse DIR` (the default since issue 22: synced to the
  # spool first). Throughput at full load, then p50/p99 at one fixed rate for both: half of
  # what memory mode sustained.
  for mode in memory durable; do
    WH=$(mktemp -d)
    if [ "$mode" = memory ]; then extra=(--no-spool); else extra=(); fi
    say "default warehouse path, $mode mode: throughput (2000 requests of 512, 4 in flight)"
    start_bridge --warehouse "$WH/wh" "${extra[@]}"
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 200 --batch 512 --concurrency 4 >/dev/null # warm-up
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 2000 --batch 512 --concurrency 4 | tee "$OUT/durable_${mode}_max.txt"
    tail -1 "$OUT/durable_${mode}_max.txt" > "$OUT/durable_${mode}_max.json"
    if [ "$mode" = memory ]; then
      MAX=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spans_per_s"])' "$OUT/durable_memory_max.json")
      DRATE=$(python3 -c "print(round($MAX / 2 / 512, 2))")
      DN=$(python3 -c "print(max(200, int($DRATE * 15)))")
    fi
    say "default warehouse path, $mode mode: latency at $DRATE requests/s of 512 spans ($DN requests)"
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests "$DN" --batch 512 --concurrency 8 --rate "$DRATE" | tee "$OUT/durable_${mode}_lat.txt"
    tail -1 "$OUT/durable_${mode}_lat.txt" > "$OUT/durable_${mode}_lat.json"
    stop_bridge >/dev/null
    rm -rf "$WH"
  done
fi

# ---- figure 5: bridge -> Kafka against a bare producer ----------------------------------
if want kafka; then
  KAFKA_DIR=${KAFKA_DIR:-$(mktemp -d)}
  export TANSU_BIN="${TANSU_BIN:-$(scripts/kafka-broker.sh path)}"
  BROKERS=$(scripts/kafka-broker.sh start "$KAFKA_DIR")
  REQS=${KAFKA_REQUESTS:-1500}
  EVENTS=$((REQS * 512))
  CONF=$(mktemp)
  cat > "$CONF" <<EOF
[[sinks]]
type = "kafka"
brokers = "$BROKERS"
topic = "bench-bridge"
EOF
  # The sink does not create topics: make it (3 partitions) the way the reference does.
  "$REL/examples/kafka_bare" --brokers "$BROKERS" --topic bench-bridge --events 1 >/dev/null
  # The bare producer's rate moves by a third between runs: several pairs, each bridge run
  # right before its reference, and the summary takes the median pair.
  PAIRS=${KAFKA_PAIRS:-3}
  BROKER_PID=$(cat "$KAFKA_DIR/tansu.pid")
  rm -f "$OUT"/kafka_pair_*.json
  for pair in $(seq "$PAIRS"); do
    say "figure 5, pair $pair of $PAIRS: actionlog serve -> Kafka (Tansu at $BROKERS), $EVENTS spans, 16 requests in flight"
    start_bridge --config "$CONF"
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests 40 --batch 512 --concurrency 4 >/dev/null # warm-up
    # Where the CPU goes: the two cores are shared by the load generator (which reports
    # its own), the bridge (with librdkafka's threads) and the broker.
    b0=$(cpu_of "$BRIDGE_PID"); k0=$(cpu_of "$BROKER_PID")
    "$REL/examples/otlp_load" --endpoint "$GRPC" --requests "$REQS" --batch 512 --concurrency 16 | tee "$OUT/kafka_bridge.txt"
    b1=$(cpu_of "$BRIDGE_PID"); k1=$(cpu_of "$BROKER_PID")
    stop_bridge >/dev/null
    echo "CPU-seconds meanwhile: bridge $(minus "$b1" "$b0"), broker $(minus "$k1" "$k0")"
    say "figure 5 reference, pair $pair: bare librdkafka producer, same records, same broker"
    k2=$(cpu_of "$BROKER_PID")
    "$REL/examples/kafka_bare" --brokers "$BROKERS" --topic bench-bare --events "$EVENTS" | tee "$OUT/kafka_bare.txt"
    k3=$(cpu_of "$BROKER_PID")
    echo "CPU-seconds meanwhile: broker $(minus "$k3" "$k2")"
    echo "{\"bridge\": $(tail -1 "$OUT/kafka_bridge.txt"), \"bare\": $(tail -1 "$OUT/kafka_bare.txt"), \"cpu\": {\"bridge\": $(minus "$b1" "$b0"), \"bridge_broker\": $(minus "$k1" "$k0"), \"bare_broker\": $(minus "$k3" "$k2")}}" \
      > "$OUT/kafka_pair_$pair.json"
  done
  scripts/kafka-broker.sh stop "$KAFKA_DIR" >/dev/null 2>&1 || true
  KAFKA_DIR=
  rm -f "$CONF"
fi

# ---- exporter memory under a burst ------------------------------------------------------
if want memory; then
  say "exporter memory under a burst of 1M actions (SDK batch processor defaults, null sink)"
  "$REL/examples/exporter_burst" --actions 1000000 | tee "$OUT/memory.txt"
  tail -1 "$OUT/memory.txt" > "$OUT/memory.json"
fi

# ---- figures 6 and 7: KPI timings (their own script) -------------------------------------
if want kpi; then
  if [ -x benches/kpi.sh ]; then
    say "figures 6 and 7: benches/kpi.sh"
    benches/kpi.sh
  else
    say "figures 6 and 7: benches/kpi.sh is not there yet; skipped"
  fi
fi

# ---- the table ----------------------------------------------------------------------------
echo
echo "==> summary (load average now $(load))"
python3 - "$TARGET" "$PARTS" <<'PY'
import json, pathlib, sys
target = pathlib.Path(sys.argv[1]); parts = sys.argv[2].split()
out = target / "bench-results"
def j(name):
    p = out / name
    return json.loads(p.read_text()) if p.exists() else None
rounds = [json.loads(p.read_text()) for p in sorted(out.glob("core_round_*.json"))]
def median_round(num, den):
    # The round whose ratio is the median, so the times shown are the ones divided.
    rs = sorted(rounds, key=lambda r: r[num] / r[den])
    return rs[len(rs) // 2] if rs else None
def spread(num, den):
    return ", ".join(f"{r[num] / r[den]:.2f}" for r in sorted(rounds, key=lambda r: r[num] / r[den]))
rows = []
r1 = median_round("decorated_call", "bare_otel_span")
r3 = median_round("convert_and_encode", "encode_only")
dec = r1["decorated_call"] if r1 else None
py = j("python.json")
if "core" in parts and r1:
    ratio = dec / r1["bare_otel_span"]
    rows.append(("1 decorated call / bare OTel span (median round)", ratio, "<= 1.5", ratio <= 1.5,
                 f"{dec:.0f} ns vs {r1['bare_otel_span']:.0f} ns; rounds: {spread('decorated_call', 'bare_otel_span')}"))
rl = median_round("decorated_call_as_log_event", "bare_otel_log_record")
if "core" in parts and rl:
    ratio = rl["decorated_call_as_log_event"] / rl["bare_otel_log_record"]
    rows.append(("  decorated call as a log event / bare OTel log record", ratio, "<= 1.5", ratio <= 1.5,
                 f"{rl['decorated_call_as_log_event']:.0f} ns vs {rl['bare_otel_log_record']:.0f} ns (no-op exporter "
                 f"{rl['decorated_call_as_log_event_noop_exporter']:.0f} ns); rounds: {spread('decorated_call_as_log_event', 'bare_otel_log_record')}"))
sig = {s_: sorted(json.loads(p.read_text())["spans_per_s"] for p in out.glob(f"signal_{s_}_*.json")) for s_ in ("traces", "logs")}
if "logs" in parts and sig["traces"] and sig["logs"]:
    t, l = sig["traces"][len(sig["traces"]) // 2], sig["logs"][len(sig["logs"]) // 2]
    rows.append(("  bridge -> file, log events/s / spans/s (medians)", l / t, ">= 0.9", l / t >= 0.9,
                 f"{l:.0f} vs {t:.0f} actions/s; rounds logs {', '.join(f'{x:.0f}' for x in sig['logs'])}, spans {', '.join(f'{x:.0f}' for x in sig['traces'])}"))
if "python" in parts and py and dec:
    rows.append(("2 Amundsen decorator / decorated call", py["ns_per_call"] / dec, ">= 20", py["ns_per_call"] / dec >= 20, f"{py['ns_per_call']:.0f} ns vs {dec:.0f} ns"))
if "core" in parts and r3:
    ratio = r3["convert_and_encode"] / r3["encode_only"]
    rows.append(("3 convert+encode / encode (median round)", ratio, "<= 2.0", ratio <= 2.0,
                 f"{r3['convert_and_encode']:.0f} ns vs {r3['encode_only']:.0f} ns; rounds: {spread('convert_and_encode', 'encode_only')}"))
    if "convert_and_encode_foreign" in r3:
        ratio = r3["convert_and_encode_foreign"] / r3["encode_only"]
        rows.append(("  the same span from another tracer (JSON parsed)", ratio, "report", True,
                     f"{r3['convert_and_encode_foreign']:.0f} ns; rounds: {spread('convert_and_encode_foreign', 'encode_only')}"))
b, rss = j("bridge.json"), j("bridge_rss.json")
if ("bridge" in parts or "latency" in parts) and b:
    r = b["spans_per_s"] / 300_000
    rows.append(("4 bridge -> file, spans/s / 300k", r, ">= 1.0", r >= 1.0, f"{b['spans_per_s']:.0f} spans/s, peak RSS {rss['rss_mib'] if rss else '?'} MiB (<= 100)"))
lat = j("latency.json")
if "latency" in parts and lat:
    rows.append(("  p99 latency at half max rate (ms)", lat["p99_ms"], "report", True, f"{lat['rate']} req/s x 512 spans, p50 {lat['p50_ms']:.1f} ms, achieved {lat['spans_per_s']:.0f} spans/s"))
if "durable" in parts:
    for mode in ("memory", "durable"):
        mx, lt = j(f"durable_{mode}_max.json"), j(f"durable_{mode}_lat.json")
        if mx and lt:
            rows.append((f"  warehouse path, {mode} mode: p99 (ms)", lt["p99_ms"], "report", True,
                         f"p50 {lt['p50_ms']:.1f} ms at {lt['rate']} req/s x 512; full load {mx['spans_per_s']:.0f} spans/s (p50 {mx['p50_ms']:.1f}, p99 {mx['p99_ms']:.1f} ms)"))
pairs = sorted((json.loads(p.read_text()) for p in out.glob("kafka_pair_*.json")),
               key=lambda p: p["bridge"]["spans_per_s"] / p["bare"]["per_s"])
if "kafka" in parts and pairs:
    each = ", ".join(f"{p['bridge']['spans_per_s'] / p['bare']['per_s']:.2f}" for p in pairs)
    med = pairs[len(pairs) // 2]
    kb, kr, cpu = med["bridge"], med["bare"], med["cpu"]
    r = kb["spans_per_s"] / kr["per_s"]
    rows.append(("5 bridge -> Kafka / bare producer (median pair)", r, ">= 0.8", r >= 0.8, f"{kb['spans_per_s']:.0f} vs {kr['per_s']:.0f} records/s ({kr['value_bytes']} B values); pairs: {each}"))
    us = lambda secs, n: secs / n * 1e6
    n, m = kb["spans"], kr["delivered"]
    rows.append(("  CPU per record, bridge run (us)", us(kb["cpu_secs"] + cpu["bridge"] + cpu["bridge_broker"], n), "report", True,
                 f"load generator {us(kb['cpu_secs'], n):.2f} + bridge {us(cpu['bridge'], n):.2f} + broker {us(cpu['bridge_broker'], n):.2f}"))
    rows.append(("  CPU per record, bare run (us)", us(kr["cpu_secs"] + cpu["bare_broker"], m), "report", True,
                 f"producer {us(kr['cpu_secs'], m):.2f} + broker {us(cpu['bare_broker'], m):.2f}"))
m = j("memory.json")
if "memory" in parts and m:
    rows.append(("  exporter burst: RSS growth after 1st sample (MiB)", m["growth_after_first_sample_mib"], "~0", m["growth_after_first_sample_mib"] < 5, f"peak {m['rss_peak_mib']} MiB, exported {m['exported']}, dropped {m['dropped']} of {m['actions']}"))
print(f"{'figure':<52} {'value':>9} {'target':>8}  {'met':<4} detail")
for name, v, target_, ok, detail in rows:
    print(f"{name:<52} {v:>9.2f} {target_:>8}  {'yes' if ok else 'NO':<4} {detail}")
PY
