#!/usr/bin/env bash
# Installs what building, running and testing dps368-sim needs, and only what is missing.
# Safe to run again: every step checks first. Debian packages need root (CI and dev machines run as root).
set -euo pipefail

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
WASM_PACK_VERSION=0.15.1
# wasm-opt from npm's binaryen, not Debian's binaryen 108: version 108 rewrites wasm-bindgen's
# externref table as anyref, and the page then fails to start ("WebAssembly.Table.set():
# Argument 1 is invalid"). Trunk.toml pins the same version.
BINARYEN_VERSION=132.0.0
# Release builds minify the wasm-bindgen JS glue with terser (scripts/shorten-imports.py).
TERSER_VERSION=5.51.4
# The benchmark's reference page (scripts/bench.sh) is built on MQTT.js; never part of the product.
MQTTJS_VERSION=5.16.0
# The end-to-end accessibility audit (tests/e2e/e2e.py) runs axe-core in the page; test only.
AXE_VERSION=4.11.0
# The README's detector skeleton is run by tests/e2e/scoring.py with paho-mqtt; test only.
PAHO_VERSION=2.1.0
# The Kubernetes manifests in deploy/ are validated offline (tests/e2e/deploy.py); test only.
KUBERNETES_VALIDATE_VERSION=1.37.0
TOOLS_DIR="$(cd "$(dirname "$0")/.." && pwd)/.tools"

log() { printf '[setup] %s\n' "$*"; }
# DPS368_SETUP=build installs only what building the page needs (a static host's CI, such as
# .github/workflows/pages.yml): no browser, broker or test tools.
BUILD_ONLY=false
[ "${DPS368_SETUP:-}" = build ] && BUILD_ONLY=true

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if ! $BUILD_ONLY; then
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
  [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
  command -v mosquitto_sub >/dev/null || need_apt+=(mosquitto-clients)
  # The classroom mode prints its room link as a QR code in the terminal.
  command -v qrencode >/dev/null || need_apt+=(qrencode)
  command -v stdbuf >/dev/null || need_apt+=(coreutils)
  command -v openssl >/dev/null || need_apt+=(openssl)
  command -v ss >/dev/null || need_apt+=(iproute2)
  python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  apt_log=$(mktemp)
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"; } >"$apt_log" 2>&1; then
    tail -40 "$apt_log" >&2
    echo "[setup] apt-get failed; full log in $apt_log" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi
# mosquitto is in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

have_version() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -q "$2"; }

if ! have_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the locked build wants a yanked crate.
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if ! $BUILD_ONLY && ! have_version wasm-pack "$WASM_PACK_VERSION"; then
  log "installing wasm-pack $WASM_PACK_VERSION"
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --force
fi
if ! have_version trunk "$TRUNK_VERSION"; then
  log "installing trunk $TRUNK_VERSION"
  # Newer trunk needs a newer rustc than the machine's.
  cargo install -q --locked trunk --version "$TRUNK_VERSION" --force
fi
if ! "$TOOLS_DIR/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  log "installing binaryen $BINARYEN_VERSION (wasm-opt) into .tools"
  mkdir -p "$TOOLS_DIR"
  npm install --silent --prefix "$TOOLS_DIR" --no-audit --no-fund --no-save "binaryen@$BINARYEN_VERSION"
fi
if ! grep -qs "\"version\": \"$TERSER_VERSION\"" "$TOOLS_DIR/terser/node_modules/terser/package.json"; then
  log "installing terser $TERSER_VERSION into .tools/terser (release builds minify the JS glue)"
  mkdir -p "$TOOLS_DIR/terser"
  npm install --silent --prefix "$TOOLS_DIR/terser" --no-audit --no-fund --no-save "terser@$TERSER_VERSION"
fi
if $BUILD_ONLY; then
  log "build tools ready"
  exit 0
fi
if ! grep -qs "\"version\": \"$MQTTJS_VERSION\"" "$TOOLS_DIR/bench/node_modules/mqtt/package.json"; then
  log "installing mqtt (MQTT.js) $MQTTJS_VERSION into .tools/bench, for the benchmark only"
  mkdir -p "$TOOLS_DIR/bench"
  npm install --silent --prefix "$TOOLS_DIR/bench" --no-audit --no-fund --no-save "mqtt@$MQTTJS_VERSION"
fi
if ! grep -qs "\"version\": \"$AXE_VERSION\"" "$TOOLS_DIR/axe/node_modules/axe-core/package.json"; then
  log "installing axe-core $AXE_VERSION into .tools/axe, for the accessibility test only"
  mkdir -p "$TOOLS_DIR/axe"
  npm install --silent --prefix "$TOOLS_DIR/axe" --no-audit --no-fund --no-save "axe-core@$AXE_VERSION"
fi
if ! PYTHONPATH="$TOOLS_DIR/python" python3 -c \
    "import sys, paho.mqtt; sys.exit(paho.mqtt.__version__ != '$PAHO_VERSION')" 2>/dev/null; then
  log "installing paho-mqtt $PAHO_VERSION into .tools/python, for testing the README's detector skeleton only"
  # Downloaded and unpacked (a pure-Python wheel), not pip-installed: Debian's Python refuses
  # installs outside a virtualenv.
  python3 -m pip download -q --no-deps "paho-mqtt==$PAHO_VERSION" -d "$TOOLS_DIR/wheels"
  rm -rf "$TOOLS_DIR/python"
  mkdir -p "$TOOLS_DIR/python"
  python3 -m zipfile -e "$TOOLS_DIR/wheels/paho_mqtt-$PAHO_VERSION-py3-none-any.whl" "$TOOLS_DIR/python"
fi
if ! PYTHONPATH="$TOOLS_DIR/k8s" python3 -c \
    "import sys, kubernetes_validate.version as v; sys.exit(v.__version__ != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null; then
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into .tools/k8s, for validating deploy/ only"
  rm -rf "$TOOLS_DIR/k8s" "$TOOLS_DIR/wheels/k8s"
  python3 -m pip download -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" -d "$TOOLS_DIR/wheels/k8s"
  mkdir -p "$TOOLS_DIR/k8s"
  for wheel in "$TOOLS_DIR"/wheels/k8s/*.whl; do
    python3 -m zipfile -e "$wheel" "$TOOLS_DIR/k8s"
  done
fi
log "toolchain ready"
