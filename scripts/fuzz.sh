#!/usr/bin/env bash
# Runs bosun's cargo-fuzz targets (fuzz/fuzz_targets/) one after another,
# each for a bounded time, and prints per target the executions, the wall
# time and whether it crashed. Exits non-zero when any target crashed (the
# input is kept in fuzz/artifacts/<target>/). Not part of CI (.ci/run):
# run it from the repository root when a parser changes, and put the
# figures of a long run in docs/BENCHMARKS.md ("Issue 14: fuzzing").
#
#   bash scripts/fuzz.sh                     # 60 s per target, all targets
#   bash scripts/fuzz.sh 600 envelope runbook
#   RUNS=10000000 bash scripts/fuzz.sh 3600 checkpoint   # stop at 10 M execs
#
# Needs a nightly toolchain (rustup toolchain install nightly); installs
# cargo-fuzz when it is missing. New inputs that reach new code are added
# to fuzz/corpus/<target>/; `MINIMISE=1 bash scripts/fuzz.sh 0 [TARGET…]`
# shrinks it again to the smallest set of inputs that covers the same
# edges (libFuzzer's `-set_cover_merge=1 -use_counters=0`: edges, not hit
# counts) plus the named seed files, and runs nothing. Inputs are cut at
# KEEP_LEN bytes (1024) when kept: that holds the corpus in the repository
# to a few hundred KB for a few per cent of the edges, which a run finds
# again in its first minute. Builds without a sanitizer
# (bosun forbids unsafe code, so the sanitizer mostly costs speed) and with
# debug assertions (integer overflow panics). Builds into
# $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set, else fuzz/target.
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
shift || true
ALL=(envelope runbook inventory keeper policy rollout ledger_proof checkpoint kernel)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
RUNS=${RUNS:--1}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}

# -max_len: one byte over the size limit the product applies before
# parsing (plus the byte that picks a file or syntax, where a target
# reads one), so the size checks themselves are crossed.
max_len() {
  case $1 in
    envelope) echo $((64 * 1024 + 1)) ;;            # bosun_sign::MAX_ENVELOPE_BYTES
    runbook) echo $((1 + 256 * 1024 + 1)) ;;        # bosun_runbook::def::MAX_RUNBOOK_BYTES
    inventory) echo $((1024 * 1024 + 1)) ;;         # bosun_workspace::MAX_CONFIG_BYTES
    keeper) echo $((1 + 1024 * 1024 + 1)) ;;        # bosun_policy::MAX_FILE_BYTES
    policy) echo $((1 + 1024 * 1024 + 1)) ;;        # bosun_policy::MAX_FILE_BYTES
    rollout) echo $((256 * 1024 + 1)) ;;            # bosun_fleet::MAX_FILE_BYTES
    ledger_proof) echo $((16 * 1024 * 1024 + 1)) ;; # `ledger verify-proof`'s file limit
    checkpoint) echo $((64 * 1024 + 1)) ;;          # bosun_ledger::note::MAX_NOTE_BYTES
    kernel) echo $((1 + 256 * 1024 + 1)) ;;         # bosun_kernel::manifest::MAX_MANIFEST_BYTES (patches: 64 MiB, not crossed)
    *) echo "unknown fuzz target: $1 (one of: ${ALL[*]})" >&2; exit 2 ;;
  esac
}
for t in "${TARGETS[@]}"; do max_len "$t" >/dev/null; done

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

dir_args=()
if [ -n "${CARGO_TARGET_DIR:-}" ]; then dir_args=(--target-dir "$CARGO_TARGET_DIR/fuzz"); fi
build_args=(-s none -a "${dir_args[@]}")

cargo +nightly fuzz build "${build_args[@]}"

if [ -n "${MINIMISE:-}" ]; then
  bin=$(dirname "$(find "${CARGO_TARGET_DIR:-fuzz/target}" -path '*/release/envelope' -type f | head -1)")
  for t in "${TARGETS[@]}"; do
    before=$(find "fuzz/corpus/$t" -type f | wc -l)
    kept=$(mktemp -d)
    "$bin/$t" -set_cover_merge=1 -use_counters=0 -max_len="${KEEP_LEN:-1024}" \
      -rss_limit_mb="$RSS_LIMIT_MB" -timeout=20 "$kept" "fuzz/corpus/$t" >"$kept.log" 2>&1
    find "fuzz/corpus/$t" -type f -name '*.*' -exec cp {} "$kept/" \;
    rm -r "fuzz/corpus/$t" && mv "$kept" "fuzz/corpus/$t" && chmod 755 "fuzz/corpus/$t"
    echo "$t: $before inputs -> $(find "fuzz/corpus/$t" -type f | wc -l)," \
      "$(cat "fuzz/corpus/$t"/* | wc -c) bytes"
  done
  exit 0
fi

logs=$(mktemp -d)
crashed=0
printf '%-13s %14s %9s %11s %7s %s\n' target execs wall_s execs/s corpus result
for t in "${TARGETS[@]}"; do
  log="$logs/$t.log"
  start=$(date +%s.%N)
  status=0
  cargo +nightly fuzz run "${build_args[@]}" "$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -runs="$RUNS" -max_len="$(max_len "$t")" \
    -rss_limit_mb="$RSS_LIMIT_MB" -timeout=20 -print_final_stats=1 >"$log" 2>&1 || status=$?
  end=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  wall=$(echo "$end - $start" | bc)
  rate=$(echo "${execs:-0} / $wall" | bc)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    crashed=1
    result="CRASHED (exit $status; log $log; input in fuzz/artifacts/$t/)"
  else
    result=ok
  fi
  printf '%-13s %14s %9.0f %11s %7s %s\n' "$t" "${execs:-?}" "$wall" "$rate" "$corpus" "$result"
done
exit "$crashed"
