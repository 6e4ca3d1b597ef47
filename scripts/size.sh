#!/usr/bin/env bash
# Measures the release bundles the way a visitor downloads them: raw and gzip -9 bytes of the
# wasm, the JS glue and the rest, for the simulator page (the dist's top level) and the monitor
# page (its monitor/) and the scenario player (its player/, loaded only when a scenario is
# played), and fails when one is over its gzip budget (see README, Figures): the simulator
# 153,600 bytes (150 KiB, the hard cap a page is given), the monitor 125,952 bytes (123 KiB),
# the player 188,416 bytes (184 KiB: scenarios and latency).
# Usage: scripts/size.sh [DIST_DIR]
# Without DIST_DIR it builds one with `trunk build --release` into target/size-dist.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

dist=${1:-}
if [ -z "$dist" ]; then
  dist=target/size-dist
  trunk build --release --dist "$dist" >/dev/null
fi

gz() { gzip -9 -c "$1" | wc -c; }
failed=0
# measure NAME DIR BUDGET
measure() {
  local name=$1 dir=$2 budget=$3 total_raw=0 total_gz=0 raw zipped
  echo "$name ($dir)"
  printf '%-8s %10s %10s  %s\n' kind bytes gzip file
  for kind in wasm js css html; do
    for file in "$dir"/*."$kind"; do
      [ -e "$file" ] || continue
      raw=$(wc -c < "$file"); zipped=$(gz "$file")
      total_raw=$((total_raw + raw)); total_gz=$((total_gz + zipped))
      printf '%-8s %10d %10d  %s\n' "$kind" "$raw" "$zipped" "$(basename "$file")"
    done
  done
  printf '%-8s %10d %10d\n' total "$total_raw" "$total_gz"
  if [ "$total_gz" -eq 0 ]; then
    echo "FAILED: no $name bundle in $dir" >&2
    failed=1
  elif [ "$total_gz" -gt "$budget" ]; then
    echo "FAILED: the $name is $total_gz bytes gzip, over its budget of $budget" >&2
    failed=1
  else
    echo "within the budget of $budget bytes gzip ($((budget - total_gz)) to spare)"
  fi
  echo
}
measure "simulator page" "$dist" 153600
measure "monitor page" "$dist/monitor" 125952
measure "scenario player" "$dist/player" 188416
exit "$failed"
