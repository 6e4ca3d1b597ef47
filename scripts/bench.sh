#!/usr/bin/env bash
# Benchmarks the release page against an MQTT.js 5 page and a raw-WebSocket page in headless
# Chromium, then the native runner (release build) beside mosquitto_pub, against its own
# mosquitto (MQTT 18831, WebSockets 19011), and prints tables.
# Figures, not assertions: they are recorded in the README. BENCH_QUICK=1 shortens every window;
# BENCH_ONLY picks sections (page: 1, 3, 4, 5; the page's Chromium trace: t; runner: r; the
# runner's --latency: l; the monitor's scoring: s), e.g. BENCH_ONLY=s.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH:/usr/sbin"
source scripts/broker.sh

only=${BENCH_ONLY:-1345trls}
if [[ $only == s ]]; then
  # The scoring bench needs no broker and no browser.
  exec cargo run --release --quiet -p dps368-core --example score_bench
fi
trunk build --release --dist target/bench-dist >/dev/null
cargo build --release --quiet -p dps368-runner
reference=target/bench-reference
mkdir -p "$reference"
cp scripts/bench/mqttjs.html scripts/bench/raw.html "$reference/"
cp .tools/bench/node_modules/mqtt/dist/mqtt.min.js "$reference/"

# Thousands of connections: a descriptor each, in the runner and in mosquitto (here the hard
# limit is 20,000, so the largest fleet is 19,000).
ulimit -n "$(ulimit -Hn)"
start_broker bench 18831 19011
trap stop_broker EXIT
if [[ $only =~ [0-9] ]]; then
  python3 scripts/bench.py target/bench-dist "$reference" 18831 19011
fi
if [[ $only == *t* ]]; then
  python3 scripts/bench_trace.py target/bench-dist 19011
fi
if [[ $only == *r* ]]; then
  python3 scripts/bench_runner.py target/release/dps368-sim 18831 "$BROKER_PID"
fi
if [[ $only == *l* ]]; then
  # Against brokers of its own (their queue limits are part of what it shows).
  python3 scripts/bench_latency.py target/release/dps368-sim
fi
if [[ $only == *s* ]]; then
  cargo run --release --quiet -p dps368-core --example score_bench
fi
