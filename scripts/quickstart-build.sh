#!/usr/bin/env bash
# The README quick start as a tiny external crate on the core crate, against the same program
# on opentelemetry_sdk + opentelemetry-stdout: each built (`cargo build`, dev) from an empty
# target directory, one after the other, ROUNDS times (default 1). Prints wall time and the
# number of crates each one compiles. docs/benchmarks.md ("Builds") has the figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mk() { # name, main.rs, dependency lines
  mkdir -p "$work/$1/src"
  cp "$2" "$work/$1/src/main.rs"
  printf '[package]\nname = "%s"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\n%s\nthiserror = "2"\n\n[workspace]\n' \
    "$1" "$3" >"$work/$1/Cargo.toml"
}
sdk='opentelemetry_sdk = { version = "0.33", default-features = false, features = ["trace"] }'
mk qs-actionlog "$root/scripts/quickstart-build/actionlog.rs" \
  "actionlog = { path = \"$root\" }
$sdk"
mk qs-stdout "$root/scripts/quickstart-build/stdout.rs" \
  "opentelemetry = { version = \"0.33\", default-features = false, features = [\"trace\"] }
$sdk
opentelemetry-stdout = { version = \"0.33\", default-features = false, features = [\"trace\"] }"

for round in $(seq "$rounds"); do
  for c in qs-stdout qs-actionlog; do
    (cd "$work/$c" && cargo fetch --quiet)
    rm -rf "$work/target-$c"
    start=$(date +%s.%N)
    (cd "$work/$c" && CARGO_TARGET_DIR="$work/target-$c" cargo build --quiet)
    end=$(date +%s.%N)
    n=$(cd "$work/$c" && cargo tree -e normal --prefix none | sort -u | wc -l)
    awk -v r="$round" -v c="$c" -v a="$start" -v b="$end" -v n="$n" \
      'BEGIN { printf "round %s  %-13s %6.1f s  %d crates\n", r, c, b - a, n }'
  done
done
