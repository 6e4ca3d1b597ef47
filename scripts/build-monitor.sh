#!/usr/bin/env bash
# Trunk post_build hook (Trunk.toml): builds the monitor page (monitor.html, its own wasm
# binary) into the staging directory's monitor/, so that every `trunk build` or `trunk serve`
# of the simulator also makes and serves the monitor at monitor/. The nested trunk reads the
# same Trunk.toml; DPS368_MONITOR_HOOK stops it from running this hook again.
set -euo pipefail
[ -z "${DPS368_MONITOR_HOOK:-}" ] || exit 0
export DPS368_MONITOR_HOOK=1
release=()
[ "${TRUNK_PROFILE:-debug}" = release ] && release=(--release)
exec trunk build ${release[@]+"${release[@]}"} --dist "$TRUNK_STAGING_DIR/monitor" monitor.html
