#!/usr/bin/env bash
# Benchmarks the release page against an MQTT.js 5 page and a raw-WebSocket page in headless
# Chromium, against its own mosquitto (MQTT 18831, WebSockets 19011), and prints a table.
# Figures, not assertions: they are recorded in the README. BENCH_QUICK=1 shortens every window.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH:/usr/sbin"
source scripts/broker.sh

trunk build --release --dist target/bench-dist >/dev/null
reference=target/bench-reference
mkdir -p "$reference"
cp scripts/bench/mqttjs.html scripts/bench/raw.html "$reference/"
cp .tools/bench/node_modules/mqtt/dist/mqtt.min.js "$reference/"

start_broker bench 18831 19011
trap stop_broker EXIT
python3 scripts/bench.py target/bench-dist "$reference" 18831 19011
