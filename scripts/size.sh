#!/usr/bin/env bash
# Measures the release bundle the way a visitor downloads it: raw and gzip -9 bytes of the
# wasm, the JS glue and the rest, and fails when the whole is over its gzip budget of 144,384 bytes (141 KiB; see README, Figures).
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
total_raw=0 total_gz=0
printf '%-8s %10s %10s  %s\n' kind bytes gzip file
for kind in wasm js css html; do
  for file in "$dist"/*."$kind"; do
    [ -e "$file" ] || continue
    raw=$(wc -c < "$file"); zipped=$(gz "$file")
    total_raw=$((total_raw + raw)); total_gz=$((total_gz + zipped))
    printf '%-8s %10d %10d  %s\n' "$kind" "$raw" "$zipped" "$(basename "$file")"
  done
done
printf '%-8s %10d %10d\n' total "$total_raw" "$total_gz"
budget=144384
if [ "$total_gz" -gt "$budget" ]; then
  echo "FAILED: the page is $total_gz bytes gzip, over its budget of $budget" >&2
  exit 1
fi
echo "within the budget of $budget bytes gzip ($((budget - total_gz)) to spare)"
