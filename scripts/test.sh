#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (a Python
# virtualenv with the pinned packages of tests/python/requirements.txt), then runs every
# Rust test of the workspace (unit, integration, end-to-end, doc tests, trybuild UI tests)
# and the checks: rustfmt, clippy (warnings are errors), rustdoc (warnings are errors), and
# that the core crate and the Kafka crate build on their own, also without default features.
#
# Usage: scripts/test.sh [extra cargo test args, e.g. a test name filter: then only the
# tests run, not the checks]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- Python: independent implementations used as peers by the tests -----------------------
VENV="$ROOT/target/pyenv"
REQ="$ROOT/tests/python/requirements.txt"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQ" "$VENV/requirements.installed"; then
  echo "==> installing Python test packages into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/requirements.installed"
fi
export ACTIONLOG_PYTHON="$VENV/bin/python"

# --- Kafka: a Tansu broker for the Kafka sink tests (crates/cli/tests/e2e/kafka.rs) ----------
# Tests that start and kill their own brokers use TANSU_BIN; the others use KAFKA_BROKERS,
# which may point at an external cluster (then no broker is started here).
TANSU_BIN=$(scripts/kafka-broker.sh path)
export TANSU_BIN
if [ -z "${KAFKA_BROKERS:-}" ]; then
  KAFKA_DIR=$(mktemp -d)
  stop_kafka() { scripts/kafka-broker.sh stop "$KAFKA_DIR"; }
  trap stop_kafka EXIT
  KAFKA_BROKERS=$(scripts/kafka-broker.sh start "$KAFKA_DIR")
  export KAFKA_BROKERS
  echo "==> Tansu broker on $KAFKA_BROKERS (log: $KAFKA_DIR/tansu.log)"
fi

# --- Rust -------------------------------------------------------------------------------------
if [ $# -eq 0 ]; then
  echo "==> cargo fmt --check"
  cargo fmt --all --check
fi
echo "==> cargo test"
cargo test --workspace --all-targets "$@"
if [ $# -eq 0 ]; then
  cargo test --workspace --doc
  echo "==> cargo clippy"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  echo "==> cargo doc"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
  # A Rust service adds the core crate (and maybe the Kafka one) alone: each must build by
  # itself, with and without default features, without the rest of the workspace.
  for p in actionlog actionlog-kafka; do
    echo "==> cargo check -p $p (alone, then --no-default-features)"
    cargo check -p "$p" --quiet
    cargo check -p "$p" --no-default-features --quiet
  done
fi
