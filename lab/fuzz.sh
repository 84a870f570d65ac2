#!/usr/bin/env bash
# Fuzzes parse + evaluate + fmt for a bounded time (default 60 s); a crash fails the run.
# The machine's toolchain is stable: RUSTC_BOOTSTRAP lets cargo-fuzz use the flags it needs,
# and no sanitizer is used (safe Rust; libFuzzer still finds panics and hangs).
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Seed the corpus with every configuration the project already has.
i=0
for f in ../tests/fixtures/*/*/*.hcl ../examples/*/*.hcl; do
  i=$((i + 1))
  cp "$f" "$work/seed$i"
done
status=0
cargo fuzz run -s none parse_eval_fmt "$work" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  >"$work.log" 2>&1 || status=$?
grep -E '^(Done|stat::number_of_executed_units)' "$work.log" || true
if ((status != 0)); then
  tail -n 60 "$work.log"
  echo "fuzz: FAILED (exit $status); the crashing input is under fuzz/artifacts/" >&2
  exit "$status"
fi
rm -f "$work.log"
echo "fuzz: no crash in ${seconds}s"
