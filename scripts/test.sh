#!/usr/bin/env bash
# Runs every test: formatting and lints, native unit tests, browser tests in headless Chromium
# against a real mosquitto, and an end-to-end test of the release bundle with a real subscriber.
# Installs what is missing first. Uses its own broker ports (MQTT 18830, WebSockets 19001), so it
# can run beside scripts/run.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; exit 1; }
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH:/usr/sbin"
source scripts/broker.sh

TEST_MQTT_PORT=18830
TEST_WS_PORT=19001
export DPS368_TEST_WS="ws://127.0.0.1:$TEST_WS_PORT"
export WASM_BINDGEN_TEST_TIMEOUT=120

passed=0 failed=0 failures=()
step() {
  local name=$1; shift
  echo
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("$name")
    echo "=== FAILED: $name"
  fi
}

step "cargo fmt --check" cargo fmt --all -- --check
step "clippy (host)" cargo clippy --workspace --all-targets -- -D warnings
step "clippy (wasm32)" cargo clippy --workspace --exclude dps368-runner --all-targets --target wasm32-unknown-unknown -- -D warnings
# The scenario player: the page with the core's scenario and latency features.
step "clippy (wasm32, the scenario player)" cargo clippy -p dps368-sim --features scenario,latency --all-targets --target wasm32-unknown-unknown -- -D warnings
step "native tests" cargo test --workspace
# The core as the simulator page builds it: without the scenario feature the runner turns on.
step "native tests (the core without scenarios)" cargo test -p dps368-core

if start_broker test "$TEST_MQTT_PORT" "$TEST_WS_PORT"; then
  trap stop_broker EXIT
  # The broker scripts/run.sh starts is this one (scripts/broker.sh): anonymous, so loopback only.
  step "the brokers listen on loopback only (ss -ltn)" \
    python3 -c "import sys; sys.path.insert(0, 'tests/e2e'); import harness; harness.assert_loopback_only($TEST_MQTT_PORT, $TEST_WS_PORT)"
  step "browser tests (wasm-pack, headless Chromium, mosquitto)" \
    timeout 900 wasm-pack test --headless --chrome -- -p dps368-sim --test browser
  step "release build (trunk)" trunk build --release --dist target/e2e-dist
  step "bundle size" bash scripts/size.sh target/e2e-dist
  step "end-to-end (built page, chromedriver, mosquitto_sub)" \
    timeout 600 python3 tests/e2e/e2e.py target/e2e-dist "$TEST_MQTT_PORT" "$TEST_WS_PORT"
  step "blind telemetry and the live scoreboard (a simulator, four monitors, the README's detector)" \
    timeout 600 python3 tests/e2e/scoring.py target/e2e-dist "$TEST_MQTT_PORT" "$TEST_WS_PORT"
  if [ -n "${UPDATE_SCREENSHOTS:-}" ]; then
    mkdir -p docs/screenshots
    cp target/e2e/desktop.png target/e2e/desktop-dark.png target/e2e/phone.png target/e2e/monitor.png docs/screenshots/
    echo "README screenshots refreshed in docs/screenshots/"
  fi
  step "native runner build" cargo build -p dps368-runner
  step "native runner (200 devices over TCP and WebSocket, SIGINT, shards, export, bad flags; mosquitto_sub)" \
    timeout 300 python3 tests/e2e/runner.py target/debug/dps368-sim "$TEST_MQTT_PORT" target/test/mosquitto.log "$TEST_WS_PORT"
  step "native runner over TLS (mqtts:// and wss://, system roots, --cafile, client certificates, refusals)" \
    timeout 300 python3 tests/e2e/runner_tls.py target/debug/dps368-sim
  step "the scoreboard as commands (dps368-sim monitor live over WebSockets, score of a mosquitto_sub capture, gates, JUnit)" \
    timeout 300 python3 tests/e2e/score_cli.py target/debug/dps368-sim "$TEST_MQTT_PORT" "$TEST_WS_PORT"
  step "latency (the runner and the page: loopback, through a 50 ms proxy, publishes never delivered, a subscriber cut off, the exports)" \
    timeout 400 python3 tests/e2e/latency.py target/debug/dps368-sim "$TEST_MQTT_PORT" "$TEST_WS_PORT" target/e2e-dist
  step "deploy/ (the Indexed Job validated, its command line run; the Dockerfile's paths)" \
    timeout 300 python3 tests/e2e/deploy.py target/debug/dps368-sim "$TEST_MQTT_PORT"
  step "scenarios (the three examples played together against a model of their stages; outages, fronts, labels; a bad one refused)" \
    timeout 300 python3 tests/e2e/scenario.py target/debug/dps368-sim "$TEST_MQTT_PORT" target/test/mosquitto.log
  step "fleets, max rate, the page and the runner byte for byte (built page, chromedriver, mosquitto_sub)" \
    timeout 600 python3 tests/e2e/fleet.py target/e2e-dist "$TEST_MQTT_PORT" "$TEST_WS_PORT" target/debug/dps368-sim target/test/mosquitto.log
  step "fault injection (proxy cuts, broker restart, silent brokers, passwords)" \
    timeout 900 python3 tests/e2e/faults.py target/e2e-dist
  stop_broker
else
  failed=$((failed + 1)); failures+=("start mosquitto")
fi

echo
[ "$failed" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
