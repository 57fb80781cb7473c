#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for a set time (libFuzzer through cargo-fuzz, nightly).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Installs cargo-fuzz if it is missing. Seeds come from the committed corpus
# (fuzz/corpus/<target>, written by fuzz/seeds.py); inputs libFuzzer finds along the way go
# to target/fuzz-corpus/<target>, not into the repository. A crash leaves its input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ and the normal test suite
# (crates/cli/tests/e2e/fuzz_regressions.rs) replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(otlp_proto otlp_json length_delimited kafka_value)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

# No sanitizer: the code under test is safe Rust, so what we hunt is panics, overflows
# (debug assertions are on) and runaway allocation, at twice the executions per second.
# The fuzz build has its own target dir: nightly + coverage flags share nothing with the
# normal build.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/target/fuzz}"
summary=()
for t in "${TARGETS[@]}"; do
  scratch="$ROOT/target/fuzz-corpus/$t"
  mkdir -p "$scratch"
  log="$ROOT/target/fuzz-corpus/$t.log"
  echo "==> fuzzing $t for ${SECS}s (log: $log)"
  status=0
  (cd fuzz && cargo +nightly fuzz run --sanitizer none "$t" "$scratch" "corpus/$t" -- \
      -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1) \
      >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [ "$status" -eq 0 ]; then
    summary+=("$t: ${execs:-?} executions, no crash")
  else
    summary+=("$t: CRASH (exit $status) after ${execs:-?} executions, see $log and fuzz/artifacts/$t/")
  fi
done
echo "==> summary"
printf '  %s\n' "${summary[@]}"
! printf '%s\n' "${summary[@]}" | grep -q CRASH
