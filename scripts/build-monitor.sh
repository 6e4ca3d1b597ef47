#!/usr/bin/env bash
# Trunk post_build hook (Trunk.toml): builds the monitor page (monitor.html, its own wasm
# binary) into the staging directory's monitor/, and the scenario player (player.html) into
# player/, so that every `trunk build` or `trunk serve`
# of the simulator also makes and serves the monitor at monitor/. The nested trunk reads the
# same Trunk.toml; DPS368_MONITOR_HOOK stops it from running this hook again. Then both pages'
# wasm-bindgen import names are shortened in their wasm and JS glue, and in release builds the
# glue is minified (scripts/shorten-imports.py: about 6 KB of the simulator's gzip budget).
set -euo pipefail
[ -z "${DPS368_MONITOR_HOOK:-}" ] || exit 0
export DPS368_MONITOR_HOOK=1
release=()
[ "${TRUNK_PROFILE:-debug}" = release ] && release=(--release)
trunk build ${release[@]+"${release[@]}"} --dist "$TRUNK_STAGING_DIR/monitor" monitor.html
# The scenario player: the simulator built with scenarios, at player/.
trunk build ${release[@]+"${release[@]}"} --dist "$TRUNK_STAGING_DIR/player" player.html
minify=()
[ "${TRUNK_PROFILE:-debug}" = release ] && minify=(--minify)
python3 scripts/shorten-imports.py ${minify[@]+"${minify[@]}"} "$TRUNK_STAGING_DIR" "$TRUNK_STAGING_DIR/monitor" "$TRUNK_STAGING_DIR/player"
