#!/usr/bin/env bash
# Runs the product: installs what is missing, starts mosquitto (MQTT on 127.0.0.1:1883,
# WebSockets on 127.0.0.1:9001), builds the page and serves it on http://127.0.0.1:8080/.
# Ctrl-C stops everything. Ports can be changed with MQTT_PORT, WS_PORT and HTTP_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

MQTT_PORT=${MQTT_PORT:-1883}
WS_PORT=${WS_PORT:-9001}
HTTP_PORT=${HTTP_PORT:-8080}

bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH:/usr/sbin"
source scripts/broker.sh

start_broker run "$MQTT_PORT" "$WS_PORT"
trap stop_broker EXIT INT TERM
echo "mosquitto: mqtt://127.0.0.1:$MQTT_PORT and ws://127.0.0.1:$WS_PORT (log: target/run/mosquitto.log)"

query=""
[ "$WS_PORT" = 9001 ] || query="?broker=ws://localhost:$WS_PORT"
echo
echo "  Open http://127.0.0.1:$HTTP_PORT/$query and click Start."
echo "  The monitor and scoreboard: http://127.0.0.1:$HTTP_PORT/monitor/$query (or ?view=monitor)"
echo "  Watch the telemetry: mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -q 1 -v -t 'device/#'"
echo
trunk serve --release --address 127.0.0.1 --port "$HTTP_PORT"
