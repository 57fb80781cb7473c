#!/usr/bin/env bash
# Reproduces the benchmark figures of docs/benchmarks.md and prints each ratio next to its
# target. Each comparison is measured in the same run as its reference: this machine is
# shared and noisy, so ratios hold where absolute times drift.
#
# Usage: benches/run.sh            (about 3 minutes after the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Amundsen's real decorator needs its wheel plus Flask; a separate venv keeps the test venv lean.
BENCH_VENV="$ROOT/target/bench-pyenv"
if [ ! -x "$BENCH_VENV/bin/python" ]; then
  echo "==> installing amundsen-frontend 4.3.0 (no deps) + Flask into $BENCH_VENV"
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "amundsen-frontend==4.3.0"
  "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check "flask==2.2.5" "werkzeug==3.0.1" "setuptools<81"
fi

echo "==> criterion: benches/core.rs"
cargo bench --bench core -- --warm-up-time 2 --measurement-time 8 2>&1 | grep -E "^(call|span)/|time:" || true

echo "==> Python: Amundsen's action_logging decorator"
PY_JSON=$("$BENCH_VENV/bin/python" benches/python/amundsen_decorator.py 200000 2>/dev/null)
echo "$PY_JSON"

python3 - "$PY_JSON" <<'PY'
import json, sys, pathlib
crit = pathlib.Path("target/criterion")
def mean(group, name):
    est = json.loads((crit / group / name / "new" / "estimates.json").read_text())
    return est["mean"]["point_estimate"]
py = json.loads(sys.argv[1])["ns_per_call"]
dec = mean("call", "decorated_call")
floor = mean("call", "bare_otel_span")
conv = mean("span", "convert_and_encode")
enc = mean("span", "encode_only")
rows = [
    ("1 decorated call / bare OTel span", dec / floor, "<= 1.5", dec / floor <= 1.5, f"{dec:.0f} ns vs {floor:.0f} ns"),
    ("2 Amundsen decorator / decorated call", py / dec, ">= 20", py / dec >= 20, f"{py:.0f} ns vs {dec:.0f} ns"),
    ("3 convert+encode / encode", conv / enc, "<= 2.0", conv / enc <= 2.0, f"{conv:.0f} ns vs {enc:.0f} ns"),
]
print(f"\n{'figure':<40} {'ratio':>8} {'target':>8}  {'met':<4} detail")
for name, ratio, target, ok, detail in rows:
    print(f"{name:<40} {ratio:>8.2f} {target:>8}  {'yes' if ok else 'NO':<4} {detail}")
PY
